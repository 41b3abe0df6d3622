"""``calibrate(config) -> CalibrationReport``: load the targets, build the start population, fit, report."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from caresim.calibration.compare import Comparison, highest_quarter_row, rate_targets, table_targets
from caresim.calibration.fit import least_squares_fit
from caresim.calibration.parameters import FreeParameter, apply, expand
from caresim.calibration.report import CalibrationReport
from caresim.calibration.snapshot import cross_section, monthly_churn, simulate_snapshot, snapshot_config
from caresim.calibration.start import start_data
from caresim.calibration.targets import figures_of, observed_figures
from caresim.config.calibration import Figure
from caresim.config.errors import ConfigError
from caresim.config.loading import validate
from caresim.config.schema import CareConfig


def simulated_figures(data: dict[str, Any], config: CareConfig) -> dict[str, dict[str, Figure]]:
    """The target figures of candidate ``data`` (a whole config as plain data), simulated with its seed."""
    calibration = config.calibration
    results = simulate_snapshot(snapshot_config(data, calibration))
    if calibration.kind == "table":
        return figures_of(cross_section(results, calibration.tenure_cap_months), calibration)
    return {"monthly_churn": monthly_churn(results, calibration)}


def calibrate(config: CareConfig, progress: bool | None = None) -> CalibrationReport:
    """Fit the population of ``config`` to ``config.calibration``'s targets and report observed vs fitted.

    Raises ``ConfigError`` (one line) for a bad table or calibration settings, before anything is simulated.
    """
    started = time.perf_counter()
    calibration = config.calibration
    show = config.run.progress if progress is None else progress
    observed = None
    if calibration.kind == "table":
        observed = observed_figures(calibration)
        data = start_data(config, observed.cells)
        targets = table_targets(observed, calibration)
    else:
        if not calibration.rates.targets:
            raise ConfigError("calibration.rates.targets: give a band of monthly churn for 'year' or a quarter")
        data = start_data(config)
        targets = rate_targets(calibration)
    validate(data)  # the start population must be a valid config by itself
    snapshot_config(data, calibration)
    free = expand(calibration.parameters, data)
    comparison = Comparison(targets, calibration)
    cache: dict[bytes, dict[str, dict[str, Figure]]] = {}

    def figures(theta: np.ndarray) -> dict[str, dict[str, Figure]]:
        key = np.round(np.asarray(theta, dtype=float), 12).tobytes()
        if key not in cache:
            cache[key] = simulated_figures(apply(data, free, theta), config)
        return cache[key]

    theta0 = np.zeros(len(free))
    comparison.fix_weights(figures(theta0))
    result = least_squares_fit(
        lambda theta: comparison.residuals(figures(theta)),
        [parameter.name for parameter in free],
        np.array([parameter.lower for parameter in free]),
        np.array([parameter.upper for parameter in free]),
        calibration.fit,
        progress=show,
        theta0=theta0,
    )
    best = figures(result.theta)
    table = comparison.table(best)
    if calibration.kind == "rates" and calibration.rates.highest_quarter is not None:
        row = highest_quarter_row(best["monthly_churn"], calibration.rates.highest_quarter)
        table.loc[len(table)] = row
    calibrated = validate(apply(data, free, result.theta))
    return CalibrationReport(
        config=config,
        calibrated=calibrated,
        targets=table,
        fit=result,
        parameters=_parameter_table(free, result.theta),
        observed=observed,
        start_cost=0.5 * float(np.sum(comparison.residuals(figures(theta0)) ** 2)),
        seconds=time.perf_counter() - started,
        market_keys=_market_keys(free, calibrated),
    )


def _parameter_table(free: list[FreeParameter], theta: np.ndarray) -> pd.DataFrame:
    rows = []
    for parameter, value in zip(free, theta, strict=True):
        rows.append(
            {
                "parameter": parameter.name,
                "n_values": len(parameter.paths),
                "start": parameter.start[0],
                "fitted": parameter.values(float(value))[0],
                "multiplier": float(np.exp(value)),
                "at_bound": bool(np.isclose(value, parameter.lower) or np.isclose(value, parameter.upper)),
            }
        )
    return pd.DataFrame(rows)


def _market_keys(free: list[FreeParameter], calibrated: CareConfig) -> dict[str, Any]:
    """Fitted keys outside the population, with their whole fitted value (a population config cannot hold them)."""
    fields = sorted({str(path[1]) for parameter in free for path in parameter.paths if path[0] == "market"})
    return {f"market.{name}": getattr(calibrated.market, name) for name in fields}
