"""The population a calibration starts from: the config's, reshaped by ``calibration.segments`` and, for a table,
with each segment's size, revenue, tenure, contract and base churn hazard estimated directly from its cell.

Direct estimates put the fit near its optimum, so the optimiser only corrects what the simulation adds (the
hazard's satisfaction, loyalty, tenure and contract terms, the month's events).
"""

from __future__ import annotations

import copy
import math
from typing import Any

from caresim.config.calibration import Calibration, CellFigures
from caresim.config.errors import ConfigError
from caresim.config.schema import CareConfig

MERGED_KEYS = ("tenure",)  # segment keys whose mapping is merged by ``set``; other mappings are replaced


def start_data(config: CareConfig, cells: dict[str, CellFigures] | None = None) -> dict[str, Any]:
    """The whole config as plain data, its population replaced by the calibration's start population."""
    calibration = config.calibration
    data = config.model_dump()
    population = data["population"]
    segments = population["segments"]
    if calibration.segments:
        fresh = {}
        for name, spec in calibration.segments.items():
            like = spec.like or name
            if like not in segments:
                raise ConfigError(
                    f"calibration.segments.{name}.like: unknown segment '{like}' of the population; known: "
                    f"{sorted(segments)}"
                )
            segment = copy.deepcopy(segments[like])
            for key, value in spec.set.items():
                if key in MERGED_KEYS and isinstance(value, dict):
                    segment[key] = {**segment[key], **value}
                else:
                    segment[key] = value
            fresh[name] = segment
        population["segments"] = segments = fresh
    if calibration.size is not None:
        total = sum(segment["size"] for segment in segments.values()) or 1
        for segment in segments.values():
            factor = calibration.size / total
            segment["size"] = round(segment["size"] * factor)
            segment["rate_prospects_per_month"] *= factor
    if cells:
        _from_cells(data, calibration, cells)
    return data


def _from_cells(data: dict[str, Any], calibration: Calibration, cells: dict[str, CellFigures]) -> None:
    """Size, revenue, contract, tenure, prospects and base hazard of each segment from its cell of the table."""
    population = data["population"]
    segments = population["segments"]
    n_rows = sum(cell.n for cell in cells.values()) or 1
    total = calibration.size or sum(segment["size"] for segment in segments.values())
    presale = population["presale"]
    conversion = presale["p_first_experience"] * presale["p_needs_fit"] * presale["p_purchase"]
    churn_rule = data["behaviour"]["churn"]
    months = calibration.snapshot.n_months
    for name, spec in calibration.segments.items():
        if spec.cell is None:
            continue
        if name not in cells:
            raise ConfigError(f"calibration.figures.cells: no figures for segment '{name}'")
        cell, segment = cells[name], segments[name]
        size = round(total * cell.n / n_rows)
        segment["size"] = size
        segment["revenue_per_month"] = cell.charge_mean
        segment["revenue_cv"] = cell.charge_cv
        segment["contract_mix"] = {spec.cell.contract_months: 1.0}
        cap = calibration.tenure_cap_months
        if spec.cell.tenure_months is not None:
            cap = spec.cell.tenure_months[1] if cap is None else min(cap, spec.cell.tenure_months[1])
        segment["tenure"] = _gamma_tenure(cell, months, cap)
        # prospects that replace the cell's churners: a base of this churn keeps its size only if it wins these
        segment["rate_prospects_per_month"] = size * cell.churn / conversion if conversion > 0 else 0.0
        segment["rate_churn_base"] = _base_hazard(cell, spec.cell.contract_months, segment, churn_rule, data)


def _gamma_tenure(cell: CellFigures, months: int, cap: int | None) -> dict[str, Any]:
    """A gamma for the initial base's tenure whose draws, after ``months`` months, have the cell's mean and spread.

    A drawn tenure t is floored and then grows by one each month, so it shows as about t - 0.5 + months.
    """
    mean = max(cell.tenure_mean - months + 0.5, 0.5)
    sd = max(cell.tenure_sd, 0.5)
    shape = min(max((mean / sd) ** 2, 0.2), 50.0)
    max_months = max((cap if cap is not None else 600) - months, 0)
    return {"mean_months": mean, "shape": shape, "max_months": max_months}


def _base_hazard(cell: CellFigures, contract: int, segment: dict, rule: dict, data: dict) -> float:
    """The base hazard at which the cell's churn share would follow from the hazard at its mean attributes."""
    hazard = -math.log(max(1.0 - cell.churn, 1e-6))
    predictor = (
        rule["coef_satisfaction"] * (segment["satisfaction_mean"] - rule["satisfaction_ref"])
        + rule["coef_loyalty"] * (segment["loyalty_mean"] - rule["loyalty_ref"])
        + rule["coef_tenure"] * math.log1p(cell.tenure_mean / 12.0)
        + rule["coef_competitor"] * data["market"]["competitor_pressure"]
    )
    if contract > 0:
        relative = (1 - 1 / contract) * rule["rel_in_contract"] + rule["rel_contract_end"] / contract
    else:
        relative = 1.0
    return max(hazard / (relative * math.exp(predictor)), 1e-4)
