"""Comparing a simulated candidate with the targets: the weighted error vector the fit minimises, and the
observed-vs-fitted table the report shows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from caresim.config.calibration import (
    HOLDOUT_TARGETS,
    RATE_PERIODS,
    TABLE_TARGETS,
    Calibration,
    Figure,
    TableFigures,
)

NAN_PENALTY = 10.0  # error of a figure the candidate cannot produce (e.g. nobody churned in a group)


@dataclass(frozen=True)
class Target:
    """One target figure: observed value, its band or tolerance, and the weight of its error."""

    family: str
    group: str
    observed: float
    se: float
    tolerance: float
    low: float = float("nan")
    high: float = float("nan")


def table_targets(observed: TableFigures, calibration: Calibration) -> list[Target]:
    """The table's figures as targets, in report order (families with weight 0 are reported, not fitted).

    The share churned of each segment comes from the segment's cell of the table.
    """
    figures = dict(observed.figures)
    if observed.cells:
        figures["churn_by_segment"] = {
            name: Figure(value=cell.churn, se=float(np.sqrt(max(cell.churn * (1 - cell.churn), 1 / cell.n) / cell.n)))
            for name, cell in observed.cells.items()
            if cell.n > 0
        }
    targets = []
    for family in TABLE_TARGETS:
        for group, figure in figures.get(family, {}).items():
            if np.isfinite(figure.value):
                tolerance = calibration.tolerances.get(family, float("inf"))
                targets.append(Target(family, group, figure.value, figure.se, tolerance))
    return targets


def rate_targets(calibration: Calibration) -> list[Target]:
    """The published bands as targets: aim at the band's point, tolerance = the band."""
    targets = []
    for period in RATE_PERIODS:
        band = calibration.rates.targets.get(period)
        if band is not None:
            half = (band.high - band.low) / 2
            targets.append(Target("monthly_churn", period, band.aim, half, half, band.low, band.high))
    return targets


class Comparison:
    """The weighted errors of candidates against fixed targets.

    Weights are fixed once, from the observed sampling errors and the simulation noise of the start
    candidate (each figure's standard errors added in quadrature), so every candidate is judged alike.
    """

    def __init__(self, targets: list[Target], calibration: Calibration) -> None:
        self.targets = targets
        self.calibration = calibration
        self.scale: np.ndarray | None = None

    def _fitted(self, simulated: dict[str, dict[str, Figure]]) -> list[Figure]:
        missing = Figure(value=float("nan"), se=0.0)
        return [simulated.get(t.family, {}).get(t.group, missing) for t in self.targets]

    def fix_weights(self, simulated: dict[str, dict[str, Figure]]) -> None:
        """Fix each target's error scale from the start candidate's simulation noise."""
        fitted = self._fitted(simulated)
        scale = []
        for target, figure in zip(self.targets, fitted, strict=True):
            if target.family == "monthly_churn":  # a band: its half-width is the scale
                scale.append(target.se)
                continue
            noise = figure.se if np.isfinite(figure.se) else 0.0
            scale.append(max(float(np.hypot(target.se, noise)), 1e-9))
        self.scale = np.asarray(scale)

    def weights(self) -> np.ndarray:
        """Multipliers of each target's squared error (``calibration.weights``; default 1, hold-out families 0)."""
        weights = self.calibration.weights

        def weight(target: Target) -> float:
            key = target.group if target.family == "monthly_churn" else target.family
            return weights.get(key, 0.0 if key in HOLDOUT_TARGETS else 1.0)

        return np.array([weight(target) for target in self.targets])

    def residuals(self, simulated: dict[str, dict[str, Figure]]) -> np.ndarray:
        """(fitted - observed) / scale × sqrt(weight), for every target."""
        assert self.scale is not None, "fix_weights first"
        fitted = np.array([figure.value for figure in self._fitted(simulated)], dtype=float)
        observed = np.array([t.observed for t in self.targets])
        errors = (fitted - observed) / self.scale
        errors = np.where(np.isfinite(errors), errors, NAN_PENALTY)
        return errors * np.sqrt(self.weights())

    def table(self, simulated: dict[str, dict[str, Figure]]) -> pd.DataFrame:
        """One row per target: observed, fitted, error, tolerance, ok (and the band for rates)."""
        fitted = self._fitted(simulated)
        rows = []
        weights = self.weights()
        for target, figure, weight in zip(self.targets, fitted, weights, strict=True):
            error = figure.value - target.observed
            if target.family == "monthly_churn":
                ok = bool(target.low <= figure.value <= target.high)
            else:
                ok = bool(abs(error) <= target.tolerance)
            rows.append(
                {
                    "target": target.family,
                    "group": target.group,
                    "observed": target.observed,
                    "fitted": figure.value,
                    "error": error,
                    "observed_se": target.se,
                    "fitted_se": figure.se,
                    "tolerance": target.tolerance,
                    "low": target.low,
                    "high": target.high,
                    "weight": weight,
                    "ok": ok,
                }
            )
        return pd.DataFrame(rows)


def highest_quarter_row(simulated: dict[str, Figure], quarter: str) -> dict[str, object]:
    """The check that ``quarter`` has the highest churn: fitted = its margin over the next highest quarter."""
    others = [simulated[q].value for q in ("q1", "q2", "q3", "q4") if q != quarter]
    margin = simulated[quarter].value - max(others)
    return {
        "target": "highest_quarter",
        "group": quarter,
        "observed": float("nan"),
        "fitted": margin,
        "error": float("nan"),
        "observed_se": float("nan"),
        "fitted_se": float("nan"),
        "tolerance": 0.0,
        "low": 0.0,
        "high": float("nan"),
        "weight": 0.0,
        "ok": bool(margin > 0),
    }
