"""The social network of ties between subscribers, through which churn spreads.

The ties live in NumPy edge arrays, which the monthly contagion sum reads for the whole population at
once. The Mesa ``NetworkGrid`` (over a networkx graph) with every subscriber agent placed on its node is
built from those same arrays when first asked for, and rebuilt after ties change, so agent-level
questions ("who are my ties?") see exactly the ties the simulation uses, without paying networkx's cost
every month.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from mesa import Agent
from mesa.space import NetworkGrid

from caresim.config.schema import Ties


class SocialTies:
    """Undirected ties stored as both directions of each edge: ``source[k] -> target[k]``."""

    def __init__(self, spec: Ties) -> None:
        self.spec = spec
        self.source = np.zeros(0, dtype=np.int64)
        self.target = np.zeros(0, dtype=np.int64)
        self._grid: NetworkGrid | None = None
        self._degree: tuple[np.ndarray, np.ndarray] | None = None  # (the source array it counts, degrees)

    @property
    def enabled(self) -> bool:
        return self.spec.mean_degree > 0 or self.spec.n_ties_new_subscriber > 0

    def _partners(
        self, anchors: np.ndarray, pool: np.ndarray, segment: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """For each anchor, a partner from ``pool``: same segment with probability ``p_same_segment``."""
        draws = rng.random((len(anchors), 2))
        if len(pool) == 0:
            return np.full(len(anchors), -1)
        partner = pool[np.minimum((draws[:, 1] * len(pool)).astype(np.int64), len(pool) - 1)]
        same = draws[:, 0] < self.spec.p_same_segment
        order = np.argsort(segment[pool], kind="stable")
        pool_sorted, seg_sorted = pool[order], segment[pool][order]
        start = np.searchsorted(seg_sorted, segment[anchors], side="left")
        stop = np.searchsorted(seg_sorted, segment[anchors], side="right")
        size = stop - start
        use = same & (size > 0)
        pick = start + np.minimum((draws[:, 1] * size).astype(np.int64), np.maximum(size - 1, 0))
        partner[use] = pool_sorted[pick[use]]
        return partner

    def connect(
        self, newcomers: np.ndarray, pool: np.ndarray, segment: np.ndarray, n_each: float, rng: np.random.Generator
    ) -> None:
        """Tie each newcomer to about ``n_each`` members of ``pool`` (fractional parts drawn at random)."""
        if len(newcomers) == 0 or n_each <= 0:
            return
        extra = rng.random(len(newcomers)) < (n_each - np.floor(n_each))
        counts = np.floor(n_each).astype(int) + extra
        anchors = np.repeat(newcomers, counts)
        partners = self._partners(anchors, pool, segment, rng)
        keep = (partners >= 0) & (partners != anchors)
        self._add_edges(anchors[keep], partners[keep])

    def _add_edges(self, a: np.ndarray, b: np.ndarray) -> None:
        # Every edge of a batch touches a newcomer, so duplicates can only arise within the batch.
        low, high = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
        span = int(high.max()) + 1 if len(high) else 1
        codes = np.sort(low * span + high)  # np.unique's values, by a sort (its hashing is slower on millions)
        codes = codes[np.concatenate([[True], codes[1:] != codes[:-1]])] if len(codes) else codes
        pairs = np.stack([codes // span, codes % span], axis=1)
        self._grid = None
        self.source = np.concatenate([self.source, pairs[:, 0], pairs[:, 1]])
        self.target = np.concatenate([self.target, pairs[:, 1], pairs[:, 0]])

    def network(self, agents: dict[int, Agent]) -> NetworkGrid:
        """The Mesa network of ties with each subscriber agent (``slot -> agent``) placed on its node."""
        if self._grid is None or self._grid.G.number_of_nodes() != len(agents):
            graph = nx.Graph()
            graph.add_nodes_from((slot, {"agent": []}) for slot in agents)
            forward = self.source < self.target
            graph.add_edges_from(zip(self.source[forward].tolist(), self.target[forward].tolist(), strict=True))
            grid = NetworkGrid(graph)
            for slot, agent in agents.items():
                agent.pos = None
                grid.place_agent(agent, slot)
            self._grid = grid
        return self._grid

    def share_churned(self, churned: np.ndarray) -> np.ndarray:
        """For every slot, the share of its ties who are currently churned (0 without ties)."""
        n = len(churned)
        if len(self.source) == 0:
            return np.zeros(n)
        degree = self.degree(n)
        churned_ties = np.bincount(self.source[churned[self.target]], minlength=n)[:n]  # whole counts
        return np.divide(churned_ties, degree, out=np.zeros(n), where=degree > 0)

    def degree(self, n: int) -> np.ndarray:
        """Number of ties of each of ``n`` slots (kept until ties or slots change)."""
        if self._degree is None or self._degree[0] is not self.source or len(self._degree[1]) != n:
            self._degree = (self.source, np.bincount(self.source, minlength=n)[:n])
        return self._degree[1]
