"""Inbound contacts: information queries and problem reports, through self-service or a desk queue.

Subscribers with open problems report them or stay silent; subscribers also ask for information. Contacts
through the hotline or a store queue at a SimPy resource with the desk's real number of servers. Because one
simulated subscriber stands for ``scale`` real ones, each simulated contact at a desk arrives together with
``scale - 1`` *shadow* contacts (on average) at their own random times: they load the queue as the real
subscribers would, so waiting times are those of the real desk, but only the simulated contact has an
outcome. Contacts through IVR, web, SMS, WAP or a self-service terminal do not queue.

At a desk (Erlang-A, Garnett, Mandelbaum & Reiman 2002): a caller whose wait passes their patience (drawn
exponential) abandons and may try again later; a problem the contact does not resolve brings the subscriber
back for another contact. Waiting, abandoning and every failed contact cost satisfaction; failures compound
within one problem episode, and the fix restores less after each failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import simpy

from caresim.engine.behaviour import wait_penalty
from caresim.engine.service_desks import FAST_TRACK, NORMAL, ServiceDesk
from caresim.engine.steps.delivery import deliver
from caresim.lifecycle import CHANNELS, CHURNED, DESK_CHANNELS, TP

if TYPE_CHECKING:
    from caresim.engine.world import World

PROBLEM, INFORMATION = 0, 1  # kinds of inbound contact


def report_problems(world: World, month: int) -> None:
    """The month's inbound contacts: problem reports (or silence) and information queries, by channel.

    A recurring problem is reported with ``p_complain × rel_complain_recurring``. Programmes triggered
    by a complaint are delivered at the report: they can put the contact first in the queue and raise
    the chance that it resolves the problem. Information queries (drawn in ``usage``) are answered.
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
    information = state.active & (state.info_month == month)
    u_info_time = streams.uniform("information_time", n)
    u_info_handle = streams.uniform("information_handle_time", n)
    u_patience = streams.uniform("patience", n)
    u_info_patience = streams.uniform("information_patience", n)

    state.report_month[report] = month
    state.complaints[report] += 1
    state.contacts[report] += 1
    state.inbound_contacts += report.astype(np.int32) + information.astype(np.int32)
    records.add_touchpoint(month, TP["reports_problem"], report, segment)
    records.add_flow(month, "complaints", report, segment)
    records.add_flow(month, "contacts", report, segment)
    records.add_flow(month, "inbound_contacts", report, segment)
    records.add_flow(month, "inbound_contacts", information, segment)

    fast_track = np.zeros(n, dtype=bool)
    p_resolve_care = np.zeros(n)
    for code, served, multiplier in deliver(world, "complaint", report, month):
        p_resolve = world.programmes.product.p_resolve_problem[code, state.segment[served]]
        extra = np.minimum(p_resolve * multiplier, 1.0)
        p_resolve_care[served] = 1 - (1 - p_resolve_care[served]) * (1 - extra)
        fast_track[served] |= bool(world.programmes.delivery.queue_priority[code])

    fcr = np.array([service.p_first_contact_resolution[name] for name in CHANNELS])
    p_resolve = 1 - (1 - fcr[state.channel]) * (1 - p_resolve_care)
    at_desk = np.isin(state.channel, DESK_CHANNELS)

    self_served = np.flatnonzero(report & ~at_desk)
    close_contact(world, self_served, u_resolve[self_served] < p_resolve[self_served], month)

    returns = ReturnDraws(streams, n)
    for region in range(len(world.regions)):  # each region's contacts queue at its own desks
        mine = at_desk & (state.region == region) if len(world.regions) > 1 else at_desk
        reports = np.flatnonzero(report & mine)
        queries = np.flatnonzero(information & mine)
        if len(reports) + len(queries) == 0:
            continue
        contacts = Contacts(
            slots=np.concatenate([reports, queries]),
            kind=np.concatenate([np.full(len(reports), PROBLEM), np.full(len(queries), INFORMATION)]),
            time=np.concatenate([u_time[reports], u_info_time[queries]]),
            handle=np.concatenate([u_handle[reports], u_info_handle[queries]]),
            priority=np.concatenate([np.where(fast_track[reports], FAST_TRACK, NORMAL), np.full(len(queries), NORMAL)]),
            p_resolve=np.concatenate([p_resolve[reports], np.ones(len(queries))]),
            u_resolve=np.concatenate([u_resolve[reports], np.zeros(len(queries))]),
            u_patience=np.concatenate([u_patience[reports], u_info_patience[queries]]),
        )
        _dispatch(world, region, contacts, month, returns)


@dataclass(frozen=True)
class Contacts:
    """The month's simulated contacts at one region's desks, as arrays (one entry per contact)."""

    slots: np.ndarray
    kind: np.ndarray  # PROBLEM or INFORMATION
    time: np.ndarray  # uniform: when in the month
    handle: np.ndarray  # uniform: turned into an exponential handling time
    priority: np.ndarray
    p_resolve: np.ndarray  # chance a contact resolves the problem (1 for a query)
    u_resolve: np.ndarray  # the first contact's draw against it
    u_patience: np.ndarray  # uniform: turned into an exponential patience


class ReturnDraws:
    """Per-slot uniforms for what happens after a simulated contact (retrials and repeats).

    Column ``j`` is the ``j``-th draw of a subscriber's chain of contacts begun this month, from stream
    ``desk_returns/<j>`` for a problem report and ``desk_returns/information/<j>`` for an information query
    (a subscriber may have both in one month: their chains do not share draws). The same for every policy,
    so one segment's contacts never shift another's draws. Drawn when the month's contacts are (the layout
    grows later). A chain that needs more draws than it has (about two returns of a problem, one of a query)
    goes on with its line's stream.
    """

    N_DRAWS = 8
    N_INFORMATION_DRAWS = 4

    def __init__(self, streams, n: int) -> None:
        self.columns = {
            PROBLEM: np.array([streams.uniform(f"desk_returns/{j}", n) for j in range(self.N_DRAWS)]),
            INFORMATION: np.array(
                [streams.uniform(f"desk_returns/information/{j}", n) for j in range(self.N_INFORMATION_DRAWS)]
            ),
        }

    def draw(self, slot: int, index: int, kind: int) -> float | None:
        columns = self.columns[kind]
        return float(columns[index, slot]) if index < len(columns) else None


def _dispatch(world: World, region: int, contacts: Contacts, month: int, returns: ReturnDraws) -> None:
    """Schedule every contact of the month, and its shadows, at its arrival time on the SimPy clock.

    Shadows draw their times, handling and resolution from the region's ``shadow_contacts`` stream; the
    simulated contacts' come from per-slot streams, so they are common across policies.
    """
    rng = world.streams[world.regions.stream("shadow_contacts", region)]
    shadow_returns = world.streams[world.regions.stream("shadow_returns", region)]
    lines = {code: DeskLine(world, desk, code, shadow_returns, returns) for code, desk in world.desks[region].items()}
    state = world.state
    channel = state.channel[contacts.slots]
    extra = world.scale - 1.0
    n_shadow = np.floor(extra).astype(int) + (rng.random(len(contacts.slots)) < extra - np.floor(extra))
    owner = np.repeat(np.arange(len(contacts.slots)), n_shadow)
    time = np.concatenate([contacts.time, rng.random(len(owner))]) * world.month_days
    handle = np.concatenate([-np.log1p(-contacts.handle), rng.exponential(1.0, len(owner))])
    who = np.concatenate([contacts.slots, np.full(len(owner), -1)])
    desk = np.concatenate([channel, channel[owner]])
    kind = np.concatenate([contacts.kind, contacts.kind[owner]])
    prio = np.concatenate([contacts.priority, contacts.priority[owner]])
    p_resolve = np.concatenate([contacts.p_resolve, contacts.p_resolve[owner]])
    resolved = np.concatenate([contacts.u_resolve, rng.random(len(owner))]) < p_resolve
    patience = np.concatenate([-np.log1p(-contacts.u_patience), rng.exponential(1.0, len(owner))])
    env = world.env
    offset = np.maximum(month * world.month_days + time - env.now, 0.0)
    for after, slot, code, handle_units, priority, what, p, done, wait_limit in zip(
        offset.tolist(),
        who.tolist(),
        desk.tolist(),
        handle.tolist(),
        prio.tolist(),
        kind.tolist(),
        p_resolve.tolist(),
        resolved.tolist(),
        patience.tolist(),
        strict=True,
    ):
        line = lines[code]
        contact = DeskContact(line, slot, handle_units, priority, what, p, done, wait_limit * line.patience_days)
        env.timeout(after).callbacks.append(contact.arrive)


class DeskLine:
    """What the contacts at one desk of one region share: the world, the desk and the stream of returns."""

    __slots__ = ("channel", "desk", "env", "handle_days", "patience_days", "returns", "rng", "world")

    def __init__(
        self, world: World, desk: ServiceDesk, channel: int, rng: np.random.Generator, returns: ReturnDraws
    ) -> None:
        self.world, self.desk, self.channel, self.rng, self.env = world, desk, channel, rng, world.env
        self.returns = returns  # the simulated contacts' draws (shadows draw from ``rng``)
        self.handle_days, self.patience_days = desk.mean_handle_days, desk.mean_patience_days


class DeskContact:
    """One contact at a desk, driven by SimPy events: arrive -> wait -> handled (or abandon) -> outcome.

    Callbacks on SimPy events rather than a generator process per contact: the same clock and resource,
    at a fraction of the cost. ``slot < 0`` marks a shadow contact that only loads the desk. A caller whose
    wait reaches their ``patience`` abandons (the request leaves the queue) and may come back (a retrial); a
    problem contact that fails may come back (a repeat contact): either way as a new ``DeskContact`` of the
    same chain, whose draws come from ``ReturnDraws`` (simulated contacts) or the line's stream (shadows).
    """

    __slots__ = (
        "arrived",
        "attempt",
        "handle_units",
        "kind",
        "line",
        "p_resolve",
        "patience",
        "priority",
        "request",
        "resolved",
        "slot",
        "started",
        "used",
        "waited",
    )

    def __init__(
        self,
        line: DeskLine,
        slot: int,
        handle_units: float,
        priority: int,
        kind: int,
        p_resolve: float,
        resolved: bool,
        patience: float,
        attempt: int = 0,
        used: int = 0,
    ) -> None:
        self.line, self.slot, self.handle_units, self.priority = line, slot, handle_units, priority
        self.kind, self.p_resolve, self.resolved, self.patience = kind, p_resolve, resolved, patience
        self.attempt, self.used = attempt, used  # draws of the chain used so far
        self.started = False
        self.arrived = self.waited = 0.0
        self.request: simpy.resources.resource.PriorityRequest | None = None

    def arrive(self, _event: simpy.Event) -> None:
        line = self.line
        if self.attempt > 0 and self.slot >= 0:  # a return: only if there is still a caller with a reason
            state = line.world.state
            if state._stage[self.slot] == CHURNED or (self.kind == PROBLEM and state._n_open[self.slot] == 0):
                return
            _count_return(line.world, self.slot, self.kind)
        self.arrived = line.env.now
        line.world.records.desk_arrivals[_month(line.world), line.channel] += 1
        self.request = line.desk.resource.request(priority=self.priority)
        self.request.callbacks.append(self.start)
        if not self.request.triggered:  # a free server takes the call at once: nobody to give up
            line.env.timeout(self.patience).callbacks.append(self.give_up)

    def start(self, _event: simpy.Event) -> None:
        line = self.line
        if self.started:  # cannot happen (an abandoned request is cancelled); never hold a server for nobody
            line.desk.resource.release(self.request)
            return
        self.started = True
        self.waited = line.env.now - self.arrived
        line.env.timeout(self.handle_units * line.handle_days).callbacks.append(self.finish)

    def give_up(self, _event: simpy.Event) -> None:
        if self.started or self.request.triggered:  # already being served (or about to be)
            return
        self.started = True  # out of the queue: nothing more happens to this request
        self.request.cancel()
        line = self.line
        world = line.world
        month = _month(world)
        world.records.desk_abandoned[month, line.channel] += 1
        if self.slot >= 0:
            record_abandoned(world, self.slot, line.env.now - self.arrived, self.kind, month)
        if self._uniform() < line.desk.p_retrial:
            self._again(self._exponential() * line.desk.mean_retrial_days, self.resolved)

    def finish(self, _event: simpy.Event) -> None:
        line = self.line
        line.desk.resource.release(self.request)
        world = line.world
        if self.slot >= 0:
            record_outcome(
                world, self.slot, line.channel, self.waited, self.resolved, self.kind, self.attempt, _month(world)
            )
        if self.kind == PROBLEM and not self.resolved:
            service = world.config.service
            if self._uniform() < service.p_repeat_unresolved:
                self._again(self._exponential() * service.dur_repeat_days, self._uniform() < self.p_resolve)

    def _again(self, delay: float, resolved: bool) -> None:
        """The same caller contacts the desk again after ``delay`` days (a retrial or a repeat contact)."""
        line = self.line
        if self.slot >= 0 and line.world.state._stage[self.slot] == CHURNED:
            return
        handle_units, patience_units = self._exponential(), self._exponential()
        again = DeskContact(
            line,
            self.slot,
            handle_units,
            self.priority,
            self.kind,
            self.p_resolve,
            resolved,
            patience_units * line.patience_days,
            self.attempt + 1,
            self.used,
        )
        line.env.timeout(delay).callbacks.append(again.arrive)

    def _uniform(self) -> float:
        """The chain's next uniform draw."""
        u = self.line.returns.draw(self.slot, self.used, self.kind) if self.slot >= 0 else None
        self.used += 1
        return self.line.rng.random() if u is None else u

    def _exponential(self) -> float:
        return -float(np.log1p(-self._uniform()))


def _month(world: World) -> int:
    """The month the clock is in now (the last month for anything after the run's end)."""
    return min(int(world.env.now // world.month_days), world.config.run.n_months - 1)


def _count_return(world: World, slot: int, kind: int) -> None:
    state, records = world.state, world.records
    segment = int(state._segment[slot])
    month = _month(world)
    state._inbound_contacts[slot] += 1
    state._contacts[slot] += 1
    records.flow["inbound_contacts"][month, segment] += 1
    records.flow["contacts"][month, segment] += 1
    if kind == PROBLEM:
        state._repeat_contacts[slot] += 1
        records.flow["repeat_contacts"][month, segment] += 1


def record_abandoned(world: World, slot: int, wait_days: float, kind: int, month: int) -> None:
    """A simulated caller gave up waiting: the wait and the giving up cost satisfaction; a problem stays open."""
    state, records = world.state, world.records
    segment = int(state._segment[slot])
    records.flow["abandoned_contacts"][month, segment] += 1
    state._abandoned_contacts[slot] += 1
    if state._stage[slot] == CHURNED:
        return
    behaviour = world.config.behaviour
    state._shock[slot] += float(wait_penalty(behaviour, wait_days * 24.0)) + behaviour.d_satisfaction_abandoned
    if kind == PROBLEM and state._n_open[slot] > 0:
        _fail(world, slot)


def record_outcome(
    world: World, slot: int, desk_code: int, wait_days: float, resolved: bool, kind: int, attempt: int, month: int
) -> None:
    """A desk contact is done: record the wait; waiting and the outcome move satisfaction."""
    state, records = world.state, world.records
    segment = int(state._segment[slot])  # the raw arrays: this runs once per contact
    records.wait_sum[month, segment, desk_code] += wait_days
    records.wait_max[month, segment, desk_code] = max(records.wait_max[month, segment, desk_code], wait_days)
    records.desk_contacts[month, segment, desk_code] += 1
    if state._stage[slot] == CHURNED:  # the contact outlived the subscriber's stay
        return
    state._shock[slot] += float(wait_penalty(world.config.behaviour, wait_days * 24.0))
    if kind != PROBLEM or state._n_open[slot] == 0:  # an answer, or a problem already gone by itself
        return
    if resolved:
        _fix(world, slot)
        if attempt == 0:
            records.flow["resolved_first_contact"][month, segment] += 1
    else:
        _fail(world, slot)


def _fix(world: World, slot: int) -> None:
    state, behaviour = world.state, world.config.behaviour
    failures = int(state._episode_failures[slot])
    state._n_open[slot] = 0
    state._shock[slot] += behaviour.d_satisfaction_resolved * behaviour.rel_recovery_after_failure**failures
    state._resolved_contacts[slot] += 1


def _fail(world: World, slot: int) -> None:
    state = world.state
    state._episode_failures[slot] += 1
    state._shock[slot] += world.config.behaviour.d_satisfaction_unresolved * int(state._episode_failures[slot])
    state._unresolved_contacts[slot] += 1


def close_contact(world: World, slots: np.ndarray, resolved: np.ndarray, month: int) -> None:
    """The outcome of self-service reports (no queue, no repeat within the month), with the same rules."""
    state, behaviour = world.state, world.config.behaviour
    still_here = state.stage[slots] != CHURNED  # a report can outlive the subscriber's stay
    slots, resolved = slots[still_here], resolved[still_here]
    if len(slots) == 0:
        return
    done, failed = slots[resolved], slots[~resolved]
    state.shock[done] += (
        behaviour.d_satisfaction_resolved * behaviour.rel_recovery_after_failure ** state.episode_failures[done]
    )
    state.n_open[done] = 0
    state.resolved_contacts[done] += 1
    state.episode_failures[failed] += 1
    state.shock[failed] += behaviour.d_satisfaction_unresolved * state.episode_failures[failed]
    state.unresolved_contacts[failed] += 1
    world.records.flow["resolved_first_contact"][month] += world.records.count(
        np.ones(len(done), dtype=bool), state.segment[done]
    )
