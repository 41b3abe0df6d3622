"""The report of a whole sweep: its headline figure per arm, with 95% intervals across seeds and replications,
and the collected table, as one self-contained ``report.html`` in the sweep's folder."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from caresim.report import figures
from caresim.report.folder import ReportError, write_atomic
from caresim.report.html import page, table_html

#: columns of the collected table that are not parameters of an arm
NOT_PARAMETERS = {"point", "kind", "replication", "run.seed", "plan_status", "objective"}
HEADLINE = {"plan": "net_value", "simulation": "monthly_churn_rate"}


def arms(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Per arm (the swept parameters but the seed): the headline metric's mean and 95% t-interval."""
    kind = str(table["kind"].iloc[0])
    metric = HEADLINE[kind]
    first_metric = list(table.columns).index("replication")  # parameters come first in the collected table
    parameters = [c for c in table.columns[:first_metric] if c not in NOT_PARAMETERS]
    keys = parameters or ["kind"]
    rows = []
    for key, group in table.groupby(keys, sort=True, dropna=False):
        values = group[metric].dropna()
        mean = float(values.mean()) if len(values) else math.nan
        half = (
            float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
            if len(values) > 1
            else math.nan
        )
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        rows.append({"arm": label, "runs": len(values), metric: mean, "low": mean - half, "high": mean + half})
    return pd.DataFrame(rows), metric


def arms_figure(summary: pd.DataFrame, metric: str) -> Figure:
    """The headline metric of every arm, with its 95% interval."""
    fig, (ax,) = figures._figure(1, width=8.0, height=max(2.5, 0.45 * len(summary) + 1.2))
    y = range(len(summary))
    errors = [summary[metric] - summary["low"], summary["high"] - summary[metric]]
    ax.errorbar(summary[metric], list(y), xerr=errors, fmt="o", capsize=3)
    ax.set_yticks(list(y), summary["arm"], fontsize=8)
    ax.set_xlabel(f"{metric}: mean and 95% interval over seeds and replications", fontsize=9)
    ax.invert_yaxis()
    if metric == "net_value":
        ax.xaxis.set_major_formatter(figures.amount)
    fig.tight_layout()
    return fig


def sweep_report(sweep_dir: str | Path) -> Path:
    """Write ``report.html`` and ``sweep_arms.png`` into a sweep's folder from its ``sweep.parquet``."""
    folder = Path(sweep_dir)
    source = folder / "sweep.parquet"
    if not source.is_file():
        raise ReportError(f"{folder}: no sweep.parquet (collect the sweep first)")
    table = pd.read_parquet(source)
    if table.empty:
        raise ReportError(f"{folder}: the sweep has no finished point")
    metric = HEADLINE[str(table["kind"].iloc[0])]
    if metric not in table.columns or table[metric].isna().all():
        note = f"<p>No run of this sweep has a {metric}: every plan was infeasible or had no verification.</p>"
        sections = [("Every run", note + table_html(table, max_rows=500))]
        return write_atomic(folder / "report.html", page(f"caresim sweep report: {folder.name}", sections).encode())
    summary, metric = arms(table)
    fig = arms_figure(summary, metric)
    png = figures.png_bytes(fig)
    write_atomic(folder / "sweep_arms.png", png)
    image = f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{metric} by arm">'
    sections = [
        (f"{metric} by arm", image),
        ("Arms (95% intervals)", table_html(summary)),
        ("Every run", table_html(table, max_rows=500)),
    ]
    return write_atomic(folder / "report.html", page(f"caresim sweep report: {folder.name}", sections).encode())
