"""Inbound contacts: information queries and problem reports, through self-service or a desk queue.

Subscribers with open problems report them or stay silent; subscribers also ask for information. Contacts
through the hotline or a store queue at the desk (``ServiceDesk``, SimPy's ``PriorityResource`` discipline)
with its real number of servers; the month's desk events run in SimPy's order in one batch that one SimPy
timeout starts (``serve_desks``), not as SimPy events of their own. Because one
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

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from caresim.engine.service_desks import FAST_TRACK, NORMAL, ServiceDesk
from caresim.engine.steps.delivery import deliver
from caresim.engine.streams import SlotDraws
from caresim.lifecycle import CHANNELS, CHURNED, DESK_CHANNELS, HOTLINE, TP

if TYPE_CHECKING:
    from caresim.engine.streams import Streams
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
    u_resolve = streams.uniform_draws("first_contact_resolution", n)
    u_time = streams.uniform_draws("contact_time", n)
    u_handle = streams.uniform_draws("handle_time", n)
    information = state.active & (state.info_month == month)
    u_info_time = streams.uniform_draws("information_time", n)
    u_info_handle = streams.uniform_draws("information_handle_time", n)
    u_patience = streams.uniform_draws("patience", n)
    u_info_patience = streams.uniform_draws("information_patience", n)

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
    at_desk = np.isin(np.arange(len(CHANNELS)), DESK_CHANNELS)[state.channel]

    self_served = np.flatnonzero(report & ~at_desk)
    close_contact(world, self_served, u_resolve[self_served] < p_resolve[self_served], month)

    returns = ReturnDraws(streams, n)
    arrival, desk_contacts = [np.zeros(0)], []
    for region in range(len(world.regions)):  # each region's contacts queue at its own desks
        mine = at_desk & (state.region == region) if len(world.regions) > 1 else at_desk
        reports = np.flatnonzero(report & mine)
        queries = np.flatnonzero(information & mine)
        if world.desks[region][HOTLINE].aggregate:
            _settle_desks(world, region, month, reports, queries, p_resolve)
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
        times, new = _dispatch(world, region, contacts, month, returns)
        arrival.append(times)
        desk_contacts += new
    _schedule(world, np.concatenate(arrival), desk_contacts)


def _settle_desks(
    world: World, region: int, month: int, reports: np.ndarray, queries: np.ndarray, p_resolve: np.ndarray
) -> None:
    """Aggregate desks: the month's stationary queue at each of the region's desks, from its real first
    contacts (``scale`` per simulated one); the real arrivals and abandonments it implies go to the records."""
    channel, records, month_days = world.state.channel, world.records, world.month_days
    p_repeat = world.config.service.p_repeat_unresolved
    for code, desk in world.desks[region].items():
        problems = reports[channel[reports] == code]
        n_queries = np.count_nonzero(channel[queries] == code)
        mean_resolve = float(p_resolve[problems].mean()) if len(problems) else 1.0
        queue = desk.settle(len(problems) * world.scale, n_queries * world.scale, mean_resolve, p_repeat, month_days)
        arrivals = queue.arrival_rate * month_days
        records.desk_arrivals[month, code] += arrivals
        records.desk_abandoned[month, code] += arrivals * queue.p_abandon


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

    def __init__(self, streams: Streams, n: int) -> None:
        # the month's draws are read while its contacts are dispatched: one buffer serves every month
        rows = iter(streams.buffer("desk_returns", self.N_DRAWS + self.N_INFORMATION_DRAWS, n))
        self.columns = {
            PROBLEM: [streams.uniform_draws(f"desk_returns/{j}", n, next(rows)) for j in range(self.N_DRAWS)],
            INFORMATION: [
                streams.uniform_draws(f"desk_returns/information/{j}", n, next(rows))
                for j in range(self.N_INFORMATION_DRAWS)
            ],
        }

    def at(self, kind: int, slots: np.ndarray) -> np.ndarray:
        """The draws of ``slots``' chains of ``kind``: one row per draw, one column per slot."""
        columns = self.columns[kind]
        if isinstance(columns[0], SlotDraws):  # where the slots' draws sit, found once for every column
            where = columns[0].positions[slots]
            return np.array([draws.values[where] for draws in columns]).reshape(len(columns), len(slots))
        return np.array([draws[slots] for draws in columns]).reshape(len(columns), len(slots))


#: What a desk event does: a contact arrives, gives up waiting, or is done.
ARRIVE, GIVE_UP, FINISH = 0, 1, 2


def _dispatch(
    world: World, region: int, contacts: Contacts, month: int, returns: ReturnDraws
) -> tuple[np.ndarray, list[DeskContact]]:
    """Every contact of the month at one region's desks, and its shadows: their arrival times and contacts.

    Shadows draw their times, handling and resolution from the region's ``shadow_contacts`` stream; the
    simulated contacts' come from per-slot streams, so they are common across policies.
    """
    rng = world.streams[world.regions.stream("shadow_contacts", region)]
    shadow_returns = world.streams[world.regions.stream("shadow_returns", region)]
    desks = world.desks[region]
    state = world.state
    channel = state.channel[contacts.slots]
    if desks[HOTLINE].aggregate:  # the real load is in the desks' stationary queues: no shadows
        n_shadow = np.zeros(len(contacts.slots), dtype=int)
    else:
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
    # SimPy's sums and products for each contact's arrival, handling and patience, made at once (same floats)
    codes = sorted(desks)
    lookup = np.zeros(max(codes) + 1, dtype=int)
    lookup[codes] = np.arange(len(codes))
    at = lookup[desk]
    handle_days = handle * np.array([desks[code].mean_handle_days for code in codes])[at]
    patience_days = patience * np.array([desks[code].mean_patience_days for code in codes])[at]
    # a simulated contact's chain draws from its slot's columns (its kind's draws, its column there) first
    draws: list = [None] * len(who)
    column = np.zeros(len(who), dtype=int)
    for what, columns in returns.columns.items():
        mine = np.flatnonzero(contacts.kind == what)
        uniforms = returns.at(what, contacts.slots[mine])
        of_kind = (uniforms, -np.log1p(-uniforms), len(columns))  # the same floats as one by one
        for i in mine.tolist():
            draws[i] = of_kind
        column[mine] = np.arange(len(mine))
    new = [
        DeskContact(desks[code], code, slot, what, priority, p, done, handling, wait_limit, 0, 0, shadow_returns, d, c)
        for code, slot, what, priority, p, done, handling, wait_limit, d, c in zip(
            desk.tolist(),
            who.tolist(),
            kind.tolist(),
            prio.tolist(),
            p_resolve.tolist(),
            resolved.tolist(),
            handle_days.tolist(),
            patience_days.tolist(),
            draws,
            column.tolist(),
            strict=True,
        )
    ]
    return env.now + offset, new


def _schedule(world: World, arrival: np.ndarray, contacts: list[DeskContact]) -> None:
    """Queue the month's first contacts (in SimPy's order) and let the SimPy clock serve the desks.

    The month closes ``month_days`` from now, after every event scheduled so far at that same time (SimPy
    orders equal times by when they were scheduled); one SimPy timeout, at the first pending event, serves
    the desks up to that moment (``serve_desks``).
    """
    events, env = world.desk_events, world.env
    for k in range(events.next, len(events.times)):  # first contacts not yet arrived join the other events
        heapq.heappush(events.heap, (events.times[k], events.orders[k], ARRIVE, events.firsts[k]))
    by_time = np.argsort(arrival, kind="stable")
    events.times = arrival[by_time].tolist()
    events.orders = (events.order + by_time).tolist()
    events.firsts = [contacts[k] for k in by_time.tolist()]
    events.next = 0
    events.order += len(contacts)
    events.until = (env.now + world.month_days, events.order)
    first = min(events.times[:1] + [event[0] for event in events.heap[:1]], default=None)
    if first is not None:
        wait = min(max(first - env.now, 0.0), world.month_days)
        env.timeout(wait).callbacks.append(lambda _event: serve_desks(world))


class DeskContact:
    """One contact at a desk: arrive -> wait -> handled (or abandon) -> outcome.

    ``slot < 0`` marks a shadow contact that only loads the desk. A caller whose wait reaches their
    ``patience`` abandons (leaves the queue) and may come back (a retrial); a problem contact that fails may
    come back (a repeat contact): either way as a new ``DeskContact`` of the same chain, whose draws come from
    ``draws`` (column ``column`` of the month's ``ReturnDraws`` for its kind, as uniforms and as unit
    exponentials) or, past them and for shadows, from the region's ``rng``.
    """

    __slots__ = (
        "arrived",
        "attempt",
        "channel",
        "column",
        "desk",
        "draws",
        "handle",
        "kind",
        "p_resolve",
        "patience",
        "priority",
        "resolved",
        "rng",
        "slot",
        "started",
        "used",
        "waited",
    )

    def __init__(
        self,
        desk: ServiceDesk,
        channel: int,
        slot: int,
        kind: int,
        priority: int,
        p_resolve: float,
        resolved: bool,
        handle: float,
        patience: float,
        attempt: int,
        used: int,
        rng: np.random.Generator,
        draws: tuple[np.ndarray, np.ndarray, int] | None = None,
        column: int = 0,
    ) -> None:
        # one assignment a line: unpacking a tuple of five would build it first (this runs once per contact)
        self.desk = desk
        self.channel = channel
        self.slot = slot
        self.kind = kind
        self.priority = priority
        self.p_resolve = p_resolve
        self.resolved = resolved
        self.handle = handle  # days
        self.patience = patience  # days
        self.attempt = attempt
        self.used = used  # draws of the chain used so far
        self.rng = rng
        self.draws = draws
        self.column = column
        self.started = False
        self.arrived = self.waited = 0.0

    def uniform(self) -> float:
        """The chain's next uniform draw."""
        used, draws = self.used, self.draws
        self.used = used + 1
        if draws is not None and used < draws[2]:
            return draws[0].item(used, self.column)
        return self.rng.random()

    def exponential(self) -> float:
        """The chain's next draw as a unit exponential (``-log1p(-u)``)."""
        used, draws = self.used, self.draws
        self.used = used + 1
        if draws is not None and used < draws[2]:
            return draws[1].item(used, self.column)
        return -float(np.log1p(-self.rng.random()))

    def again(self, resolved: bool) -> DeskContact:
        """The same caller contacting the desk again (a retrial or a repeat contact), with fresh handling time
        and patience."""
        handle_units, patience_units = self.exponential(), self.exponential()
        desk = self.desk
        return DeskContact(
            desk,
            self.channel,
            self.slot,
            self.kind,
            self.priority,
            self.p_resolve,
            resolved,
            handle_units * desk.mean_handle_days,
            patience_units * desk.mean_patience_days,
            self.attempt + 1,
            self.used,
            self.rng,
            self.draws,
            self.column,
        )


def serve_desks(world: World) -> None:
    """Run the desk events before the month's close (``DeskEvents.until``), in SimPy's order.

    A contact arrives and takes a free server at once, or queues (priority, then arrival) and sets a timer
    for its patience; a server that finishes takes the first caller still waiting. Events at one moment run
    in the order they were scheduled, as SimPy runs them; the grants SimPy made through zero-delay events
    are made at once, which changes no order (nothing else happens at that moment).
    """
    events = world.desk_events
    heap = events.heap
    end, end_order = events.until
    times, orders, firsts, k = events.times, events.orders, events.firsts, events.next
    n_firsts = len(times)
    pop, push = heapq.heappop, heapq.heappush
    state, records = world.state, world.records
    stage, n_open = state._stage, state._n_open
    month_days, last = world.month_days, world.config.run.n_months - 1
    service = world.config.service
    p_repeat, repeat_days = service.p_repeat_unresolved, service.dur_repeat_days
    order = events.order
    outcomes = _Outcomes(world)
    arrived: dict[tuple[int, int], int] = {}
    abandoned: dict[tuple[int, int], int] = {}
    while True:
        # the next event: the earlier of the next first contact and the heap's first (by time, then order)
        if heap and (k >= n_firsts or heap[0][0] < times[k] or (heap[0][0] == times[k] and heap[0][1] < orders[k])):
            now, scheduled, action, contact = heap[0]
            if now > end or (now == end and scheduled >= end_order):
                break
            pop(heap)
        elif k < n_firsts:
            now, scheduled, action, contact = times[k], orders[k], ARRIVE, firsts[k]
            if now > end or (now == end and scheduled >= end_order):
                break
            k += 1
        else:
            break
        month = min(int(now // month_days), last)
        desk = contact.desk
        slot = contact.slot
        if action == ARRIVE:
            if contact.attempt > 0 and slot >= 0:  # a return: only if there is still a caller with a reason
                if stage[slot] == CHURNED or (contact.kind == PROBLEM and n_open[slot] == 0):
                    continue
                outcomes.returned(slot, contact.kind, month)
            contact.arrived = now
            if desk.aggregate:  # the wait of the state it finds; it gives up if its patience is shorter
                u_state, u_wait = contact.uniform(), contact.uniform()
                wait = desk.stationary.offered_wait(u_state, u_wait, contact.priority == FAST_TRACK)
                if contact.patience < wait:
                    push(heap, (now + contact.patience, order, GIVE_UP, contact))
                else:
                    contact.started, contact.waited = True, wait
                    push(heap, (now + wait + contact.handle, order, FINISH, contact))
                order += 1
                continue
            key = (month, contact.channel)
            arrived[key] = arrived.get(key, 0) + 1
            if desk.busy < desk.n_servers and not desk.waiting:  # a free server takes the call at once
                desk.busy += 1
                contact.started = True
                push(heap, (now + contact.handle, order, FINISH, contact))
                order += 1
            else:
                push(desk.queue, (contact.priority, now, order, contact))
                push(heap, (now + contact.patience, order + 1, GIVE_UP, contact))
                order += 2
                desk.waiting += 1
            continue
        if action == GIVE_UP:
            if contact.started:  # being served already
                continue
            contact.started = True  # out of the queue (its entry is skipped when reached)
            if not desk.aggregate:
                desk.waiting -= 1
                key = (month, contact.channel)
                abandoned[key] = abandoned.get(key, 0) + 1
            if slot >= 0:
                outcomes.abandoned(slot, now - contact.arrived, contact.kind, month)
            if contact.uniform() < desk.p_retrial:
                delay = contact.exponential() * desk.mean_retrial_days
                if slot < 0 or stage[slot] != CHURNED:
                    push(heap, (now + delay, order, ARRIVE, contact.again(contact.resolved)))
                    order += 1
            continue
        # FINISH: the server is released, the outcome recorded, and the server takes the next caller
        kind = contact.kind
        if slot >= 0:
            outcomes.outcome(slot, contact.channel, contact.waited, contact.resolved, kind, contact.attempt, month)
        if kind == PROBLEM and not contact.resolved and contact.uniform() < p_repeat:
            delay = contact.exponential() * repeat_days
            resolved = contact.uniform() < contact.p_resolve
            if slot < 0 or stage[slot] != CHURNED:
                push(heap, (now + delay, order, ARRIVE, contact.again(resolved)))
                order += 1
        if desk.aggregate:
            continue
        desk.busy -= 1
        queue = desk.queue
        while queue:
            waiting = pop(queue)[3]
            if not waiting.started:
                desk.waiting -= 1
                desk.busy += 1
                waiting.started = True
                waiting.waited = now - waiting.arrived
                push(heap, (now + waiting.handle, order, FINISH, waiting))
                order += 1
                break
    events.order, events.next = order, k
    for (month, channel), count in arrived.items():  # whole counts: adding them up at once changes nothing
        records.desk_arrivals[month, channel] += count
    for (month, channel), count in abandoned.items():
        records.desk_abandoned[month, channel] += count
    outcomes.flush()


class _Outcomes:
    """What simulated contacts do to their subscribers and to the records, for one batch of desk events.

    State changes go straight to the subscriber arrays, one slot at a time and in the order of the events
    (read as Python numbers with ``item``: the same floats). Record cells are kept in dictionaries and written
    back at the end of the batch (``flush``): counts are added up, the sums of waits are carried on from the
    cell's value in the same order (the same floats).
    """

    def __init__(self, world: World) -> None:
        state, behaviour = world.state, world.config.behaviour
        self.records = world.records
        self.segment, self.stage, self.n_open, self.shock = state._segment, state._stage, state._n_open, state._shock
        self.failures = state._episode_failures
        self.resolved_contacts, self.unresolved_contacts = state._resolved_contacts, state._unresolved_contacts
        self.abandoned_contacts, self.inbound_contacts = state._abandoned_contacts, state._inbound_contacts
        self.contacts, self.repeat_contacts = state._contacts, state._repeat_contacts
        # behaviour.wait_penalty for one wait (the same floats): max(per hour · hours, floor)
        self.per_wait_hour, self.wait_floor = behaviour.d_satisfaction_per_wait_hour, behaviour.d_satisfaction_wait_max
        self.d_abandoned, self.d_resolved = behaviour.d_satisfaction_abandoned, behaviour.d_satisfaction_resolved
        self.d_unresolved, self.rel_recovery = behaviour.d_satisfaction_unresolved, behaviour.rel_recovery_after_failure
        self.counts: dict[tuple[str, int, int], int] = {}  # (flow, month, segment) -> contacts
        # (month, segment, desk) -> [contacts, sum of waits, longest wait]
        self.desk_cells: dict[tuple[int, int, int], list] = {}

    def _count(self, flow: str, month: int, segment: int) -> None:
        key = (flow, month, segment)
        self.counts[key] = self.counts.get(key, 0) + 1

    def returned(self, slot: int, kind: int, month: int) -> None:
        """A retrial or repeat contact arrives."""
        segment = self.segment.item(slot)
        self.inbound_contacts[slot] += 1
        self.contacts[slot] += 1
        self._count("inbound_contacts", month, segment)
        self._count("contacts", month, segment)
        if kind == PROBLEM:
            self.repeat_contacts[slot] += 1
            self._count("repeat_contacts", month, segment)

    def abandoned(self, slot: int, wait_days: float, kind: int, month: int) -> None:
        """A simulated caller gave up waiting: the wait and the giving up cost satisfaction; a problem stays
        open."""
        self._count("abandoned_contacts", month, self.segment.item(slot))
        self.abandoned_contacts[slot] += 1
        if self.stage.item(slot) == CHURNED:
            return
        penalty = max(self.per_wait_hour * (wait_days * 24.0), self.wait_floor) + self.d_abandoned
        self.shock[slot] = self.shock.item(slot) + penalty
        if kind == PROBLEM and self.n_open.item(slot) > 0:
            self._fail(slot)

    def outcome(self, slot: int, desk_code: int, wait_days: float, resolved: bool, kind: int, attempt: int, month: int):
        """A desk contact is done: record the wait; waiting and the outcome move satisfaction."""
        segment = self.segment.item(slot)
        key = (month, segment, desk_code)
        cell = self.desk_cells.get(key)
        if cell is None:
            cell = self.desk_cells[key] = [0, self.records.wait_sum.item(key), self.records.wait_max.item(key)]
        cell[0] += 1
        cell[1] += wait_days
        if wait_days > cell[2]:
            cell[2] = wait_days
        if self.stage.item(slot) == CHURNED:  # the contact outlived the subscriber's stay
            return
        penalty = max(self.per_wait_hour * (wait_days * 24.0), self.wait_floor)
        self.shock[slot] = self.shock.item(slot) + penalty
        if kind != PROBLEM or self.n_open.item(slot) == 0:  # an answer, or a problem already gone by itself
            return
        if resolved:
            self.n_open[slot] = 0
            recovery = self.d_resolved * self.rel_recovery ** self.failures.item(slot)
            self.shock[slot] = self.shock.item(slot) + recovery
            self.resolved_contacts[slot] += 1
            if attempt == 0:
                self._count("resolved_first_contact", month, segment)
        else:
            self._fail(slot)

    def _fail(self, slot: int) -> None:
        self.failures[slot] += 1
        cost = self.d_unresolved * self.failures.item(slot)
        self.shock[slot] = self.shock.item(slot) + cost
        self.unresolved_contacts[slot] += 1

    def flush(self) -> None:
        """Write the batch's record cells back."""
        records = self.records
        for (flow, month, segment), count in self.counts.items():
            records.flow[flow][month, segment] += count
        for key, (count, wait_sum, wait_max) in self.desk_cells.items():
            records.desk_contacts[key] += count
            records.wait_sum[key] = wait_sum
            records.wait_max[key] = wait_max


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
