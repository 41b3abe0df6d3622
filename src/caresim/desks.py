"""Reporting problems: most stay silent; reports through the hotline or a store queue at a SimPy resource.

The hotline and the store are SimPy priority resources with their real number of servers. Because one
simulated subscriber stands for ``scale`` real ones, each simulated report at a desk arrives together
with ``scale - 1`` *shadow* reports (on average) at their own random times: they load the queue as the
real subscribers would, so waiting times are those of the real desk, but only the simulated report has
an outcome. Waiting time and first-contact resolution move satisfaction. Reports through IVR, web, SMS,
WAP or a self-service terminal do not queue.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from caresim.behaviour import wait_penalty
from caresim.lifecycle import CHANNELS, CHURNED, DESK_CHANNELS, TP
from caresim.schema import Desk

if TYPE_CHECKING:
    from caresim.model import CareModel

MINUTES_PER_DAY = 24 * 60
FAST_TRACK, NORMAL = 0, 1


class _KeyedQueue(list):
    """SimPy's request queue kept sorted by insertion (SimPy re-sorts the whole list on every append)."""

    maxlen = None

    def append(self, item: Any) -> None:
        bisect.insort_right(self, item, key=lambda request: request.key)


class DeskResource(simpy.PriorityResource):
    """A priority resource whose queue stays fast when a surge builds a long backlog."""

    PutQueue = _KeyedQueue


@dataclass
class ServiceDesk:
    """One staffed channel: its SimPy resource and mean handling time."""

    resource: DeskResource
    mean_handle_days: float

    @classmethod
    def build(cls, env: simpy.Environment, desk: Desk, n_servers: int | None = None) -> ServiceDesk:
        """The desk with ``desk``'s handling time and ``n_servers`` servers (default: the desk's own)."""
        return cls(
            resource=DeskResource(env, capacity=desk.n_servers if n_servers is None else n_servers),
            mean_handle_days=desk.dur_handle_minutes / MINUTES_PER_DAY,
        )


def report_problems(model: CareModel, month: int) -> None:
    """Subscribers with open problems report them (or stay silent); reports are handled by channel.

    A recurring problem is reported with ``p_complain × rel_complain_recurring``. Programmes triggered
    by a complaint are delivered at the report: they can put the contact first in the queue and raise
    the chance that it resolves the problem.
    """
    state, records, streams = model.state, model.records, model.streams
    service = model.config.service
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
    for code, served, multiplier in model.deliver_care("complaint", report, month):
        extra = np.minimum(model.programmes.product.p_resolve_problem[code] * multiplier, 1.0)
        p_resolve_care[served] = 1 - (1 - p_resolve_care[served]) * (1 - extra)
        fast_track[served] |= bool(model.programmes.delivery.queue_priority[code])

    fcr = np.array([service.p_first_contact_resolution[name] for name in CHANNELS])
    p_resolve = 1 - (1 - fcr[state.channel]) * (1 - p_resolve_care)
    resolved = u_resolve < p_resolve
    at_desk = np.isin(state.channel, DESK_CHANNELS)

    self_served = np.flatnonzero(report & ~at_desk)
    close_contact(model, self_served, resolved[self_served], month)

    for region in range(len(model.regions)):  # each region's reports queue at its own desks
        queued = np.flatnonzero(report & at_desk & (state.region == region))
        if len(queued):
            priority = np.where(fast_track[queued], FAST_TRACK, NORMAL)
            arrivals = _desk_arrivals(model, region, queued, u_time[queued], u_handle[queued], priority)
            _dispatch(model, model.desks[region], arrivals, resolved, month)


def _desk_arrivals(
    model: CareModel,
    region: int,
    slots: np.ndarray,
    u_time: np.ndarray,
    u_handle: np.ndarray,
    priority: np.ndarray,
) -> list[tuple[float, int, int, float, int]]:
    """Arrivals at a region's desks this month: (time in month, slot or -1 for a shadow, channel, handle days,
    priority)."""
    rng = model.streams[model.regions.stream("shadow_contacts", region)]
    desks = model.desks[region]
    channel = model.state.channel[slots]
    extra = model.scale - 1.0
    n_shadow = np.floor(extra).astype(int) + (rng.random(len(slots)) < extra - np.floor(extra))
    owner = np.repeat(np.arange(len(slots)), n_shadow)
    mean_handle = np.array([desks[int(c)].mean_handle_days if c in desks else 0.0 for c in range(len(CHANNELS))])
    time = np.concatenate([u_time, rng.random(len(owner))]) * model.month_days
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
    model: CareModel,
    desks: dict[int, ServiceDesk],
    arrivals: list[tuple[float, int, int, float, int]],
    resolved: np.ndarray,
    month: int,
) -> None:
    """Schedule every report (and shadow report) of the month at its arrival time on the SimPy clock."""
    env = model.env
    for desk_code in desks:
        model.records.desk_arrivals[month, desk_code] += sum(1 for arrival in arrivals if arrival[2] == desk_code)
    for offset, slot, channel, handle, priority in arrivals:
        contact = DeskContact(model, desks[channel], slot, handle, priority, slot >= 0 and bool(resolved[slot]), month)
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
        "model",
        "month",
        "priority",
        "request",
        "resolved",
        "slot",
        "waited",
    )

    def __init__(
        self,
        model: CareModel,
        desk: ServiceDesk,
        slot: int,
        handle_days: float,
        priority: int,
        resolved: bool,
        month: int,
    ) -> None:
        self.model, self.desk, self.slot = model, desk, slot
        self.handle_days, self.priority, self.resolved, self.month = handle_days, priority, resolved, month
        self.arrived = self.waited = 0.0
        self.request: simpy.resources.resource.PriorityRequest | None = None

    def arrive(self, _event: simpy.Event) -> None:
        self.arrived = self.model.env.now
        self.request = self.desk.resource.request(priority=self.priority)
        self.request.callbacks.append(self.start)

    def start(self, _event: simpy.Event) -> None:
        self.waited = self.model.env.now - self.arrived
        self.model.env.timeout(self.handle_days).callbacks.append(self.finish)

    def finish(self, _event: simpy.Event) -> None:
        self.desk.resource.release(self.request)
        if self.slot >= 0:
            record_outcome(self.model, self.slot, self.desk_code, self.waited, self.resolved, self.month)

    @property
    def desk_code(self) -> int:
        return int(self.model.state._channel[self.slot])


def record_outcome(model: CareModel, slot: int, desk_code: int, wait_days: float, resolved: bool, month: int) -> None:
    """A desk report is done: record the wait; waiting and the resolution move satisfaction."""
    state, records = model.state, model.records
    segment = int(state._segment[slot])  # the raw arrays: this runs once per report
    records.wait_sum[month, segment, desk_code] += wait_days
    records.wait_max[month, segment, desk_code] = max(records.wait_max[month, segment, desk_code], wait_days)
    records.desk_contacts[month, segment, desk_code] += 1
    if state._stage[slot] == CHURNED:  # the report outlived the subscriber's stay
        return
    behaviour = model.config.behaviour
    shock = float(wait_penalty(behaviour, wait_days * 24.0))
    if resolved:
        state._n_open[slot] = 0
        shock += behaviour.d_satisfaction_resolved
        records.flow["resolved_first_contact"][month, segment] += 1
    else:
        shock += behaviour.d_satisfaction_unresolved
    state._shock[slot] += shock


def close_contact(model: CareModel, slots: np.ndarray, resolved: np.ndarray, month: int) -> None:
    """The outcome of reports: a resolved problem is recovered; an unresolved one stays open."""
    state, behaviour = model.state, model.config.behaviour
    still_here = state.stage[slots] != CHURNED  # a report can outlive the subscriber's stay
    slots, resolved = slots[still_here], resolved[still_here]
    if len(slots) == 0:
        return
    done = slots[resolved]
    state.n_open[done] = 0
    state.shock[done] += behaviour.d_satisfaction_resolved
    state.shock[slots[~resolved]] += behaviour.d_satisfaction_unresolved
    model.records.flow["resolved_first_contact"][month] += model.records.count(
        np.ones(len(done), dtype=bool), state.segment[done]
    )
