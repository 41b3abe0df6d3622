"""The Plan page's figures and tables: pure functions from a plan folder's tables to Plotly figures and display
tables (``plan``, ``comparison``, ``frontier``, ``binding``), so that they can be tested without a browser.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

PLAN_COLOUR = "#1f6feb"
OTHER_COLOUR = "#9fb3c8"
PREDICTED_COLOUR = "#f79009"
TODAY = "todays_practice"
# the comparison's metric for each objective (min_cost is judged on net value too)
OBJECTIVE_METRIC = {"net_value": "net_value", "retained": "retained", "loyalty": "loyal"}
COMPARED = ("net_value", "predicted_net_value", "retained", "cost", "poor_share", "net_value_vs_plan")


def amount(value: object) -> str:
    """A compact amount: 1.23 M, 350 k, 12; empty for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    number = float(value)  # type: ignore[arg-type]
    for unit, size in (("bn", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(number) >= size:
            return f"{number / size:.3g} {unit}"
    return f"{number:.3g}"


def _layout(figure: go.Figure, title: str, height: int = 380) -> go.Figure:
    figure.update_layout(
        title={"text": title, "font": {"size": 15}},
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def coverage_matrix(plan: pd.DataFrame) -> pd.DataFrame:
    """The plan's coverage of eligible subscribers, segment (rows) × programme (columns), 0 where not used; rows
    and columns in the order the table first names them."""
    if plan.empty:
        return pd.DataFrame(dtype=float)
    matrix = plan.pivot_table(index="segment", columns="programme", values="coverage", aggfunc="sum", sort=False)
    return matrix.fillna(0.0).astype(float)


def coverage_heatmap(plan: pd.DataFrame) -> go.Figure:
    """The plan as a heatmap: share of each segment's eligible subscribers assigned to each programme, written
    in the cells (with the targeting rule when it is not random, and the spend when the table has it)."""
    matrix = coverage_matrix(plan)
    target = spend = None
    if not plan.empty and "target" in plan.columns:
        target = plan.pivot_table(index="segment", columns="programme", values="target", aggfunc="first", sort=False)
        target = target.reindex_like(matrix)
    if not plan.empty and "spend" in plan.columns:
        spend = plan.pivot_table(index="segment", columns="programme", values="spend", aggfunc="sum", sort=False)
        spend = spend.reindex_like(matrix)

    def text(i: int, j: int) -> str:
        share = matrix.iat[i, j]
        if share <= 0:
            return ""
        words = f"{share:.0%}"
        rule = target.iat[i, j] if target is not None else None
        if isinstance(rule, str) and rule != "random":
            words += f" by {rule}"
        if spend is not None and not pd.isna(spend.iat[i, j]):
            words += f"<br>{amount(spend.iat[i, j])}"
        return words

    texts = [[text(i, j) for j in range(matrix.shape[1])] for i in range(matrix.shape[0])]
    figure = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(),
            x=[str(c) for c in matrix.columns],
            y=[str(i) for i in matrix.index],
            text=texts,
            texttemplate="%{text}",
            zmin=0.0,
            zmax=1.0,
            colorscale="Blues",
            colorbar={"title": {"text": "coverage"}, "tickformat": ".0%"},
            hovertemplate="%{y} × %{x}: %{z:.1%} of eligible<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed", title_text="segment")
    figure.update_xaxes(title_text="programme")
    height = max(300, 60 * matrix.shape[0] + 160)
    return _layout(figure, "The plan: share of each segment's eligible subscribers assigned (and spend)", height)


def _errors(table: pd.DataFrame, metric: str) -> dict | None:
    """Plotly error bars from ``<metric>_low``/``_high`` (None without them)."""
    low, high = f"{metric}_low", f"{metric}_high"
    if not {low, high} <= set(table.columns):
        return None
    middle = table[metric].to_numpy(dtype=float)
    return {
        "type": "data",
        "symmetric": False,
        "array": np.abs(table[high].to_numpy(dtype=float) - middle).tolist(),
        "arrayminus": np.abs(middle - table[low].to_numpy(dtype=float)).tolist(),
        "thickness": 1.2,
    }


def comparison_metric(objective: str | None, comparison: pd.DataFrame) -> str:
    """The metric the plan is compared on: the objective's, when the table has it, else net value."""
    metric = OBJECTIVE_METRIC.get(objective or "", "net_value")
    return metric if metric in comparison.columns else "net_value"


def comparison_bars(comparison: pd.DataFrame, metric: str = "net_value") -> go.Figure:
    """Simulated ``metric`` against no care per policy (the plan and its baselines, today's practice among them)
    with its 95% interval, and the optimiser's prediction beside it where there is one."""
    table = comparison.dropna(subset=[metric])
    policies = table["policy"].astype(str).tolist()
    colours = [PLAN_COLOUR if p == "plan" else OTHER_COLOUR for p in policies]
    figure = go.Figure(
        go.Bar(
            name="simulated (held-out seeds)",
            x=policies,
            y=table[metric].to_numpy(dtype=float),
            error_y=_errors(table, metric),
            marker_color=colours,
            hovertemplate="%{x}: %{y:,.0f}<extra>simulated</extra>",
        )
    )
    predicted = f"predicted_{metric}"
    if predicted in table.columns and table[predicted].notna().any():
        shown = table.dropna(subset=[predicted])
        figure.add_trace(
            go.Scatter(
                name="predicted by the optimiser",
                x=shown["policy"].astype(str).tolist(),
                y=shown[predicted].to_numpy(dtype=float),
                error_y=_errors(shown, predicted),
                mode="markers",
                marker={"symbol": "diamond", "size": 11, "color": PREDICTED_COLOUR},
                hovertemplate="%{x}: %{y:,.0f}<extra>predicted</extra>",
            )
        )
    figure.add_hline(y=0.0, line_color="grey", line_width=1)
    figure.update_yaxes(title_text=f"{metric} vs no care")
    words = metric.replace("_", " ")
    return _layout(figure, f"The plan against its baselines: simulated {words} (95% intervals)")


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """The comparison as the page shows it: one row per policy, each metric as ``value [low, high]``."""
    rows = []
    for _, row in comparison.iterrows():
        shown: dict[str, str] = {"policy": str(row["policy"])}
        for metric in (m for m in COMPARED if m in comparison.columns):
            if metric == "poor_share":
                shown[metric] = "" if pd.isna(row[metric]) else f"{row[metric]:.2%}"
                continue
            low, high = row.get(f"{metric}_low", math.nan), row.get(f"{metric}_high", math.nan)
            middle = amount(row[metric])
            shown[metric] = (
                middle if pd.isna(low) or pd.isna(high) or not middle else (f"{middle} [{amount(low)}, {amount(high)}]")
            )
        rows.append(shown)
    return pd.DataFrame(rows)


def frontier_line(frontier: pd.DataFrame, budget: float | None = None, metric: str = "net_value") -> go.Figure:
    """Predicted ``metric`` against the budget (the plan re-optimised at each), with its 95% band; budgets the
    optimiser could not solve are left out; ``budget``, the plan's own, is marked."""
    table = frontier.dropna(subset=[metric]).sort_values("budget") if metric in frontier.columns else frontier.iloc[:0]
    x = table["budget"].to_numpy(dtype=float) if len(table) else np.array([])
    figure = go.Figure()
    low, high = f"{metric}_low", f"{metric}_high"
    if len(table) and {low, high} <= set(table.columns):
        figure.add_trace(
            go.Scatter(
                x=np.concatenate([x, x[::-1]]),
                y=np.concatenate([table[high].to_numpy(dtype=float), table[low].to_numpy(dtype=float)[::-1]]),
                fill="toself",
                mode="lines",
                fillcolor="rgba(31, 111, 235, 0.15)",
                line={"width": 0},
                hoverinfo="skip",
                name="95% interval",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=x,
            y=table[metric].to_numpy(dtype=float) if len(table) else np.array([]),
            mode="lines+markers",
            line={"color": PLAN_COLOUR},
            name=f"predicted {metric.replace('_', ' ')}",
            hovertemplate="budget %{x:,.0f}: %{y:,.0f}<extra></extra>",
        )
    )
    if budget is not None and math.isfinite(budget):
        figure.add_vline(
            x=budget,
            line_dash="dash",
            line_color="black",
            annotation_text=f"this plan's budget ({amount(budget)})",
            annotation_position="top left",
        )
    figure.add_hline(y=0.0, line_color="grey", line_width=1)
    figure.update_xaxes(title_text="budget over the horizon")
    figure.update_yaxes(title_text=f"{metric.replace('_', ' ')} vs no care")
    return _layout(figure, "Budget frontier: what more (or less) money would buy, as predicted")


def binding_table(binding: pd.DataFrame) -> pd.DataFrame:
    """The limits that bind: the limit's name (with its segment, channel or period), its level and shadow price."""
    if binding.empty:
        return pd.DataFrame(columns=["limit", "level", "shadow price"])
    names = [
        f"{c} [{i}]" if isinstance(i, str) and i else str(c)
        for c, i in zip(binding["constraint"], binding.get("index", [""] * len(binding)), strict=True)
    ]
    return pd.DataFrame(
        {
            "limit": names,
            "level": [f"{v:,.2f}" for v in binding["limit"].astype(float)],
            "shadow price": [f"{v:,.4g}" for v in binding["shadow_price"].astype(float)],
        }
    )
