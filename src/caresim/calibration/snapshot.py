"""Simulating a candidate population for comparison, and reading the same figures from its ``Results``.

- Table calibration: the base is simulated for ``snapshot.n_months`` months (default 1). The cross-section is
  every subscriber active when the last month opens (after earlier months' arrivals, before its own);
  churned = left during that month; tenure = months billed at its close (for a churner: when they left),
  as in the table. With one month, no prospects are simulated: none could be in the cross-section.
- Rates calibration: the base is simulated for a burn-in and then whole years; monthly churn (churned over
  active at the month's start) is pooled by calendar quarter and over the year.

Every evaluation uses the config's own ``run.seed``: common random numbers, so two candidates differ only
through their parameters.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from caresim.config.calibration import RATE_PERIODS, Calibration, Figure
from caresim.config.loading import validate
from caresim.config.schema import CareConfig
from caresim.results.run import Results
from caresim.simulation import simulate

QUARTER_OF_MONTH = {month: f"q{(month - 1) // 3 + 1}" for month in range(1, 13)}


def snapshot_config(data: dict[str, Any], calibration: Calibration) -> CareConfig:
    """The config that simulates candidate ``data`` for comparison (its seed, a stated scale and length)."""
    data = copy.deepcopy(data)
    segments = data["population"]["segments"]
    total = sum(segment["size"] for segment in segments.values())
    run = data["run"]
    run["scale"] = max(1.0, total / calibration.snapshot.n_subscribers)
    run["progress"] = False
    run["report"] = False
    if calibration.kind == "table":
        run["n_months"] = calibration.snapshot.n_months
        if calibration.snapshot.n_months == 1:
            for segment in segments.values():
                segment["rate_prospects_per_month"] = 0.0
    else:
        run["n_months"] = calibration.rates.n_months_burn_in + 12 * calibration.rates.n_years
    data["mode"] = "simulate"
    return validate(data)


def cross_section(results: Results, tenure_cap: int | None = None) -> pd.DataFrame:
    """The snapshot of a run (see the module docstring) in the table's form: tenure, contract, churned, charge."""
    subscribers = results.subscribers
    last = results.config.run.n_months - 1
    churned = subscribers["churned"].to_numpy(dtype=bool)
    churn_month = subscribers["churn_month"].fillna(-1).to_numpy(dtype=int)
    tenure = subscribers["tenure_months"].to_numpy()
    left_last = churned & (churn_month == last)
    won_back_at_close = ~churned & (tenure == 0)  # their tenure restarts at 0: they were gone during the month
    joined_last = (subscribers["joined_month"].to_numpy() == last) & (last > 0)
    rows = ((~churned & ~won_back_at_close) | left_last) & ~joined_last
    tenure = tenure[rows]
    return pd.DataFrame(
        {
            "tenure": np.minimum(tenure, tenure_cap) if tenure_cap is not None else tenure,
            "contract_months": subscribers["contract_months"].to_numpy()[rows],
            "churned": left_last[rows],
            "monthly_charge": subscribers["revenue_per_month"].to_numpy()[rows],
            "segment": subscribers["segment"].to_numpy()[rows],
        }
    )


def monthly_churn(results: Results, calibration: Calibration) -> dict[str, Figure]:
    """Monthly churn after the burn-in, pooled over the year and by calendar quarter, with binomial errors."""
    kpis = results.kpis
    measured = kpis[kpis["month"] >= calibration.rates.n_months_burn_in]
    months = measured.groupby("month").agg(
        calendar_month=("calendar_month", "first"), churned=("churned", "sum"), active_start=("active_start", "sum")
    )
    months["period"] = months["calendar_month"].map(QUARTER_OF_MONTH)
    scale = results.config.run.scale
    rates: dict[str, Figure] = {}
    for period in RATE_PERIODS:
        chosen = months if period == "year" else months[months["period"] == period]
        active = float(chosen["active_start"].sum())
        if active <= 0:
            rates[period] = Figure(value=float("nan"), se=0.0)
            continue
        p = float(chosen["churned"].sum()) / active
        rates[period] = Figure(value=p, se=float(np.sqrt(max(p * (1 - p), 1e-9) / (active / scale))))
    return rates


def simulate_snapshot(config: CareConfig) -> Results:
    """Run a snapshot config under its own care policy."""
    return simulate(config, progress=False)
