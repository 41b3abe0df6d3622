"""The planner's part of the config schema (``planner.*``): pilot, objective, limits, verification, frontier.

Money is over the planning horizon (``run.n_months``) in the currency of ``revenue_per_month``; contacts are
real care contacts per month. Every segment, programme and channel named here must exist (checked against
the rest of the config by ``CareConfig``).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from caresim.lifecycle import CHANNELS

NonNegative = Annotated[float, Field(ge=0.0)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Channel = Literal[CHANNELS]  # type: ignore[valid-type]
BASELINES = ("no_care", "even_spread", "churn_risk_first", "value_first")
Baseline = Literal[BASELINES]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Pilot(_Strict):
    """The pilot inside the simulation: random assignment with a control group at several coverage levels."""

    coverage_levels: list[Annotated[float, Field(gt=0.0, lt=1.0)]] = Field(
        default_factory=lambda: [0.3, 0.6, 0.9],
        description="shares of eligible subscribers assigned, one pilot run each; the rest are the control group",
    )
    n_replications: Annotated[int, Field(ge=2, le=200)] = Field(
        3, description="independent seeds per coverage level (intervals need at least 2)"
    )
    scale: Annotated[float, Field(ge=1.0)] | None = Field(
        None, description="real subscribers per simulated one in the pilot market (null: run.scale)"
    )
    paired: bool = Field(
        True,
        description="compare each subscriber with its twin in a no-care run of the same seed (common random "
        "numbers) before comparing assigned with control: same expectation, far less noise",
    )
    shrinkage: bool = Field(
        True,
        description="pull each segment's effect towards the programme's mean across segments by its noise "
        "(empirical Bayes), so the plan does not chase lucky estimates",
    )
    months_after_horizon: NonNegative = Field(
        24.0, description="cap on the expected remaining lifetime (months) that values a subscriber kept to the end"
    )

    @field_validator("coverage_levels")
    @classmethod
    def _rising(cls, levels: list[float]) -> list[float]:
        if not levels or any(b <= a for a, b in pairwise(levels)):
            raise ValueError("must list at least one share in (0, 1), rising")
        return levels


class Verify(_Strict):
    """Re-simulating the plan with fresh seeds against baselines that spend the same money."""

    n_replications: Annotated[int, Field(ge=2, le=200)] = 3
    baselines: list[Baseline] = Field(default_factory=lambda: list(BASELINES))
    scenarios: list[str] = Field(
        default_factory=list,
        description="scenarios to verify in (e.g. a plan made for one market checked in all); "
        "empty: the ones planned for",
    )


class Adjust(_Strict):
    """domain.md's adjustment loop: options whose treated subscribers stay Fair or worse are dropped, re-planned."""

    max_rounds: Annotated[int, Field(ge=0, le=20)] = Field(3, description="re-planning rounds after the first plan")


class Frontier(_Strict):
    """Outcome against budget: the plan re-optimised at each budget."""

    budgets: list[NonNegative] = Field(
        default_factory=list, description="budgets to plan for; empty: n_points evenly from 0 to 2 x budget"
    )
    n_points: Annotated[int, Field(ge=0, le=100)] = 6


class Planner(_Strict):
    """What the planner optimises, within which limits, and how the plan is checked."""

    objective: Literal["net_value", "retained", "loyalty", "min_cost"] = Field(
        "net_value",
        description="net_value: retained value minus care cost; retained: subscribers kept; loyalty: subscribers "
        "whose loyalty ends Good or better; min_cost: least cost that keeps retention_target subscribers",
    )
    risk: Literal["mean", "cvar"] = Field("mean", description="optimise the mean over samples, or their CVaR")
    cvar_alpha: Annotated[float, Field(gt=0.0, le=1.0)] = Field(0.2, description="CVaR: the worst share of samples")
    budget: NonNegative = Field(6_000_000, description="care money over the horizon, fixed costs included")
    period_months: Annotated[int, Field(ge=0)] = Field(
        0, description="if > 0, the horizon is cut into periods of this many months, each with budget_per_period"
    )
    budget_per_period: NonNegative | None = Field(None, description="budget of each period (null: no period limit)")
    retention_target: NonNegative = Field(0.0, description="min_cost: subscribers to keep beyond no care")
    programmes: Annotated[list[str], Field(min_length=1)] | None = Field(
        None, description="programmes the planner may use (null: the catalogue)"
    )
    targeting: list[Literal["risk", "uplift"]] = Field(
        default_factory=lambda: ["risk", "uplift"],
        description="targeting rules the plan may use inside a segment besides random coverage (uplift: a model "
        "trained on the pilot's arms, learner uplift.learner); each is taken only where the pilot shows it gains; "
        "[]: random coverage only",
    )
    segment_min_spend: dict[str, NonNegative] = Field(default_factory=dict)
    segment_max_spend: dict[str, NonNegative] = Field(default_factory=dict)
    channel_capacity: dict[Channel, NonNegative] = Field(
        default_factory=dict, description="real care contacts per month the channel can carry"
    )
    max_contacts_per_subscriber_month: NonNegative | None = Field(
        2.0, description="contact policy: care contacts per subscriber per month, on average over a segment"
    )
    max_poor_share: dict[str, Share] = Field(
        default_factory=dict, description="service floor: a segment's share of Poor satisfaction at most this"
    )
    executor: Literal["sequential", "local", "ray"] = Field(
        "local",
        description="where the pilot's and verification's simulations run: one after another, local worker "
        "processes (joblib) or Ray tasks (run.ray_address); results are identical whichever",
    )
    n_workers: Annotated[int, Field(ge=1)] | None = Field(
        None, description="workers of a local executor (null: every core); Ray uses its own CPUs"
    )
    scenarios: list[str] = Field(
        default_factory=list,
        description="plan across these scenarios (pilot in each, equal weight); empty: this config's own",
    )
    resume: bool = Field(
        True,
        description="keep finished simulation runs in <run.output_dir>/.cache/planner, so that the same "
        "command run again after an interruption redoes none of them",
    )
    pilot: Pilot = Pilot()
    verify: Verify = Verify()
    adjust: Adjust = Adjust()
    frontier: Frontier = Frontier()

    @field_validator("risk")
    @classmethod
    def _risk_fits_objective(cls, risk: str, info: ValidationInfo) -> str:
        if risk == "cvar" and info.data.get("objective") == "min_cost":
            raise ValueError("cvar needs objective net_value, retained or loyalty, not min_cost")
        return risk
