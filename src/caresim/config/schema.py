"""The typed configuration schema: every key, its type, its allowed range and its meaning.

Names follow one convention: ``p_`` probability, ``rate_`` per month, ``dur_`` duration, ``n_`` count,
``rel_`` multiplier, ``d_`` additive change on the 0-1 satisfaction or loyalty scale, ``coef_`` a
coefficient of the churn hazard's log-linear predictor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from caresim.config.calibration import Calibration
from caresim.config.planner import Planner
from caresim.config.response import OverContact, PlanFit, Prompting, Response
from caresim.config.uplift import Uplift
from caresim.lifecycle import CHANNELS, DESKS, GRADES, STAGES, TRIGGERS

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
Delta = Annotated[float, Field(ge=-1.0, le=1.0)]
# The vocabularies come from ``lifecycle`` (one list each); Literal of a tuple expands to its members.
Channel = Literal[CHANNELS]  # type: ignore[valid-type]
Grade = Literal[GRADES]  # type: ignore[valid-type]
Trigger = Literal[TRIGGERS]  # type: ignore[valid-type]
EligibleStage = Literal["usage", "retention", "churned"]  # stages a subscriber can be in at a key moment
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"

assert set(EligibleStage.__args__) <= set(STAGES)


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# ---------------------------------------------------------------- population
class Tenure(Strict):
    """Tenure of the initial base: a gamma distribution with this mean and shape, capped."""

    mean_months: NonNegative = Field(36.0, description="mean tenure of the initial base, months")
    shape: Positive = Field(1.5, description="gamma shape (1 = exponential; larger = less spread)")
    max_months: Annotated[int, Field(ge=0)] = Field(180, description="longest tenure drawn, months")


class Segment(Strict):
    """One customer segment: size, value, contract mix, tenure, channel preference and churn propensity."""

    size: Annotated[int, Field(ge=0)] = Field(description="real subscribers in the initial base")
    revenue_per_month: NonNegative = Field(description="mean revenue per subscriber-month (ARPU)")
    revenue_cv: NonNegative = Field(0.3, description="coefficient of variation of ARPU within the segment")
    margin: Probability = Field(0.35, description="share of revenue that is margin (values retained revenue)")
    contract_mix: dict[Annotated[int, Field(ge=0, le=60)], Probability] = Field(
        description="contract length in months (0 = month-to-month) -> share of the segment; sums to 1"
    )
    tenure: Tenure = Tenure()
    channel_preference: dict[Channel, NonNegative] = Field(
        description="relative weight of each of the seven channels as the preferred one"
    )
    rate_churn_base: NonNegative = Field(
        description="monthly churn hazard at the reference satisfaction and loyalty, out of contract"
    )
    rate_prospects_per_month: NonNegative = Field(0.0, description="real prospects arriving per month")
    satisfaction_mean: Probability = Field(description="mean satisfaction (0-1) at joining; also its resting level")
    satisfaction_sd: NonNegative = Field(0.1, description="spread of satisfaction at joining")
    loyalty_mean: Probability = Field(description="mean loyalty (0-1) at joining; anchors loyalty on win-back")
    loyalty_sd: NonNegative = Field(0.1, description="spread of loyalty at joining")
    rel_problem_rate: NonNegative = Field(1.0, description="multiplier on the market's service-problem rate")
    p_trip_per_month: Probability = Field(0.03, description="chance of a trip abroad in a month (before season)")
    plan_fit: PlanFit = PlanFit()

    @field_validator("contract_mix")
    @classmethod
    def _mix_sums_to_one(cls, mix: dict[int, float]) -> dict[int, float]:
        if not mix:
            raise ValueError("must name at least one contract length")
        if abs(sum(mix.values()) - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1, they sum to {sum(mix.values()):.4f}")
        return mix

    @field_validator("channel_preference")
    @classmethod
    def _some_channel(cls, weights: dict[str, float]) -> dict[str, float]:
        if sum(weights.values()) <= 0:
            raise ValueError("at least one channel needs a positive weight")
        return weights


class Presale(Strict):
    """The pre-sale funnel and activation: pass probabilities at each touchpoint."""

    p_first_experience: Probability = Field(0.8, description="share of prospects who try the service")
    p_needs_fit: Probability = Field(0.75, description="share of those who find it fits their needs")
    p_purchase: Probability = Field(0.6, description="share of those who decide to buy")
    p_activation_problem: Probability = Field(
        0.02, description="chance of a problem at each of the four activation touchpoints"
    )


class Ties(Strict):
    """The social network of ties between subscribers, through which churn spreads."""

    mean_degree: NonNegative = Field(6.0, description="mean number of ties per subscriber (0 = no network)")
    dur_contagion_months: Annotated[int, Field(ge=1)] = Field(
        3, description="a tie who churned within this many months counts toward social contagion"
    )
    p_same_segment: Probability = Field(0.6, description="share of a subscriber's ties inside its own segment")
    n_ties_new_subscriber: Annotated[int, Field(ge=0)] = Field(3, description="ties made by each new subscriber")


class Region(Strict):
    """One region of the base: a share of every segment, served by its own desks and its share of capacity.

    Regions share no ties, desks or care capacity, and draw from streams of their own, so a region can be
    simulated alone (a shard) with exactly the results it has inside the whole run.
    """

    share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        description="share of every segment's size, prospect arrivals and programme capacity in this region"
    )
    n_servers: dict[Literal["hotline", "store"], Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        description="servers of the region's own desks; unnamed desks get share × service.<desk>.n_servers, "
        "rounded, at least 1",
    )


class Population(Strict):
    """The subscriber base: segments, the prospect funnel, the network of ties and the regions."""

    segments: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Segment]
    presale: Presale = Presale()
    ties: Ties = Ties()
    regions: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Region] = Field(
        default_factory=dict, description="independent regions (none = one base with shared desks and ties)"
    )

    @field_validator("segments")
    @classmethod
    def _not_empty(cls, segments: dict) -> dict:
        if not segments:
            raise ValueError("define at least one segment")
        return segments

    @field_validator("regions")
    @classmethod
    def _shares_add_up(cls, regions: dict) -> dict:
        total = sum(region.share for region in regions.values())
        if regions and abs(total - 1.0) > 1e-6:
            raise ValueError(f"region shares must add up to 1, they add up to {total:g}")
        return regions


# ---------------------------------------------------------------- market
class CompetitorEvent(Strict):
    """A competitor campaign: extra competitive pressure on some segments for some months."""

    start_month: Annotated[int, Field(ge=0)]
    dur_months: Annotated[int, Field(ge=1)]
    intensity: NonNegative = Field(description="added competitor pressure (0 = none, 1 = strong)")
    segments: list[str] | None = Field(None, description="segments hit; null = all")


class Outage(Strict):
    """A network outage in one month that gives a share of subscribers a service problem."""

    month: Annotated[int, Field(ge=0)]
    p_affected: Probability
    segments: list[str] | None = None


class Market(Strict):
    """The environment: network quality, bills, travel, competitors, outages and seasonality."""

    rate_problems_per_month: NonNegative = Field(0.03, description="service problems per subscriber-month")
    network_quality: Positive = Field(1.0, description="problem rate is divided by this (1 = as calibrated)")
    p_bill_shock: Probability = Field(0.025, description="chance of an unexpectedly high bill in a month")
    p_roaming_problem: Probability = Field(0.25, description="chance a trip abroad brings a roaming problem")
    start_calendar_month: Annotated[int, Field(ge=1, le=12)] = Field(1, description="calendar month of month 0")
    rel_trip_by_calendar_month: list[NonNegative] = Field(
        default_factory=lambda: [0.8, 0.8, 0.9, 1.0, 1.0, 1.3, 1.6, 1.6, 1.1, 0.9, 0.8, 1.2],
        description="seasonal multiplier on trips abroad, January first",
    )
    rel_churn_by_calendar_month: list[NonNegative] = Field(
        default_factory=lambda: [1.0, 0.95, 0.95, 0.95, 0.95, 0.95, 1.0, 1.0, 0.95, 1.05, 1.1, 1.15],
        description="seasonal multiplier on the churn hazard, January first (Q4 highest)",
    )
    competitor_pressure: NonNegative = Field(0.2, description="standing competitor pressure on all segments")
    competitor_events: list[CompetitorEvent] = Field(default_factory=list)
    outages: list[Outage] = Field(default_factory=list)

    @field_validator("rel_trip_by_calendar_month", "rel_churn_by_calendar_month")
    @classmethod
    def _twelve(cls, values: list[float]) -> list[float]:
        if len(values) != 12:
            raise ValueError(f"needs 12 values, one per calendar month, got {len(values)}")
        return values


# ---------------------------------------------------------------- service
class Desk(Strict):
    """A staffed channel (hotline or store) modelled as a SimPy resource with capacity."""

    n_servers: Annotated[int, Field(ge=1)] = Field(description="agents or staff serving inbound contacts at once")
    dur_handle_minutes: Positive = Field(description="mean handling time of one contact, minutes")
    dur_patience_minutes: Positive = Field(
        10.0, description="mean time a caller waits before abandoning (exponential patience, Erlang-A)"
    )
    p_retrial: Probability = Field(0.5, description="chance a caller who abandoned contacts the desk again")
    dur_retrial_minutes: Positive = Field(240.0, description="mean time before a caller who abandoned tries again")


#: The longest mean patience (minutes) for which a desk's month is a stationary Erlang-A queue: an overloaded
#: queue settles in about one mean patience, here at most a day, a thirtieth of the month.
STATIONARY_PATIENCE_MINUTES = 1440.0


def settles_within_a_month(service: Service) -> bool:
    """Whether every desk's queue settles fast enough for its month to be a stationary Erlang-A queue."""
    return all(desk.dur_patience_minutes <= STATIONARY_PATIENCE_MINUTES for desk in (service.hotline, service.store))


class Service(Strict):
    """How subscribers report problems and how care channels resolve them."""

    p_complain: Probability = Field(
        0.25,
        description="monthly chance that a subscriber with an open problem reports it (complains); silent otherwise",
    )
    rel_complain_recurring: NonNegative = Field(1.5, description="multiplier on p_complain for a recurring problem")
    p_first_contact_resolution: dict[Channel, Probability] = Field(
        default_factory=lambda: {
            "store": 0.8,
            "hotline": 0.72,
            "ivr": 0.35,
            "web": 0.45,
            "sms": 0.3,
            "wap": 0.4,
            "terminal": 0.4,
        },
        description="first-contact resolution rate of each channel",
    )
    p_self_resolve: Probability = Field(0.35, description="monthly chance an open problem goes away by itself")
    p_personalisation: Probability = Field(0.05, description="monthly chance of a personalisation touchpoint")
    p_service_information: Probability = Field(
        0.037, description="monthly chance of an inbound information query (billing, plan, device, account)"
    )
    p_repeat_unresolved: Probability = Field(
        0.7, description="chance a subscriber whose problem a desk contact did not resolve contacts the desk again"
    )
    dur_repeat_days: Positive = Field(3.0, description="mean days before such a repeat contact")
    hotline: Desk = Desk(n_servers=2, dur_handle_minutes=9)
    store: Desk = Desk(n_servers=2, dur_handle_minutes=15)
    desk_model: Literal["auto", "contacts", "erlang_a"] = Field(
        "auto",
        description="how desks queue: 'contacts' queues every real contact as events (each simulated contact "
        "with scale - 1 shadows); 'erlang_a' serves each desk-month's real load as a stationary Erlang-A queue "
        "(much faster at coarse scales; needs every desk's dur_patience_minutes <= 1440); 'auto': 'erlang_a' "
        "above run.scale 1 when every desk's patience allows it, 'contacts' otherwise",
    )
    n_max_care_contacts_per_month: Annotated[int, Field(ge=0)] | None = Field(
        None,
        description="contact policy: at most this many care contacts per subscriber in a month, served in the "
        "order of the month's key moments; further deliveries that month are withheld (null: no limit)",
    )

    @model_validator(mode="after")
    def _stationary_desks(self) -> Service:
        if self.desk_model == "erlang_a" and not settles_within_a_month(self):
            raise ValueError(
                f"desk_model: 'erlang_a' needs every desk's dur_patience_minutes <= {STATIONARY_PATIENCE_MINUTES:g} "
                "(a stationary queue must settle within days); use 'contacts' or 'auto'"
            )
        return self

    @field_validator("p_first_contact_resolution")
    @classmethod
    def _all_channels(cls, rates: dict[str, float]) -> dict[str, float]:
        missing = sorted(set(CHANNELS) - set(rates))
        if missing:
            raise ValueError(f"missing channels {missing}; give a rate for each of {list(CHANNELS)}")
        return rates


# ---------------------------------------------------------------- behaviour
class Grades(Strict):
    """Thresholds on the 0-1 scale that map satisfaction and loyalty to the four grades."""

    excellent: Probability = 0.8
    good: Probability = 0.6
    fair: Probability = 0.4

    @model_validator(mode="after")
    def _ordered(self) -> Grades:
        if not self.fair < self.good < self.excellent:
            raise ValueError("thresholds must satisfy fair < good < excellent")
        return self


class Churn(Strict):
    """The monthly churn hazard and the contract-end decision."""

    satisfaction_ref: Probability = Field(0.65, description="satisfaction at which the base hazard applies")
    loyalty_ref: Probability = Field(0.6, description="loyalty at which the base hazard applies")
    coef_satisfaction: float = Field(-4.0, description="log-hazard per unit of satisfaction above the reference")
    coef_loyalty: float = Field(-3.0, description="log-hazard per unit of loyalty above the reference")
    coef_tenure: float = Field(-0.3, description="log-hazard per unit of log(1 + tenure in years)")
    coef_competitor: float = Field(1.0, description="log-hazard per unit of competitor pressure")
    coef_social: float = Field(2.0, description="log-hazard per unit share of ties who have churned")
    coef_unresolved_contacts: float = Field(
        0.2, description="log-hazard per failed contact about a problem still open (at most 3 count)"
    )
    rel_in_contract: NonNegative = Field(0.3, description="hazard multiplier while under contract")
    rel_contract_end: NonNegative = Field(3.0, description="hazard multiplier in the month a contract ends")
    rel_retention_stage: NonNegative = Field(2.0, description="hazard multiplier in the retention stage")
    p_renew: Probability = Field(0.45, description="chance of renewing at contract end at reference loyalty")
    coef_renew_loyalty: float = Field(4.0, description="log-odds of renewing per unit of loyalty above reference")


class WinBack(Strict):
    """Return of churned subscribers."""

    rate_return: NonNegative = Field(0.01, description="monthly return hazard just after churning")
    dur_memory_months: Positive = Field(12.0, description="e-folding time of the return hazard, months")
    d_satisfaction_on_return: Delta = Field(-0.05, description="satisfaction on return, relative to segment mean")
    rel_loyalty_on_return: NonNegative = Field(0.8, description="loyalty on return, relative to segment mean")


class Behaviour(Strict):
    """How events move satisfaction and loyalty, and how they drive churn."""

    grades: Grades = Grades()
    rate_satisfaction_reversion: Probability = Field(0.15, description="monthly pull back to the resting level")
    sd_satisfaction_noise: NonNegative = Field(0.02, description="monthly random drift of satisfaction")
    rate_loyalty_follow: Probability = Field(0.08, description="monthly pull of loyalty toward satisfaction")
    d_satisfaction_problem: Delta = Field(-0.08, description="on meeting a service problem")
    d_satisfaction_recur: Delta = Field(-0.08, description="when a problem recurs")
    d_satisfaction_resolved: Delta = Field(0.06, description="when a reported problem is resolved (recovery)")
    d_satisfaction_unresolved: Delta = Field(
        -0.04,
        description="when a contact fails to resolve the problem; the k-th failure of one episode costs k times it",
    )
    rel_recovery_after_failure: Probability = Field(
        0.5, description="d_satisfaction_resolved is multiplied by this for each failed contact before the fix"
    )
    d_satisfaction_abandoned: Delta = Field(-0.02, description="on giving up in a desk queue (on top of the wait)")
    d_satisfaction_per_wait_hour: Delta = Field(-0.05, description="per hour waited at hotline or store")
    d_satisfaction_wait_max: Delta = Field(-0.15, description="the most waiting can take off")
    d_satisfaction_bill_shock: Delta = Field(-0.06, description="on an unexpectedly high bill")
    d_satisfaction_outage: Delta = Field(-0.05, description="on being hit by a network outage")
    rel_effect_preferred_channel: NonNegative = Field(1.3, description="care effect through the preferred channel")
    rel_effect_life_moment: NonNegative = Field(1.2, description="care effect at a life moment (surprise)")
    churn: Churn = Churn()
    win_back: WinBack = WinBack()
    prompting: Prompting = Prompting()
    over_contact: OverContact = OverContact()


# ---------------------------------------------------------------- care catalogue
class Eligibility(Strict):
    """Who may receive a programme; null means no restriction."""

    segments: list[str] | None = None
    stages: list[EligibleStage] | None = None
    grades: list[Grade] | None = Field(None, description="satisfaction grades eligible")


class Effects(Strict):
    """What a programme does to one subscriber it reaches (the product). Effects may be zero or negative."""

    d_satisfaction: Delta = 0.0
    d_loyalty: Delta = 0.0
    p_resolve_problem: Probability = Field(0.0, description="chance the subscriber's open problems are resolved")
    rel_churn_hazard: NonNegative = Field(1.0, description="multiplier on the churn hazard (1 = none)")
    rel_bill_shock: NonNegative = Field(
        1.0, description="multiplier on the chance of a bill shock and of a roaming problem on a trip (1 = none)"
    )
    rel_win_back: NonNegative = Field(1.0, description="multiplier on the return hazard of churned subscribers")


class Programme(Strict):
    """A care programme: its delivery (trigger, eligibility, channel, capacity) and its product (effects)."""

    description: str = ""
    trigger: Trigger
    every_months: Annotated[int, Field(ge=1)] = Field(1, description="for trigger 'schedule': period in months")
    dur_lead_months: Annotated[int, Field(ge=0)] = Field(
        1, description="contract_end: months before the end; churned: months after churning"
    )
    eligibility: Eligibility = Eligibility()
    channel: Channel
    cost_per_contact: NonNegative
    cost_fixed_per_month: NonNegative = 0.0
    capacity_per_month: NonNegative | None = Field(None, description="real contacts per month; null = unlimited")
    dur_delivery_days: NonNegative = Field(1.0, description="mean delay from trigger to delivery, days")
    dur_timely_days: NonNegative = Field(7.0, description="a delivery within this many days is timely")
    rel_effect_late: Probability = Field(0.5, description="effect multiplier of a late delivery")
    dur_min_gap_months: Annotated[int, Field(ge=0)] = Field(0, description="months before it may be repeated")
    fatigue: Probability = Field(1.0, description="effect multiplier per earlier receipt (1 = no fatigue)")
    half_life_months: Positive = Field(6.0, description="half-life of the satisfaction, loyalty and rate effects")
    queue_priority: bool = Field(False, description="complaint trigger only: served first at hotline and store")
    effects: Effects = Effects()
    effects_by_segment: dict[str, Effects] = Field(
        default_factory=dict,
        description="per segment, the effects that differ from the programme-wide block (keys given replace it)",
    )
    response: Response = Response()
    prompts_comparison: Probability = Field(
        0.0, description="how strongly a contact prompts the subscriber to compare offers (1 = a plan recommendation)"
    )
    p_fix_fit: Probability = Field(
        0.0, description="chance a contact moves a subscriber on a poorly fitting plan to the best-fitting one"
    )


# ---------------------------------------------------------------- run
class Run(Strict):
    """How one run is executed and where it writes."""

    seed: Annotated[int, Field(ge=0)] = Field(20261123, description="the seed every random stream is drawn from")
    n_months: Annotated[int, Field(ge=1, le=600)] = Field(36, description="months simulated (the horizon)")
    scale: Annotated[float, Field(ge=1.0)] = Field(
        20.0, description="real subscribers each simulated subscriber stands for (at least 1)"
    )
    output_dir: str = Field("outputs", description="folder that receives one sub-folder per run")
    formats: list[Literal["parquet", "csv"]] = Field(default_factory=lambda: ["parquet", "csv"])
    progress: bool = True
    report: bool = Field(True, description="write report.html and figures/ into each run folder")
    regions: list[str] | None = Field(
        None, description="simulate only these regions of population.regions (a shard); null = all"
    )
    n_shard_workers: Annotated[int, Field(ge=1)] = Field(
        1, description="with regions: run the regions as this many parallel shard tasks, then combine"
    )
    executor: Literal["local", "ray"] = Field(
        "local", description="where parallel shard tasks run: local worker processes (joblib) or Ray tasks"
    )
    ray_address: str | None = Field(
        None,
        description="Ray, when used (run.executor or planner.executor): null starts a local instance; 'auto' joins "
        "this machine's cluster; 'ray://<head>:10001' connects to a remote one",
    )


class Targeted(Strict):
    """A share of a segment's eligible subscribers chosen by a targeting rule (``caresim.engine.policy``)."""

    share: Probability
    target: Literal["random", "risk", "value", "uplift"] = Field(
        "random", description="random draw, or highest baseline churn risk, value or predicted uplift first"
    )


PolicyShares = dict[str, Probability | Targeted | dict[str, Probability | Targeted]]


class Evaluation(Strict):
    """How a run's care programmes are judged against their control groups (the ``programmes`` table)."""

    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = Field(
        0.95,
        description="joint confidence of the table's intervals: each is widened (Bonferroni) so that all of "
        "them hold together, and a verdict that a programme works or harms is wrong anywhere in the table "
        "with at most 1 - confidence probability",
    )
    holdout_share: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.1,
        description="under a targeting rule other than random, the share of the targeted subscribers kept from the "
        "care at random as their control group",
    )
    value_beyond_horizon: bool = Field(
        False,
        description="count the revenue of subscribers kept beyond the horizon (monthly revenue × expected "
        "remaining lifetime) in revenue kept and net benefit",
    )
    months_after_horizon: Annotated[float, Field(ge=0.0, le=600.0)] = Field(
        36.0, description="cap on the expected remaining lifetime (months) valued beyond the horizon"
    )


class CareConfig(Strict):
    """A whole, validated scenario: everything ``caresim.simulation`` needs."""

    scenario: str = "baseline"
    description: str = ""
    population: Population
    market: Market = Market()
    service: Service = Service()
    behaviour: Behaviour = Behaviour()
    catalogue: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Programme]
    policy: PolicyShares = Field(
        default_factory=dict,
        description="programme -> share of eligible subscribers covered, or segment -> share; unnamed = 0",
    )
    run: Run = Run()
    evaluation: Evaluation = Evaluation()
    mode: Literal["simulate", "plan", "calibrate", "uplift"] = Field(
        "simulate",
        description="simulate: run the policy; plan: pilot, optimise, verify and adjust a care plan; "
        "calibrate: fit the population to a customer table or published churn rates; uplift: learn who a "
        "programme helps from a simulated pilot or a campaign table",
    )
    planner: Planner = Planner()
    calibration: Calibration = Calibration()
    uplift: Uplift = Uplift()

    @field_validator("policy", mode="before")
    @classmethod
    def _whole_programme_entries(cls, policy: object) -> object:
        """A mapping with ``share`` is one ``{share, target}`` entry for the whole programme, never a segment."""
        if not isinstance(policy, Mapping):
            return policy
        policy = dict(policy)
        for name, entry in policy.items():
            keys = set(entry) if isinstance(entry, Mapping) else set()
            rule_keys, others = keys & {"share", "target"}, keys - {"share", "target"}
            if rule_keys and others:
                raise ValueError(
                    f"policy.{name}: mixes segment names {sorted(others)} with {sorted(rule_keys)}; give either "
                    "{segment: share or {share, target}} or one {share: s, target: rule} for every segment"
                )
            if "target" in keys and "share" not in keys:
                raise ValueError(f"policy.{name}: a targeting rule needs its share: {{share: s, target: rule}}")
            if rule_keys:
                policy[name] = Targeted.model_validate(dict(entry))
        return policy

    @model_validator(mode="after")
    def _names_exist(self) -> CareConfig:
        segments = set(self.population.segments)
        known = sorted(segments)

        def check(names: list[str] | None, where: str) -> None:
            for name in names or []:
                if name not in segments:
                    raise ValueError(f"{where}: unknown segment '{name}'; known segments: {known}")

        for event_no, event in enumerate(self.market.competitor_events):
            check(event.segments, f"market.competitor_events.{event_no}.segments")
        for outage_no, outage in enumerate(self.market.outages):
            check(outage.segments, f"market.outages.{outage_no}.segments")
        for name, programme in self.catalogue.items():
            check(programme.eligibility.segments, f"catalogue.{name}.eligibility.segments")
            check(list(programme.effects_by_segment), f"catalogue.{name}.effects_by_segment")
            if programme.queue_priority and programme.trigger != "complaint":
                raise ValueError(
                    f"catalogue.{name}.queue_priority: only programmes with trigger 'complaint' may jump the queue"
                )
        for name, share in self.policy.items():
            if name not in self.catalogue:
                raise ValueError(f"policy.{name}: unknown programme; known programmes: {sorted(self.catalogue)}")
            if isinstance(share, dict):
                check(list(share), f"policy.{name}")
        self._planner_names_exist(check)
        for name in [self.uplift.programme, *self.uplift.models]:
            if name is not None and name not in self.catalogue:
                raise ValueError(f"uplift: unknown programme '{name}'; known programmes: {sorted(self.catalogue)}")
        if self.mode == "uplift" and self.uplift.programme is None:
            raise ValueError("uplift.programme: mode=uplift needs the programme whose uplift to learn")
        if self.run.regions is not None and not self.run.regions:
            raise ValueError("run.regions: name at least one region, or null for all")
        for name in self.run.regions or []:
            if not self.population.regions:
                raise ValueError(f"run.regions: region '{name}' named, but population.regions defines none")
            if name not in self.population.regions:
                raise ValueError(
                    f"run.regions: unknown region '{name}'; known regions: {sorted(self.population.regions)}"
                )
        if self.population.regions:
            regional_servers(self)  # the desks' split, checked here once
        return self

    def _planner_names_exist(self, check) -> None:
        planner = self.planner
        for key in ("segment_min_spend", "segment_max_spend", "max_poor_share"):
            check(list(getattr(planner, key)), f"planner.{key}")
        for name in planner.programmes or []:
            if name not in self.catalogue:
                raise ValueError(f"planner.programmes: unknown programme '{name}'; known: {sorted(self.catalogue)}")
        if planner.budget_per_period is not None and planner.period_months == 0:
            raise ValueError("planner.budget_per_period: needs planner.period_months > 0")


# How a regional base splits its desks' servers: a check the schema makes once (above) and the engine then
# uses (caresim.engine.regions). It lives here, beside the model it reads, so the schema needs no module
# that needs the schema (no import cycle, not even a type-only one).
def regional_servers(config: CareConfig) -> dict[str, dict[str, int]]:
    """Servers of each region's desks: its own ``n_servers``, else its share of the base's desk.

    The base's servers are split over all regions by largest remainder (so with no region naming its own,
    the regions' servers add up to the base's); a region that names its own figure keeps it.
    Raises ``ValueError`` naming the key when a region's share of a desk comes to no server at all.
    """
    regions = config.population.regions
    split: dict[str, dict[str, int]] = {name: {} for name in regions}
    for desk in DESKS:
        total = getattr(config.service, desk).n_servers
        quotas = np.array([region.share for region in regions.values()]) * total
        servers = np.floor(quotas + 1e-9).astype(int)
        left = total - int(servers.sum())
        if left > 0:  # the largest remainders get one more, earlier regions first on ties
            order = np.argsort(-(quotas - servers), kind="stable")
            servers[order[:left]] += 1
        for (name, region), count in zip(regions.items(), servers.tolist(), strict=True):
            own = region.n_servers.get(desk)
            if own is None and count == 0:
                raise ValueError(
                    f"population.regions.{name}.n_servers.{desk}: the region's share of service.{desk}.n_servers "
                    f"({total}) comes to no server; give the region its own n_servers.{desk}"
                )
            split[name][desk] = own if own is not None else count
    return split
