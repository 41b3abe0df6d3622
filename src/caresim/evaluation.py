"""Per-programme evaluation as domain.md measures care: reach, cost, grades, success, three efficiencies.

For each programme and segment, *treated* subscribers are those who received it, and the *control* group
are those who were eligible at a key moment but not covered by the policy (the coverage draw put them
outside the share). Coverage is random within a segment, so there the two groups differ only by the care.
Segments get different shares, so the ``all`` row does not compare pooled groups: its uplifts are the
segment uplifts averaged with the treated counts as weights, and its gains are their sums.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from caresim.lifecycle import CHURNED, EXCELLENT, GRADES, grade_of, is_success

if TYPE_CHECKING:
    from caresim.model import CareModel


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
        success = is_success(loy_grade)
        by, grade = "loyalty", GRADES[loy_grade]
    else:
        success = is_success(sat_grade)
        by, grade = "satisfaction", GRADES[sat_grade]
    return {
        "evaluated_by": by,
        "grade": grade,
        "success": success,
        "verdict": "succeeded" if success else "failed: adjust or replace",
    }


def evaluate_programmes(model: CareModel) -> pd.DataFrame:
    """One row per programme × segment, plus one per programme over all segments (segment ``all``)."""
    state, records, scale = model.state, model.records, model.scale
    product = model.programmes.product
    thresholds = model.grade_thresholds
    n_months = records.care_contacts.shape[0]
    ever = state.ever_active
    churned = state.stage == CHURNED
    rows = []
    for p, name in enumerate(model.programmes.names):
        share = model.policy.shares[state.segment, p]
        treated_all = ever & (state.received[p, :] > 0)
        control_all = ever & state.ever_eligible[p, :] & (state.cover_u[p, :] >= share)
        fixed = product.cost_fixed_per_month[p] * n_months if model.policy.running[p] else 0.0
        contacts_all = records.care_contacts[..., p].sum()
        for code, segment in [*enumerate(model.segments.names), (None, "all")]:
            in_segment = np.ones(state.n, dtype=bool) if code is None else state.segment == code
            treated, control = treated_all & in_segment, control_all & in_segment
            eligible = ever & state.ever_eligible[p, :] & in_segment
            by_segment = slice(None) if code is None else code
            contacts = records.care_contacts[:, by_segment, p].sum()
            variable = contacts * product.cost_per_contact[p] * scale
            fixed_share = fixed * (contacts / contacts_all if contacts_all else 0.0) if code is not None else fixed
            n_treated = int(treated.sum())
            sat_t, sat_c = _mean(state.satisfaction[treated]), _mean(state.satisfaction[control])
            loy_t, loy_c = _mean(state.loyalty[treated]), _mean(state.loyalty[control])
            churn_t, churn_c = _mean(churned[treated]), _mean(churned[control])
            revenue_t, revenue_c = _mean(state.revenue_total[treated]), _mean(state.revenue_total[control])
            revenue_gain = (revenue_t - revenue_c) * n_treated * scale if n_treated and control.any() else np.nan
            margin = model.segments.margin[code] if code is not None else np.nan
            row = {
                "programme": name,
                "segment": segment,
                "policy_share": float(model.policy.shares[code, p]) if code is not None else np.nan,
                "eligible": eligible.sum() * scale,
                "treated": n_treated * scale,
                "control": control.sum() * scale,
                "reach": n_treated / eligible.sum() if eligible.any() else np.nan,
                "contacts": contacts * scale,
                "variable_cost": variable,
                "fixed_cost": fixed_share,
                "cost": variable + fixed_share,
                "cost_per_treated": (variable + fixed_share) / (n_treated * scale) if n_treated else np.nan,
                "timeliness": records.care_timely[:, by_segment, p].sum() / contacts if contacts else np.nan,
                "preferred_channel_share": records.care_preferred[:, by_segment, p].sum() / contacts
                if contacts
                else np.nan,
                "satisfaction_treated": sat_t,
                "satisfaction_control": sat_c,
                "satisfaction_uplift": sat_t - sat_c,
                "loyalty_treated": loy_t,
                "loyalty_control": loy_c,
                "loyalty_uplift": loy_t - loy_c,
                "churned_share_treated": churn_t,
                "churned_share_control": churn_c,
                "churn_reduction": churn_c - churn_t,
                "revenue_gain": revenue_gain,
                "margin_gain": revenue_gain * margin,
                "net_benefit": revenue_gain * margin - (variable + fixed_share),
            }
            for label, group in (("treated", treated), ("control", control)):
                shares = _grade_shares(state.satisfaction[group], thresholds)
                for g, grade in enumerate(GRADES):
                    row[f"satisfaction_{grade}_{label}"] = shares[g]
            loyalty_shares = _grade_shares(state.loyalty[treated], thresholds)
            for g, grade in enumerate(GRADES):
                row[f"loyalty_{grade}_treated"] = loyalty_shares[g]
            row.update(_verdict(n_treated, sat_t, loy_t, thresholds))
            if code is None:
                _stratify(row, rows[-len(model.segments.names) :])
            rows.append(row)
    return pd.DataFrame(rows)


def _stratify(overall: dict[str, object], segment_rows: list[dict[str, object]]) -> None:
    """Replace the pooled comparisons of the ``all`` row by treated-weighted segment comparisons."""
    usable = [r for r in segment_rows if r["treated"] > 0 and r["control"] > 0]
    weights = np.array([r["treated"] for r in usable], dtype=float)
    for column in ("satisfaction_uplift", "loyalty_uplift", "churn_reduction"):
        values = np.array([r[column] for r in usable], dtype=float)
        overall[column] = float(np.average(values, weights=weights)) if len(usable) else np.nan
    for column in ("revenue_gain", "margin_gain"):
        overall[column] = float(sum(r[column] for r in usable)) if usable else np.nan
    overall["net_benefit"] = overall["margin_gain"] - overall["cost"]
