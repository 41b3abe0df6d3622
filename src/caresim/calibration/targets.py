"""Target figures of a customer snapshot: reading a customer table through the declared column mapping, and
computing the figures (share churned by contract, tenure bucket and charge quartile, tenure quartiles) from
any cross-section, observed or simulated, the same way.

A cross-section is a frame with one row per customer and the columns ``tenure`` (months), ``contract_months``
(0 = month-to-month), ``churned`` (bool) and ``monthly_charge``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from caresim.config.calibration import Calibration, CellFigures, Figure, TableFigures
from caresim.config.errors import ConfigError
from caresim.config.tables import check_shape, require_columns
from caresim.config.tables import where as cell

QUARTILES = (0.25, 0.5, 0.75)
QUARTILE_GROUPS = ("25%", "50%", "75%")


class TableError(ConfigError):
    """A customer table that cannot be read: the message names the file, the column and the row."""


def contract_group(months: int) -> str:
    """The group name of a contract length in the figures: 'month-to-month', '12 months', ..."""
    return "month-to-month" if months == 0 else f"{months} months"


def tenure_groups(calibration: Calibration) -> list[str]:
    """Names of the tenure buckets: '0-6', '7-12', ..., the last closed at the tenure cap ('49-72') or open."""
    edges = calibration.tenure_buckets
    cap = calibration.tenure_cap_months
    names = []
    for k, lower in enumerate(edges):
        first = 0 if k == 0 else lower + 1
        if k + 1 < len(edges):
            names.append(f"{first}-{edges[k + 1]}")
        else:
            names.append(f"{first}+" if cap is None else f"{first}-{cap}")
    return names


# ---------------------------------------------------------------- reading a table
def read_table(path: str | Path, calibration: Calibration) -> pd.DataFrame:
    """The customer table at ``path`` as a cross-section, or a ``TableError`` naming the column and the row.

    Rows are counted as data rows (1 = the first row after the header) and as file lines (the header is
    line 1), assuming one line per row.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"calibration.table: no such file: {path}")
    check_shape(path, TableError)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise TableError(f"calibration.table: {path}: not a readable CSV ({str(error).splitlines()[0]})") from None
    except pd.errors.EmptyDataError:
        raise TableError(f"calibration.table: {path}: the file is empty (no header, no rows)") from None
    columns = calibration.columns
    keys = ("tenure", "contract", "churned", "monthly_charge")
    require_columns(path, raw, {f"calibration.columns.{key}": getattr(columns, key) for key in keys}, TableError)

    def where(column: str) -> Callable[[int], str]:
        return lambda row: cell(path, column, row)

    tenure = _numbers(raw[columns.tenure], 1200, True, "tenure", "a whole number of months", where(columns.tenure))
    charge = _numbers(
        raw[columns.monthly_charge], 1e9, False, "monthly charge", "a number", where(columns.monthly_charge)
    )
    contract_text = raw[columns.contract].str.strip()
    known = calibration.contract_labels
    bad = ~contract_text.isin(list(known))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise TableError(
            f"{where(columns.contract)(row)}: unknown contract label {contract_text.iloc[row]!r}; known: "
            f"{list(known)} (calibration.contract_labels)"
        )
    churn_text = raw[columns.churned].str.strip()
    labels = calibration.churn_labels
    bad = ~churn_text.isin(labels.churned + labels.stayed)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise TableError(
            f"{where(columns.churned)(row)}: unknown churn label {churn_text.iloc[row]!r}; churned: "
            f"{labels.churned}, stayed: {labels.stayed} (calibration.churn_labels)"
        )
    return pd.DataFrame(
        {
            "tenure": tenure.astype(int).to_numpy(),
            "contract_months": contract_text.map(known).astype(int).to_numpy(),
            "churned": churn_text.isin(labels.churned).to_numpy(),
            "monthly_charge": charge.astype(float).to_numpy(),
        }
    )


def _numbers(
    text: pd.Series, upper: float, whole: bool, what: str, kind: str, where: Callable[[int], str]
) -> pd.Series:
    """``text`` as numbers from 0 to ``upper`` (whole ones if ``whole``), or a ``TableError`` at the first bad row."""
    stripped = text.str.strip()
    values = pd.to_numeric(stripped, errors="coerce")
    bad = ~np.isfinite(values) | (values < 0) | (values > upper)
    if whole:
        bad |= values != np.floor(values)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise TableError(f"{where(row)}: {what} {stripped.iloc[row]!r} is not {kind} from 0 to {upper:g}")
    return values


# ---------------------------------------------------------------- figures of a cross-section
def _share(flags: np.ndarray) -> Figure:
    n = len(flags)
    if n == 0:
        return Figure(value=float("nan"), se=0.0)
    p = float(np.mean(flags))
    return Figure(value=p, se=float(np.sqrt(max(p * (1 - p), 1.0 / n) / n)))


def _quantiles(values: np.ndarray, floor: float) -> dict[str, Figure]:
    """Quartiles (numpy's linear rule) with the standard error from the order statistics' binomial spread."""
    values = np.sort(np.asarray(values, dtype=float))
    n = len(values)
    if n == 0:
        return {group: Figure(value=float("nan"), se=0.0) for group in QUARTILE_GROUPS}
    figures = {}
    for q, group in zip(QUARTILES, QUARTILE_GROUPS, strict=True):
        spread = np.sqrt(n * q * (1 - q))
        low = values[int(np.clip(np.floor(n * q - spread), 0, n - 1))]
        high = values[int(np.clip(np.ceil(n * q + spread), 0, n - 1))]
        figures[group] = Figure(value=float(np.quantile(values, q)), se=max(float(high - low) / 2, floor))
    return figures


def charge_quartile_of(charges: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Quartile 0..3 of each charge; a charge equal to an edge belongs to the lower quartile."""
    return np.searchsorted(edges, charges, side="left")


def tenure_bucket_of(tenure: np.ndarray, calibration: Calibration) -> np.ndarray:
    """Bucket index of each tenure: bucket k holds (edge_k, edge_k+1], the first from 0."""
    edges = np.asarray(calibration.tenure_buckets[1:])
    return np.searchsorted(edges, tenure, side="left")


def figures_of(frame: pd.DataFrame, calibration: Calibration) -> dict[str, dict[str, Figure]]:
    """Every target figure of a cross-section (observed or simulated), each with its sampling error.

    A simulated cross-section also carries ``segment``, giving the share churned of each segment.
    """
    cap = calibration.tenure_cap_months
    tenure = frame["tenure"].to_numpy()
    tenure = np.minimum(tenure, cap) if cap is not None else tenure
    churned = frame["churned"].to_numpy(dtype=bool)
    contract = frame["contract_months"].to_numpy()
    charge = frame["monthly_charge"].to_numpy(dtype=float)
    figures: dict[str, dict[str, Figure]] = {"churn_overall": {"all": _share(churned)}}
    lengths = sorted(set(calibration.contract_labels.values()))
    figures["contract_share"] = {contract_group(m): _share(contract == m) for m in lengths}
    figures["churn_by_contract"] = {contract_group(m): _share(churned[contract == m]) for m in lengths}
    if "segment" in frame:  # a simulated cross-section: churn of each segment (a table's come from its cells)
        segment = frame["segment"].astype(str).to_numpy()
        figures["churn_by_segment"] = {name: _share(churned[segment == name]) for name in sorted(set(segment))}
    bucket = tenure_bucket_of(tenure, calibration)
    figures["churn_by_tenure"] = {
        name: _share(churned[bucket == k]) for k, name in enumerate(tenure_groups(calibration))
    }
    if 0 in lengths:  # month-to-month customers by tenure bucket (a hold-out check by default)
        figures["churn_by_tenure_month_to_month"] = {
            name: _share(churned[(bucket == k) & (contract == 0)]) for k, name in enumerate(tenure_groups(calibration))
        }
    figures["tenure_quartiles"] = _quantiles(tenure, floor=0.5)
    figures["tenure_quartiles_churned"] = _quantiles(tenure[churned], floor=0.5)
    edges = np.quantile(charge, QUARTILES) if len(charge) else np.full(3, np.nan)
    figures["charge_quartiles"] = _quantiles(charge, floor=0.05)
    quartile = charge_quartile_of(charge, edges)
    figures["churn_by_charge_quartile"] = {f"Q{k + 1}": _share(churned[quartile == k]) for k in range(4)}
    return figures


# ---------------------------------------------------------------- cells: direct estimates per segment
def cell_figures(frame: pd.DataFrame, calibration: Calibration) -> dict[str, CellFigures]:
    """Size, churn, charge and tenure of the rows in each segment's cell; every row in exactly one cell."""
    specs = {name: spec.cell for name, spec in calibration.segments.items() if spec.cell is not None}
    if not specs:
        return {}
    charge = frame["monthly_charge"].to_numpy(dtype=float)
    contract = frame["contract_months"].to_numpy()
    owner = np.full(len(frame), -1)
    cap = calibration.tenure_cap_months
    tenure = frame["tenure"].to_numpy(dtype=float)
    tenure = np.minimum(tenure, cap) if cap is not None else tenure
    names = list(specs)
    for code, name in enumerate(names):
        cell = specs[name]
        low, high = np.quantile(charge, cell.charge_quantiles)
        in_band = (charge > low) | ((cell.charge_quantiles[0] == 0.0) & (charge >= low))
        rows = (contract == cell.contract_months) & in_band & (charge <= high)
        if cell.tenure_months is not None:
            first, last = cell.tenure_months
            rows &= (tenure >= first) & (tenure <= last)
        overlap = rows & (owner >= 0)
        if overlap.any():
            other = names[owner[np.flatnonzero(overlap)[0]]]
            raise ConfigError(f"calibration.segments.{name}.cell: overlaps the cell of segment {other}")
        owner[rows] = code
    if (owner < 0).any():
        row = int(np.flatnonzero(owner < 0)[0])
        raise ConfigError(
            f"calibration.segments: no segment's cell holds {int((owner < 0).sum())} rows of the table, e.g. data "
            f"row {row + 1} (contract {contract[row]} months, monthly charge {charge[row]:g}, tenure {tenure[row]:g})"
        )
    churned = frame["churned"].to_numpy(dtype=bool)
    cells = {}
    for code, name in enumerate(names):
        rows = owner == code
        n = int(rows.sum())
        mean = float(charge[rows].mean()) if n else 0.0
        cells[name] = CellFigures(
            n=n,
            churn=float(churned[rows].mean()) if n else 0.0,
            charge_mean=mean,
            charge_cv=float(charge[rows].std() / mean) if n and mean > 0 else 0.0,
            tenure_mean=float(tenure[rows].mean()) if n else 0.0,
            tenure_sd=float(tenure[rows].std()) if n else 0.0,
        )
    return cells


def table_figures(path: str | Path, calibration: Calibration, source: str = "") -> TableFigures:
    """The target figures (and the cells' direct estimates) of the customer table at ``path``."""
    frame = read_table(path, calibration)
    return TableFigures(
        source=source or f"computed from {path}",
        n_rows=len(frame),
        figures=figures_of(frame, calibration),
        cells=cell_figures(frame, calibration),
    )


def observed_figures(calibration: Calibration) -> TableFigures:
    """The figures to fit: computed from ``calibration.table`` if set, else the shipped ``calibration.figures``."""
    if calibration.table is not None:
        return table_figures(calibration.table, calibration)
    if calibration.figures is None:
        raise ConfigError(
            "calibration: no table and no figures to fit; choose a calibration (e.g. calibration=telco) or set "
            "calibration.table=<path to a CSV>"
        )
    return calibration.figures
