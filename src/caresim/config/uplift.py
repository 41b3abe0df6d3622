"""Config of ``mode=uplift``: train an uplift model on a simulated pilot or on an operator's own campaign."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from caresim.config.response import ATTRIBUTES

Attribute = Literal[ATTRIBUTES]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CampaignColumns(_Strict):
    """Which column of the campaign table holds each field. Attributes are in their natural units (see
    ``caresim.planning.campaign``); an attribute not mapped is unknown to the model (held at 0)."""

    treated: str = Field("treated", description="whether the customer was in the campaign's treated group")
    churned: str = Field("churned", description="whether the customer left within the campaign's window")
    segment: str | None = Field(None, description="the customer's segment (one of population.segments); null: none")
    attributes: dict[Attribute, str] = Field(
        default_factory=dict, description="attribute -> column: tenure (months), out_of_contract (0/1), "
        "months_to_contract_end, value (monthly revenue), overpay (share), satisfaction (0-1), complaints (count), "
        "digital_channel (0/1)",
    )  # fmt: skip


class Labels(_Strict):
    """The strings of a yes/no column (compared after stripping blanks)."""

    yes: Annotated[list[str], Field(min_length=1)]
    no: Annotated[list[str], Field(min_length=1)]

    @model_validator(mode="after")
    def _disjoint(self) -> Labels:
        both = sorted(set(self.yes) & set(self.no))
        if both:
            raise ValueError(f"labels {both} are listed as both yes and no")
        return self


def _yes_no() -> Labels:
    return Labels(yes=["1", "yes", "Yes", "true", "True"], no=["0", "no", "No", "false", "False"])


class Uplift(_Strict):
    """Train an uplift model for one programme (``mode=uplift``), and the models a policy may target with."""

    programme: str | None = Field(None, description="the programme whose uplift is learned (mode=uplift)")
    campaign: str | None = Field(
        None, description="CSV of an operator's own randomised campaign; null: a simulated pilot of the programme"
    )
    learner: Literal["t", "x"] = Field("x", description="T-learner or X-learner (Künzel et al. 2019)")
    share_test: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.5, description="share of the customers kept out of training to measure the model's Qini curve"
    )
    pilot_share: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.5, description="simulated pilot: share of the eligible assigned to the programme, at random"
    )
    columns: CampaignColumns = CampaignColumns()
    treated_labels: Labels = Field(default_factory=_yes_no, description="labels of the treated column")
    churned_labels: Labels = Field(default_factory=_yes_no, description="labels of the churned column")
    verify_shares: list[Annotated[float, Field(gt=0.0, le=1.0)]] = Field(
        default_factory=lambda: [0.3],
        description="shares at which the trained model's targeting is compared with risk and random targeting "
        "by simulation on fresh seeds (empty: no comparison)",
    )
    verify_replications: Annotated[int, Field(ge=2)] = Field(3, description="fresh seeds of that comparison")
    models: dict[str, str] = Field(
        default_factory=dict,
        description="programme -> a trained model (model.joblib, or the mode=uplift folder holding it) for a policy "
        "with target uplift",
    )
