"""The report of a whole sweep: its headline figure per arm, with 95% intervals across seeds and replications,
and the collected table, as one self-contained ``report.html`` in the sweep's folder.

A sweep of plan runs over ``planner.budget`` also gets its simulated budget frontier: the plan's simulated
headline per budget with its 95% interval (``budget_frontier_simulated.png``, numbers in ``budget_frontier.csv``).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from caresim.report import figures
from caresim.report.folder import ReportError, read_table, write_atomic
from caresim.report.html import figure_html, page, table_html, with_intervals

#: columns of the collected table that are not parameters of an arm
NOT_PARAMETERS = {"point", "kind", "replication", "run.seed", "plan_status", "plan_cost", "objective"}
HEADLINE = {"plan": "net_value", "simulation": "monthly_churn_rate"}
BUDGET = "planner.budget"
FRONTIER_FIGURE, FRONTIER_TABLE = "budget_frontier_simulated.png", "budget_frontier.csv"


def t_interval(values: pd.Series) -> tuple[float, float, float]:
    """Mean and 95% t-interval (low, high) of ``values``, missing ones dropped; NaN bounds with fewer than two."""
    values = values.dropna()
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return mean, mean - half, mean + half


def parameters(table: pd.DataFrame) -> list[str]:
    """The swept parameters of the collected table (they come before ``replication``), seed aside."""
    first_metric = list(table.columns).index("replication")
    return [c for c in table.columns[:first_metric] if c not in NOT_PARAMETERS]


def arms(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Per arm (the parameters that vary, the seed aside): the headline metric's mean and 95% t-interval."""
    metric = HEADLINE[str(table["kind"].iloc[0])]
    keys = [c for c in parameters(table) if table[c].nunique(dropna=False) > 1] or ["kind"]
    rows = []
    for key, group in table.groupby(keys, sort=True, dropna=False):
        mean, low, high = t_interval(group[metric])
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        rows.append({"arm": label, "runs": int(group[metric].notna().sum()), metric: mean, "low": low, "high": high})
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
    return fig


def predicted_by_point(table: pd.DataFrame, folder: Path, metric: str) -> pd.Series:
    """Per row, the plan's predicted ``metric``: the table's ``predicted_<metric>`` column when it has one, else
    the plan row of each point's ``comparison`` table in ``folder`` (NaN where a point has none)."""
    column = f"predicted_{metric}"
    if column in table.columns:
        return table[column].astype(float)
    predicted = {}
    for point in table["point"].unique():
        comparison = read_table(folder / str(point), "comparison") if (folder / str(point)).is_dir() else None
        if comparison is not None and column in comparison.columns and "policy" in comparison.columns:
            own = comparison.loc[comparison["policy"] == "plan", column]
            predicted[point] = float(own.iloc[0]) if len(own) else math.nan
    return table["point"].map(predicted).astype(float)


def simulated_frontier(table: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, list[str]]:
    """Per budget (and per combination of the other parameters that vary, each a line of the figure): the plan's
    simulated ``metric``, mean and 95% t-interval over seeds and replications, and the mean over points of its
    predicted value when ``table`` has ``predicted_<metric>``. Also returns the columns that make the lines."""
    lines = [c for c in parameters(table) if c != BUDGET and table[c].nunique(dropna=False) > 1]
    predicted = f"predicted_{metric}"
    rows = []
    for key, group in table.groupby([*lines, BUDGET], sort=True, dropna=False):
        row = dict(zip([*lines, BUDGET], key if isinstance(key, tuple) else (key,), strict=True))
        mean, low, high = t_interval(group[metric])
        row |= {"runs": int(group[metric].notna().sum()), metric: mean, f"{metric}_low": low, f"{metric}_high": high}
        if predicted in group.columns:
            row[predicted] = float(group.groupby("point")[predicted].first().mean())
        rows.append(row)
    frontier = pd.DataFrame(rows)
    if predicted in frontier.columns and frontier[predicted].isna().all():
        frontier = frontier.drop(columns=predicted)
    return frontier, lines


def frontier_section(table: pd.DataFrame, folder: Path, metric: str) -> tuple[str, str] | None:
    """For plan runs swept over the budget: write the simulated frontier's figure and table into ``folder`` and
    return its report section; otherwise remove any left by an earlier report and return None."""
    if str(table["kind"].iloc[0]) != "plan" or BUDGET not in parameters(table) or table[metric].isna().all():
        remove_frontier(folder)
        return None
    table = table.assign(**{f"predicted_{metric}": predicted_by_point(table, folder, metric)})
    frontier, lines = simulated_frontier(table, metric)
    png = figures.png_bytes(figures.simulated_frontier(frontier, metric, lines))
    write_atomic(folder / FRONTIER_FIGURE, png)
    write_atomic(folder / FRONTIER_TABLE, frontier.to_csv(index=False).encode())
    title = f"Budget frontier, simulated: {metric} of the plan, mean and 95% interval over replications"
    shown = with_intervals(frontier, (metric,))
    return "Budget frontier (simulated)", figure_html(png, title) + table_html(shown)


def remove_frontier(folder: Path) -> None:
    """Remove the simulated frontier's files that an earlier report of this sweep left."""
    for name in (FRONTIER_FIGURE, FRONTIER_TABLE):
        (folder / name).unlink(missing_ok=True)


def sweep_report(sweep_dir: str | Path) -> Path:
    """Write ``report.html`` and ``sweep_arms.png`` (and, for a budget sweep of plans, the simulated frontier)
    into a sweep's folder from its ``sweep.parquet``."""
    folder = Path(sweep_dir)
    source = folder / "sweep.parquet"
    if not source.is_file():
        raise ReportError(f"{folder}: no sweep.parquet (collect the sweep first)")
    table = pd.read_parquet(source)
    if table.empty:
        raise ReportError(f"{folder}: the sweep has no finished point")
    metric = HEADLINE[str(table["kind"].iloc[0])]
    if metric not in table.columns or table[metric].isna().all():
        remove_frontier(folder)
        note = f"<p>No run of this sweep has a {metric}: every plan was infeasible or had no verification.</p>"
        sections = [("Every run", note + table_html(table, max_rows=500))]
        return write_atomic(folder / "report.html", page(f"caresim sweep report: {folder.name}", sections).encode())
    summary, metric = arms(table)
    png = figures.png_bytes(arms_figure(summary, metric))
    write_atomic(folder / "sweep_arms.png", png)
    sections = [
        (f"{metric} by arm", figure_html(png, f"{metric} by arm")),
        ("Arms (95% intervals)", table_html(summary)),
    ]
    frontier = frontier_section(table, folder, metric)
    if frontier is not None:
        sections.append(frontier)
    sections.append(("Every run", table_html(table, max_rows=500)))
    return write_atomic(folder / "report.html", page(f"caresim sweep report: {folder.name}", sections).encode())
