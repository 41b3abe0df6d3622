"""The one treated-vs-control comparison: assigned against control, within a segment, and across segments.

Coverage is drawn at random within a segment, so the assigned and control groups of one segment differ only
by the care: the difference of their means is the programme's intention-to-treat effect, unbiased even when
capacity keeps some assigned subscribers waiting. Its standard error is Welch's (unequal variances).
Segments get different shares, so groups are never pooled across segments: an effect over several segments
is the assigned-weighted mean of the segments' effects (``stratified``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Fewer subscribers than this in either group: no estimate (a variance from two or three people is no
#: measure of noise, and a group whose members all agree would claim certainty).
MIN_GROUP = 10


@dataclass(frozen=True)
class Contrast:
    """Assigned mean, control mean, their difference and its standard error, and the group sizes."""

    assigned: float
    control: float
    difference: float
    se: float
    n_assigned: int
    n_control: int

    @property
    def compared(self) -> bool:
        """Both groups hold at least ``MIN_GROUP`` subscribers: the difference is an estimate."""
        return self.n_assigned >= MIN_GROUP and self.n_control >= MIN_GROUP


def _mean_var(values: np.ndarray) -> tuple[float, float]:
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.var(ddof=1)) if len(values) > 1 else 0.0


def contrast(
    values: np.ndarray, assigned: np.ndarray, control: np.ndarray, reference: np.ndarray | None = None
) -> Contrast:
    """Mean of ``values`` over the ``assigned`` mask minus over the ``control`` mask (NaN unless both groups
    hold ``MIN_GROUP``). The group means are always those of ``values``.

    ``reference``: each subscriber's outcome in a run that differs only by having no care (same seed, same
    people). The difference is then taken of ``values − θ·reference``, θ the regression slope of values on
    reference over both groups (CUPED): the same expected effect, since the reference does not depend on
    the coverage draw, with a variance never above the unadjusted one's (up to θ's estimation).
    """
    a, c = values[assigned], values[control]
    mean_a, var_a = _mean_var(a)
    mean_c, var_c = _mean_var(c)
    both = len(a) >= MIN_GROUP and len(c) >= MIN_GROUP
    if reference is not None and both:
        adjusted = contrast(values - _slope(values, reference, assigned | control) * reference, assigned, control)
        return Contrast(mean_a, mean_c, adjusted.difference, adjusted.se, len(a), len(c))
    return Contrast(
        assigned=mean_a,
        control=mean_c,
        difference=mean_a - mean_c if both else math.nan,
        se=math.sqrt(var_a / len(a) + var_c / len(c)) if both else math.nan,
        n_assigned=len(a),
        n_control=len(c),
    )


def _slope(values: np.ndarray, reference: np.ndarray, within: np.ndarray) -> float:
    """Least-squares slope of ``values`` on ``reference`` over ``within`` (0 when the reference is constant)."""
    y, x = values[within], reference[within]
    spread = float(x.var())
    return float(((x - x.mean()) * (y - y.mean())).mean() / spread) if spread > 0 else 0.0


def stratified(parts: list[Contrast], weights: np.ndarray | list[float] | None = None) -> Contrast:
    """Segment contrasts combined: their differences averaged with ``weights`` (default: assigned counts),
    over the parts that compared both groups; NaN when none did."""
    usable = [(i, part) for i, part in enumerate(parts) if part.compared]
    n_a = sum(part.n_assigned for part in parts)
    n_c = sum(part.n_control for part in parts)
    if not usable:
        return Contrast(math.nan, math.nan, math.nan, math.nan, n_a, n_c)
    w = np.array([part.n_assigned if weights is None else weights[i] for i, part in usable], dtype=float)
    w = w / w.sum()
    pick = lambda attribute: np.array([getattr(part, attribute) for _, part in usable])  # noqa: E731
    return Contrast(
        assigned=float(w @ pick("assigned")),
        control=float(w @ pick("control")),
        difference=float(w @ pick("difference")),
        se=float(np.sqrt((w**2) @ pick("se") ** 2)),
        n_assigned=n_a,
        n_control=n_c,
    )
