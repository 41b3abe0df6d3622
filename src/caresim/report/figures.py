"""One figure per function: each takes result tables (DataFrames) and returns a matplotlib Figure.

Figures are built with ``matplotlib.figure.Figure`` on the Agg canvas, never through pyplot, so nothing
opens a window and no global figure state is kept. Reporting only reads tables; it never re-runs anything.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from caresim.lifecycle import GRADES, STAGES
from caresim.report.folder import write_atomic

GRADE_COLOURS = {"excellent": "#1a9850", "good": "#91cf60", "fair": "#fdae61", "poor": "#d73027"}


def amount(value: float, _position: object = None) -> str:
    """A compact amount: 1.2 M, 350 k, 12."""
    for unit, size in (("bn", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.3g}"


AMOUNT = FuncFormatter(amount)


def _figure(n_axes: int = 1, width: float = 6.4, height: float = 4.0) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(width * n_axes if n_axes > 1 else width, height), layout="constrained")
    axes = fig.subplots(1, n_axes, squeeze=False)[0]
    return fig, list(axes)


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (no timestamp or software tag, so the same figure gives the same bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def save(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG at ``path``, atomically (temporary file in the same folder, then rename)."""
    return write_atomic(path, png_bytes(fig, dpi))


def _band(ax: Axes, x: pd.Series, table: pd.DataFrame, metric: str, colour: str, label: str) -> None:
    """A line for ``metric`` with its 95% interval shaded, when ``<metric>_low``/``_high`` are there."""
    ax.plot(x, table[metric], marker="o", color=colour, label=label)
    if {f"{metric}_low", f"{metric}_high"} <= set(table.columns):
        ax.fill_between(x, table[f"{metric}_low"], table[f"{metric}_high"], color=colour, alpha=0.2, label="95%")


def budget_frontier(frontier: pd.DataFrame, budget: float | None = None) -> Figure:
    """Predicted net value and subscribers kept against the budget, with shaded 95% intervals.

    Budgets the optimiser could not solve (no ``net_value``) are left out; ``budget`` marks the plan's own.
    """
    table = frontier.dropna(subset=["net_value"]).sort_values("budget")
    fig, (left, right) = _figure(2, width=5.2)
    _band(left, table["budget"], table, "net_value", "#2c7fb8", "net value")
    left.set(title="Net value against budget", xlabel="budget", ylabel="net value vs no care")
    if "retained" in table.columns:
        _band(right, table["budget"], table, "retained", "#31a354", "subscribers kept")
    right.set(title="Subscribers kept against budget", xlabel="budget", ylabel="subscribers kept vs no care")
    for ax in (left, right):
        ax.xaxis.set_major_formatter(AMOUNT)
        ax.yaxis.set_major_formatter(AMOUNT)
        ax.axhline(0.0, color="grey", linewidth=0.8)
        if budget is not None:
            ax.axvline(budget, color="black", linestyle="--", linewidth=1, label="plan's budget")
        ax.legend(loc="best", fontsize="small")
    return fig


def survival(kpis: pd.DataFrame) -> Figure:
    """Per segment: the share of a starting base still active by month (product of 1 − monthly churn rate,
    a product-limit estimate) and the monthly churn rate; ``all`` pools the segments."""
    sums = kpis.groupby(["segment", "month"], sort=False)[["churned", "active_start"]].sum()
    pooled = kpis.groupby("month")[["churned", "active_start"]].sum()
    curves = {segment: group.droplevel("segment") for segment, group in sums.groupby(level="segment", sort=False)}
    curves["all"] = pooled
    fig, (left, right) = _figure(2, width=5.2)
    for segment, group in curves.items():
        rate = (group["churned"] / group["active_start"].where(group["active_start"] > 0)).fillna(0.0)
        still = np.concatenate([[1.0], np.cumprod(1.0 - rate.to_numpy())])
        months = np.concatenate([[group.index[0]], group.index.to_numpy() + 1])
        style = {"color": "black", "linewidth": 2.5} if segment == "all" else {"linewidth": 1.2}
        left.plot(months, still, marker=".", label=segment, **style)
        right.plot(group.index, rate, marker=".", label=segment, **style)
    left.set(title="Survival: share still active", xlabel="months elapsed", ylabel="share of starting base")
    left.yaxis.set_major_formatter(PercentFormatter(1.0))
    right.set(title="Monthly churn rate", xlabel="month", ylabel="churned / active at start")
    right.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    right.legend(loc="best", fontsize="x-small", ncols=2)
    return fig


def grade_shares(kpis: pd.DataFrame) -> Figure:
    """Satisfaction and loyalty grade shares (Excellent, Good, Fair, Poor) of active subscribers over time,
    stacked, all segments pooled (each segment weighted by its active subscribers)."""
    fig, axes = _figure(2, width=5.2)
    for ax, score in zip(axes, ("satisfaction", "loyalty"), strict=True):
        columns = [f"{score}_{grade}" for grade in GRADES]
        weighted = kpis[columns].fillna(0.0).mul(kpis["active"], axis=0).assign(month=kpis["month"])
        monthly = weighted.groupby("month").sum()
        active = kpis.groupby("month")["active"].sum()
        shares = monthly.div(active.where(active > 0), axis=0).fillna(0.0)
        ax.stackplot(
            shares.index,
            *(shares[c] for c in columns),
            labels=[g.capitalize() for g in GRADES],
            colors=[GRADE_COLOURS[g] for g in GRADES],
        )
        ax.set(title=f"{score.capitalize()} grades", xlabel="month", ylabel="share of active", ylim=(0, 1))
        ax.set_xlim(shares.index.min(), shares.index.max())
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[1].legend(loc="lower left", fontsize="small")
    return fig


def _annotated_matrix(
    ax: Axes, matrix: pd.DataFrame, texts: pd.DataFrame, colours: np.ndarray, cmap: str, label: str
) -> None:
    """A heatmap of ``colours`` with ``texts`` in each cell, rows and columns named after ``matrix``."""
    image = ax.imshow(colours, cmap=cmap, aspect="auto", vmin=0.0, vmax=max(float(np.nanmax(colours)), 1e-12))
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=35, ha="right")
    ax.set_yticks(range(matrix.shape[0]), matrix.index)
    ceiling = np.nanmax(colours) if colours.size else 0.0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            dark = ceiling > 0 and colours[i, j] > 0.6 * ceiling
            ax.text(j, i, texts.iat[i, j], ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label=label)


def allocation(plan: pd.DataFrame) -> Figure:
    """The plan's coverage of eligible subscribers per segment × programme, annotated (and spend, if given)."""
    coverage = plan.pivot_table(index="segment", columns="programme", values="coverage", aggfunc="sum", sort=False)
    coverage = coverage.fillna(0.0)
    spend = None
    if "spend" in plan.columns:
        spend = plan.pivot_table(index="segment", columns="programme", values="spend", aggfunc="sum", sort=False)
        spend = spend.reindex_like(coverage).fillna(0.0)

    def text(i: int, j: int) -> str:
        share = coverage.iat[i, j]
        if share <= 0:
            return ""
        return f"{share:.0%}" if spend is None else f"{share:.0%}\n{amount(spend.iat[i, j])}"

    texts = pd.DataFrame([[text(i, j) for j in range(coverage.shape[1])] for i in range(coverage.shape[0])])
    fig, (ax,) = _figure(1, width=max(6.0, 1.1 * coverage.shape[1] + 3), height=max(3.0, 0.5 * coverage.shape[0] + 2))
    _annotated_matrix(ax, coverage, texts, coverage.to_numpy(dtype=float), "Blues", "coverage")
    ax.set(title="The plan: coverage of eligible subscribers (and spend)", xlabel="programme", ylabel="segment")
    return fig


def stage_flows(flows: pd.DataFrame) -> Figure:
    """Moves between lifecycle stages summed over the horizon and all segments: a from × to matrix, coloured
    on a log scale so small flows (win-backs) stay visible next to large ones."""
    totals = flows.pivot_table(index="from_stage", columns="to_stage", values="count", aggfunc="sum").fillna(0.0)
    order = [s for s in STAGES if s in totals.index or s in totals.columns]
    totals = totals.reindex(index=[s for s in order if s in totals.index], columns=order, fill_value=0.0)
    texts = totals.map(lambda x: amount(x) if x > 0 else "")
    fig, (ax,) = _figure(1, width=6.4, height=4.4)
    _annotated_matrix(ax, totals, texts, np.log10(1.0 + totals.to_numpy(dtype=float)), "Purples", "log10(1 + moves)")
    ax.set(title="Lifecycle moves over the horizon, all segments", xlabel="to stage", ylabel="from stage")
    return fig


def predicted_vs_simulated(comparison: pd.DataFrame) -> Figure:
    """Per policy (the plan and its baselines): predicted against simulated net value with 95% intervals,
    and the line where the two agree. Policies without a prediction are left out."""
    table = comparison.dropna(subset=["predicted_net_value", "net_value"])
    fig, (ax,) = _figure(1, width=6.4, height=5.0)

    def error(prefix: str) -> np.ndarray | None:
        low, high = f"{prefix}_low", f"{prefix}_high"
        if not {low, high} <= set(table.columns):
            return None
        middle = table[prefix].to_numpy(dtype=float)
        return np.abs(np.vstack([middle - table[low].to_numpy(float), table[high].to_numpy(float) - middle]))

    xerr, yerr = error("predicted_net_value"), error("net_value")
    for k, (_, row) in enumerate(table.iterrows()):
        plan = row["policy"] == "plan"
        ax.errorbar(
            row["predicted_net_value"],
            row["net_value"],
            xerr=None if xerr is None else xerr[:, k : k + 1],
            yerr=None if yerr is None else yerr[:, k : k + 1],
            fmt="*" if plan else "o",
            markersize=12 if plan else 7,
            capsize=3,
            label=row["policy"],
        )
    present = [c for p in ("predicted_net_value", "net_value") for c in (p, f"{p}_low", f"{p}_high") if c in table]
    values = table[present].to_numpy(dtype=float)
    low, high = (float(np.nanmin(values)), float(np.nanmax(values))) if values.size else (0.0, 1.0)
    pad = 0.05 * (high - low) if high > low else 1.0
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", linestyle="--", label="y = x")
    ax.set(title="Predicted vs simulated net value (95% intervals)", xlabel="predicted", ylabel="simulated")
    ax.xaxis.set_major_formatter(AMOUNT)
    ax.yaxis.set_major_formatter(AMOUNT)
    ax.legend(loc="best", fontsize="small")
    return fig


def simulated_frontier(frontier: pd.DataFrame, metric: str, lines: list[str]) -> Figure:
    """A sweep's simulated ``metric`` against the budget: mean and 95% interval (``<metric>_low``/``_high``) per
    budget, one line per combination of the ``lines`` columns, each with its predicted value (dashed) when the
    table has ``predicted_<metric>``. Budgets without a simulated value are left out."""
    table = frontier.dropna(subset=[metric]).sort_values("planner.budget")
    predicted = f"predicted_{metric}"
    fig, (ax,) = _figure(1, width=7.2, height=4.6)
    groups = table.groupby(lines, sort=True, dropna=False) if lines else [((), table)]
    for k, (key, group) in enumerate(groups):
        colour = f"C{k % 10}"
        values = key if isinstance(key, tuple) else (key,)
        name = ", ".join(f"{c}={v}" for c, v in zip(lines, values, strict=True))
        middle = group[metric].to_numpy(dtype=float)
        spread = np.vstack([middle - group[f"{metric}_low"], group[f"{metric}_high"] - middle])
        ax.errorbar(
            group["planner.budget"],
            middle,
            yerr=np.nan_to_num(spread),
            marker="o",
            capsize=3,
            color=colour,
            label=f"{name + ': ' if name else ''}simulated (95% interval)",
        )
        if predicted in group.columns and group[predicted].notna().any():
            shown = group.dropna(subset=[predicted])
            ax.plot(
                shown["planner.budget"],
                shown[predicted],
                marker="x",
                linestyle="--",
                color=colour,
                label=f"{name + ': ' if name else ''}predicted",
            )
    ax.set(title=f"Simulated {metric} against budget", xlabel="budget", ylabel=f"{metric} (plan vs no care)")
    ax.xaxis.set_major_formatter(AMOUNT)
    if metric in ("net_value", "value", "cost"):
        ax.yaxis.set_major_formatter(AMOUNT)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.legend(loc="best", fontsize="small")
    return fig


def calibration_errors(targets: pd.DataFrame) -> Figure:
    """Each calibration target's error as a share of its tolerance: inside the band at ±1 means reached.

    ``targets`` has ``target``, ``group``, ``error``, ``tolerance`` and ``ok`` (``caresim.calibrate``).
    """
    shown = targets[np.isfinite(targets["tolerance"]) & (targets["tolerance"] > 0)].iloc[::-1]
    scaled = (shown["error"] / shown["tolerance"]).fillna(0.0).to_numpy()
    labels = [f"{target}: {group}" for target, group in zip(shown["target"], shown["group"], strict=True)]
    fig, (ax,) = _figure(height=max(3.0, 0.22 * len(shown) + 1.2))
    y = np.arange(len(shown))
    colours = np.where(shown["ok"].to_numpy(dtype=bool), "#1a9850", "#d73027")
    ax.axvspan(-1, 1, color="#eeeeee", label="within tolerance")
    ax.scatter(np.clip(scaled, -3, 3), y, c=colours, zorder=3)
    ax.axvline(0, color="#888888", linewidth=0.8)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlim(-3.2, 3.2)
    ax.set_xlabel("(fitted - observed) / tolerance  (clipped at ±3)")
    ax.set_title("Calibration: each target against its tolerance")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def qini_curves(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], title: str) -> Figure:
    """Qini curves (``name -> (fraction targeted, curve, random line)``): incremental customers kept against the
    share targeted, highest predicted first; the straight line is targeting at random."""
    fig, (ax,) = _figure()
    for name, (fraction, curve, _line) in curves.items():
        ax.plot(fraction, curve, label=name)
    fraction, _curve, line = next(iter(curves.values()))
    ax.plot(fraction, line, color="#888888", linestyle="--", label="random order")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("share of customers targeted, highest score first")
    ax.set_ylabel("incremental customers kept")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def pilot_qini(points: pd.DataFrame) -> Figure:
    """The pilot's cross-fitted uplift models: per programme, incremental customers kept above random order
    against the share targeted (mean over the pilot's samples, each on a common grid)."""
    fig, (ax,) = _figure()
    grid = np.linspace(0.0, 1.0, 51)
    keys = [c for c in ("scenario", "replication") if c in points.columns]
    for programme, rows in points.groupby("programme", sort=False):
        samples = [
            np.interp(grid, part["fraction"], part["curve"] - part["random_line"], left=0.0)
            for _, part in (rows.groupby(keys) if keys else [(None, rows)])
        ]
        ax.plot(grid, np.mean(samples, axis=0), label=str(programme))
    ax.axhline(0.0, color="#888888", linestyle="--", linewidth=1, label="random order")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("share of the pilot's eligible targeted, highest predicted uplift first")
    ax.set_ylabel("customers kept above random order")
    ax.set_title("Cross-fitted uplift models on the pilot's arms (Qini, gain over random)")
    ax.legend(fontsize=7, ncol=2)
    return fig
