"""A care policy: for each segment and programme, the share of eligible subscribers who receive it, and how
they are chosen (the targeting rule).

This is the plain-data meeting point of simulator and optimiser: a plan becomes a ``CarePolicy``.

- ``random`` (the default): subscriber *i* is covered by programme *p* when its fixed draw ``u[i, p]`` is
  below the share for its segment, so raising a share only adds subscribers, and the uncovered subscribers
  who were eligible form the control group.
- ``risk``, ``value``, ``uplift``: at each key moment the segment's eligible subscribers are ordered by
  baseline churn risk, by value or by predicted uplift at joining (highest first), and the first ``share`` of
  the order is *targeted*; a fixed random ``holdout`` of subscribers is kept from the care as the targeted's
  control group, so the evaluation stays a randomised comparison (the effect on the targeted). At the same
  share a targeted rule therefore treats ``1 − holdout`` as many as random coverage does:
  ``equal_spend_share`` gives random coverage the share that treats as many.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from caresim.config.errors import ConfigError

#: Targeting rules, in the order of their codes.
TARGETS: tuple[str, ...] = ("random", "risk", "value", "uplift")
RANDOM, RISK, VALUE, UPLIFT = range(len(TARGETS))


def in_target(segment: np.ndarray, score: np.ndarray, tie: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Mask of subscribers among the first ``share[segment]`` of their segment's order (``ceil(share · n)`` of
    the ``n`` given in each segment: highest ``score`` first, ties by ``tie``; a share of 1 takes everyone)."""
    count = len(segment)
    if count == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((tie, -score, segment))
    sizes = np.bincount(segment, minlength=len(share))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    place = np.empty(count, dtype=np.int64)
    place[order] = np.arange(count) - starts[segment[order]]
    return place < share[segment] * sizes[segment]


class UpliftScorer(Protocol):
    """A trained uplift model: predicted uplift of a programme for subscribers described by their attributes
    at joining (rows: ``caresim.config.response.ATTRIBUTES`` then the segment code; columns: subscribers)."""

    def predict_uplift(self, features: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class CarePolicy:
    """Shares (segments × programmes) of eligible subscribers covered by each programme, and targeting rules."""

    segments: tuple[str, ...]
    programmes: tuple[str, ...]
    shares: np.ndarray
    targets: np.ndarray | None = None  # segments × programmes codes into TARGETS; None: all random
    holdout: float = 0.1  # share of a targeted group kept as its control
    scorers: Mapping[str, Any] = field(default_factory=dict)  # programme -> UpliftScorer, for target uplift

    @property
    def target_codes(self) -> np.ndarray:
        """Targeting rule codes (segments × programmes), random where none is given."""
        if self.targets is None:
            return np.zeros(self.shares.shape, dtype=np.int8)
        return self.targets

    @property
    def targeted_programmes(self) -> list[int]:
        """Programmes with a rule other than random in some segment."""
        return [int(p) for p in np.flatnonzero((self.target_codes != RANDOM).any(axis=0))]

    def assignment(
        self, code: int, segment: np.ndarray, cover_u: np.ndarray, score: np.ndarray, tie: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(assigned, control) masks of subscribers of ``segment`` codes now eligible for programme ``code``.

        Random: assigned when ``cover_u < share``, control otherwise. Targeted: the first ``share`` of the
        eligible of each segment, in the rule's order (``in_target``), is targeted;
        those with ``cover_u < holdout`` are its control, the rest assigned.
        """
        share = self.shares[:, code][segment]
        draw_in = cover_u < share
        if self.targets is None or not (self.targets[:, code] != RANDOM).any():
            return draw_in, ~draw_in
        targeted_rule = self.target_codes[segment, code] != RANDOM
        chosen = in_target(segment, score, tie, self.shares[:, code])
        held = cover_u < self.holdout
        assigned = np.where(targeted_rule, chosen & ~held, draw_in)
        control = np.where(targeted_rule, chosen & held, ~draw_in)
        return assigned, control

    @classmethod
    def from_mapping(
        cls,
        mapping: Mapping[str, object],
        segments: tuple[str, ...],
        programmes: tuple[str, ...],
        key: str = "policy",
        holdout: float = 0.1,
        scorers: Mapping[str, Any] | None = None,
    ) -> CarePolicy:
        """Build from ``{programme: share}`` or ``{programme: {segment: share}}``, where a share may also be
        ``{share: s, target: random|risk|value|uplift}``; unnamed pairs get 0."""
        shares = np.zeros((len(segments), len(programmes)))
        targets = np.zeros((len(segments), len(programmes)), dtype=np.int8)
        scorers = dict(scorers or {})
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"{key}: must map programme names to a share or to {{segment: share}}")
        for programme, value in mapping.items():
            value = _plain(value)
            if programme not in programmes:
                raise ConfigError(f"{key}.{programme}: unknown programme; known programmes: {list(programmes)}")
            column = programmes.index(programme)
            whole = not isinstance(value, Mapping) or "share" in value
            per_segment = dict.fromkeys(segments, value) if whole else value
            for segment, entry in per_segment.items():
                if segment not in segments:
                    raise ConfigError(f"{key}.{programme}.{segment}: unknown segment; known segments: {list(segments)}")
                where = f"{key}.{programme}" if whole else f"{key}.{programme}.{segment}"
                share, target = _entry(entry, where)
                shares[segments.index(segment), column] = share
                targets[segments.index(segment), column] = target
                if target == UPLIFT and programme not in scorers:
                    raise ConfigError(
                        f"{where}: target 'uplift' needs a trained uplift model for {programme} (planner or "
                        "caresim.planning.uplift); none was given"
                    )
        return cls(
            segments=tuple(segments),
            programmes=tuple(programmes),
            shares=shares,
            targets=targets if targets.any() else None,
            holdout=holdout,
            scorers=scorers,
        )

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
        return CarePolicy(self.segments, self.programmes, shares, self.targets, self.holdout, self.scorers)

    def to_mapping(self) -> dict[str, dict[str, object]]:
        """``{programme: {segment: share}}`` with every pair written out (``{share, target}`` where targeted)."""
        codes = self.target_codes

        def entry(s: int, p: int) -> object:
            share = float(self.shares[s, p])
            return share if codes[s, p] == RANDOM else {"share": share, "target": TARGETS[codes[s, p]]}

        return {
            programme: {segment: entry(s, p) for s, segment in enumerate(self.segments)}
            for p, programme in enumerate(self.programmes)
        }

    def equal_spend_share(self, share: float) -> float:
        """The random-coverage share that treats as many eligible subscribers as a targeted ``share``."""
        return share * (1.0 - self.holdout)

    @property
    def running(self) -> np.ndarray:
        """Programmes with any coverage (they incur their fixed cost)."""
        return self.shares.max(axis=0, initial=0.0) > 0


def _plain(value: object) -> object:
    """Config models (``{share, target}`` entries) as plain mappings."""
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _entry(value: object, key: str) -> tuple[float, int]:
    """(share, target code) of a policy entry: a share, or ``{share: s, target: rule}``."""
    if not isinstance(value, Mapping):
        return _share(value, key), RANDOM
    unknown = sorted(set(value) - {"share", "target"})
    if unknown or "share" not in value:
        raise ConfigError(f"{key}: give a share, or {{share: s, target: rule}} (got keys {sorted(value)})")
    target = value.get("target", "random")
    if target not in TARGETS:
        raise ConfigError(f"{key}.target: unknown targeting rule {target!r}; allowed: {list(TARGETS)}")
    return _share(value["share"], f"{key}.share"), TARGETS.index(target)


def _share(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{key}: a share must be a number in [0, 1], got {value!r}")
    return float(value)
