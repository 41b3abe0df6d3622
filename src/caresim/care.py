"""Delivering care programmes at key moments: eligibility, policy coverage, capacity, delay, effect.

Delivery decides who is reached and when (trigger, eligibility, coverage, capacity, delay); the product
decides what reaching them does (effects scaled by fatigue, channel fit, moment and lateness).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from caresim.lifecycle import CHURNED, RETENTION, grade_of

if TYPE_CHECKING:
    from caresim.model import CareModel

#: Which product effect feeds which transient boost array (programmes × subscribers).
BOOST_EFFECTS = {
    "sat_boost": "d_satisfaction",
    "loy_boost": "d_loyalty",
    "log_hazard_boost": "log_rel_churn_hazard",
    "log_bill_shock_boost": "log_rel_bill_shock",
    "log_win_back_boost": "log_rel_win_back",
}

#: Moments that happen once: a delivery held back by capacity may still be made the next month.
ONE_OFF_MOMENTS = frozenset({"bill_shock", "problem", "outage", "activation"})
#: Moments served on the spot (on landing, at the report): capacity left over is not carried to later.
AT_ONCE = frozenset({"trip", "complaint"})

#: Triggers handled when the month closes; "trip" and "complaint" are delivered as they happen.
CLOSE_TRIGGERS = (
    "bill",
    "bill_shock",
    "problem",
    "outage",
    "activation",
    "contract_end",
    "retention_stage",
    "schedule",
    "churned",
)


def trigger_mask(model: CareModel, trigger: str, code: int, month: int, active: np.ndarray) -> np.ndarray:
    """Slots at the key moment ``trigger`` in ``month`` for programme ``code`` (close-of-month triggers)."""
    state = model.state
    delivery = model.programmes.delivery
    if trigger == "churned":
        since = month - state.churn_month
        return (state.stage == CHURNED) & (since >= 1) & (since <= max(1, delivery.dur_lead_months[code]))
    if trigger == "bill":
        return active
    if trigger == "bill_shock":
        return active & (state.bill_shock_month == month)
    if trigger == "problem":
        return active & (state.report_month == month)
    if trigger == "outage":
        return active & (state.outage_month == month)
    if trigger == "activation":
        return active & (state.activated_month == month)
    if trigger == "contract_end":
        ahead = state.contract_end - month
        return active & state.in_contract & (ahead >= 0) & (ahead <= delivery.dur_lead_months[code])
    if trigger == "retention_stage":
        return state.stage == RETENTION
    if trigger == "schedule":
        return active & (month % delivery.every_months[code] == 0)
    raise ValueError(f"trigger '{trigger}' is not a close-of-month trigger")


def deliver(
    model: CareModel, trigger: str, triggered: np.ndarray, month: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Deliver every programme fired by ``trigger`` to the ``triggered`` slots (a mask).

    Yields (programme code, slots reached, effect multiplier) for each such programme.
    """
    candidates = np.flatnonzero(triggered)
    for code in model.programmes.with_trigger(trigger):
        served, multiplier = _deliver_one(model, code, candidates, month)
        yield code, served, multiplier


def _eligible(model: CareModel, code: int, slots: np.ndarray) -> np.ndarray:
    """Mask of ``slots`` eligible for programme ``code`` by segment, stage and satisfaction grade now."""
    state, delivery = model.state, model.programmes.delivery
    grades = grade_of(state.satisfaction[slots], **model.grade_thresholds)
    return (
        delivery.eligible_segment[code, state.segment[slots]]
        & delivery.eligible_stage[code, state.stage[slots]]
        & delivery.eligible_grade[code, grades]
    )


def _deliver_one(model: CareModel, code: int, candidates: np.ndarray, month: int) -> tuple[np.ndarray, np.ndarray]:
    state, records, streams = model.state, model.records, model.streams
    delivery, product = model.programmes.delivery, model.programmes.product
    name = model.programmes.names[code]
    behaviour = model.config.behaviour
    n = state.n

    # Draws are made whatever the policy, so that every policy sees the same numbers.
    u_delay = streams.uniform(f"care_delay/{name}", n) if delivery.dur_delivery_days[code] > 0 else None
    u_resolve = streams.uniform(f"care_resolve/{name}", n) if product.p_resolve_problem[code] > 0 else None
    capacity = delivery.capacity_per_month[code]
    u_order = streams.uniform(f"care_capacity/{name}", n) if np.isfinite(capacity) else None

    candidates = candidates[_eligible(model, code, candidates)]
    segment = state.segment[candidates]
    state.ever_eligible[code, candidates] = True
    records.care_eligible[month, :, code] += np.bincount(segment, minlength=records.n_segments)

    covered = state.cover_u[code, candidates] < model.policy.shares[segment, code]
    rested = month - state.last_received[code, candidates] > delivery.dur_min_gap_months[code]
    due = candidates[covered & rested]
    waiting = np.flatnonzero(state.pending[code])
    if len(waiting):
        # A delivery held back by capacity waits only while its subscriber is still at the key moment and
        # eligible; after a one-off moment (a bill shock, a reported problem, an outage) one month at most.
        still = np.isin(waiting, candidates, assume_unique=True)
        if delivery.trigger[code] in ONE_OFF_MOMENTS:
            recent = month - state.pending_since[code, waiting] <= 1
            still |= recent & _eligible(model, code, waiting)
        state.pending[code, waiting[~still]] = False
        waiting = waiting[still]
    queue = np.union1d(due, waiting) if len(waiting) else due
    limit = model.config.service.n_max_care_contacts_per_month
    if limit is not None and len(queue):  # the contact policy: withheld, not queued for later (backlog dropped too)
        so_far = np.where(state.care_month[queue] == month, state.care_this_month[queue], 0)
        full = so_far >= limit
        records.care_withheld[month, :, code] += np.bincount(state.segment[queue[full]], minlength=records.n_segments)
        state.pending[code, queue[full]] = False
        queue = queue[~full]
    if np.isfinite(capacity):
        queue = _ration(model, code, queue, u_order, month)
    served = queue
    if len(served) == 0:
        return served, np.zeros(0)

    lag_days = np.where(state.pending[code, served], month - state.pending_since[code, served], 0) * model.month_days
    if u_delay is not None:
        lag_days = lag_days - np.log1p(-u_delay[served]) * delivery.dur_delivery_days[code]
    timely = lag_days <= delivery.dur_timely_days[code]
    preferred = state.channel[served] == delivery.channel[code]
    multiplier = (
        product.fatigue[code] ** state.received[code, served]
        * np.where(preferred, behaviour.rel_effect_preferred_channel, 1.0)
        * product.rel_moment[code]
        * np.where(timely, 1.0, product.rel_effect_late[code])
    )
    for field, effect in BOOST_EFFECTS.items():
        size = getattr(product, effect)[code]
        if size != 0:
            getattr(state, field)[code, served] += (size * multiplier).astype(np.float32)
    if u_resolve is not None and delivery.trigger[code] != "complaint":
        p_resolve = np.minimum(product.p_resolve_problem[code] * multiplier, 1.0)
        fixed = served[(u_resolve[served] < p_resolve) & (state.n_open[served] > 0)]
        state.n_open[fixed] = 0
        state.shock[fixed] += behaviour.d_satisfaction_resolved

    state.received[code, served] += 1
    state.last_received[code, served] = month
    state.care_this_month[served] = np.where(state.care_month[served] == month, state.care_this_month[served], 0) + 1
    state.care_month[served] = month
    records.care_peak[month] = max(records.care_peak[month], float(state.care_this_month[served].max()))
    state.pending[code, served] = False
    state.contacts[served] += 1
    state.care_cost[served] += product.cost_per_contact[code]
    segment_served = state.segment[served]
    records.care_contacts[month, :, code] += np.bincount(segment_served, minlength=records.n_segments)
    records.care_timely[month, :, code] += np.bincount(
        segment_served, weights=timely.astype(float), minlength=records.n_segments
    )
    records.care_preferred[month, :, code] += np.bincount(
        segment_served, weights=preferred.astype(float), minlength=records.n_segments
    )
    records.flow["contacts"][month] += np.bincount(segment_served, minlength=records.n_segments)
    records.flow["care_contacts"][month] += np.bincount(segment_served, minlength=records.n_segments)
    return served, multiplier


def _ration(model: CareModel, code: int, queue: np.ndarray, u_order: np.ndarray, month: int) -> np.ndarray:
    """The deliveries a limited programme can make this month, each region within its share of the capacity.

    Whole contacts this month; the fraction carries over, unused capacity does not. Earlier backlog is
    served first, then a random order that every policy shares; the rest wait (or, for a moment served on
    the spot, are not served).
    """
    state, regions = model.state, model.regions
    delivery = model.programmes.delivery
    served = []
    for region, share in enumerate(regions.shares):
        mine = queue[state.region[queue] == region] if len(regions) > 1 else queue
        allowance = model.care_allowance[region, code] + delivery.capacity_per_month[code] * share / model.scale
        room = int(allowance)
        model.care_allowance[region, code] = allowance - room
        if len(mine) > room:
            priority = np.where(state.pending[code, mine], state.pending_since[code, mine], month) + u_order[mine]
            mine = mine[np.argsort(priority, kind="stable")]
            late = mine[room:]
            if delivery.trigger[code] not in AT_ONCE:  # a trip or a complaint cannot be served a month late
                fresh = late[~state.pending[code, late]]
                state.pending_since[code, fresh] = month
                state.pending[code, late] = True
            mine = mine[:room]
        served.append(mine)
    return served[0] if len(served) == 1 else np.concatenate(served)


def deliver_at_close(model: CareModel, month: int) -> None:
    """Deliver every close-of-month programme: triggers in ``CLOSE_TRIGGERS`` order, then catalogue order."""
    active = model.state.active  # care does not change who is active, so one mask serves every trigger
    for trigger in CLOSE_TRIGGERS:
        for code in model.programmes.with_trigger(trigger):
            _deliver_one(model, code, np.flatnonzero(trigger_mask(model, trigger, code, month, active)), month)
