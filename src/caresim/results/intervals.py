"""Intervals: the one place caresim turns estimates and their errors into ranges.

- ``t_interval``: the mean of independent replications with its Student-t interval (planner, sweeps).
- ``normal_interval``: an estimate ± z·se (differences of large groups, e.g. treated vs control).
- ``joint_level``: the per-interval level that makes ``n`` intervals hold together (Bonferroni).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy import stats


def t_interval(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` (independent replications, NaN ignored) with its two-sided t-interval; with fewer
    than two values the bounds are NaN (nothing to measure the spread by), with none the mean too."""
    data = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(data) == 0:
        return math.nan, math.nan, math.nan
    mean = float(data.mean())
    if len(data) == 1:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + confidence / 2, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data)))
    return mean, mean - half, mean + half


def joint_level(confidence: float, n: int) -> float:
    """The level of each of ``n`` intervals so that all hold together with ``confidence`` (Bonferroni)."""
    return 1.0 - (1.0 - confidence) / max(n, 1)


def z_value(level: float) -> float:
    """The two-sided normal quantile of ``level`` (1.96 at 0.95)."""
    return float(stats.norm.ppf(0.5 + level / 2))


def normal_interval(estimate: np.ndarray | float, se: np.ndarray | float, level: float) -> tuple:
    """``estimate`` ± z(level)·``se`` (arrays work elementwise; NaN stays NaN)."""
    half = z_value(level) * np.asarray(se, dtype=float)
    return np.asarray(estimate, dtype=float) - half, np.asarray(estimate, dtype=float) + half
