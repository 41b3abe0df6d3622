"""Delivering care programmes at key moments: who is reached and when (trigger, eligibility, policy coverage,
contact policy, capacity, delay), and the bookkeeping of each contact. What reaching them does is
``effects``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from caresim.engine.steps.effects import apply_effects, effect_multiplier
from caresim.lifecycle import CHURNED, RETENTION, grade_of

if TYPE_CHECKING:
    from caresim.engine.streams import SlotDraws
    from caresim.engine.world import World

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


def trigger_mask(world: World, trigger: str, code: int, month: int, active: np.ndarray) -> np.ndarray:
    """Slots at the key moment ``trigger`` in ``month`` for programme ``code`` (close-of-month triggers)."""
    state = world.state
    delivery = world.programmes.delivery
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


def deliver(world: World, trigger: str, triggered: np.ndarray, month: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Deliver every programme fired by ``trigger`` to the ``triggered`` slots (a mask).

    Returns (programme code, slots reached, effect multiplier) for each such programme, in catalogue order.
    """
    candidates = np.flatnonzero(triggered)
    return [(code, *_deliver_one(world, code, candidates, month)) for code in world.programmes.with_trigger(trigger)]


def _eligible(world: World, code: int, slots: np.ndarray) -> np.ndarray:
    """Mask of ``slots`` eligible for programme ``code`` by segment, stage and satisfaction grade now."""
    state, delivery = world.state, world.programmes.delivery
    grades = grade_of(state.satisfaction[slots], **world.grade_thresholds)
    return (
        delivery.eligible_segment[code, state.segment[slots]]
        & delivery.eligible_stage[code, state.stage[slots]]
        & delivery.eligible_grade[code, grades]
    )


def _deliver_one(world: World, code: int, candidates: np.ndarray, month: int) -> tuple[np.ndarray, np.ndarray]:
    # programme fields are read and written as ``field[code][slots]``: the programme's row (a view), then
    # its slots, which NumPy does faster than ``field[code, slots]`` (the same elements)
    state, records, streams = world.state, world.records, world.streams
    delivery, product = world.programmes.delivery, world.programmes.product
    name = world.programmes.names[code]
    n = state.n

    # Draws are made whatever the policy, so that every policy sees the same numbers; they are read before
    # the next delivery, so one buffer serves every delivery.
    rows = streams.buffer("care_draws", 4, n)
    delay, resolve = delivery.dur_delivery_days[code] > 0, product.p_resolve_problem[code].any()
    u_delay = streams.uniform_draws(f"care_delay/{name}", n, rows[0]) if delay else None
    u_resolve = streams.uniform_draws(f"care_resolve/{name}", n, rows[1]) if resolve else None
    fix = world.programmes.response.p_fix_fit[code] > 0
    u_fix = streams.uniform_draws(f"care_fit/{name}", n, rows[2]) if fix else None
    capacity = delivery.capacity_per_month[code]
    u_order = streams.uniform_draws(f"care_capacity/{name}", n, rows[3]) if np.isfinite(capacity) else None

    candidates = candidates[_eligible(world, code, candidates)]
    segment = state.segment[candidates]
    state.ever_eligible[code][candidates] = True
    records.care_eligible[month, :, code] += np.bincount(segment, minlength=records.n_segments)

    covered, control = world.policy.assignment(
        code,
        segment,
        state.cover_u[code][candidates],
        state.target_score[code][candidates],
        state.target_tie[code][candidates],
    )
    state.ever_assigned[code][candidates[covered]] = True
    state.ever_control[code][candidates[control]] = True
    rested = month - state.last_received[code][candidates] > delivery.dur_min_gap_months[code]
    due = candidates[covered & rested]
    waiting = np.flatnonzero(state.pending[code])
    if len(waiting):
        # A delivery held back by capacity waits only while its subscriber is still at the key moment and
        # eligible; after a one-off moment (a bill shock, a reported problem, an outage) one month at most.
        still = np.isin(waiting, candidates, assume_unique=True)
        if delivery.trigger[code] in ONE_OFF_MOMENTS:
            recent = month - state.pending_since[code][waiting] <= 1
            still |= recent & _eligible(world, code, waiting)
        state.pending[code][waiting[~still]] = False
        waiting = waiting[still]
    queue = _union_sorted(due, waiting) if len(waiting) else due
    limit = world.config.service.n_max_care_contacts_per_month
    if limit is not None and len(queue):  # the contact policy: withheld, not queued for later (backlog dropped too)
        so_far = np.where(state.care_month[queue] == month, state.care_this_month[queue], 0)
        full = so_far >= limit
        records.care_withheld[month, :, code] += np.bincount(state.segment[queue[full]], minlength=records.n_segments)
        state.pending[code][queue[full]] = False
        queue = queue[~full]
    if np.isfinite(capacity):
        queue = _ration(world, code, queue, u_order, month)
    served = queue
    if len(served) == 0:
        return served, np.zeros(0)

    lag_days = np.where(state.pending[code][served], month - state.pending_since[code][served], 0) * world.month_days
    if u_delay is not None:
        lag_days = lag_days - np.log1p(-u_delay[served]) * delivery.dur_delivery_days[code]
    timely = lag_days <= delivery.dur_timely_days[code]
    preferred = state.channel[served] == delivery.channel[code]
    multiplier = effect_multiplier(world, code, served, timely, preferred)
    apply_effects(world, code, served, multiplier, month, u_resolve, u_fix)

    state.received[code][served] += 1
    state.last_received[code][served] = month
    state.care_this_month[served] = np.where(state.care_month[served] == month, state.care_this_month[served], 0) + 1
    state.care_month[served] = month
    _annoy_over_contacted(world, served, month)
    records.care_peak[month] = max(records.care_peak[month], float(state.care_this_month[served].max()))
    state.pending[code][served] = False
    state.contacts[served] += 1
    state.care_cost[served] += product.cost_per_contact[code]
    segment_served = state.segment[served]
    reached = np.bincount(segment_served, minlength=records.n_segments)
    records.care_contacts[month, :, code] += reached
    records.care_timely[month, :, code] += np.bincount(
        segment_served, weights=timely.astype(float), minlength=records.n_segments
    )
    records.care_preferred[month, :, code] += np.bincount(
        segment_served, weights=preferred.astype(float), minlength=records.n_segments
    )
    records.flow["contacts"][month] += reached
    records.flow["care_contacts"][month] += reached
    return served, multiplier


def _union_sorted(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``np.union1d`` of two sorted arrays of distinct slots: merged (a stable sort of two runs) and deduplicated."""
    merged = np.concatenate([first, second])
    merged.sort(kind="stable")
    keep = np.ones(len(merged), dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=keep[1:])
    return merged[keep]


def _annoy_over_contacted(world: World, served: np.ndarray, month: int) -> None:
    """A contact beyond the number a subscriber tolerates in a month costs satisfaction (over-contact)."""
    rule = world.config.behaviour.over_contact
    over = served[world.state.care_this_month[served] > rule.n_tolerated_per_month]
    if len(over) and rule.d_satisfaction_per_extra != 0:
        world.state.shock[over] += rule.d_satisfaction_per_extra
    if len(over):
        world.records.flow["over_contacts"][month] += world.records.count(
            np.ones(len(over), dtype=bool), world.state.segment[over]
        )


def _ration(world: World, code: int, queue: np.ndarray, u_order: SlotDraws, month: int) -> np.ndarray:
    """The deliveries a limited programme can make this month, each region within its share of the capacity.

    Whole contacts this month; the fraction carries over, unused capacity does not. Earlier backlog is
    served first, then a random order that every policy shares; the rest wait (or, for a moment served on
    the spot, are not served).
    """
    state, regions = world.state, world.regions
    delivery = world.programmes.delivery
    served = []
    for region, share in enumerate(regions.shares):
        mine = queue[state.region[queue] == region] if len(regions) > 1 else queue
        allowance = world.care_allowance[region, code] + delivery.capacity_per_month[code] * share / world.scale
        room = int(allowance)
        world.care_allowance[region, code] = allowance - room
        if len(mine) > room:
            priority = np.where(state.pending[code][mine], state.pending_since[code][mine], month) + u_order[mine]
            mine = mine[np.argsort(priority, kind="stable")]
            late = mine[room:]
            if delivery.trigger[code] not in AT_ONCE:  # a trip or a complaint cannot be served a month late
                fresh = late[~state.pending[code][late]]
                state.pending_since[code][fresh] = month
                state.pending[code][late] = True
            mine = mine[:room]
        served.append(mine)
    return served[0] if len(served) == 1 else np.concatenate(served)


def deliver_at_close(world: World, month: int) -> None:
    """Deliver every close-of-month programme: triggers in ``CLOSE_TRIGGERS`` order, then catalogue order."""
    active = world.state.active  # care does not change who is active, so one mask serves every trigger
    for trigger in CLOSE_TRIGGERS:
        for code in world.programmes.with_trigger(trigger):
            _deliver_one(world, code, np.flatnonzero(trigger_mask(world, trigger, code, month, active)), month)
