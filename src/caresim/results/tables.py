"""Tidy tables built from a run's record: monthly KPIs, subscribers, spend, touchpoints, stage flows.

Counts and money are multiplied by the scale (each simulated subscriber stands for ``scale`` real ones);
shares, means and waits are not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from caresim.engine.record import RunRecord
from caresim.engine.records import FLOWS
from caresim.engine.service_desks import MINUTES_PER_DAY
from caresim.lifecycle import CHANNELS, DESKS, GRADES, STAGES, TOUCHPOINT_NAMES, TOUCHPOINTS, grade_of
from caresim.results.costs import care_costs


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.full(np.shape(numerator), np.nan), where=denominator > 0)


def kpi_table(record: RunRecord) -> pd.DataFrame:
    """Monthly KPIs per segment: one row per month and segment."""
    records, scale = record.monthly, record.scale
    n_months, n_segments = records.stock["active"].shape
    month = np.repeat(np.arange(n_months), n_segments)
    table = pd.DataFrame(
        {
            "month": month,
            "calendar_month": (record.config.market.start_calendar_month - 1 + month) % 12 + 1,
            "segment": np.tile(np.array(record.segments.names), n_months),
        }
    )
    for name in ("active_start", "active"):
        table[name] = records.stock[name].ravel() * scale
    for name in FLOWS:
        table[name] = records.flow[name].ravel() * scale
    table["churn_rate"] = _ratio(records.flow["churned"], records.stock["active_start"]).ravel()
    table["complaints_per_1000"] = 1000 * _ratio(records.flow["complaints"], records.stock["active_start"]).ravel()
    table["inbound_contacts_per_1000"] = (
        1000 * _ratio(records.flow["inbound_contacts"], records.stock["active_start"]).ravel()
    )
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
    spend = care_costs(record)
    table["care_spend_variable"] = spend.variable.sum(-1).ravel()
    table["care_spend_fixed"] = spend.fixed.sum(-1).ravel()
    table["care_spend"] = spend.total.sum(-1).ravel()  # fixed costs included: sums to the run's whole spend
    for p, name in enumerate(record.programmes.names):
        table[f"spend_{name}"] = spend.total[..., p].ravel()
    return table


def care_spend_table(record: RunRecord) -> pd.DataFrame:
    """Care contacts and spend (variable, fixed share, total) per month, segment and programme (long form)."""
    records, scale = record.monthly, record.scale
    n_months, n_segments, _n_programmes = records.care_contacts.shape
    index = pd.MultiIndex.from_product(
        [range(n_months), record.segments.names, record.programmes.names], names=["month", "segment", "programme"]
    )
    contacts = records.care_contacts.ravel()
    table = pd.DataFrame(
        {
            "eligible_triggered": records.care_eligible.ravel() * scale,
            "contacts": contacts * scale,
            "withheld_by_contact_policy": records.care_withheld.ravel() * scale,
            "timely_contacts": records.care_timely.ravel() * scale,
            "preferred_channel_contacts": records.care_preferred.ravel() * scale,
            "cost_per_contact": np.tile(record.programmes.product.cost_per_contact, n_months * n_segments),
        },
        index=index,
    ).reset_index()
    spend = care_costs(record)
    table["variable_spend"] = spend.variable.ravel()
    table["fixed_spend"] = spend.fixed.ravel()
    table["spend"] = spend.total.ravel()
    return table


def programme_cost_table(record: RunRecord) -> pd.DataFrame:
    """Per month and programme: contacts, variable spend and fixed spend (fixed cost if the programme runs)."""
    spend = care_costs(record)
    n_months = record.n_months
    running = record.policy.running
    table = pd.DataFrame(
        {
            "month": np.repeat(np.arange(n_months), record.programmes.n),
            "programme": np.tile(np.array(record.programmes.names), n_months),
            "running": np.tile(running, n_months),
            "contacts": spend.contacts.sum(axis=1).ravel(),
            "variable_spend": spend.variable.sum(axis=1).ravel(),
            "fixed_spend": spend.fixed.sum(axis=1).ravel(),
        }
    )
    table["total_spend"] = table["variable_spend"] + table["fixed_spend"]
    return table


def subscriber_table(record: RunRecord) -> pd.DataFrame:
    """One row per subscriber who ever bought (lost prospects excluded); each row stands for ``scale`` people.

    With regions, rows come region by region, ``subscriber_id`` counts the region's subscribers in the order
    they bought and a ``region`` column names it, so a region simulated alone (a shard) gives exactly its rows
    of the whole run.
    """
    subscribers = record.subscribers
    rows = np.arange(subscribers.n)
    ids = rows
    if record.regions.regional:
        region = subscribers.region
        rank = np.zeros(len(rows), dtype=np.int64)
        for r in range(len(record.regions)):
            mine = region == r
            rank[mine] = np.arange(int(mine.sum()))
        order = np.lexsort((rank, region))
        rows, ids = rows[order], rank[order]
    grades = record.grade_thresholds
    churned = subscribers.churned[rows]

    def column(name: str) -> np.ndarray:
        return getattr(subscribers, name)[rows]

    table = pd.DataFrame(
        {
            "subscriber_id": ids,
            "weight": record.scale,
            "segment": pd.Categorical.from_codes(column("segment"), record.segments.names),
            "preferred_channel": pd.Categorical.from_codes(column("channel"), CHANNELS),
            "contract_months": column("contract_months"),
            "in_contract": column("in_contract"),
            "joined_month": column("joined_month"),
            "tenure_months": column("tenure"),
            "stage": pd.Categorical.from_codes(column("stage"), STAGES),
            "problems": column("problems"),
            "complaints": column("complaints"),
            "contacts": column("contacts"),
            "open_problems": column("open_problems"),
            "satisfaction": column("satisfaction"),
            "loyalty": column("loyalty"),
            "satisfaction_grade": pd.Categorical.from_codes(grade_of(column("satisfaction"), **grades), GRADES),
            "loyalty_grade": pd.Categorical.from_codes(grade_of(column("loyalty"), **grades), GRADES),
            "churned": churned,
            "churn_month": pd.array(np.where(churned, column("churn_month"), -1), dtype="Int32"),
            "times_churned": column("n_churns"),
            "times_won_back": column("n_returns"),
            "revenue_per_month": column("revenue"),
            "revenue_total": column("revenue_total"),
            "care_cost": column("care_cost"),
            "inbound_contacts": column("inbound_contacts"),
            "repeat_contacts": column("repeat_contacts"),
            "abandoned_contacts": column("abandoned_contacts"),
            "problems_resolved": column("resolved_contacts"),
            "unresolved_contacts": column("unresolved_contacts"),
            "churn_risk_score": column("risk_score"),
            "overpay_at_joining": column("overpay_at_joining"),
            "overpay": column("overpay"),
        }
    )
    table.loc[~churned, "churn_month"] = pd.NA
    if record.regions.regional:
        table.insert(1, "region", pd.Categorical.from_codes(column("region"), record.regions.names))
    for p, name in enumerate(record.programmes.names):
        table[f"received_{name}"] = record.care.received[p, rows]
    return table


def touchpoint_table(record: RunRecord) -> pd.DataFrame:
    """Visits to each of the fifteen touchpoints per month and segment."""
    records = record.monthly
    n_months, _n_segments, _ = records.touchpoints.shape
    index = pd.MultiIndex.from_product(
        [range(n_months), record.segments.names, TOUCHPOINT_NAMES], names=["month", "segment", "touchpoint"]
    )
    table = pd.DataFrame({"count": records.touchpoints.ravel() * record.scale}, index=index).reset_index()
    stage_of = {name: stage for stage, name in TOUCHPOINTS}
    table.insert(2, "stage", table["touchpoint"].map(stage_of))
    return table


def desk_table(record: RunRecord) -> pd.DataFrame:
    """Per month and desk (hotline, store): real contacts arriving (queries, reports, repeats and retrials,
    shadows included), those who gave up waiting, the mean wait of those served, and the backlog at close.

    Contacts still waiting when the run ends are in the last month's backlog, not in the waits. Aggregate desks
    (``service.desk_model``) give the expected arrivals and abandonments of their month's stationary queue, and
    its mean number in the system as the backlog.
    """
    records = record.monthly
    n_months = records.desk_arrivals.shape[0]
    rows = []
    for k, desk in enumerate(DESKS):
        served = records.desk_contacts[..., k].sum(axis=1)
        rows.append(
            pd.DataFrame(
                {
                    "month": np.arange(n_months),
                    "desk": desk,
                    "servers": record.regions.total_servers(desk),
                    "arrivals": records.desk_arrivals[:, k],
                    "abandoned": records.desk_abandoned[:, k],
                    "abandon_rate": _ratio(records.desk_abandoned[:, k], records.desk_arrivals[:, k]),
                    "mean_wait_min": _ratio(records.wait_sum[..., k].sum(axis=1), served) * MINUTES_PER_DAY,
                    "backlog_at_close": records.desk_backlog[:, k],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def stage_flow_table(record: RunRecord) -> pd.DataFrame:
    """Moves between lifecycle stages per month and segment (only non-zero moves)."""
    records = record.monthly
    month, segment, source, target = np.nonzero(records.stage_flows)
    return pd.DataFrame(
        {
            "month": month,
            "segment": np.array(record.segments.names)[segment],
            "from_stage": np.array(STAGES)[source],
            "to_stage": np.array(STAGES)[target],
            "count": records.stage_flows[month, segment, source, target] * record.scale,
        }
    )
