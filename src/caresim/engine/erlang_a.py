"""A desk's month as a stationary Erlang-A queue (M/M/n+M): what a contact arriving at it waits.

Used when one simulated subscriber stands for several real ones (``service.desk_model``): instead of queueing
every real contact as an event (the simulated ones and their *shadows*), the desk's month is the stationary
M/M/n+M queue of its real load (Garnett, Mandelbaum & Reiman 2002): Poisson arrivals at rate ``λ``,
``n`` servers with exponential handling (rate ``μ``), callers who abandon after an exponential patience
(rate ``θ``). The number in the system ``k`` is a birth-death chain with birth rate ``λ`` and death rate
``min(k, n) μ + max(k - n, 0) θ``; its stationary law ``π`` has

* ``P(wait) = Σ_{k ≥ n} π_k``, the chance an arrival finds every server busy (PASTA);
* ``P(abandon) = θ E[(K - n)⁺] / λ`` (abandonments happen at rate ``θ`` per waiting caller);
* ``E[wait] = E[(K - n)⁺] / λ`` (Little's law for the queue, the waits of those who abandon included).

A simulated contact arriving draws the state it finds, ``k ~ π``. With ``m = k - n ≥ 0`` callers ahead
(first come, first served), the time until a server takes it, its *offered wait* ``V``, is the sum of
``m + 1`` exponential stages of rates ``nμ + iθ`` (``i = m … 0``: a server frees or a caller ahead gives
up). It waits ``min(V, patience)`` and abandons when its patience is the shorter. ``V`` is drawn with
one uniform from the gamma law of the same mean and variance (exact when ``m = 0``, the common case).
A fast-tracked contact goes ahead of the queue: its offered wait is the first stage, ``Exp(nμ)``.

The stationary law holds when the queue settles much faster than a month changes: a desk's busy periods
last minutes to hours, its month 30 days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaincinv

#: Probability mass left out beyond the states kept (the law is cut where its tail is below this).
TAIL = 1e-15


@dataclass(frozen=True)
class StationaryDesk:
    """The stationary M/M/n+M queue of one desk in one month (rates per day)."""

    arrival_rate: float  # λ: real contacts per day, returns included
    service_rate: float  # μ: 1 / mean handling time
    abandon_rate: float  # θ: 1 / mean patience
    n_servers: int
    p_state: np.ndarray  # π_k, k = 0 … K
    cumulative: np.ndarray  # Σ_{j ≤ k} π_j, to draw a state with one uniform
    stage_mean: np.ndarray  # for m callers ahead: E[V] = Σ_{i ≤ m} 1 / (nμ + iθ)
    stage_variance: np.ndarray  # Var[V] = Σ_{i ≤ m} 1 / (nμ + iθ)²

    @classmethod
    def solve(cls, arrival_rate: float, service_rate: float, abandon_rate: float, n_servers: int) -> StationaryDesk:
        """The stationary law of the queue with these rates (per day) and servers."""
        if arrival_rate < 0 or service_rate <= 0 or abandon_rate <= 0 or n_servers < 1:
            raise ValueError("Erlang-A needs λ ≥ 0, μ > 0, θ > 0 and at least one server")
        n = int(n_servers)
        p_state = _stationary_law(arrival_rate, service_rate, abandon_rate, n)
        ahead = 1.0 / (n * service_rate + np.arange(max(len(p_state) - 1 - n, 0) + 1) * abandon_rate)
        return cls(
            arrival_rate=float(arrival_rate),
            service_rate=float(service_rate),
            abandon_rate=float(abandon_rate),
            n_servers=n,
            p_state=p_state,
            cumulative=np.cumsum(p_state),
            stage_mean=np.cumsum(ahead),
            stage_variance=np.cumsum(ahead**2),
        )

    @property
    def queued(self) -> np.ndarray:
        """Callers waiting in each state, ``(k - n)⁺``."""
        return np.maximum(np.arange(len(self.p_state)) - self.n_servers, 0)

    @property
    def mean_in_system(self) -> float:
        """E[K]: callers waiting or in service."""
        return float(self.p_state @ np.arange(len(self.p_state)))

    @property
    def mean_queue(self) -> float:
        """E[(K - n)⁺]: callers waiting."""
        return float(self.p_state @ self.queued)

    @property
    def p_wait(self) -> float:
        """The chance an arrival finds every server busy."""
        return float(self.p_state[self.n_servers :].sum())

    @property
    def p_abandon(self) -> float:
        """The chance an arrival abandons before a server takes it."""
        return self.abandon_rate * self.mean_queue / self.arrival_rate if self.arrival_rate > 0 else 0.0

    @property
    def mean_wait(self) -> float:
        """E[min(V, patience)], days: the mean time an arrival spends waiting (served or not)."""
        return self.mean_queue / self.arrival_rate if self.arrival_rate > 0 else 0.0

    def offered_wait(self, u_state: float, u_wait: float, first: bool = False) -> float:
        """Days until a server would take a contact arriving now (its offered wait ``V``), from two uniforms:
        one for the state it finds, one for the wait. ``first``: it goes ahead of every waiting caller."""
        k = min(int(np.searchsorted(self.cumulative, u_state, side="right")), len(self.p_state) - 1)
        ahead = k - self.n_servers
        if ahead < 0:
            return 0.0
        if first:
            ahead = 0
        mean, variance = self.stage_mean[ahead], self.stage_variance[ahead]
        shape = mean * mean / variance
        return float(gammaincinv(shape, u_wait)) * variance / mean


def _stationary_law(arrival_rate: float, service_rate: float, abandon_rate: float, n: int) -> np.ndarray:
    """``π_k`` for ``k = 0 … K``, cut where the law's tail is below ``TAIL``. Beyond the servers an overloaded
    queue settles near ``(λ - nμ) / θ`` waiting callers; the cut starts beyond that and doubles until the last
    state kept carries (almost) nothing."""
    if arrival_rate == 0:
        return np.eye(1, n + 1).ravel()
    overload = max(arrival_rate - n * service_rate, 0.0) / abandon_rate
    k_max = n + 64 + math.ceil(3 * min(overload, 2.0**20))
    while True:
        k = np.arange(1, k_max + 1)
        deaths = np.minimum(k, n) * service_rate + np.maximum(k - n, 0) * abandon_rate
        log_weight = np.zeros(k_max + 1)
        np.cumsum(math.log(arrival_rate) - np.log(deaths), out=log_weight[1:])
        weight = np.exp(log_weight - log_weight.max())
        total = weight.sum()
        if weight[-1] < TAIL * total or k_max > MAX_STATES:
            return weight / total
        k_max *= 2


#: The most states kept (a queue with next to no abandonment and more callers than servers can serve).
MAX_STATES = 2**24


def settle_load(
    fresh_problems: float,
    fresh_queries: float,
    p_resolve: float,
    p_retrial: float,
    p_repeat: float,
    service_rate: float,
    abandon_rate: float,
    n_servers: int,
) -> StationaryDesk:
    """The stationary queue of a desk whose first contacts arrive at these rates (per day), with the
    contacts they bring back: a caller who abandons tries again with ``p_retrial``, a problem a served
    contact leaves unresolved (chance ``1 - p_resolve``) comes back with ``p_repeat``.

    In the steady state each arrival brings another with chance ``r`` (``P(abandon) · p_retrial``, plus
    ``(1 - P(abandon)) (1 - p_resolve) p_repeat`` for a problem), so the load is ``fresh / (1 - r)``; and
    ``P(abandon)`` depends on the load. The fixed point ``λ = load(λ)`` is found by the secant method from
    ``λ = fresh`` (``load`` is monotone and flat next to 1 in slope), with plain iteration as the fallback.
    """

    def load(arrival_rate: float) -> tuple[float, StationaryDesk]:
        desk = StationaryDesk.solve(arrival_rate, service_rate, abandon_rate, n_servers)
        back_query = min(desk.p_abandon * p_retrial, MAX_RETURN)
        back_problem = min(back_query + (1 - desk.p_abandon) * (1 - p_resolve) * p_repeat, MAX_RETURN)
        return fresh_problems / (1 - back_problem) + fresh_queries / (1 - back_query), desk

    fresh = fresh_problems + fresh_queries
    x0 = fresh
    y0, desk = load(x0)
    x1 = y0
    for _ in range(100):
        if abs(y0 - x0) <= 1e-10 * max(x0, 1.0):
            return desk
        y1, desk = load(x1)
        gap0, gap1 = y0 - x0, y1 - x1
        step = x1 - gap1 * (x1 - x0) / (gap1 - gap0) if gap1 != gap0 else y1
        x0, y0, x1 = x1, y1, max(step if math.isfinite(step) else y1, fresh)
    return desk


#: A cap on the chance that an arrival brings another (so the load stays finite when every caller retries).
MAX_RETURN = 0.999
