"""Empirical-Bayes shrinkage of pilot effects, against the winner's curse.

An optimiser picks the options whose estimates are highest, and among noisy estimates the highest are the
most over-estimated: a plan built on raw pilot means promises more than it delivers. Each option's effect
(per level and outcome) is therefore pulled towards the mean of the same programme across segments, by
how noisy it is compared with how much segments truly differ (a normal random-effects model; the spread
between segments τ² by the DerSimonian–Laird moment estimator):

    θ̂ᵢ = μ + τ² / (τ² + seᵢ²) · (mᵢ − μ)

where mᵢ and seᵢ are the option's mean and standard error across replications and μ the precision-weighted
programme mean. Each replication's value is shifted by the same amount, so replications keep their spread.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_VARIANCE = 1e-12


def random_effects(means: np.ndarray, variances: np.ndarray) -> tuple[float, float]:
    """Precision-weighted mean μ and between-group variance τ² (DerSimonian–Laird) of group means."""
    weights = 1.0 / np.maximum(variances, MIN_VARIANCE)
    mu = float(np.sum(weights * means) / weights.sum())
    if len(means) < 2:
        return mu, 0.0
    q = float(np.sum(weights * (means - mu) ** 2))
    c = float(weights.sum() - np.sum(weights**2) / weights.sum())
    tau2 = max(0.0, (q - (len(means) - 1)) / c) if c > 0 else 0.0
    if tau2 > 0:  # re-weight the mean with the between-group variance
        weights = 1.0 / (np.maximum(variances, MIN_VARIANCE) + tau2)
        mu = float(np.sum(weights * means) / weights.sum())
    return mu, tau2


def shrink_group(samples: pd.DataFrame, column: str) -> pd.Series:
    """Shrunk values of ``column`` for the rows of one programme at one level (rows: segment × replication)."""
    by_segment = samples.groupby("segment")[column]
    means, counts = by_segment.mean(), by_segment.count()
    variances = (by_segment.var(ddof=1) / counts).fillna(np.inf)
    usable = means.notna() & np.isfinite(variances)
    if usable.sum() < 2:
        return samples[column]
    mu, tau2 = random_effects(means[usable].to_numpy(), variances[usable].to_numpy())
    weight = tau2 / (tau2 + np.maximum(variances[usable], MIN_VARIANCE))
    shift = (mu + weight * (means[usable] - mu)) - means[usable]
    return samples[column] + samples["segment"].map(shift).fillna(0.0)


def shrink(responses: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """``responses`` with ``columns`` shrunk within each programme × level × scenario."""
    shrunk = responses.copy()
    for _, index in responses.groupby(["scenario", "programme", "level"]).groups.items():
        group = responses.loc[index]
        for column in columns:
            shrunk.loc[index, column] = shrink_group(group, column)
    return shrunk
