"""The Agents page's data and figures, as pure functions of a model (or its record): testable without a browser.

A *sample* is a few hundred subscribers picked by breadth-first search over the tie network from random roots
(so most of them have ties inside the sample), the ties among them (the sample's induced subgraph) and their
positions from one fixed-seed spring layout, made once and kept while the model steps so nodes do not move.
Randomness comes from a generator of its own seeded with the run's seed: the model's streams are never read.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from caresim.lifecycle import ACTIVE_STAGES, CHURNED, GRADES, STAGES, grade_of
from caresim.results.tables import kpi_table

if TYPE_CHECKING:
    from caresim.engine.model import CareModel
    from caresim.engine.record import RunRecord

SAMPLE_STREAM = 0xA6E7  # mixed with the run seed: the sample's generator, apart from the model's streams
NODES_PER_ROOT = 50  # one BFS root per this many sampled subscribers
LAYOUT_SEED = 14
COLOUR_BY = ("stage", "grade")
CHURNED_NAME = STAGES[CHURNED]
STAGE_COLOURS = {"activation": "#7cb5ec", "usage": "#1f6feb", "retention": "#f79009", CHURNED_NAME: "#344054"}
GRADE_COLOURS = {"excellent": "#067647", "good": "#66c61c", "fair": "#fdb022", "poor": "#f04438"}
GRADE_COLOURS[CHURNED_NAME] = STAGE_COLOURS[CHURNED_NAME]
EDGE_COLOUR = "#bcccdc"


@dataclass(frozen=True)
class AgentSample:
    """Sampled subscribers (``slots``), the ties among them (``edges``: rows ``(low, high)`` of slots) and their
    layout (``positions[i]`` is where ``slots[i]`` is drawn)."""

    slots: np.ndarray
    edges: np.ndarray
    positions: np.ndarray

    @property
    def size(self) -> int:
        return len(self.slots)


def sample_subscribers(model: CareModel, size: int, seed: int) -> np.ndarray:
    """``size`` active subscribers (all if fewer), by BFS over their ties from random roots; ascending slots.

    Each root grows a cluster of about ``NODES_PER_ROOT`` (neighbours taken in a random order); a cluster that
    runs out of active neighbours hands its quota to the next root.
    """
    state = model.world.state
    candidates = np.flatnonzero(np.isin(state.stage, ACTIVE_STAGES))
    size = min(int(size), len(candidates))
    rng = np.random.default_rng([int(seed), SAMPLE_STREAM])
    allowed = np.zeros(state.n, dtype=bool)
    allowed[candidates] = True
    chosen = np.zeros(state.n, dtype=bool)
    picked: list[int] = []
    views = model.subscribers
    quota = math.ceil(size / max(1, round(size / NODES_PER_ROOT)))
    while len(picked) < size:
        free = candidates[~chosen[candidates]]
        root = int(free[rng.integers(len(free))])
        goal = min(size, len(picked) + quota)
        queue = deque([root])
        chosen[root] = True
        picked.append(root)
        while queue and len(picked) < goal:
            neighbours = views.tie_slots(queue.popleft())
            for slot in rng.permutation(neighbours[allowed[neighbours] & ~chosen[neighbours]]).tolist():
                if len(picked) == goal:
                    break
                chosen[slot] = True
                picked.append(slot)
                queue.append(slot)
    return np.sort(np.array(picked, dtype=np.int64))


def sample_edges(model: CareModel, slots: np.ndarray) -> np.ndarray:
    """Every tie between two of ``slots``, once, as rows ``(low, high)`` (the induced subgraph's edges)."""
    ties = model.world.ties
    inside = np.zeros(max(model.world.state.n, int(ties.source.max(initial=-1)) + 1), dtype=bool)
    inside[slots] = True
    keep = (ties.source < ties.target) & inside[ties.source] & inside[ties.target]
    edges = np.column_stack([ties.source[keep], ties.target[keep]]).astype(np.int64)
    return edges[np.lexsort((edges[:, 1], edges[:, 0]))]


def spring_positions(slots: np.ndarray, edges: np.ndarray, seed: int = LAYOUT_SEED) -> np.ndarray:
    """networkx's spring layout of the sample, with a fixed seed: one row ``(x, y)`` per slot."""
    graph = nx.Graph()
    graph.add_nodes_from(slots.tolist())
    graph.add_edges_from(edges.tolist())
    layout = nx.spring_layout(graph, seed=seed, k=1.5 / math.sqrt(max(len(slots), 1)))
    return np.array([layout[slot] for slot in slots.tolist()], dtype=float).reshape(len(slots), 2)


def draw_sample(model: CareModel, size: int, seed: int) -> AgentSample:
    """A sample of the model's subscribers on their ties, laid out (see the module docstring)."""
    slots = sample_subscribers(model, size, seed)
    edges = sample_edges(model, slots)
    return AgentSample(slots=slots, edges=edges, positions=spring_positions(slots, edges))


def node_table(model: CareModel, slots: np.ndarray) -> pd.DataFrame:
    """The sampled subscribers now: slot, segment, stage, satisfaction and its grade (read from the state)."""
    state = model.world.state
    satisfaction = state.satisfaction[slots]
    return pd.DataFrame(
        {
            "slot": slots,
            "segment": np.array(model.world.segments.names)[state.segment[slots]],
            "stage": np.array(STAGES)[state.stage[slots]],
            "satisfaction": satisfaction,
            "grade": np.array(GRADES)[grade_of(satisfaction, **model.world.grade_thresholds)],
        }
    )


def colour_labels(nodes: pd.DataFrame, colour_by: str) -> np.ndarray:
    """What each node is coloured by: its stage, or its satisfaction grade (``churned`` for churned ones)."""
    if colour_by not in COLOUR_BY:
        raise ValueError(f"colour_by: one of {COLOUR_BY}, got {colour_by!r}")
    stage = nodes["stage"].to_numpy()
    if colour_by == "stage":
        return stage
    return np.where(stage == CHURNED_NAME, CHURNED_NAME, nodes["grade"].to_numpy())


def network_figure(sample: AgentSample, nodes: pd.DataFrame, colour_by: str, revision: str = "") -> go.Figure:
    """The sample on its ties: grey edge lines, then one marker trace per stage (or grade), churned as crosses.

    Each marker trace is named by its stage or grade and carries the slots it draws in ``customdata``.
    ``revision`` keeps the user's zoom while the figure is redrawn for the same sample.
    """
    if not np.array_equal(nodes["slot"].to_numpy(), sample.slots):
        raise ValueError("network_figure: the node table is not the sample's")
    colours = STAGE_COLOURS if colour_by == "stage" else GRADE_COLOURS
    labels = colour_labels(nodes, colour_by)
    row = {slot: i for i, slot in enumerate(sample.slots.tolist())}
    ends = np.array([[row[a], row[b]] for a, b in sample.edges.tolist()], dtype=np.int64).reshape(-1, 2)
    gaps = np.full((len(ends), 1), np.nan)
    edge_x = np.hstack([sample.positions[ends, 0], gaps]).ravel()
    edge_y = np.hstack([sample.positions[ends, 1], gaps]).ravel()
    figure = go.Figure(
        go.Scatter(
            x=edge_x,
            y=edge_y,
            mode="lines",
            line={"width": 0.7, "color": EDGE_COLOUR},
            hoverinfo="skip",
            name="ties",
            showlegend=False,
        )
    )
    hover = (
        "slot "
        + nodes["slot"].astype(str)
        + " · "
        + nodes["segment"]
        + "<br>"
        + nodes["stage"]
        + " · satisfaction "
        + nodes["satisfaction"].map("{:.2f}".format)
        + " ("
        + nodes["grade"]
        + ")"
    ).to_numpy()
    for name in [*colours, *sorted(set(labels) - set(colours))]:
        mine = np.flatnonzero(labels == name)
        if len(mine) == 0:
            continue
        churned = name == CHURNED_NAME
        figure.add_trace(
            go.Scatter(
                x=sample.positions[mine, 0],
                y=sample.positions[mine, 1],
                mode="markers",
                name=f"{name} ({len(mine)})",
                meta=name,
                customdata=sample.slots[mine],
                text=hover[mine],
                hovertemplate="%{text}<extra></extra>",
                marker={
                    "size": 9 if churned else 8,
                    "color": colours.get(name, "#9aa5b1"),
                    "symbol": "x" if churned else "circle",
                    "line": {"width": 0.5, "color": "white"},
                },
            )
        )
    figure.update_layout(
        height=560,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        plot_bgcolor="white",
        paper_bgcolor="white",
        legend={"orientation": "h", "y": -0.02, "yanchor": "top"},
        title={"text": f"{sample.size} subscribers and the {len(sample.edges)} ties among them", "font": {"size": 13}},
        uirevision=revision or None,
    )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, scaleanchor="x", scaleratio=1)
    return figure


def kpi_summary(record: RunRecord, months_closed: int) -> pd.DataFrame:
    """The closed months' KPIs over all segments (from ``kpi_table``): month (1 = the first), active at close,
    new, churned, won back, and each satisfaction grade's share of the actives."""
    table = kpi_table(record)
    table = table[table["month"] < months_closed]
    grades = [f"satisfaction_{grade}" for grade in GRADES]
    weighted = table[grades].fillna(0.0).mul(table["active"], axis=0)
    sums = table[["active", "new", "churned", "won_back"]].join(weighted).groupby(table["month"]).sum()
    shares = sums[grades].div(sums["active"].where(sums["active"] > 0), axis=0)
    summary = sums[["active", "new", "churned", "won_back"]].join(shares).reset_index()
    summary["month"] = summary["month"] + 1
    return summary


def kpi_figure(summary: pd.DataFrame, n_months: int, revision: str = "") -> go.Figure:
    """Two small panels over the months so far: churned per month (bars) and the grade shares (lines)."""
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.35, 0.65],
        vertical_spacing=0.16,
        subplot_titles=("churned per month", "satisfaction grades of actives"),
    )
    figure.add_trace(
        go.Bar(x=summary["month"], y=summary["churned"], marker_color=STAGE_COLOURS[CHURNED_NAME], name="churned"),
        row=1,
        col=1,
    )
    for grade in GRADES:
        figure.add_trace(
            go.Scatter(
                x=summary["month"],
                y=summary[f"satisfaction_{grade}"],
                mode="lines+markers",
                name=grade,
                line={"color": GRADE_COLOURS[grade], "width": 2},
                marker={"size": 4},
            ),
            row=2,
            col=1,
        )
    figure.update_layout(
        height=400,
        margin={"l": 45, "r": 10, "t": 30, "b": 20},
        plot_bgcolor="white",
        paper_bgcolor="white",
        legend={"orientation": "h", "y": -0.08, "yanchor": "top"},
        uirevision=revision or None,
        showlegend=True,
        hovermode="x unified",
    )
    figure.update_xaxes(range=[0.5, max(n_months, 1) + 0.5], gridcolor="#eef2f6", row=2, col=1)
    figure.update_xaxes(range=[0.5, max(n_months, 1) + 0.5], gridcolor="#eef2f6", row=1, col=1)
    figure.update_yaxes(gridcolor="#eef2f6", rangemode="tozero", row=1, col=1)
    figure.update_yaxes(gridcolor="#eef2f6", range=[0, 1], tickformat=".0%", row=2, col=1)
    if summary.empty:
        figure.add_annotation(
            text="no month closed yet", xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False, font={"size": 14}
        )
    return figure


def latest_kpis(summary: pd.DataFrame, scale: float) -> list[tuple[str, str]]:
    """The last closed month's KPIs as (label, value) lines (counts are real subscribers: ``scale`` each)."""
    if summary.empty:
        return [("month", "none closed yet")]
    last = summary.iloc[-1]
    lines = [
        ("month", f"{int(last['month'])}"),
        ("active", f"{last['active']:,.0f}"),
        ("new", f"{last['new']:,.0f}"),
        ("churned this month", f"{last['churned']:,.0f}"),
        ("won back", f"{last['won_back']:,.0f}"),
    ]
    lines += [(f"{grade} satisfaction", f"{last[f'satisfaction_{grade}']:.1%}") for grade in GRADES]
    lines.append(("each simulated subscriber", f"stands for {scale:g}"))
    return lines
