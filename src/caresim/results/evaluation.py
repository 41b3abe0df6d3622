"""Per-programme evaluation as domain.md measures care, judged against each programme's control group.

For each programme and segment, subscribers who met one of its key moments while eligible are split by the
policy's coverage draw into *assigned* and *control* (``contrast``); *treated* are the assigned who received
it. Reported, per programme × segment and for ``all`` segments:

- the three efficiencies: timeliness (contacts in time), reach (treated / eligible, contacts through the
  preferred channel) and benefit (revenue kept, margin kept, cost, net benefit);
- the grade rule of the seeds applied **relative to control**: the grade shift is the assigned group's mean
  grade (Excellent 3, Good 2, Fair 1, Poor 0) minus control's, judged on satisfaction while the control
  group's satisfaction is below Excellent and on loyalty once it is Excellent;
- churned by the end of the horizon (cumulative, not monthly), assigned against control;
- "Good or better": the share of a group whose judged grade ends Good or better (the seeds' success rule
  reads it of the treated customers; compare it with control's before reading it as success).

Intervals hold jointly over the table at ``evaluation.confidence`` (Bonferroni over every evaluable row's
grade shift and churn gap). The verdict reads: *harms* if either is surely below zero, *works* if either
is surely above zero (then *and pays* if its net benefit is positive, else *does not pay*), otherwise *no
measurable effect*; *not evaluable (no control group)* when everyone eligible was assigned, *not run* when no
one was. The ``all`` row combines the segments with a control group (assigned-weighted effects, summed money);
its ``cost`` covers every segment, and ``cost_evaluated`` those its benefit is measured over.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from caresim.engine.record import RunRecord
from caresim.lifecycle import GOOD, GRADES, grade_of
from caresim.results.contrast import Contrast, contrast, stratified
from caresim.results.costs import care_costs
from caresim.results.intervals import joint_level, normal_interval
from caresim.results.value import remaining_lifetime, revenue_kept

WORKS_AND_PAYS = "works and pays"
WORKS_NOT_PAYS = "works, does not pay"
NO_EFFECT = "no measurable effect"
HARMS = "harms"
NO_CONTROL = "not evaluable (no control group)"
TOO_FEW = "not evaluable (too few to compare)"
NOT_RUN = "not run"
VERDICTS = (WORKS_AND_PAYS, WORKS_NOT_PAYS, NO_EFFECT, HARMS, NO_CONTROL, TOO_FEW, NOT_RUN)
#: The judged measures: each has a difference and a standard error; their intervals decide the verdict.
JUDGED = ("grade_shift", "churn_reduction_by_end")


def grade_points(scores: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    """Grades as points, best highest: Excellent 3, Good 2, Fair 1, Poor 0."""
    return (len(GRADES) - 1 - grade_of(scores, **thresholds)).astype(float)


def verdict(
    evaluable: bool,
    assigned: int,
    shift: tuple[float, float],
    churn: tuple[float, float],
    net: float,
    control: int = 0,
) -> str:
    """The verdict of one row from the (low, high) intervals of its grade shift and churn gap."""
    if assigned == 0:
        return NOT_RUN
    if not evaluable:
        return TOO_FEW if control > 0 else NO_CONTROL
    if shift[1] < 0 or churn[1] < 0:
        return HARMS
    if shift[0] > 0 or churn[0] > 0:
        return WORKS_AND_PAYS if net > 0 else WORKS_NOT_PAYS
    return NO_EFFECT


def judge(table: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Add joint intervals (``<measure>_low/_high`` for the judged measures and net benefit) and the verdict.

    ``table`` has, per row, ``<measure>`` and ``<measure>_se`` for each judged measure and for
    ``net_benefit``, ``assigned`` and ``evaluable``; the intervals hold together over the evaluable rows.
    """
    table = table.copy()
    evaluable = table["evaluable"].astype(bool)
    level = joint_level(confidence, len(JUDGED) * int(evaluable.sum()))
    for measure in (*JUDGED, "net_benefit"):
        low, high = normal_interval(table[measure], table[f"{measure}_se"], level)
        table[f"{measure}_low"], table[f"{measure}_high"] = low, high
    table["interval_level"] = level
    table["verdict"] = [
        verdict(
            bool(row.evaluable),
            int(row.assigned > 0),
            (row.grade_shift_low, row.grade_shift_high),
            (row.churn_reduction_by_end_low, row.churn_reduction_by_end_high),
            float(row.net_benefit),
            int(getattr(row, "control", 0) > 0),
        )
        for row in table.itertuples()
    ]
    return table


def evaluate_programmes(record: RunRecord, reference: RunRecord | None = None) -> pd.DataFrame:
    """One row per programme × segment, plus one per programme over all segments (segment ``all``).

    ``reference``: the same scenario and seed under no care (common random numbers). Each subscriber's
    outcome is then adjusted by their own no-care outcome (``contrast``'s CUPED adjustment) before assigned
    and control are compared: the same expected effects, with less noise (the planner's verification uses
    this); remaining lifetimes are then the reference's.
    """
    settings = record.config.evaluation
    yardstick = reference if reference is not None else record  # remaining lifetimes: the no-care run's
    lifetime = remaining_lifetime(yardstick, settings.months_after_horizon) if settings.value_beyond_horizon else None
    paired = None
    if reference is not None:
        paired = _Measures(reference, revenue_kept(reference, lifetime))
    measures = _Measures(record, revenue_kept(record, lifetime), paired)
    rows = []
    for p in range(record.programmes.n):
        segment_rows = [measures.row(p, s) for s in range(len(record.segments.names))]
        rows += [*segment_rows, _overall(record, p, segment_rows)]
    table = pd.DataFrame(rows)
    table["value_beyond_horizon"] = settings.value_beyond_horizon
    table["paired_with_no_care"] = reference is not None
    table = judge(table, settings.confidence)
    return table.drop(columns=["_contrasts"])


class _Measures:
    """Per-subscriber measures of one record, computed once for every programme and segment.

    With a ``reference`` (the same people under no care, same seed), effects are measured on each person's
    difference from their reference self; group means stay those of the record itself.
    """

    def __init__(self, record: RunRecord, revenue: np.ndarray, reference: _Measures | None = None) -> None:
        subscribers, thresholds = record.subscribers, record.grade_thresholds
        self.record = record
        self.costs = care_costs(record)
        self.values: dict[str, np.ndarray] = {
            "satisfaction": subscribers.satisfaction,
            "loyalty": subscribers.loyalty,
            "churned": subscribers.churned.astype(float),
            "revenue": revenue,
        }
        for name in ("satisfaction", "loyalty"):
            points = grade_points(getattr(subscribers, name), thresholds)
            self.values[f"points_{name}"] = points
            self.values[f"good_{name}"] = (points >= len(GRADES) - 1 - GOOD).astype(float)
        self.excellent_bound = thresholds["excellent"]
        self.reference = reference
        if reference is not None and not np.array_equal(reference.record.subscribers.segment, subscribers.segment):
            raise ValueError("evaluation: the reference run must hold the same subscribers (same seed and scenario)")

    def compare(self, name: str, assigned: np.ndarray, control: np.ndarray) -> Contrast:
        """Assigned vs control on measure ``name`` (adjusted by the reference when there is one)."""
        reference = None if self.reference is None else self.reference.values[name]
        return contrast(self.values[name], assigned, control, reference)

    def row(self, p: int, s: int) -> dict[str, object]:
        record, care, subscribers = self.record, self.record.care, self.record.subscribers
        scale, monthly = record.scale, record.monthly
        in_segment = subscribers.segment == s
        eligible, assigned = care.eligible[p] & in_segment, care.assigned[p] & in_segment
        control, treated = care.control[p] & in_segment, assigned & (care.received[p] > 0)
        satisfaction = self.compare("satisfaction", assigned, control)
        judged_by = "loyalty" if satisfaction.control >= self.excellent_bound else "satisfaction"
        shift = self.compare(f"points_{judged_by}", assigned, control)
        churn = self.compare("churned", assigned, control)
        revenue = self.compare("revenue", assigned, control)
        good = self.compare(f"good_{judged_by}", assigned, control)
        loyalty = self.compare("loyalty", assigned, control)
        margin = float(record.segments.margin[s])
        contacts = float(self.costs.contacts[:, s, p].sum())
        variable, fixed = float(self.costs.variable[:, s, p].sum()), float(self.costs.fixed[:, s, p].sum())
        n_assigned = shift.n_assigned * scale
        kept = revenue.difference * n_assigned if shift.compared else math.nan
        n_treated = int(treated.sum())
        row = {
            "programme": record.programmes.names[p],
            "segment": record.segments.names[s],
            "policy_share": float(record.policy.shares[s, p]),
            **_groups(eligible, assigned, control, treated, scale),
            **_efficiencies(monthly, s, p, contacts / scale, n_treated, int(eligible.sum())),
            "contacts": contacts,
            "variable_cost": variable,
            "fixed_cost": fixed,
            "cost": variable + fixed,
            "cost_per_treated": (variable + fixed) / (n_treated * scale) if n_treated else math.nan,
            "judged_by": judged_by,
            "grade_shift": shift.difference,
            "grade_shift_se": shift.se,
            **_uplift("satisfaction", satisfaction),
            **_uplift("loyalty", loyalty),
            "churned_by_end_assigned": churn.assigned,
            "churned_by_end_control": churn.control,
            "churn_reduction_by_end": -churn.difference,
            "churn_reduction_by_end_se": churn.se,
            "good_or_better_treated": float(self.values[f"good_{judged_by}"][treated].mean())
            if n_treated
            else math.nan,
            "good_or_better_assigned": good.assigned,
            "good_or_better_control": good.control,
            "good_or_better_shift": good.difference,
            "revenue_kept": kept,
            "margin_kept": kept * margin,
            "net_benefit": kept * margin - (variable + fixed),
            "net_benefit_se": revenue.se * n_assigned * margin,
            "evaluable": shift.compared,
            "cost_evaluated": variable + fixed if shift.compared else 0.0,
            "segments_evaluated": record.segments.names[s] if shift.compared else "",
            "_contrasts": {
                "grade_shift": shift,
                "churn": churn,
                "good": good,
                "satisfaction": satisfaction,
                "loyalty": loyalty,
            },
        }
        return row


def _groups(eligible, assigned, control, treated, scale: float) -> dict[str, float]:
    n_eligible, n_assigned, n_treated = int(eligible.sum()), int(assigned.sum()), int(treated.sum())
    return {
        "eligible": n_eligible * scale,
        "assigned": n_assigned * scale,
        "treated": n_treated * scale,
        "control": int(control.sum()) * scale,
        "assigned_share": n_assigned / n_eligible if n_eligible else math.nan,  # of the eligible, as realised
        "delivered_share": n_treated / n_assigned if n_assigned else math.nan,
    }


def _efficiencies(monthly, s, p, contacts: float, n_treated: int, n_eligible: int) -> dict[str, float]:
    """Timeliness, reach and the preferred-channel share (contacts in simulated units)."""
    by = slice(None) if s is None else s
    timely = float(monthly.care_timely[:, by, p].sum())
    preferred = float(monthly.care_preferred[:, by, p].sum())
    return {
        "timeliness": timely / contacts if contacts else math.nan,
        "reach": n_treated / n_eligible if n_eligible else math.nan,
        "preferred_channel_share": preferred / contacts if contacts else math.nan,
    }


def _uplift(name: str, measured: Contrast) -> dict[str, float]:
    return {
        f"{name}_assigned": measured.assigned,
        f"{name}_control": measured.control,
        f"{name}_uplift": measured.difference,
    }


def _overall(record: RunRecord, p: int, rows: list[dict[str, object]]) -> dict[str, object]:
    """The ``all`` row: segment effects combined (assigned-weighted), money summed over evaluable segments,
    cost over every segment."""
    usable = [row for row in rows if row["evaluable"]]
    combined = {key: stratified([row["_contrasts"][key] for row in rows]) for key in rows[0]["_contrasts"]}
    sums = {
        k: float(sum(row[k] for row in rows))
        for k in ("eligible", "assigned", "treated", "control", "contacts", "variable_cost", "fixed_cost", "cost")
    }
    monthly = record.monthly
    judged = sorted({str(row["judged_by"]) for row in usable})
    scale = record.scale
    kept = float(sum(row["revenue_kept"] for row in usable)) if usable else math.nan
    margin_kept = float(sum(row["margin_kept"] for row in usable)) if usable else math.nan
    cost_evaluated = float(sum(row["cost"] for row in usable))
    treated_rows = [row for row in rows if row["treated"] > 0]
    return {
        "programme": record.programmes.names[p],
        "segment": "all",
        "policy_share": math.nan,
        **sums,
        "assigned_share": sums["assigned"] / sums["eligible"] if sums["eligible"] else math.nan,
        "delivered_share": sums["treated"] / sums["assigned"] if sums["assigned"] else math.nan,
        **_efficiencies(
            monthly,
            None,
            p,
            sums["contacts"] / scale,
            round(sums["treated"] / scale),
            round(sums["eligible"] / scale),
        ),
        "cost_per_treated": sums["cost"] / sums["treated"] if sums["treated"] else math.nan,
        "judged_by": judged[0] if len(judged) == 1 else "by segment",
        "grade_shift": combined["grade_shift"].difference,
        "grade_shift_se": combined["grade_shift"].se,
        **_uplift("satisfaction", combined["satisfaction"]),
        **_uplift("loyalty", combined["loyalty"]),
        "churned_by_end_assigned": combined["churn"].assigned,
        "churned_by_end_control": combined["churn"].control,
        "churn_reduction_by_end": -combined["churn"].difference,
        "churn_reduction_by_end_se": combined["churn"].se,
        "good_or_better_treated": (
            sum(row["good_or_better_treated"] * row["treated"] for row in treated_rows)
            / sum(row["treated"] for row in treated_rows)
            if treated_rows
            else math.nan
        ),
        "good_or_better_assigned": combined["good"].assigned,
        "good_or_better_control": combined["good"].control,
        "good_or_better_shift": combined["good"].difference,
        "revenue_kept": kept,
        "margin_kept": margin_kept,
        "net_benefit": margin_kept - cost_evaluated if usable else math.nan,
        "net_benefit_se": float(np.sqrt(sum(row["net_benefit_se"] ** 2 for row in usable))) if usable else math.nan,
        "evaluable": bool(usable),
        "cost_evaluated": cost_evaluated,
        "segments_evaluated": ",".join(str(row["segment"]) for row in usable),
        "_contrasts": {},
    }
