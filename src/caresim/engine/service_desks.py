"""The staffed desks (hotline, store) as SimPy priority resources: the queues inbound contacts wait in."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import simpy

from caresim.config.schema import Desk

MINUTES_PER_DAY = 24 * 60
FAST_TRACK, NORMAL = 0, 1  # queue priorities: complaint fast-track first


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
    mean_patience_days: float  # Erlang-A: exponential patience
    p_retrial: float  # chance a caller who abandoned tries again
    mean_retrial_days: float

    @classmethod
    def build(cls, env: simpy.Environment, desk: Desk, n_servers: int | None = None) -> ServiceDesk:
        """The desk with ``desk``'s handling time and ``n_servers`` servers (default: the desk's own)."""
        return cls(
            resource=DeskResource(env, capacity=desk.n_servers if n_servers is None else n_servers),
            mean_handle_days=desk.dur_handle_minutes / MINUTES_PER_DAY,
            mean_patience_days=desk.dur_patience_minutes / MINUTES_PER_DAY,
            p_retrial=desk.p_retrial,
            mean_retrial_days=desk.dur_retrial_minutes / MINUTES_PER_DAY,
        )
