"""The staffed desks (hotline, store): servers and a priority queue each, and the world's pending desk events.

A desk queues every real contact (``service.desk_model`` 'contacts') or, aggregate, serves the month's real
load as a stationary Erlang-A queue (``caresim.engine.erlang_a``). Queueing contacts, a desk works as a
non-preemptive SimPy ``PriorityResource`` does (priority first, then request time, then the order of the
requests), but its requests and events are plain Python values: the contacts of one month run in one batch
on the SimPy clock (``caresim.engine.steps.desks``), in the order SimPy would have run them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from caresim.config.schema import Desk, Service, settles_within_a_month
from caresim.engine.erlang_a import StationaryDesk, settle_load

MINUTES_PER_DAY = 24 * 60
FAST_TRACK, NORMAL = 0, 1  # queue priorities: complaint fast-track first


def aggregate_desks(service: Service, scale: float) -> bool:
    """Whether desks serve their month's load in aggregate (``service.desk_model``; 'auto': above scale 1, when
    every desk's queue settles within a month)."""
    if service.desk_model == "auto":
        return scale > 1 and settles_within_a_month(service)
    return service.desk_model == "erlang_a"


@dataclass
class ServiceDesk:
    """One staffed channel: its servers, its queue and the means of its handling time, patience and retrials."""

    n_servers: int
    mean_handle_days: float
    mean_patience_days: float  # Erlang-A: exponential patience
    p_retrial: float  # chance a caller who abandoned tries again
    mean_retrial_days: float
    aggregate: bool = False  # the month's real load as a stationary Erlang-A queue (``caresim.engine.erlang_a``)
    stationary: StationaryDesk | None = None  # this month's queue, when aggregate
    busy: int = 0  # servers in use
    waiting: int = 0  # contacts in the queue (those who gave up are not counted)
    queue: list[tuple[int, float, int, Any]] = field(default_factory=list)  # heap: priority, time, order, contact

    @classmethod
    def build(cls, desk: Desk, n_servers: int | None = None, aggregate: bool = False) -> ServiceDesk:
        """The desk with ``desk``'s handling time and ``n_servers`` servers (default: the desk's own)."""
        return cls(
            aggregate=aggregate,
            n_servers=desk.n_servers if n_servers is None else n_servers,
            mean_handle_days=desk.dur_handle_minutes / MINUTES_PER_DAY,
            mean_patience_days=desk.dur_patience_minutes / MINUTES_PER_DAY,
            p_retrial=desk.p_retrial,
            mean_retrial_days=desk.dur_retrial_minutes / MINUTES_PER_DAY,
        )

    @property
    def backlog(self) -> int:
        """Contacts waiting or in service now (aggregate: on average over the month)."""
        if self.aggregate:
            return self.stationary.mean_in_system if self.stationary is not None else 0.0
        return self.waiting + self.busy

    def settle(self, fresh_problems: float, fresh_queries: float, p_resolve: float, p_repeat: float, month_days: float):
        """Aggregate: this month's stationary queue for ``fresh_problems`` and ``fresh_queries`` real first
        contacts (problems resolved with mean chance ``p_resolve``), their retrials and repeats included."""
        self.stationary = settle_load(
            fresh_problems / month_days,
            fresh_queries / month_days,
            p_resolve,
            self.p_retrial,
            p_repeat,
            1.0 / self.mean_handle_days,
            1.0 / self.mean_patience_days,
            self.n_servers,
        )
        return self.stationary


@dataclass
class DeskEvents:
    """The world's pending desk events, as SimPy would order them: by time, then by when they were scheduled.

    The month's first contacts wait in arrival order in ``times``, ``orders`` and ``firsts`` (from ``next`` on);
    every other event (a return, a give-up, the end of a service) in ``heap`` as ``(time, order, action,
    contact)``. ``until`` is the current month's close as ``(time, order)``: events before it run in the
    month's batch, the rest wait for the next one.
    """

    heap: list[tuple[float, int, int, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)
    firsts: list[Any] = field(default_factory=list)
    next: int = 0
    order: int = 0  # events scheduled so far
    until: tuple[float, int] = (0.0, 0)
