"""Named random streams derived from one scenario seed (common random numbers).

Each random process draws from its own stream, so adding or changing one process never reshuffles the
draws of another. Streams that act on subscribers draw per segment, from a sub-stream of their own, one
value for each of the segment's slots in the order the segment's subscribers arrived, whether or not the
slot is active. So a policy that removes subscribers from one segment, or a change of one segment's size
or arrivals, leaves every other segment's draws untouched.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream_key(name: str) -> int:
    """A stable 32-bit key for a stream name (independent of Python's hash randomisation)."""
    return zlib.crc32(name.encode("utf-8"))


class SlotLayout:
    """Which slots belong to which group, in arrival order (slots are only ever appended, a block at a time).

    A group is a segment, or a segment in one region (``<segment>@<region>``): streams drawn per slot
    draw each group from a sub-stream of its own.
    """

    #: Mean slots per block from which draws are made block by block (each block a slice) rather than
    #: scattered slot by slot: a block costs about as much as scattering this many slots.
    MIN_MEAN_BLOCK = 512

    def __init__(self, groups: tuple[str, ...]) -> None:
        self.labels = groups
        self._blocks: list[tuple[int, int, int]] = []  # (group, first slot, end) in arrival order
        self._groups: list[tuple[str, np.ndarray]] | None = None
        self._by_group: list[tuple[str, list[tuple[int, int]]]] | None = None
        self._positions: np.ndarray | None = None
        self._starts: tuple[np.ndarray, np.ndarray] | None = None
        self.n = 0

    def add(self, group: int, slots: slice) -> None:
        """Record that ``slots`` (a contiguous block) belong to group ``group``."""
        if slots.stop > slots.start:
            self._blocks.append((group, slots.start, slots.stop))
        self.n = max(self.n, slots.stop)
        self._groups = self._by_group = self._positions = self._starts = None

    def positions(self) -> np.ndarray:
        """For each slot, its place when the groups' slots are laid end to end (group after group)."""
        if self._positions is None:
            positions = np.zeros(self.n, dtype=np.int64)
            start = 0
            for _, slots in self.groups():
                positions[slots] = np.arange(start, start + len(slots))
                start += len(slots)
            self._positions = positions
        return self._positions

    def groups(self) -> list[tuple[str, np.ndarray]]:
        """(group label, its slots in arrival order) for every group."""
        if self._groups is None:
            empty = np.zeros(0, dtype=np.int64)
            self._groups = [
                (label, np.concatenate([np.arange(start, end) for start, end in blocks]) if blocks else empty)
                for label, blocks in self.blocks()
            ]
        return self._groups

    def blocks(self) -> list[tuple[str, list[tuple[int, int]]]]:
        """(group label, its blocks of slots as (first, end) in arrival order) for every group."""
        if self._by_group is None:
            by_group: list[list[tuple[int, int]]] = [[] for _ in self.labels]
            for group, start, end in self._blocks:
                by_group[group].append((start, end))
            self._by_group = list(zip(self.labels, by_group, strict=True))
        return self._by_group

    @property
    def in_blocks(self) -> bool:
        """Whether the blocks are long enough to draw into block by block."""
        return self.n >= self.MIN_MEAN_BLOCK * len(self._blocks)

    def count(self, mask: np.ndarray) -> np.ndarray:
        """For each group, how many of its slots the mask over every slot selects (whole counts, as floats)."""
        if len(mask) != self.n:
            raise ValueError(f"a mask of {len(mask)} slots; the layout holds {self.n}")
        if self._starts is None:
            blocks = sorted(self._blocks, key=lambda block: block[1])
            if [start for _, start, _ in blocks] != [0] + [end for _, _, end in blocks[:-1]]:
                raise ValueError("the layout's blocks do not tile its slots")
            self._starts = (np.array([s for _, s, _ in blocks], dtype=np.intp), np.array([g for g, _, _ in blocks]))
        starts, groups = self._starts
        if len(starts) == 0:
            return np.zeros(len(self.labels))
        per_block = np.add.reduceat(mask, starts, dtype=np.intp)
        return np.bincount(groups, weights=per_block, minlength=len(self.labels))


class Streams:
    """A lazily built family of NumPy generators, one per name, all derived from ``seed``."""

    def __init__(self, seed: int, layout: SlotLayout | None = None) -> None:
        self.seed = int(seed)
        self.layout = layout
        self._generators: dict[str, np.random.Generator] = {}
        self._buffers: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.random.Generator:
        generator = self._generators.get(name)
        if generator is None:
            sequence = np.random.SeedSequence(entropy=self.seed, spawn_key=(stream_key(name),))
            generator = np.random.Generator(np.random.SFC64(sequence))  # fast, statistically sound
            self._generators[name] = generator
        return generator

    def uniform(self, name: str, n: int) -> np.ndarray:
        """One uniform draw on [0, 1) for each of the ``n`` slots, from stream ``name`` (per segment)."""
        return self._per_slot(name, n, "random")

    def uniform_draws(self, name: str, n: int, out: np.ndarray | None = None) -> SlotDraws | np.ndarray:
        """The draws of ``uniform(name, n)``, to be read at the slots needed (``draws[slots]``): the same
        values, without placing all of them slot by slot. They are made in ``out`` if given (``n`` floats)."""
        values = np.empty(n) if out is None else out
        if self.layout is None:
            self[name].random(out=values)
            return values
        self._check(name, n)
        start = 0
        for segment, slots in self.layout.groups():
            self[f"{name}/{segment}"].random(out=values[start : start + len(slots)])
            start += len(slots)
        return SlotDraws(values, self.layout.positions())

    def buffer(self, key: str, rows: int, n: int) -> np.ndarray:
        """A work array of ``rows`` × ``n`` floats kept for ``key`` from one call to the next (with room for
        more slots), for draws that are read before the next call: it saves the memory system a fresh
        array of draws each month. Its values are overwritten by whoever asks for ``key`` next."""
        kept = self._buffers.get(key)
        if kept is None or kept.shape[0] != rows or kept.shape[1] < n:
            kept = self._buffers[key] = np.empty((rows, n + n // 4))
        return kept[:, :n]

    def normal(self, name: str, n: int) -> np.ndarray:
        """One standard normal draw for each of the ``n`` slots, from stream ``name`` (per segment)."""
        return self._per_slot(name, n, "standard_normal")

    def _per_slot(self, name: str, n: int, method: str) -> np.ndarray:
        """``n`` draws of the generators' ``method`` (filling ``out``), each group's from its sub-stream."""
        values = np.empty(n)
        if self.layout is None:
            getattr(self[name], method)(out=values)
            return values
        self._check(name, n)
        if self.layout.in_blocks:  # each block of slots is a slice: draw straight into it
            for segment, blocks in self.layout.blocks():
                draw = getattr(self[f"{name}/{segment}"], method)
                for start, end in blocks:
                    draw(out=values[start:end])
        else:
            for segment, slots in self.layout.groups():
                drawn = np.empty(len(slots))
                getattr(self[f"{name}/{segment}"], method)(out=drawn)
                values[slots] = drawn
        return values

    def _check(self, name: str, n: int) -> None:
        if n != self.layout.n:
            raise ValueError(f"stream '{name}': asked for {n} slots, the layout holds {self.layout.n}")

    @property
    def names(self) -> list[str]:
        """Streams used so far, sorted."""
        return sorted(self._generators)


class SlotDraws:
    """One draw per slot, kept group after group as the streams made them; ``draws[slots]`` reads those of
    ``slots`` (an index array)."""

    __slots__ = ("positions", "values")

    def __init__(self, values: np.ndarray, positions: np.ndarray) -> None:
        self.values, self.positions = values, positions

    def __getitem__(self, slots: np.ndarray) -> np.ndarray:
        return self.values[self.positions[slots]]

    def __len__(self) -> int:
        return len(self.values)
