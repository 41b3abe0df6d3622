"""The pilot: care programmes tried on a small market inside the simulation, as an operator would pilot them.

At each coverage level every programme the planner may use is assigned at random to that share of the
eligible subscribers of every segment; the rest of the eligible are its control group. Assignments of
different programmes are independent draws, so one run is a factorial experiment: each programme's effect
is measured with the others present at the same level, and where two programmes meet the same subscribers
(same trigger or same channel) the 2 × 2 cells measure whether their effects add up.

The effect of programme *p* in segment *s* is the intention-to-treat difference, per assigned subscriber,
between assigned and control. With ``paired`` every subscriber is first compared with its twin in a
no-care run of the same seed (common random numbers); the expectation is unchanged, the noise is far less.
Each replication uses its own seed; estimates carry t-intervals across replications. Negative effects
stay negative.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from caresim.config.schema import CareConfig
from caresim.engine.policy import CarePolicy
from caresim.engine.record import RunRecord
from caresim.executors import Pool, done_future
from caresim.lifecycle import GOOD, GRADES, POOR
from caresim.planning.cache import RunCache, run_identity
from caresim.planning.outcomes import Outcomes
from caresim.planning.seeds import derived_seed
from caresim.planning.targeting import cross_fitted_uplift, gains
from caresim.planning.uplift import training_data
from caresim.results.contrast import contrast
from caresim.results.value import remaining_lifetime
from caresim.simulation import run_record

#: What a pilot replication measures (``measure_replication``), each a list of tables joined over samples.
FRAMES = ("responses", "segments", "overlaps", "profile", "targeted", "qini")

OUTCOMES = (
    "value",
    "retained",
    "satisfaction",
    "loyalty",
    *(f"satisfaction_{grade}" for grade in GRADES),
    *(f"loyalty_{grade}" for grade in GRADES),
    "satisfaction_good_or_better",
    "loyalty_good_or_better",
    "loyal_active",
)


@dataclass
class PilotResult:
    """The pilot's measurements: one row per sample × level × segment × programme, and the segments' facts."""

    responses: pd.DataFrame
    segments: pd.DataFrame  # sample × segment: size, churn and Poor share under no care
    overlaps: pd.DataFrame  # sample × level × segment × pair of programmes: interaction of effects
    spend_profile: pd.DataFrame  # segment × programme × month: share of its contacts in that month
    n_months: int
    programmes: tuple[str, ...]
    targeted: pd.DataFrame = field(default_factory=pd.DataFrame)  # sample × level × segment × programme × rule
    # the gain of targeting by a rule over random coverage (``caresim.planning.targeting``)
    qini: pd.DataFrame = field(default_factory=pd.DataFrame)  # sample × programme: cross-fitted uplift's Qini
    training: dict[str, list] = field(default_factory=dict, repr=False)  # programme -> randomised arms per sample
    derived: dict[str, Any] = field(default_factory=dict, repr=False)  # tables and options computed once from these


def pilot_config(config: CareConfig, seed: int) -> CareConfig:
    """The pilot market: the scenario at the pilot's scale, with its own seed, quiet, and without the limits
    the plan itself must respect (programme capacities, the contact policy). The pilot measures what each
    programme does and costs when everyone assigned to it can be served; the optimiser then keeps the plan
    within the capacities, and the verifying simulation runs it with every limit in force."""
    scale = config.planner.pilot.scale or config.run.scale
    run = config.run.model_copy(update={"seed": seed, "scale": scale, "progress": False})
    planned = set(planned_programmes(config))
    catalogue = {
        name: programme.model_copy(update={"capacity_per_month": None}) if name in planned else programme
        for name, programme in config.catalogue.items()
    }
    service = config.service.model_copy(update={"n_max_care_contacts_per_month": None})
    return config.model_copy(update={"run": run, "catalogue": catalogue, "service": service})


def planned_programmes(config: CareConfig) -> tuple[str, ...]:
    """Programmes the planner may use, in catalogue order."""
    allowed = config.planner.programmes
    return tuple(name for name in config.catalogue if allowed is None or name in allowed)


def run_pilot(
    configs: list[CareConfig],
    tick: Callable[[], None] | None = None,
    cache: RunCache | None = None,
    pool: Pool | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> PilotResult:
    """Pilot every planned programme in each scenario config; ``tick`` is called after every simulation run.

    Every simulation run is a task of ``pool`` (default: one after another here); each replication is measured
    as a task of its own once its runs are in. A measured replication is one unit of work: with a ``cache`` it is
    kept on disk when finished and reused. ``meanwhile`` is called once every run is submitted (to queue more
    independent work behind them). The result does not depend on the pool.
    """
    base = configs[0]
    settings = base.planner.pilot
    programmes = planned_programmes(base)
    cache = cache or RunCache(None)
    pool = pool or Pool()
    samples = []
    for s_no, scenario_config in enumerate(configs):
        for rep in range(settings.n_replications):
            config = pilot_config(scenario_config, derived_seed(base.run.seed, "pilot", rep, s_no))
            key = cache.key(
                "pilot", run_identity(config), settings.model_dump(mode="json"), programmes, base.planner.targeting
            )
            sample = {"scenario": scenario_config.scenario, "replication": rep}
            found = cache.get(key)
            if found is not None:
                for _ in range(1 + len(settings.coverage_levels)):
                    if tick:
                        tick()  # runs found finished count as done
                samples.append((sample, key, config, done_future(found), []))
                continue
            policies = [{}, *({name: level for name in programmes} for level in settings.coverage_levels)]
            runs = [  # each run kept on its own, so that a killed pilot loses no finished run
                cache.submit(pool, ("pilot-run", run_identity(config), policy), run_record, config, policy, tick=tick)
                for policy in policies
            ]
            samples.append((sample, key, config, None, runs))
    if meanwhile:
        meanwhile()
    measured = []
    for sample, key, config, found, runs in samples:  # each measured as soon as its own runs are in
        parts = [found] if found is not None else _submit_measurement(pool, config, programmes, runs)
        measured.append((sample, key, found is None, parts))
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in FRAMES}
    training: dict[str, list] = {}
    for sample, key, new, parts in measured:
        done = _joined_measurement([part.result() for part in parts])
        if new:
            cache.put(key, done)
        done = dict(done)
        for programme, arms in done.pop("training", {}).items():
            training.setdefault(programme, []).append(arms)
        for name, frame in done.items():
            frames[name] += [part.assign(**sample) if name != "profile" else part for part in frame]
    profile = pd.concat(frames["profile"]).groupby(["segment", "programme", "month"], as_index=False)["share"].mean()
    return PilotResult(
        responses=pd.concat(frames["responses"], ignore_index=True),
        segments=pd.concat(frames["segments"], ignore_index=True),
        overlaps=pd.concat(frames["overlaps"], ignore_index=True),
        spend_profile=profile,
        n_months=base.run.n_months,
        programmes=programmes,
        targeted=_joined(frames["targeted"]),
        qini=_joined(frames["qini"]),
        training=training,
    )


def _submit_measurement(pool: Pool, config: CareConfig, programmes: tuple[str, ...], runs: list) -> list:
    """Measure one replication as tasks once its runs are in: the effects, and the targeting (its uplift models
    are most of the work) in one task per worker, each for a share of the programmes, so that the workers stay
    evenly busy. Joined in programme order, the result does not depend on how it was split."""
    records = [run.result() for run in runs]
    runs.clear()  # the records live on only in their measurement
    if not config.planner.targeting or not programmes:
        return [pool.submit(measure_replication, config, programmes, records[0], records[1:])]
    parts = [pool.submit(measure_replication, config, programmes, records[0], records[1:], False)]
    for chunk in np.array_split(np.array(programmes, dtype=object), min(pool.n_workers, len(programmes))):
        parts.append(pool.submit(measure_targeting, config, tuple(chunk), records[0], records[1:]))
    return parts


def _joined_measurement(parts: list[dict]) -> dict:
    """One replication's measurement from its parts (the effects, then the targeting of each programme share)."""
    done = {name: list(frame) for name, frame in parts[0].items() if name != "training"}
    training = dict(parts[0].get("training", {}))
    for part in parts[1:]:
        for name in ("targeted", "qini"):
            done[name] = done.get(name, []) + [frame for frame in part[name] if not frame.empty]
        training.update(part["training"])
    done["training"] = training
    return done


def _joined(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def measure_replication(
    config: CareConfig,
    programmes: tuple[str, ...],
    twin_record: RunRecord,
    records: list[RunRecord],
    targeting: bool = True,
) -> dict:
    """One pilot replication measured: its no-care twin's record and one record per coverage level (in
    ``coverage_levels`` order). Uplift models learn on one thread, so that the result is the same on any
    worker of any pool. ``targeting`` False: leave the targeting out (``measure_targeting`` does it)."""
    settings = config.planner.pilot
    frames: dict[str, list] = {name: [] for name in FRAMES}
    lifetime = remaining_lifetime(twin_record, settings.months_after_horizon)
    twin = Outcomes.of(twin_record, lifetime)
    frames["segments"].append(_segment_facts(twin_record, twin, lifetime))
    no_care = _eligible_counts(twin_record, programmes)
    runs = []
    for level, record in zip(settings.coverage_levels, records, strict=True):
        measured = _Measured(record, Outcomes.of(record, lifetime), twin if settings.paired else None)
        responses = measured.responses(programmes).merge(no_care, on=["segment", "programme"], how="left")
        frames["responses"].append(responses.assign(level=level))
        frames["overlaps"].append(measured.overlaps(programmes).assign(level=level))
        frames["profile"].append(_contact_profile(record, programmes))
        runs.append((level, measured))
    if config.planner.targeting and targeting:
        with threadpool_limits(limits=1):
            _targeting(config, programmes, runs, frames)
    return frames


def measure_targeting(
    config: CareConfig, programmes: tuple[str, ...], twin_record: RunRecord, records: list[RunRecord]
) -> dict:
    """The targeting part of ``measure_replication`` for ``programmes``: each rule's gains and the uplift
    models' Qini and training arms."""
    settings = config.planner.pilot
    lifetime = remaining_lifetime(twin_record, settings.months_after_horizon)
    twin = Outcomes.of(twin_record, lifetime) if settings.paired else None
    runs = [
        (level, _Measured(record, Outcomes.of(record, lifetime), twin))
        for level, record in zip(settings.coverage_levels, records, strict=True)
    ]
    frames: dict[str, list] = {"targeted": [], "qini": []}
    with threadpool_limits(limits=1):
        _targeting(config, programmes, runs, frames)
    return frames


def _targeting(config: CareConfig, programmes: tuple[str, ...], runs: list, frames: dict[str, list]) -> None:
    """Score the pilot's subscribers by each rule the planner may use and measure each rule's gain over random
    coverage at every level (``caresim.planning.targeting``); keep the arms an uplift model trains on."""
    rules = config.planner.targeting
    holdout, seed, learner = config.evaluation.holdout_share, config.run.seed, config.uplift.learner
    # the uplift model learns from the run whose arms are most balanced
    _, learning = min(runs, key=lambda run: abs(run[0] - 0.5))
    record = learning.record
    training, qinis, targeted = {}, [], []
    for programme in programmes:
        scores: dict[str, np.ndarray] = {}
        if "risk" in rules:
            scores["risk"] = np.asarray(record.subscribers.risk_score, dtype=float)
        if "uplift" in rules:
            fitted = cross_fitted_uplift(record, programme, seed, learner)
            if fitted is not None:
                scores["uplift"], measured_qini = fitted
                qinis.append({"programme": programme, **measured_qini})
                training[programme] = training_data(record, programme)
        for level, measured in runs:
            targeted += gains(measured.record, measured.delta, programme, scores, level, holdout, seed)
    frames["targeted"].append(pd.DataFrame(targeted))
    frames["qini"].append(pd.DataFrame(qinis))
    frames["training"] = training


class _Measured:
    """One pilot run, measured against its no-care twin (or, unpaired, on its own)."""

    def __init__(self, record: RunRecord, own: Outcomes, twin: Outcomes | None) -> None:
        self.record, self.own = record, own
        if twin is not None:
            own.check_twin(twin)
        base = own.columns()
        twin_columns = twin.columns() if twin is not None else {}
        self.delta = {name: base[name] - twin_columns.get(name, 0.0) for name in OUTCOMES}

    def _groups(self, p: int, s: int) -> tuple[np.ndarray, np.ndarray]:
        care, in_segment = self.record.care, self.own.segment == s
        return care.assigned[p] & in_segment, care.control[p] & in_segment

    def responses(self, programmes: tuple[str, ...]) -> pd.DataFrame:
        record, scale = self.record, self.record.scale
        n_months = record.n_months
        names = record.programmes.names
        cost = record.programmes.product.cost_per_contact
        received = record.care.received
        rows = []
        for name in programmes:
            p = names.index(name)
            for s, segment in enumerate(record.segments.names):
                assigned, control = self._groups(p, s)
                n_assigned, n_control = int(assigned.sum()), int(control.sum())
                contacts = float(received[p][assigned].sum())
                treated = assigned & (received[p] > 0)
                row = {
                    "segment": segment,
                    "programme": name,
                    "eligible": (n_assigned + n_control) * scale,
                    "assigned": n_assigned * scale,
                    "control": n_control * scale,
                    "treated": float(treated.sum()) * scale,
                    "cost_per_assigned": contacts * cost[p] / n_assigned if n_assigned else np.nan,
                    "cost_per_treated": contacts * cost[p] / treated.sum() if treated.any() else np.nan,
                    "contacts_per_assigned_month": contacts / n_assigned / n_months if n_assigned else np.nan,
                    "treated_good_or_better": float((self.own.satisfaction_grade[treated] <= GOOD).mean())
                    if treated.any()
                    else np.nan,
                    "treated_satisfaction": float(self.own.satisfaction[treated].mean()) if treated.any() else np.nan,
                }
                for outcome in OUTCOMES:
                    row[f"effect_{outcome}"] = contrast(self.delta[outcome], assigned, control).difference
                rows.append(row)
        return pd.DataFrame(rows)

    def overlaps(self, programmes: tuple[str, ...]) -> pd.DataFrame:
        """Interaction of two programmes' effects on value where both meet the same subscribers."""
        catalogue = self.record.config.catalogue
        names = self.record.programmes.names
        rows = []
        for a, b in combinations(programmes, 2):
            shared = [key for key in ("trigger", "channel") if getattr(catalogue[a], key) == getattr(catalogue[b], key)]
            if not shared:
                continue
            pa, pb = names.index(a), names.index(b)
            for s, segment in enumerate(self.record.segments.names):
                in_a, out_a = self._groups(pa, s)
                in_b, out_b = self._groups(pb, s)
                cells = [in_a & in_b, in_a & out_b, out_a & in_b, out_a & out_b]
                sizes = [int(cell.sum()) for cell in cells]
                values = self.delta["value"]
                interaction = (
                    float(
                        values[cells[0]].mean()
                        - values[cells[1]].mean()
                        - values[cells[2]].mean()
                        + values[cells[3]].mean()
                    )
                    if min(sizes) > 0
                    else np.nan
                )
                rows.append(
                    {
                        "segment": segment,
                        "programme_a": a,
                        "programme_b": b,
                        "shared": "+".join(shared),
                        "both_eligible": sum(sizes) * self.record.scale,
                        "interaction_value": interaction,
                    }
                )
        return pd.DataFrame(rows)


def _eligible_counts(record: RunRecord, programmes: tuple[str, ...]) -> pd.DataFrame:
    """Real subscribers who met each programme's key moment while eligible, per segment (care or not)."""
    segment_of, names = record.subscribers.segment, record.segments.names
    rows = []
    for name in programmes:
        p = record.programmes.names.index(name)
        counts = np.bincount(segment_of[record.care.eligible[p]], minlength=len(names)) * record.scale
        rows += [
            {"segment": segment, "programme": name, "eligible_no_care": float(counts[s])}
            for s, segment in enumerate(names)
        ]
    return pd.DataFrame(rows)


def _segment_facts(record: RunRecord, twin: Outcomes, lifetime: np.ndarray) -> pd.DataFrame:
    """Per segment under no care: mean active subscribers, subscribers ever active, churn, Poor share."""
    records, scale = record.monthly, record.scale
    churned = records.flow["churned"].sum(axis=0)
    exposed = records.stock["active_start"].sum(axis=0)
    rows = []
    for s, segment in enumerate(record.segments.names):
        ever = twin.segment == s
        rows.append(
            {
                "segment": segment,
                "active_mean": float(records.stock["active"][:, s].mean() * scale),
                "ever_active": float(ever.sum() * scale),
                "churn_rate": float(churned[s] / exposed[s]) if exposed[s] else 0.0,
                "poor_share": float((twin.satisfaction_grade[ever] == POOR).mean()) if ever.any() else 0.0,
                "value_per_subscriber_month": float(record.segments.revenue_mean[s] * record.segments.margin[s]),
                "remaining_lifetime_months": float(lifetime[s]),
            }
        )
    return pd.DataFrame(rows)


def _contact_profile(record: RunRecord, programmes: tuple[str, ...]) -> pd.DataFrame:
    """Share of each option's contacts falling in each month (for budgets per period)."""
    contacts = record.monthly.care_contacts
    rows = []
    for name in programmes:
        p = record.programmes.names.index(name)
        for s, segment in enumerate(record.segments.names):
            monthly = contacts[:, s, p]
            total = monthly.sum()
            shares = monthly / total if total else np.full(len(monthly), 1.0 / len(monthly))
            rows += [
                {"segment": segment, "programme": name, "month": m, "share": float(x)} for m, x in enumerate(shares)
            ]
    return pd.DataFrame(rows)


def no_care_policy(config: CareConfig) -> CarePolicy:
    """The policy that runs nothing."""
    return CarePolicy.none(tuple(config.population.segments), tuple(config.catalogue))
