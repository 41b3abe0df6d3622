"""The predicted outcome of any coverage under the problem's response curves, with intervals over samples.

Curves are interpolated linearly between breakpoints (pieces filled in order). With samples, each metric's
``mean`` is the weighted mean over samples and ``low``/``high`` the 2.5 % / 97.5 % quantiles; without
samples all three are the expected curve's value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from caresim.optimize.layout import Layout
from caresim.optimize.problem import PlanningProblem

QUANTILES = (0.025, 0.975)
METRICS = ("net_value", "value", "retained", "loyal", "cost")
OBJECTIVE_METRIC = {"net_value": "net_value", "retained": "retained", "loyalty": "loyal"}


def cvar(samples: np.ndarray, weights: np.ndarray | None, alpha: float) -> float:
    """Conditional value at risk of ``samples`` (1-D): the weighted mean of the worst ``alpha`` share."""
    samples = np.asarray(samples, dtype=float)
    w = np.full(len(samples), 1 / len(samples)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(samples, kind="stable")
    before = np.concatenate([[0.0], np.cumsum(w[order])[:-1]])
    taken = np.clip(alpha - before, 0.0, w[order])  # the share of each sample inside the worst alpha
    return float(taken @ samples[order] / alpha)


def _quantiles(samples: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """2.5 % and 97.5 % quantiles along the first axis (weighted when weights differ)."""
    if weights is None or np.allclose(weights, weights[0]):
        return np.quantile(samples, QUANTILES, axis=0)
    return np.quantile(samples, QUANTILES, axis=0, weights=weights, method="inverted_cdf")


class Outcome:
    """Per-option and total outcomes of coverage ``cover`` (one share per option) and the running set."""

    def __init__(self, layout: Layout, cover: np.ndarray, running: np.ndarray) -> None:
        self.layout, self.cover = layout, cover
        filled = np.clip(cover[layout.piece_option] - layout.start, 0.0, layout.width)
        n = layout.n_options

        def per_option(slopes: np.ndarray) -> np.ndarray:
            return np.bincount(layout.piece_option, weights=slopes * filled, minlength=n)

        self.value = per_option(layout.value_slope)
        self.retained = per_option(layout.retained_slope)
        self.loyal = per_option(layout.loyal_slope)
        self.poor_reduction = per_option(layout.poor_slope)
        self.spend = layout.spend * cover
        self.cost = float(self.spend.sum() + layout.fixed[running].sum())
        self.value_samples = self._samples(layout.value_samples, self.value, per_option)
        self.retained_samples = self._samples(layout.retained_samples, self.retained, per_option)
        self.loyal_samples = self._samples(layout.loyal_samples, self.loyal, per_option)

    def _samples(self, slopes: np.ndarray | None, expected: np.ndarray, per_option) -> np.ndarray:
        """Samples × options (one row, the expected curve, without samples)."""
        if slopes is None:
            return np.repeat(expected[None, :], max(self.layout.n_samples, 1), axis=0)
        return np.vstack([per_option(row) for row in slopes])

    def totals(self) -> dict[str, np.ndarray]:
        """Per-sample totals of net_value, value, retained and loyal (one entry without samples)."""
        value = self.value_samples.sum(axis=1)
        return {
            "net_value": value - self.cost,
            "value": value,
            "retained": self.retained_samples.sum(axis=1),
            "loyal": self.loyal_samples.sum(axis=1),
        }

    def predicted(self) -> dict[str, dict[str, float]]:
        """``{metric: {"mean", "low", "high"}}`` for net_value, value, retained, loyal and cost."""
        w = self.layout.weights
        totals = self.totals()
        result = {}
        for metric, samples in totals.items():
            mean = float(np.average(samples, weights=w))
            low, high = _quantiles(samples, w)
            result[metric] = {"mean": mean, "low": float(low), "high": float(high)}
        result["cost"] = {"mean": self.cost, "low": self.cost, "high": self.cost}
        return result

    def objective(self) -> float:
        """The problem's objective at this coverage, pieces filled in order: the mean (or, with risk "cvar",
        the CVaR) of net value, retained or loyal subscribers; the cost for "min_cost"."""
        problem = self.layout.problem
        if problem.objective == "min_cost":
            return self.cost
        samples = self.totals()[OBJECTIVE_METRIC[problem.objective]]
        if problem.risk == "cvar":
            return cvar(samples, self.layout.weights, problem.cvar_alpha)
        return float(np.average(samples, weights=self.layout.weights))

    def allocations(self) -> pd.DataFrame:
        """One row per option: coverage, treated, spend, value, retained, loyal, poor_reduction, contacts;
        value_low/high with samples."""
        layout, problem = self.layout, self.layout.problem
        table = pd.DataFrame(
            {
                "segment": [o.segment for o in problem.options],
                "programme": [o.programme for o in problem.options],
                "coverage": self.cover,
                "treated": self.cover * layout.eligible,
                "spend": self.spend,
                "value": self.value,
                "retained": self.retained,
                "loyal": self.loyal,
                "poor_reduction": self.poor_reduction,
                "contacts_per_month": self.cover * layout.contacts,
            }
        )
        if layout.value_samples is not None:
            table["value_low"], table["value_high"] = _quantiles(self.value_samples, layout.weights)
        return table


def coverage_vector(problem: PlanningProblem, coverage: dict[str, dict[str, float]]) -> np.ndarray:
    """One share per option from ``{programme: {segment: share}}`` (missing means 0)."""
    shares = np.array([coverage.get(o.programme, {}).get(o.segment, 0.0) for o in problem.options], dtype=float)
    for o, share in zip(problem.options, shares, strict=True):
        if not 0 <= share <= o.coverage[-1] + 1e-9:
            raise ValueError(f"coverage.{o.programme}.{o.segment}: must be in [0, {o.coverage[-1]}], got {share}")
    return shares


def evaluate_plan(
    problem: PlanningProblem,
    coverage: dict[str, dict[str, float]],
    running: dict[str, bool] | None = None,
) -> dict[str, dict[str, float]]:
    """Predicted outcome of any coverage ``{programme: {segment: share}}`` under the problem's curves.

    Returns ``{metric: {"mean", "low", "high"}}`` for net_value, value, retained, loyal and cost (money and
    subscribers over the horizon). A programme pays its fixed cost if ``running`` says so, or, without
    ``running``, if it covers anyone. Names not in the problem are an error naming the key.
    """
    known = {(o.programme, o.segment) for o in problem.options}
    for programme, shares in coverage.items():
        for segment in shares:
            if (programme, segment) not in known:
                raise ValueError(f"coverage.{programme}.{segment}: no such option in the problem")
    layout = Layout(problem)
    cover = coverage_vector(problem, coverage)
    if running is None:
        on = np.bincount(layout.programme, weights=cover, minlength=len(layout.programmes)) > 1e-9
    else:
        on = np.array([bool(running.get(p, False)) for p in layout.programmes])
    return Outcome(layout, cover, on).predicted()
