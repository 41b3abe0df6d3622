"""Per-programme evaluation as domain.md measures care: reach, cost, grades, success, three efficiencies.

For each programme and segment, subscribers who were eligible at one of its key moments are split by the
policy's coverage draw: *assigned* (inside the share) and *control* (outside it). Coverage is random within
a segment, so assigned and control differ only by the care, and their difference (intention to treat) is
the programme's effect, unbiased even when capacity keeps some assigned subscribers waiting. *Treated*
subscribers are the assigned ones who received it; the success rule judges their grades.

Segments get different shares, so the ``all`` row does not compare pooled groups: its uplifts are the
segment uplifts averaged with the assigned counts as weights, its gains and net benefit are sums over the
segments that have both groups, and ``segments_compared`` names them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from caresim.lifecycle import CHURNED, EXCELLENT, GRADES, grade_of, is_success

if TYPE_CHECKING:
    from caresim.model import CareModel

UPLIFTS = ("satisfaction_uplift", "loyalty_uplift", "churn_reduction")


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _grade_shares(scores: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    if len(scores) == 0:
        return np.full(len(GRADES), np.nan)
    return np.bincount(grade_of(scores, **thresholds), minlength=len(GRADES)) / len(scores)


def _verdict(treated: int, satisfaction: float, loyalty: float, thresholds: dict[str, float]) -> dict[str, object]:
    """domain.md's evaluation rule (judge by satisfaction until it is Excellent, then by loyalty) and
    success rule (Good or better succeeds; Fair or worse fails and must be adjusted or replaced)."""
    if treated == 0:
        return {"evaluated_by": "", "grade": "", "success": pd.NA, "verdict": "not delivered"}
    sat_grade = int(grade_of(np.array([satisfaction]), **thresholds)[0])
    if sat_grade == EXCELLENT:
        loy_grade = int(grade_of(np.array([loyalty]), **thresholds)[0])
        success, by, grade = is_success(loy_grade), "loyalty", GRADES[loy_grade]
    else:
        success, by, grade = is_success(sat_grade), "satisfaction", GRADES[sat_grade]
    return {
        "evaluated_by": by,
        "grade": grade,
        "success": success,
        "verdict": "succeeded" if success else "failed: adjust or replace",
    }


def evaluate_programmes(model: CareModel) -> pd.DataFrame:
    """One row per programme × segment, plus one per programme over all segments (segment ``all``)."""
    rows = []
    for p in range(model.programmes.n):
        segment_rows = [_evaluate(model, p, code) for code in range(len(model.segments.names))]
        overall = _evaluate(model, p, None)
        _stratify(overall, segment_rows)
        rows += [*segment_rows, overall]
    return pd.DataFrame(rows)


def _evaluate(model: CareModel, p: int, code: int | None) -> dict[str, object]:
    """The evaluation row of programme ``p`` in segment ``code`` (None: all segments, pooled)."""
    state, records, scale = model.state, model.records, model.scale
    product = model.programmes.product
    thresholds = model.grade_thresholds
    n_months = records.care_contacts.shape[0]
    in_scope = np.ones(state.n, dtype=bool) if code is None else state.segment == code
    eligible = state.ever_active & state.ever_eligible[p] & in_scope
    covered = state.cover_u[p] < model.policy.shares[state.segment, p]
    assigned, control = eligible & covered, eligible & ~covered
    treated = assigned & (state.received[p] > 0)
    churned = state.stage == CHURNED
    by_segment = slice(None) if code is None else code
    contacts = records.care_contacts[:, by_segment, p].sum()
    variable = contacts * product.cost_per_contact[p] * scale
    fixed = product.cost_fixed_per_month[p] * n_months if model.policy.running[p] else 0.0
    all_contacts = records.care_contacts[..., p].sum()
    if code is not None:  # fixed cost shared by the segments' contacts
        fixed = fixed * (contacts / all_contacts) if all_contacts else 0.0
    n_assigned, n_treated = int(assigned.sum()), int(treated.sum())
    compared = n_assigned > 0 and control.any()

    def diff(values: np.ndarray) -> tuple[float, float, float]:
        a, c = _mean(values[assigned]), _mean(values[control])
        return a, c, (a - c) if compared else float("nan")

    sat_a, sat_c, sat_up = diff(state.satisfaction)
    loy_a, loy_c, loy_up = diff(state.loyalty)
    churn_a, churn_c, churn_up = diff(churned.astype(float))
    *_, rev_up = diff(state.revenue_total)
    revenue_gain = rev_up * n_assigned * scale
    margin = model.segments.margin[code] if code is not None else float("nan")
    row: dict[str, object] = {
        "programme": model.programmes.names[p],
        "segment": model.segments.names[code] if code is not None else "all",
        "policy_share": float(model.policy.shares[code, p]) if code is not None else float("nan"),
        "eligible": eligible.sum() * scale,
        "assigned": n_assigned * scale,
        "treated": n_treated * scale,
        "control": control.sum() * scale,
        "reach": n_treated / eligible.sum() if eligible.any() else float("nan"),
        "delivered_share": n_treated / n_assigned if n_assigned else float("nan"),
        "contacts": contacts * scale,
        "variable_cost": variable,
        "fixed_cost": fixed,
        "cost": variable + fixed,
        "cost_per_treated": (variable + fixed) / (n_treated * scale) if n_treated else float("nan"),
        "timeliness": records.care_timely[:, by_segment, p].sum() / contacts if contacts else float("nan"),
        "preferred_channel_share": records.care_preferred[:, by_segment, p].sum() / contacts
        if contacts
        else float("nan"),
        "satisfaction_assigned": sat_a,
        "satisfaction_control": sat_c,
        "satisfaction_uplift": sat_up,
        "loyalty_assigned": loy_a,
        "loyalty_control": loy_c,
        "loyalty_uplift": loy_up,
        "churned_share_assigned": churn_a,
        "churned_share_control": churn_c,
        "churn_reduction": -churn_up,
        "revenue_gain": revenue_gain,
        "margin_gain": revenue_gain * margin,
        "net_benefit": revenue_gain * margin - (variable + fixed),
        "segments_compared": (model.segments.names[code] if compared else "") if code is not None else "",
    }
    sat_treated, loy_treated = state.satisfaction[treated], state.loyalty[treated]
    for label, scores in (("satisfaction", sat_treated), ("loyalty", loy_treated)):
        shares = _grade_shares(scores, thresholds)
        for g, grade in enumerate(GRADES):
            row[f"{label}_{grade}_treated"] = shares[g]
    row.update(_verdict(n_treated, _mean(sat_treated), _mean(loy_treated), thresholds))
    return row


def _stratify(overall: dict[str, object], segment_rows: list[dict[str, object]]) -> None:
    """Replace the pooled comparisons of the ``all`` row by assigned-weighted segment comparisons."""
    usable = [row for row in segment_rows if row["segments_compared"]]
    overall["segments_compared"] = ",".join(str(row["segment"]) for row in usable)
    if not usable:
        for column in (*UPLIFTS, "revenue_gain", "margin_gain", "net_benefit"):
            overall[column] = float("nan")
        return
    weights = np.array([row["assigned"] for row in usable], dtype=float)
    for column in UPLIFTS:
        overall[column] = float(np.average([row[column] for row in usable], weights=weights))
    for column in ("revenue_gain", "margin_gain", "net_benefit"):
        overall[column] = float(sum(row[column] for row in usable))
