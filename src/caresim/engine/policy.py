"""A care policy: for each segment and programme, the share of eligible subscribers who receive it.

This is the plain-data meeting point of simulator and optimiser: a plan becomes a ``CarePolicy``.
Assignment is by a fixed per-subscriber draw: subscriber *i* is covered by programme *p* when its draw
``u[i, p]`` is below the share for its segment, so raising a share only adds subscribers, and the
uncovered subscribers who were eligible form the control group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from caresim.config.errors import ConfigError


@dataclass(frozen=True)
class CarePolicy:
    """Shares (segments × programmes) of eligible subscribers covered by each programme."""

    segments: tuple[str, ...]
    programmes: tuple[str, ...]
    shares: np.ndarray

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, object], segments: tuple[str, ...], programmes: tuple[str, ...], key: str = "policy"
    ) -> CarePolicy:
        """Build from ``{programme: share}`` or ``{programme: {segment: share}}``; unnamed pairs get 0."""
        shares = np.zeros((len(segments), len(programmes)))
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"{key}: must map programme names to a share or to {{segment: share}}")
        for programme, value in mapping.items():
            if programme not in programmes:
                raise ConfigError(f"{key}.{programme}: unknown programme; known programmes: {list(programmes)}")
            column = programmes.index(programme)
            per_segment = value if isinstance(value, Mapping) else dict.fromkeys(segments, value)
            for segment, share in per_segment.items():
                if segment not in segments:
                    raise ConfigError(f"{key}.{programme}.{segment}: unknown segment; known segments: {list(segments)}")
                shares[segments.index(segment), column] = _share(share, f"{key}.{programme}.{segment}")
        return cls(segments=tuple(segments), programmes=tuple(programmes), shares=shares)

    @classmethod
    def none(cls, segments: tuple[str, ...], programmes: tuple[str, ...]) -> CarePolicy:
        """The no-care policy."""
        return cls(tuple(segments), tuple(programmes), np.zeros((len(segments), len(programmes))))

    def share(self, segment: str, programme: str) -> float:
        """Share of eligible subscribers in ``segment`` covered by ``programme``."""
        return float(self.shares[self.segments.index(segment), self.programmes.index(programme)])

    def with_share(self, segment: str, programme: str, share: float) -> CarePolicy:
        """A copy with one share changed."""
        shares = self.shares.copy()
        shares[self.segments.index(segment), self.programmes.index(programme)] = _share(share, f"{segment}.{programme}")
        return CarePolicy(self.segments, self.programmes, shares)

    def to_mapping(self) -> dict[str, dict[str, float]]:
        """``{programme: {segment: share}}`` with every pair written out."""
        return {
            programme: {segment: float(self.shares[s, p]) for s, segment in enumerate(self.segments)}
            for p, programme in enumerate(self.programmes)
        }

    @property
    def running(self) -> np.ndarray:
        """Programmes with any coverage (they incur their fixed cost)."""
        return self.shares.max(axis=0, initial=0.0) > 0


def _share(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{key}: a share must be a number in [0, 1], got {value!r}")
    return float(value)
