"""Plotly figures of simulation runs, for one run or several side by side (``{label: table}``).

Pure functions of a run folder's tables (``kpis``, ``desks``, ``programmes``): nothing is re-run. Pooled figures
weight each segment by its subscribers, as the static report does (``caresim.report.figures``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from caresim.lifecycle import GRADES

GRADE_COLOURS = {"excellent": "#1a9850", "good": "#91cf60", "fair": "#fdae61", "poor": "#d73027"}
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
Runs = dict[str, pd.DataFrame]

#: KPI columns a user can chart: column -> (label, how segments pool). "sum": counts add up; ("ratio", numerator,
#: denominator, factor): the pooled counts' ratio, as the table computes it per segment; ("weighted", weight):
#: a mean weighted by the column it is a mean over.
KPI_METRICS: dict[str, tuple[str, object]] = {
    "active": ("active subscribers", "sum"),
    "churned": ("churned in the month", "sum"),
    "churn_rate": ("monthly churn rate", ("ratio", "churned", "active_start", 1.0)),
    "new": ("new subscribers", "sum"),
    "won_back": ("won back", "sum"),
    "satisfaction_mean": ("mean satisfaction (0-1)", ("weighted", "active")),
    "loyalty_mean": ("mean loyalty (0-1)", ("weighted", "active")),
    "satisfaction_poor": ("share Poor (satisfaction)", ("weighted", "active")),
    "complaints_per_1000": ("complaints per 1,000 active", ("ratio", "complaints", "active_start", 1000.0)),
    "first_contact_resolution": (
        "first-contact resolution",
        ("ratio", "resolved_first_contact", "complaints", 1.0),
    ),
    "mean_wait_min": ("mean desk wait, minutes", ("weighted", "desk_contacts")),
    "revenue": ("revenue", "sum"),
    "care_spend": ("care spend", "sum"),
}


def _weights(kpis: pd.DataFrame, column: str) -> pd.Series:
    if column == "desk_contacts":  # a wait is a mean over the contacts served at the desks
        return kpis["hotline_contacts"] + kpis["store_contacts"]
    return kpis[column]


def pooled(kpis: pd.DataFrame, metric: str) -> pd.Series:
    """``metric`` by month over all segments: counts summed; ratios as the pooled numerator over the pooled
    denominator (churn: churned / active at start; first-contact resolution: resolved / complaints); means
    weighted by what they are means over (active subscribers; desk contacts for waits)."""
    how = KPI_METRICS.get(metric, ("", ("weighted", "active")))[1]
    by_month = kpis.groupby("month")
    if how == "sum":
        return by_month[metric].sum()
    if how[0] == "ratio":
        _, numerator, denominator, factor = how
        sums = by_month[[numerator, denominator]].sum()
        return factor * sums[numerator] / sums[denominator].where(sums[denominator] > 0)
    weights = _weights(kpis, how[1]).where(kpis[metric].notna(), 0.0)
    total = (kpis[metric].fillna(0.0) * weights).groupby(kpis["month"]).sum()
    return total / weights.groupby(kpis["month"]).sum().replace(0.0, np.nan)


def kpi_lines(runs: Runs, metric: str, by_segment: bool) -> go.Figure:
    """``metric`` by month: one line per segment (each run its own dash), or pooled, one line per run."""
    label = KPI_METRICS.get(metric, (metric, ""))[0]
    figure = go.Figure()
    for n, (run, kpis) in enumerate(runs.items()):
        dash = DASHES[n % len(DASHES)]
        if by_segment:
            for segment, group in kpis.groupby("segment", sort=False):
                name = f"{segment} · {run}" if len(runs) > 1 else str(segment)
                figure.add_scatter(x=group["month"], y=group[metric], name=name, mode="lines", line={"dash": dash})
        else:
            series = pooled(kpis, metric)
            figure.add_scatter(x=series.index, y=series.to_numpy(), name=run, mode="lines+markers")
    figure.update_layout(title=f"{label} by month", xaxis_title="month", yaxis_title=label, margin={"t": 50})
    return figure


def grade_shares(runs: Runs, score: str = "satisfaction") -> go.Figure:
    """Grade shares (Excellent to Poor) of active subscribers by month, stacked; one panel per run."""
    figure = make_subplots(rows=1, cols=len(runs), shared_yaxes=True, subplot_titles=list(runs))
    for col, kpis in enumerate(runs.values(), start=1):
        active = kpis.groupby("month")["active"].sum()
        for grade in GRADES:
            column = f"{score}_{grade}"
            count = (kpis[column].fillna(0.0) * kpis["active"]).groupby(kpis["month"]).sum()
            share = (count / active.where(active > 0)).fillna(0.0)
            figure.add_scatter(
                x=share.index,
                y=share.to_numpy(),
                name=grade.capitalize(),
                stackgroup=f"run{col}",
                line={"color": GRADE_COLOURS[grade], "width": 0.5},
                showlegend=col == 1,
                row=1,
                col=col,
            )
    figure.update_yaxes(range=[0, 1], tickformat=".0%")
    figure.update_layout(title=f"{score.capitalize()} grades of active subscribers", margin={"t": 70})
    return figure


def survival_curve(kpis: pd.DataFrame) -> pd.Series:
    """The product of (1 - monthly churn rate) over the months: the share of a base that would still be active
    had it churned at each month's rate (the rate is over everyone active at the month's start, joiners too)."""
    sums = kpis.groupby("month")[["churned", "active_start"]].sum()
    rate = (sums["churned"] / sums["active_start"].where(sums["active_start"] > 0)).fillna(0.0)
    months = np.concatenate([[sums.index[0]], sums.index.to_numpy() + 1])
    return pd.Series(np.concatenate([[1.0], np.cumprod(1.0 - rate.to_numpy())]), index=months)


def survival(runs: Runs) -> go.Figure:
    """Survival of the starting base and the monthly churn rate, pooled over segments, one line per run."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=["Survival at the monthly churn rates", "Monthly churn rate"])
    for n, (run, kpis) in enumerate(runs.items()):
        colour = f"hsl({(n * 67) % 360}, 60%, 40%)"
        curve = survival_curve(kpis)
        figure.add_scatter(x=curve.index, y=curve.to_numpy(), name=run, line={"color": colour}, row=1, col=1)
        rate = pooled(kpis, "churn_rate")
        figure.add_scatter(
            x=rate.index, y=rate.to_numpy(), name=run, line={"color": colour}, showlegend=False, row=1, col=2
        )
    figure.update_yaxes(tickformat=".0%", row=1, col=1)
    figure.update_yaxes(tickformat=".1%", row=1, col=2)
    figure.update_xaxes(title_text="month")
    figure.update_layout(margin={"t": 60})
    return figure


def desk_waits(runs: Runs) -> go.Figure:
    """Mean wait at each desk by month, and the share of contacts abandoned, one line per desk and run."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=["Mean wait, minutes", "Abandoned share"])
    for n, (run, desks) in enumerate(runs.items()):
        dash = DASHES[n % len(DASHES)]
        for desk, group in desks.groupby("desk", sort=False):
            name = f"{desk} · {run}" if len(runs) > 1 else str(desk)
            figure.add_scatter(x=group["month"], y=group["mean_wait_min"], name=name, line={"dash": dash}, row=1, col=1)
            figure.add_scatter(
                x=group["month"],
                y=group["abandon_rate"],
                name=name,
                line={"dash": dash},
                showlegend=False,
                row=1,
                col=2,
            )
    figure.update_yaxes(tickformat=".0%", row=1, col=2)
    figure.update_xaxes(title_text="month")
    figure.update_layout(margin={"t": 60})
    return figure


EVALUATION_COLUMNS = (
    "programme",
    "segment",
    "verdict",
    "assigned",
    "control",
    "grade_shift",
    "churn_reduction_by_end",
    "net_benefit",
)


def evaluation_table(runs: Runs) -> pd.DataFrame:
    """Each evaluated option's verdict against its control group, with its effects as "estimate [low, high]"."""
    frames = []
    for run, programmes in runs.items():
        table = programmes[programmes["assigned"] > 0]
        table = table.iloc[np.argsort(~(table["control"] > 0).to_numpy(), kind="stable")]  # judged ones first
        if table.empty:
            continue
        shown = pd.DataFrame({"run": run} if len(runs) > 1 else {}, index=table.index)
        for column in EVALUATION_COLUMNS:
            if column in ("grade_shift", "churn_reduction_by_end", "net_benefit"):
                shown[column] = [
                    _interval(m, lo, hi, column)
                    for m, lo, hi in zip(table[column], table[f"{column}_low"], table[f"{column}_high"], strict=True)
                ]
            else:
                shown[column] = table[column]
        frames.append(shown)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(EVALUATION_COLUMNS))


def _interval(middle: float, low: float, high: float, column: str) -> str:
    if middle is None or pd.isna(middle):
        return "n/a"
    if column == "net_benefit":
        text = f"{middle:,.0f}"
        bounds = "" if pd.isna(low) else f" [{low:,.0f}, {high:,.0f}]"
    else:
        text = f"{middle:+.3f}"
        bounds = "" if pd.isna(low) else f" [{low:+.3f}, {high:+.3f}]"
    return text + bounds


def effect_intervals(runs: Runs, measure: str = "churn_reduction_by_end") -> go.Figure:
    """Each evaluated option's effect against its control group with its interval (a forest plot), per run."""
    figure = go.Figure()
    for run, programmes in runs.items():
        table = programmes[(programmes["assigned"] > 0) & programmes[measure].notna()]
        labels = table["programme"] + " / " + table["segment"]
        figure.add_scatter(
            x=table[measure],
            y=labels,
            mode="markers",
            name=run,
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (table[f"{measure}_high"] - table[measure]).to_numpy(),
                "arrayminus": (table[measure] - table[f"{measure}_low"]).to_numpy(),
            },
        )
    figure.add_vline(x=0.0, line={"color": "grey", "dash": "dot"})
    figure.update_layout(
        title=f"{measure.replace('_', ' ')} against the control group (interval)",
        height=max(320, 18 * sum(len(p) for p in runs.values()) // max(len(runs), 1)),
        margin={"t": 50, "l": 220},
    )
    return figure
