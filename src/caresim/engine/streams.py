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
    """Which slots belong to which group, in arrival order (slots are only ever appended).

    A group is a segment, or a segment in one region (``<segment>@<region>``): streams drawn per slot
    draw each group from a sub-stream of its own.
    """

    def __init__(self, groups: tuple[str, ...]) -> None:
        self.labels = groups
        self._parts: list[list[np.ndarray]] = [[] for _ in groups]
        self._groups: list[tuple[str, np.ndarray]] | None = None
        self._positions: np.ndarray | None = None
        self.n = 0

    def add(self, group: int, slots: slice) -> None:
        """Record that ``slots`` (a contiguous block) belong to group ``group``."""
        self._parts[group].append(np.arange(slots.start, slots.stop))
        self.n = max(self.n, slots.stop)
        self._groups = self._positions = None

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
                (name, np.concatenate(parts) if parts else empty)
                for name, parts in zip(self.labels, self._parts, strict=True)
            ]
        return self._groups


class Streams:
    """A lazily built family of NumPy generators, one per name, all derived from ``seed``."""

    def __init__(self, seed: int, layout: SlotLayout | None = None) -> None:
        self.seed = int(seed)
        self.layout = layout
        self._generators: dict[str, np.random.Generator] = {}

    def __getitem__(self, name: str) -> np.random.Generator:
        generator = self._generators.get(name)
        if generator is None:
            sequence = np.random.SeedSequence(entropy=self.seed, spawn_key=(stream_key(name),))
            generator = np.random.Generator(np.random.SFC64(sequence))  # fast, statistically sound
            self._generators[name] = generator
        return generator

    def uniform(self, name: str, n: int) -> np.ndarray:
        """One uniform draw on [0, 1) for each of the ``n`` slots, from stream ``name`` (per segment)."""
        return self._per_slot(name, n, lambda generator, size: generator.random(size))

    def uniform_draws(self, name: str, n: int) -> SlotDraws | np.ndarray:
        """The draws of ``uniform(name, n)``, to be read at the slots needed (``draws[slots]``): the same
        values, without placing all of them slot by slot."""
        if self.layout is None:
            return self.uniform(name, n)
        if n != self.layout.n:
            raise ValueError(f"stream '{name}': asked for {n} slots, the layout holds {self.layout.n}")
        values = np.empty(n)
        start = 0
        for segment, slots in self.layout.groups():
            self[f"{name}/{segment}"].random(out=values[start : start + len(slots)])
            start += len(slots)
        return SlotDraws(values, self.layout.positions())

    def normal(self, name: str, n: int) -> np.ndarray:
        """One standard normal draw for each of the ``n`` slots, from stream ``name`` (per segment)."""
        return self._per_slot(name, n, lambda generator, size: generator.standard_normal(size))

    def _per_slot(self, name: str, n: int, draw) -> np.ndarray:
        if self.layout is None:
            return draw(self[name], n)
        if n != self.layout.n:
            raise ValueError(f"stream '{name}': asked for {n} slots, the layout holds {self.layout.n}")
        values = np.empty(n)
        for segment, slots in self.layout.groups():
            values[slots] = draw(self[f"{name}/{segment}"], len(slots))
        return values

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
