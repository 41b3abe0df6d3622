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
        # both directions of every edge, in rows (sources, targets), with room at the end for more edges;
        # ``source`` and ``target`` are views of the filled part, new views whenever edges are added
        self._edges = np.zeros((2, 0), dtype=np.int64)
        self.source, self.target = self._edges[0], self._edges[1]
        self._grid: NetworkGrid | None = None
        self._degree = np.zeros(0, dtype=np.int64)  # ties of each slot, over the first _counted sources
        self._counted = 0

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
        low, high = codes // span, codes % span
        self._grid = None
        self._append(np.concatenate([low, high]), np.concatenate([high, low]))

    def _append(self, sources: np.ndarray, targets: np.ndarray) -> None:
        """Add directed edges at the end, growing the rows by half again when they are full (amortised)."""
        filled, end = len(self.source), len(self.source) + len(sources)
        if end > self._edges.shape[1]:
            grown = np.empty((2, end + end // 2), dtype=np.int64)
            grown[:, :filled] = self._edges[:, :filled]
            self._edges = grown
        self._edges[0, filled:end] = sources
        self._edges[1, filled:end] = targets
        self.source, self.target = self._edges[0, :end], self._edges[1, :end]

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
        """Number of ties of each of ``n`` slots (kept, and counted on as edges are added: ties are never
        removed)."""
        added = self.source[self._counted :]
        size = max(n, len(self._degree), int(added.max()) + 1 if len(added) else 0)
        if size > len(self._degree):
            self._degree = np.concatenate([self._degree, np.zeros(size - len(self._degree), dtype=np.int64)])
        if len(added):
            self._degree = self._degree + np.bincount(added, minlength=size)  # a new array: earlier ones stay
            self._counted = len(self.source)
        return self._degree[:n]
