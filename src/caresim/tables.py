"""Tidy tables built from a finished model: monthly KPIs, subscribers, spend, touchpoints, stage flows.

Counts and money are multiplied by the scale (each simulated subscriber stands for ``scale`` real ones);
shares, means and waits are not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from caresim.desks import MINUTES_PER_DAY
from caresim.lifecycle import CHANNELS, CHURNED, GRADES, STAGES, TOUCHPOINT_NAMES, TOUCHPOINTS, grade_of
from caresim.records import DESKS, FLOWS

if TYPE_CHECKING:
    from caresim.model import CareModel


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.full(np.shape(numerator), np.nan), where=denominator > 0)


def kpi_table(model: CareModel) -> pd.DataFrame:
    """Monthly KPIs per segment: one row per month and segment."""
    records, scale = model.records, model.scale
    n_months, n_segments = records.stock["active"].shape
    month = np.repeat(np.arange(n_months), n_segments)
    table = pd.DataFrame(
        {
            "month": month,
            "calendar_month": (model.config.market.start_calendar_month - 1 + month) % 12 + 1,
            "segment": np.tile(np.array(model.segments.names), n_months),
        }
    )
    for name in ("active_start", "active"):
        table[name] = records.stock[name].ravel() * scale
    for name in FLOWS:
        table[name] = records.flow[name].ravel() * scale
    table["churn_rate"] = _ratio(records.flow["churned"], records.stock["active_start"]).ravel()
    table["complaints_per_1000"] = 1000 * _ratio(records.flow["complaints"], records.stock["active_start"]).ravel()
    table["first_contact_resolution"] = _ratio(
        records.flow["resolved_first_contact"], records.flow["complaints"]
    ).ravel()
    for k, desk in enumerate(DESKS):
        table[f"{desk}_contacts"] = records.desk_contacts[..., k].ravel() * scale
        table[f"mean_wait_{desk}_min"] = (
            _ratio(records.wait_sum[..., k], records.desk_contacts[..., k]) * MINUTES_PER_DAY
        ).ravel()
        table[f"max_wait_{desk}_min"] = records.wait_max[..., k].ravel() * MINUTES_PER_DAY
    table["mean_wait_min"] = (_ratio(records.wait_sum.sum(-1), records.desk_contacts.sum(-1)) * MINUTES_PER_DAY).ravel()
    table["in_retention"] = records.stock["in_retention"].ravel() * scale
    table["in_contract"] = records.stock["in_contract"].ravel() * scale
    active = records.stock["active"]
    table["satisfaction_mean"] = _ratio(records.stock["satisfaction_sum"], active).ravel()
    table["loyalty_mean"] = _ratio(records.stock["loyalty_sum"], active).ravel()
    for g, grade in enumerate(GRADES):
        table[f"satisfaction_{grade}"] = _ratio(records.sat_grades[..., g], active).ravel()
    for g, grade in enumerate(GRADES):
        table[f"loyalty_{grade}"] = _ratio(records.loy_grades[..., g], active).ravel()
    table["revenue"] = records.stock["revenue"].ravel() * scale
    cost = model.programmes.product.cost_per_contact
    spend = records.care_contacts * cost * scale
    table["care_spend"] = spend.sum(-1).ravel()
    for p, name in enumerate(model.programmes.names):
        table[f"spend_{name}"] = spend[..., p].ravel()
    return table


def care_spend_table(model: CareModel) -> pd.DataFrame:
    """Care contacts and variable spend per month, segment and programme (long form)."""
    records, scale = model.records, model.scale
    n_months, n_segments, _n_programmes = records.care_contacts.shape
    index = pd.MultiIndex.from_product(
        [range(n_months), model.segments.names, model.programmes.names], names=["month", "segment", "programme"]
    )
    contacts = records.care_contacts.ravel()
    table = pd.DataFrame(
        {
            "eligible_triggered": records.care_eligible.ravel() * scale,
            "contacts": contacts * scale,
            "withheld_by_contact_policy": records.care_withheld.ravel() * scale,
            "timely_contacts": records.care_timely.ravel() * scale,
            "preferred_channel_contacts": records.care_preferred.ravel() * scale,
            "cost_per_contact": np.tile(model.programmes.product.cost_per_contact, n_months * n_segments),
        },
        index=index,
    ).reset_index()
    table["spend"] = table["contacts"] * table["cost_per_contact"]
    return table


def programme_cost_table(model: CareModel) -> pd.DataFrame:
    """Per month and programme: contacts, variable spend and fixed spend (fixed cost if the programme runs)."""
    records, scale = model.records, model.scale
    product = model.programmes.product
    n_months = records.care_contacts.shape[0]
    contacts = records.care_contacts.sum(axis=1) * scale
    running = model.policy.running
    rows = {
        "month": np.repeat(np.arange(n_months), model.programmes.n),
        "programme": np.tile(np.array(model.programmes.names), n_months),
        "running": np.tile(running, n_months),
        "contacts": contacts.ravel(),
        "variable_spend": (contacts * product.cost_per_contact).ravel(),
        "fixed_spend": np.tile(np.where(running, product.cost_fixed_per_month, 0.0), n_months),
    }
    table = pd.DataFrame(rows)
    table["total_spend"] = table["variable_spend"] + table["fixed_spend"]
    return table


def subscriber_table(model: CareModel) -> pd.DataFrame:
    """One row per subscriber who ever bought (lost prospects excluded); each row stands for ``scale`` people.

    With regions, rows come region by region, ``subscriber_id`` counts the region's subscribers in the order
    they bought and a ``region`` column names it, so a region simulated alone (a shard) gives exactly its rows
    of the whole run.
    """
    state = model.state
    rows = np.flatnonzero(state.ever_active)
    ids = rows
    if model.regions.regional:
        region = state.region[rows]
        rank = np.zeros(len(rows), dtype=np.int64)
        for r in range(len(model.regions)):
            mine = region == r
            rank[mine] = np.arange(int(mine.sum()))
        order = np.lexsort((rank, region))
        rows, ids = rows[order], rank[order]
    grades = model.grade_thresholds
    churned = state.stage[rows] == CHURNED
    table = pd.DataFrame(
        {
            "subscriber_id": ids,
            "weight": model.scale,
            "segment": pd.Categorical.from_codes(state.segment[rows], model.segments.names),
            "preferred_channel": pd.Categorical.from_codes(state.channel[rows], CHANNELS),
            "contract_months": state.contract_months[rows],
            "in_contract": state.in_contract[rows],
            "joined_month": state.joined_month[rows],
            "tenure_months": state.tenure[rows],
            "stage": pd.Categorical.from_codes(state.stage[rows], STAGES),
            "problems": state.problems[rows],
            "complaints": state.complaints[rows],
            "contacts": state.contacts[rows],
            "open_problems": state.n_open[rows],
            "satisfaction": state.satisfaction[rows],
            "loyalty": state.loyalty[rows],
            "satisfaction_grade": pd.Categorical.from_codes(grade_of(state.satisfaction[rows], **grades), GRADES),
            "loyalty_grade": pd.Categorical.from_codes(grade_of(state.loyalty[rows], **grades), GRADES),
            "churned": churned,
            "churn_month": pd.array(np.where(churned, state.churn_month[rows], -1), dtype="Int32"),
            "times_churned": state.n_churns[rows],
            "times_won_back": state.n_returns[rows],
            "revenue_per_month": state.revenue[rows],
            "revenue_total": state.revenue_total[rows],
            "care_cost": state.care_cost[rows],
        }
    )
    table.loc[~churned, "churn_month"] = pd.NA
    if model.regions.regional:
        table.insert(1, "region", pd.Categorical.from_codes(state.region[rows], model.regions.names))
    for p, name in enumerate(model.programmes.names):
        table[f"received_{name}"] = state.received[p, rows]
    return table


def touchpoint_table(model: CareModel) -> pd.DataFrame:
    """Visits to each of the fifteen touchpoints per month and segment."""
    records = model.records
    n_months, _n_segments, _ = records.touchpoints.shape
    index = pd.MultiIndex.from_product(
        [range(n_months), model.segments.names, TOUCHPOINT_NAMES], names=["month", "segment", "touchpoint"]
    )
    table = pd.DataFrame({"count": records.touchpoints.ravel() * model.scale}, index=index).reset_index()
    stage_of = {name: stage for stage, name in TOUCHPOINTS}
    table.insert(2, "stage", table["touchpoint"].map(stage_of))
    return table


def desk_table(model: CareModel) -> pd.DataFrame:
    """Per month and desk (hotline, store): real reports arriving, mean wait of those arriving, backlog at close.

    Reports still waiting when the run ends are in the last month's backlog, not in the waits.
    """
    records = model.records
    n_months = records.desk_arrivals.shape[0]
    rows = []
    for k, desk in enumerate(DESKS):
        served = records.desk_contacts[..., k].sum(axis=1)
        rows.append(
            pd.DataFrame(
                {
                    "month": np.arange(n_months),
                    "desk": desk,
                    "servers": model.regions.total_servers(desk),
                    "reports": records.desk_arrivals[:, k],
                    "mean_wait_min": _ratio(records.wait_sum[..., k].sum(axis=1), served) * MINUTES_PER_DAY,
                    "backlog_at_close": records.desk_backlog[:, k],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def stage_flow_table(model: CareModel) -> pd.DataFrame:
    """Moves between lifecycle stages per month and segment (only non-zero moves)."""
    records = model.records
    month, segment, source, target = np.nonzero(records.stage_flows)
    return pd.DataFrame(
        {
            "month": month,
            "segment": np.array(model.segments.names)[segment],
            "from_stage": np.array(STAGES)[source],
            "to_stage": np.array(STAGES)[target],
            "count": records.stage_flows[month, segment, source, target] * model.scale,
        }
    )
