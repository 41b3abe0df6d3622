"""The social network of ties between subscribers, through which churn spreads.

Ties are kept twice, by design: as NumPy edge arrays for the monthly contagion sum over the whole
population, and as a Mesa ``NetworkGrid`` (a networkx graph) on which every subscriber agent is placed,
for agent-level questions such as "who are my ties?". Both are built from the same draws and stay equal.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from mesa.space import NetworkGrid

from caresim.schema import Ties


class SocialTies:
    """Undirected ties stored as both directions of each edge: ``source[k] -> target[k]``."""

    def __init__(self, spec: Ties) -> None:
        self.spec = spec
        self.source = np.zeros(0, dtype=np.int64)
        self.target = np.zeros(0, dtype=np.int64)
        self.graph = nx.Graph()
        self.grid = NetworkGrid(self.graph)

    @property
    def enabled(self) -> bool:
        return self.spec.mean_degree > 0 or self.spec.n_ties_new_subscriber > 0

    def _partners(self, anchors: np.ndarray, pool: np.ndarray, segment: np.ndarray, rng: np.random.Generator) -> np.ndarray:
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

    def connect(self, newcomers: np.ndarray, pool: np.ndarray, segment: np.ndarray, n_each: float,
                rng: np.random.Generator) -> None:
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
        low, high = np.minimum(a, b), np.maximum(a, b)
        pairs = np.unique(np.stack([low, high], axis=1), axis=0) if len(low) else np.zeros((0, 2), dtype=np.int64)
        self.graph.add_edges_from(pairs.tolist())
        self.source = np.concatenate([self.source, pairs[:, 0], pairs[:, 1]])
        self.target = np.concatenate([self.target, pairs[:, 1], pairs[:, 0]])

    def add_nodes(self, slots: np.ndarray) -> None:
        """Make room for agents on these slots in the Mesa network (each node holds its own agent list)."""
        self.graph.add_nodes_from((node, {"agent": []}) for node in slots.tolist())

    def share_churned(self, churned: np.ndarray) -> np.ndarray:
        """For every slot, the share of its ties who are currently churned (0 without ties)."""
        n = len(churned)
        if len(self.source) == 0:
            return np.zeros(n)
        degree = np.bincount(self.source, minlength=n)[:n]
        churned_ties = np.bincount(self.source, weights=churned[self.target].astype(float), minlength=n)[:n]
        return np.divide(churned_ties, degree, out=np.zeros(n), where=degree > 0)

    def degree(self, n: int) -> np.ndarray:
        """Number of ties of each of ``n`` slots."""
        return np.bincount(self.source, minlength=n)[:n]
