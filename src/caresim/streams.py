"""Named random streams derived from one scenario seed (common random numbers).

Each random process draws from its own stream, so adding or changing one process never reshuffles the
draws of another. Streams that act on subscribers draw one value for every subscriber slot, whether or
not the slot is active, so a change that removes subscribers in one segment leaves every other
subscriber's draws untouched.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream_key(name: str) -> int:
    """A stable 32-bit key for a stream name (independent of Python's hash randomisation)."""
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """A lazily built family of NumPy generators, one per name, all derived from ``seed``."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._generators: dict[str, np.random.Generator] = {}

    def __getitem__(self, name: str) -> np.random.Generator:
        generator = self._generators.get(name)
        if generator is None:
            sequence = np.random.SeedSequence(entropy=self.seed, spawn_key=(stream_key(name),))
            generator = np.random.Generator(np.random.SFC64(sequence))  # fast, statistically sound
            self._generators[name] = generator
        return generator

    def uniform(self, name: str, n: int) -> np.ndarray:
        """``n`` uniform draws on [0, 1) from stream ``name``."""
        return self[name].random(n)

    @property
    def names(self) -> list[str]:
        """Streams used so far, sorted."""
        return sorted(self._generators)
