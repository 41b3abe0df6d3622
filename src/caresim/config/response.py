"""Config of who responds to care: receptivity per subscriber, plan fit, prompted comparison, over-contact.

Every default and its source is documented in docs/model.md ("Who responds to care"). Defaults that rest on
no published figure are stated there as assumptions.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Delta = Annotated[float, Field(ge=-1.0, le=1.0)]
Correlation = Annotated[float, Field(ge=-1.0, le=1.0)]

#: The attributes an operator can observe that receptivity may depend on, in the order arrays hold them.
#: Each is measured when the care lands: see ``caresim.engine.response.attributes``.
ATTRIBUTES: tuple[str, ...] = (
    "tenure",  # log(1 + tenure in years)
    "out_of_contract",  # 1 when month-to-month
    "months_to_contract_end",  # months left in the contract (0 when out of contract)
    "value",  # log(monthly revenue / segment mean)
    "overpay",  # share of the bill above the best-fitting plan (plan fit; 0 = fits)
    "satisfaction",  # satisfaction minus the churn rule's reference
    "complaints",  # log(1 + complaints made so far)
    "digital_channel",  # 1 when the preferred channel is web, sms, wap or the terminal
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Coefficients(_Strict):
    """How log-receptivity moves with each observable attribute (0 = not at all)."""

    tenure: float = 0.0
    out_of_contract: float = 0.0
    months_to_contract_end: float = 0.0
    value: float = 0.0
    overpay: float = 0.0
    satisfaction: float = 0.0
    complaints: float = 0.0
    digital_channel: float = 0.0


class Response(_Strict):
    """How receptive each subscriber is to one programme: a multiplier on its effects, 1 for everyone by
    default (every subscriber responds alike).

    log r = Σ coef·attribute + sd · (ρ · risk + √(1 − ρ²) · z_kind) − sd²/2, where ``risk`` is the
    subscriber's standardised baseline churn risk at joining and ``z_kind`` a latent draw shared by every
    programme of the same ``kind``, made once when the subscriber joins.
    """

    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")] = Field(
        "general", description="kind of care: programmes of one kind share each subscriber's latent receptivity"
    )
    sd_receptivity: NonNegative = Field(
        0.0, description="spread of log-receptivity not explained by attributes (0 = alike)"
    )
    corr_risk: Correlation = Field(
        0.0, description="correlation of the latent receptivity with baseline churn risk (-1 to 1)"
    )
    coef: Coefficients = Field(Coefficients(), description="log-receptivity per unit of each observable attribute")


class PlanFit(_Strict):
    """How well subscribers' plans fit their use when they join: a share overpay by a drawn margin."""

    p_poor_fit: Probability = Field(0.3, description="share of subscribers on a plan that does not fit their use")
    overpay_mean: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.2, description="mean share of the bill above the best-fitting plan, among those on a poor fit"
    )


class Prompting(_Strict):
    """A proactive contact can prompt a subscriber to compare offers (Ascarza, Iyengar & Schleicher 2016)."""

    rel_churn_hazard: Annotated[float, Field(ge=1.0)] = Field(
        1.6, description="churn-hazard multiplier of a fully prompted subscriber (1 = no backfire)"
    )
    dur_months: Annotated[int, Field(ge=1)] = Field(3, description="months the prompting lasts after the contact")
    overpay_poor_fit: Probability = Field(0.05, description="overpay from which a plan counts as a poor fit")
    overpay_full: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.3, description="overpay at which the prompting reaches its full strength (worse fit, more prompting)"
    )
    rel_out_of_contract: Probability = Field(
        0.5, description="strength of the prompting for a subscriber out of contract, whatever the fit"
    )


class OverContact(_Strict):
    """Contacts beyond what a subscriber tolerates in a month annoy (on top of effect fatigue)."""

    n_tolerated_per_month: Annotated[int, Field(ge=0)] = Field(
        2, description="care contacts in a month a subscriber takes without annoyance"
    )
    d_satisfaction_per_extra: Delta = Field(-0.01, description="satisfaction lost per contact beyond those")
