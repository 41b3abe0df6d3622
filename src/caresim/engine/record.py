"""The read-only record a run leaves when it ends: what tables, evaluation, pilot and verification read.

It holds the monthly records, each subscriber's final outcomes and, per programme, each subscriber's
eligible / assigned flags and the number of contacts received, for every subscriber who ever bought, in
slot order (lost prospects are left out). With common random numbers the same subscribers sit at the same
positions in every run of one seed and scenario, whatever the policy, so two records compare person by
person. Every array is read-only; counts are in simulated units (each subscriber stands for ``scale``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from caresim.config.schema import CareConfig
from caresim.engine.policy import CarePolicy
from caresim.engine.population import SegmentTable
from caresim.engine.programmes import ProgrammeTable
from caresim.engine.records import MonthlyRecords, combine_records
from caresim.engine.regions import RegionTable
from caresim.engine.world import World
from caresim.lifecycle import CHURNED


@dataclass(frozen=True)
class SubscriberOutcomes:
    """Each subscriber's state when the run ended (one entry per subscriber who ever bought)."""

    segment: np.ndarray  # segment code
    region: np.ndarray  # region code (0 without regions)
    channel: np.ndarray  # preferred channel code
    contract_months: np.ndarray
    in_contract: np.ndarray
    joined_month: np.ndarray
    tenure: np.ndarray  # months billed in the current stay
    stage: np.ndarray  # lifecycle stage code at the end
    problems: np.ndarray
    complaints: np.ndarray
    contacts: np.ndarray
    open_problems: np.ndarray
    satisfaction: np.ndarray
    loyalty: np.ndarray
    churn_month: np.ndarray  # month of the last churn, -1 if never
    n_churns: np.ndarray
    n_returns: np.ndarray
    revenue: np.ndarray  # per month, at the end
    revenue_total: np.ndarray  # billed over the horizon
    care_cost: np.ndarray  # variable care spend on this subscriber (fixed costs are the programmes')
    inbound_contacts: np.ndarray  # information queries, problem reports, repeats and retrials
    repeat_contacts: np.ndarray  # contacts again about a problem an earlier contact did not resolve
    abandoned_contacts: np.ndarray  # gave up waiting at a desk
    resolved_contacts: np.ndarray  # contacts that resolved a problem
    unresolved_contacts: np.ndarray  # contacts about a problem that left it open (abandoned ones included)
    risk_score: np.ndarray  # standardised baseline churn risk at joining (caresim.engine.response)
    overpay_at_joining: np.ndarray  # share of the bill above the best-fitting plan, at joining
    overpay: np.ndarray  # the same at the end (0 once a contact moved them to a fitting plan)
    attributes_at_joining: np.ndarray  # subscribers × ATTRIBUTES: what an operator could observe at joining

    @property
    def n(self) -> int:
        return len(self.segment)

    @property
    def churned(self) -> np.ndarray:
        """Gone at the end (churned and not won back)."""
        return self.stage == CHURNED

    @property
    def active_end(self) -> np.ndarray:
        """Still a subscriber at the end."""
        return self.stage != CHURNED


@dataclass(frozen=True)
class CareFlags:
    """Per programme (rows, catalogue order) and subscriber (columns): who met it, was assigned, received it.

    *eligible*: met one of the programme's key moments while eligible; *assigned*: eligible and chosen by the
    policy (the coverage draw, or the targeting order less its holdout), whether or not capacity let the care
    arrive; *control*: eligible and kept from it at random (not covered by the draw, or the targeted holdout);
    *received*: number of contacts received. Under a targeting rule, eligible subscribers outside the target
    are in neither group.
    """

    eligible: np.ndarray
    assigned: np.ndarray
    control: np.ndarray
    received: np.ndarray

    @property
    def treated(self) -> np.ndarray:
        """Assigned and received at least one contact."""
        return self.assigned & (self.received > 0)


@dataclass(frozen=True)
class RunRecord:
    """Everything a finished run leaves: settings, monthly records, subscribers' outcomes and care flags."""

    config: CareConfig
    policy: CarePolicy
    scale: float
    segments: SegmentTable
    programmes: ProgrammeTable
    regions: RegionTable
    grade_thresholds: dict[str, float]
    monthly: MonthlyRecords
    subscribers: SubscriberOutcomes
    care: CareFlags

    @property
    def n_months(self) -> int:
        return self.monthly.stock["active"].shape[0]


_STATE_FIELDS = {"open_problems": "n_open"}  # record name -> state name where they differ


def record_of(world: World) -> RunRecord:
    """The record of a world's run so far (copies: the world may go on or be dropped)."""
    state = world.state
    ever = np.flatnonzero(state.ever_active)
    columns = {
        f.name: getattr(state, _STATE_FIELDS.get(f.name, f.name))[ever]
        for f in fields(SubscriberOutcomes)
        if f.name != "attributes_at_joining"
    }
    # np.take makes arrays of their own, laid out row by row (indexing a second axis makes a view of a copy)
    columns["attributes_at_joining"] = np.take(state.attributes_at_joining.T, ever, axis=0)
    subscribers = SubscriberOutcomes(**{name: _frozen(values) for name, values in columns.items()})
    care = CareFlags(
        eligible=_frozen(np.take(state.ever_eligible, ever, axis=1)),
        assigned=_frozen(np.take(state.ever_assigned, ever, axis=1)),
        control=_frozen(np.take(state.ever_control, ever, axis=1)),
        received=_frozen(np.take(state.received, ever, axis=1)),
    )
    return RunRecord(
        config=world.config,
        policy=world.policy,
        scale=world.scale,
        segments=world.segments,
        programmes=world.programmes,
        regions=world.regions,
        grade_thresholds=dict(world.grade_thresholds),
        monthly=_frozen_records(combine_records([world.records])),
        subscribers=subscribers,
        care=care,
    )


def join(config: CareConfig, parts: list[RunRecord]) -> RunRecord:
    """The records of ``config``'s regions simulated apart (shards), as one record: monthly records added up,
    subscribers side by side region by region (in ``population.regions`` order), region codes the base's."""
    regions = RegionTable.from_config(config)
    names = [part.regions.names[0] for part in parts]
    if sorted(names) != sorted(regions.names) or any(len(part.regions) != 1 for part in parts):
        raise ValueError(f"shards of regions {sorted(names)} do not make up the run's {sorted(regions.names)}")
    for part in parts:
        same = part.scale == config.run.scale and part.segments.names == tuple(config.population.segments)
        if not same or not np.array_equal(part.policy.shares, parts[0].policy.shares):
            raise ValueError(f"shard {part.regions.names[0]}: simulated with another scale, segments or policy")
    by_name = dict(zip(names, parts, strict=True))
    ordered = [by_name[name] for name in regions.names]
    first = ordered[0]
    columns = {}
    for f in fields(SubscriberOutcomes):
        if f.name == "region":
            columns[f.name] = np.concatenate(
                [np.full(p.subscribers.n, r, dtype=np.int16) for r, p in enumerate(ordered)]
            )
        else:
            columns[f.name] = np.concatenate([getattr(p.subscribers, f.name) for p in ordered])
    care = {f.name: np.concatenate([getattr(p.care, f.name) for p in ordered], axis=1) for f in fields(CareFlags)}
    return RunRecord(
        config=config,
        policy=first.policy,
        scale=first.scale,
        segments=first.segments,
        programmes=first.programmes,
        regions=regions,
        grade_thresholds=first.grade_thresholds,
        monthly=_frozen_records(combine_records([p.monthly for p in ordered])),
        subscribers=SubscriberOutcomes(**{k: _frozen(v) for k, v in columns.items()}),
        care=CareFlags(**{k: _frozen(v) for k, v in care.items()}),
    )


def _frozen(values: np.ndarray) -> np.ndarray:
    """``values`` made read-only. Callers pass arrays of their own (fancy-indexed or concatenated copies),
    never views of the engine's state, so nothing is copied twice."""
    if values.base is not None and not values.flags.owndata and values.base.flags.writeable:
        values = values.copy()  # a view: do not lock (or share) the array it looks into
    values.setflags(write=False)
    return values


def _frozen_records(records: MonthlyRecords) -> MonthlyRecords:
    for value in vars(records).values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
        elif isinstance(value, dict):
            for array in value.values():
                array.setflags(write=False)
    return records
