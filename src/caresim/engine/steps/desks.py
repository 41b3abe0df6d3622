"""Reporting problems: most stay silent; reports through the hotline or a store queue at a SimPy resource.

The hotline and the store are SimPy priority resources with their real number of servers. Because one
simulated subscriber stands for ``scale`` real ones, each simulated report at a desk arrives together
with ``scale - 1`` *shadow* reports (on average) at their own random times: they load the queue as the
real subscribers would, so waiting times are those of the real desk, but only the simulated report has
an outcome. Waiting time and first-contact resolution move satisfaction. Reports through IVR, web, SMS,
WAP or a self-service terminal do not queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import simpy

from caresim.engine.behaviour import wait_penalty
from caresim.engine.service_desks import FAST_TRACK, NORMAL, ServiceDesk
from caresim.engine.steps.delivery import deliver
from caresim.lifecycle import CHANNELS, CHURNED, DESK_CHANNELS, TP

if TYPE_CHECKING:
    from caresim.engine.world import World


def report_problems(world: World, month: int) -> None:
    """Subscribers with open problems report them (or stay silent); reports are handled by channel.

    A recurring problem is reported with ``p_complain × rel_complain_recurring``. Programmes triggered
    by a complaint are delivered at the report: they can put the contact first in the queue and raise
    the chance that it resolves the problem.
    """
    state, records, streams = world.state, world.records, world.streams
    service = world.config.service
    n = state.n
    segment = state.segment
    recurring = state.carried_problem_month == month
    p_report = np.minimum(service.p_complain * np.where(recurring, service.rel_complain_recurring, 1.0), 1.0)
    report = state.active & (state.n_open > 0) & (streams.uniform("report", n) < p_report)
    u_resolve = streams.uniform("first_contact_resolution", n)
    u_time = streams.uniform("contact_time", n)
    u_handle = streams.uniform("handle_time", n)

    state.report_month[report] = month
    state.complaints[report] += 1
    state.contacts[report] += 1
    records.add_touchpoint(month, TP["reports_problem"], report, segment)
    records.add_flow(month, "complaints", report, segment)
    records.add_flow(month, "contacts", report, segment)

    fast_track = np.zeros(n, dtype=bool)
    p_resolve_care = np.zeros(n)
    for code, served, multiplier in deliver(world, "complaint", report, month):
        p_resolve = world.programmes.product.p_resolve_problem[code, state.segment[served]]
        extra = np.minimum(p_resolve * multiplier, 1.0)
        p_resolve_care[served] = 1 - (1 - p_resolve_care[served]) * (1 - extra)
        fast_track[served] |= bool(world.programmes.delivery.queue_priority[code])

    fcr = np.array([service.p_first_contact_resolution[name] for name in CHANNELS])
    p_resolve = 1 - (1 - fcr[state.channel]) * (1 - p_resolve_care)
    resolved = u_resolve < p_resolve
    at_desk = np.isin(state.channel, DESK_CHANNELS)

    self_served = np.flatnonzero(report & ~at_desk)
    close_contact(world, self_served, resolved[self_served], month)

    for region in range(len(world.regions)):  # each region's reports queue at its own desks
        queued = np.flatnonzero(report & at_desk & (state.region == region))
        if len(queued):
            priority = np.where(fast_track[queued], FAST_TRACK, NORMAL)
            arrivals = _desk_arrivals(world, region, queued, u_time[queued], u_handle[queued], priority)
            _dispatch(world, world.desks[region], arrivals, resolved, month)


def _desk_arrivals(
    world: World,
    region: int,
    slots: np.ndarray,
    u_time: np.ndarray,
    u_handle: np.ndarray,
    priority: np.ndarray,
) -> list[tuple[float, int, int, float, int]]:
    """Arrivals at a region's desks this month: (time in month, slot or -1 for a shadow, channel, handle days,
    priority)."""
    rng = world.streams[world.regions.stream("shadow_contacts", region)]
    desks = world.desks[region]
    channel = world.state.channel[slots]
    extra = world.scale - 1.0
    n_shadow = np.floor(extra).astype(int) + (rng.random(len(slots)) < extra - np.floor(extra))
    owner = np.repeat(np.arange(len(slots)), n_shadow)
    mean_handle = np.array([desks[int(c)].mean_handle_days if c in desks else 0.0 for c in range(len(CHANNELS))])
    time = np.concatenate([u_time, rng.random(len(owner))]) * world.month_days
    handle = np.concatenate([-np.log1p(-u_handle), rng.exponential(1.0, len(owner))])
    who = np.concatenate([slots, np.full(len(owner), -1)])
    desk = np.concatenate([channel, channel[owner]])
    handle = handle * mean_handle[desk]
    prio = np.concatenate([priority, priority[owner]])
    order = np.argsort(time, kind="stable")
    return list(
        zip(
            time[order].tolist(),
            who[order].tolist(),
            desk[order].tolist(),
            handle[order].tolist(),
            prio[order].tolist(),
            strict=True,
        )
    )


def _dispatch(
    world: World,
    desks: dict[int, ServiceDesk],
    arrivals: list[tuple[float, int, int, float, int]],
    resolved: np.ndarray,
    month: int,
) -> None:
    """Schedule every report (and shadow report) of the month at its arrival time on the SimPy clock."""
    env = world.env
    for desk_code in desks:
        world.records.desk_arrivals[month, desk_code] += sum(1 for arrival in arrivals if arrival[2] == desk_code)
    for offset, slot, channel, handle, priority in arrivals:
        contact = DeskContact(world, desks[channel], slot, handle, priority, slot >= 0 and bool(resolved[slot]), month)
        env.timeout(offset).callbacks.append(contact.arrive)


class DeskContact:
    """One report at a desk, driven by SimPy events: arrive -> wait for a server -> handled -> outcome.

    Callbacks on SimPy events rather than a generator process per report: the same clock and resource,
    at a fraction of the cost. ``slot < 0`` marks a shadow report that only occupies a server.
    """

    __slots__ = (
        "arrived",
        "desk",
        "handle_days",
        "month",
        "priority",
        "request",
        "resolved",
        "slot",
        "waited",
        "world",
    )

    def __init__(
        self,
        world: World,
        desk: ServiceDesk,
        slot: int,
        handle_days: float,
        priority: int,
        resolved: bool,
        month: int,
    ) -> None:
        self.world, self.desk, self.slot = world, desk, slot
        self.handle_days, self.priority, self.resolved, self.month = handle_days, priority, resolved, month
        self.arrived = self.waited = 0.0
        self.request: simpy.resources.resource.PriorityRequest | None = None

    def arrive(self, _event: simpy.Event) -> None:
        self.arrived = self.world.env.now
        self.request = self.desk.resource.request(priority=self.priority)
        self.request.callbacks.append(self.start)

    def start(self, _event: simpy.Event) -> None:
        self.waited = self.world.env.now - self.arrived
        self.world.env.timeout(self.handle_days).callbacks.append(self.finish)

    def finish(self, _event: simpy.Event) -> None:
        self.desk.resource.release(self.request)
        if self.slot >= 0:
            record_outcome(self.world, self.slot, self.desk_code, self.waited, self.resolved, self.month)

    @property
    def desk_code(self) -> int:
        return int(self.world.state._channel[self.slot])


def record_outcome(world: World, slot: int, desk_code: int, wait_days: float, resolved: bool, month: int) -> None:
    """A desk report is done: record the wait; waiting and the resolution move satisfaction."""
    state, records = world.state, world.records
    segment = int(state._segment[slot])  # the raw arrays: this runs once per report
    records.wait_sum[month, segment, desk_code] += wait_days
    records.wait_max[month, segment, desk_code] = max(records.wait_max[month, segment, desk_code], wait_days)
    records.desk_contacts[month, segment, desk_code] += 1
    if state._stage[slot] == CHURNED:  # the report outlived the subscriber's stay
        return
    behaviour = world.config.behaviour
    shock = float(wait_penalty(behaviour, wait_days * 24.0))
    if resolved:
        state._n_open[slot] = 0
        shock += behaviour.d_satisfaction_resolved
        records.flow["resolved_first_contact"][month, segment] += 1
    else:
        shock += behaviour.d_satisfaction_unresolved
    state._shock[slot] += shock


def close_contact(world: World, slots: np.ndarray, resolved: np.ndarray, month: int) -> None:
    """The outcome of reports: a resolved problem is recovered; an unresolved one stays open."""
    state, behaviour = world.state, world.config.behaviour
    still_here = state.stage[slots] != CHURNED  # a report can outlive the subscriber's stay
    slots, resolved = slots[still_here], resolved[still_here]
    if len(slots) == 0:
        return
    done = slots[resolved]
    state.n_open[done] = 0
    state.shock[done] += behaviour.d_satisfaction_resolved
    state.shock[slots[~resolved]] += behaviour.d_satisfaction_unresolved
    world.records.flow["resolved_first_contact"][month] += world.records.count(
        np.ones(len(done), dtype=bool), state.segment[done]
    )
