"""Self-contained HTML reports of a run folder: figures embedded as PNG data URIs, key tables as HTML tables.

``simulation_report`` and ``plan_report`` read a folder's tables and write ``report.html`` into it (atomically),
with each figure also saved under ``figures/``. A figure whose tables or columns the folder lacks is skipped,
and the report says which and why. Nothing is re-run.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from caresim.report import figures
from caresim.report.folder import Kind, ReportError, kind_of, read_plan_status, read_tables, write_atomic

Tables = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class FigureSpec:
    """A figure of a report: its file name, title, the tables (and columns) it needs, and how to draw it."""

    name: str
    title: str
    needs: dict[str, tuple[str, ...]]
    draw: Callable[[Tables], Figure]


GRADE_COLUMNS = tuple(f"{s}_{g}" for s in ("satisfaction", "loyalty") for g in ("excellent", "good", "fair", "poor"))

SIMULATION_FIGURES = (
    FigureSpec(
        "survival",
        "Survival and churn by segment",
        {"kpis": ("month", "segment", "churned", "active_start")},
        lambda t: figures.survival(t["kpis"]),
    ),
    FigureSpec(
        "grades",
        "Satisfaction and loyalty grades over time",
        {"kpis": ("month", "active", *GRADE_COLUMNS)},
        lambda t: figures.grade_shares(t["kpis"]),
    ),
    FigureSpec(
        "stage_flows",
        "Lifecycle flows between stages",
        {"stage_flows": ("from_stage", "to_stage", "count")},
        lambda t: figures.stage_flows(t["stage_flows"]),
    ),
)


def plan_figures(budget: float | None) -> tuple[FigureSpec, ...]:
    """The plan report's figures; ``budget`` (the plan's) is marked on the frontier."""
    return (
        FigureSpec(
            "frontier",
            "Budget frontier (predicted, 95% intervals)",
            {"frontier": ("budget", "net_value")},
            lambda t: figures.budget_frontier(t["frontier"], budget),
        ),
        FigureSpec(
            "allocation",
            "Allocation: segment × programme",
            {"plan": ("segment", "programme", "coverage")},
            lambda t: figures.allocation(t["plan"]),
        ),
        FigureSpec(
            "pilot_qini",
            "Who care helps: the pilot's uplift models (Qini curves, gain over random order)",
            {"pilot_qini_curves": ("programme", "fraction", "curve", "random_line")},
            lambda t: figures.pilot_qini(t["pilot_qini_curves"]),
        ),
        FigureSpec(
            "predicted_vs_simulated",
            "Predicted vs simulated net value of the plan and its baselines",
            {"comparison": ("policy", "net_value", "predicted_net_value")},
            lambda t: figures.predicted_vs_simulated(t["comparison"]),
        ),
    )


def why_skipped(spec: FigureSpec, tables: Tables) -> str | None:
    """Why ``spec`` cannot be drawn from ``tables`` (a missing or empty table, missing columns), or None."""
    for name, columns in spec.needs.items():
        if name not in tables:
            return f"needs table {name}, which this folder does not have"
        if tables[name].empty:
            return f"table {name} is empty"
        absent = [c for c in columns if c not in tables[name].columns]
        if absent:
            return f"table {name} lacks column(s) {', '.join(absent)}"
    return None


def _number(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def table_html(table: pd.DataFrame, max_rows: int = 60) -> str:
    """``table`` as an HTML table (text escaped, numbers compact, at most ``max_rows`` rows)."""
    shown = table.head(max_rows)
    body = shown.to_html(index=False, border=0, na_rep="", float_format=_number, classes="data")
    more = f"<p class='note'>first {max_rows} of {len(table)} rows</p>" if len(table) > max_rows else ""
    return body + more


def _interval(middle: float, low: float, high: float) -> str:
    if pd.isna(middle):
        return ""
    if pd.isna(low) or pd.isna(high):
        return figures.amount(middle)
    return f"{figures.amount(middle)} [{figures.amount(low)}, {figures.amount(high)}]"


def with_intervals(table: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    """``metric`` columns rewritten as ``value [low, high]`` text where ``_low``/``_high`` exist; those dropped."""
    table = table.copy()
    for metric in (m for m in metrics if m in table.columns):
        low, high = f"{metric}_low", f"{metric}_high"
        if {low, high} <= set(table.columns):
            table[metric] = [_interval(*row) for row in zip(table[metric], table[low], table[high], strict=True)]
            table = table.drop(columns=[low, high])
    return table


def figures_html(specs: tuple[FigureSpec, ...], tables: Tables, folder: Path) -> tuple[list[str], list[str]]:
    """Draw each figure that can be drawn: save it under ``folder/figures`` and return its HTML block;
    also return one line per figure skipped, saying why."""
    blocks, skipped = [], []
    for spec in specs:
        reason = why_skipped(spec, tables)
        if reason:
            skipped.append(f"{spec.title}: {reason}")
            (folder / "figures" / f"{spec.name}.png").unlink(missing_ok=True)  # none left from an earlier report
            continue
        data = figures.png_bytes(spec.draw(tables))
        write_atomic(folder / "figures" / f"{spec.name}.png", data)
        blocks.append(figure_html(data, spec.title))
    return blocks, skipped


def figure_html(png: bytes, title: str) -> str:
    """A PNG embedded as a data URI, with ``title`` as its caption and alternative text."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<figure><img src="{uri}" alt="{escape(title)}"><figcaption>{escape(title)}</figcaption></figure>'


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
figure { margin: 1em 0; } img { max-width: 100%; } figcaption { color: #555; font-size: 0.9em; }
table.data { border-collapse: collapse; font-size: 0.85em; }
table.data th, table.data td { padding: 0.2em 0.6em; border-bottom: 1px solid #eee; text-align: right; }
table.data th { background: #f4f4f4; } .note { color: #777; font-size: 0.85em; }
"""


def page(title: str, sections: list[tuple[str, str]]) -> str:
    """A whole HTML document: ``title`` and ``(heading, html)`` sections, styles inline, nothing external."""
    parts = [f"<h2>{escape(heading)}</h2>\n{body}" for heading, body in sections if body]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body><h1>{escape(title)}</h1>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def _skipped_html(skipped: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in skipped) + "</ul>" if skipped else ""


def segment_summary(kpis: pd.DataFrame) -> pd.DataFrame:
    """Per segment and overall: subscribers at the start and end, new, churned, won back, revenue, care spend."""
    first, last = kpis["month"].min(), kpis["month"].max()
    sums = [c for c in ("new", "churned", "won_back", "revenue", "care_spend") if c in kpis.columns]
    start = kpis[kpis["month"] == first].groupby("segment", sort=False)["active_start"].sum()
    end = kpis[kpis["month"] == last].groupby("segment", sort=False)["active"].sum()
    summary = pd.DataFrame({"active_at_start": start, "active_at_end": end})
    summary = summary.join(kpis.groupby("segment", sort=False)[sums].sum())
    summary.loc["all"] = summary.sum()
    return summary.rename_axis("segment").reset_index()


def simulation_report(folder: str | Path) -> Path:
    """Write ``report.html`` (and ``figures/*.png``) for the simulation run in ``folder``; return its path."""
    folder = _checked(folder, "simulation")
    tables = read_tables(folder, ("kpis", "stage_flows", "programmes"))
    blocks, skipped = figures_html(SIMULATION_FIGURES, tables, folder)
    sections = [("Figures", "\n".join(blocks)), ("Figures not drawn", _skipped_html(skipped))]
    if "kpis" in tables and {"month", "segment", "active_start", "active"} <= set(tables["kpis"].columns):
        sections.append(("Subscribers and money by segment", table_html(segment_summary(tables["kpis"]))))
    programmes = tables.get("programmes")
    if programmes is not None and not programmes.empty:
        if "verdict" in programmes.columns:  # programmes that ran, every segment and all
            programmes = programmes[programmes["verdict"] != "not run"]
        judged = ("grade_shift", "churn_reduction_by_end", "net_benefit")
        keep = ("programme", "segment", "policy_share", "reach", "timeliness", "cost", "cost_evaluated", *judged)
        shown = with_intervals(programmes, judged)
        shown = shown[[c for c in (*keep, "verdict") if c in shown.columns]]
        sections.append(
            (
                "Programmes against their control groups (grade shift in grade points, churn gap by the end of "
                "the horizon; intervals hold jointly over the table)",
                table_html(shown),
            )
        )
    return _write(folder, f"caresim simulation report: {folder.name}", sections)


def plan_report(folder: str | Path) -> Path:
    """Write ``report.html`` (and ``figures/*.png``) for the plan run in ``folder``; return its path."""
    folder = _checked(folder, "plan")
    status = read_plan_status(folder)
    tables = read_tables(folder, ("plan", "comparison", "frontier", "binding", "pilot_qini", "pilot_qini_curves"))
    budget = status.get("budget")
    specs = plan_figures(float(budget) if isinstance(budget, int | float) else None)
    blocks, skipped = figures_html(specs, tables, folder)
    facts = {k: status[k] for k in ("status", "objective", "objective_value", "total_cost", "budget") if k in status}
    summary = table_html(pd.DataFrame([facts])) if facts else ""
    reasons = [str(r) for r in status.get("explanation", []) or []]
    summary += "<ul>" + "".join(f"<li>{escape(r)}</li>" for r in reasons) + "</ul>" if reasons else ""
    sections = [("Status", summary), ("Figures", "\n".join(blocks)), ("Figures not drawn", _skipped_html(skipped))]
    if "plan" in tables:
        sections.append(("The plan", table_html(tables["plan"])))
    if "comparison" in tables:
        present = set(tables["comparison"].columns)
        keep = [f"{m}{s}" for m in COMPARED for s in ("", "_low", "_high") if f"{m}{s}" in present]
        shown = with_intervals(tables["comparison"][keep], COMPARED)
        sections.append(("Predicted vs simulated, against no care (95% intervals)", table_html(shown)))
    if "pilot_qini" in tables and not tables["pilot_qini"].empty:
        sections.append(
            (
                "Uplift models on the pilot (Qini coefficient per sample, 95% bootstrap interval; above 0: the "
                "model's order finds those care helps better than random)",
                table_html(tables["pilot_qini"]),
            )
        )
    if "frontier" in tables:
        sections.append(("Budget frontier", table_html(with_intervals(tables["frontier"], FRONTIER))))
    if "binding" in tables and not tables["binding"].empty:
        sections.append(("Binding limits", table_html(tables["binding"])))
    return _write(folder, f"caresim plan report: {folder.name}", sections)


COMPARED = ("policy", "net_value", "predicted_net_value", "retained", "cost", "poor_share", "net_value_vs_plan")
FRONTIER = ("net_value", "value", "retained", "loyal", "cost")


def report(folder: str | Path) -> Path:
    """The report that fits the folder: a plan report when it has ``plan.json``, else a simulation report."""
    return plan_report(folder) if kind_of(folder) == "plan" else simulation_report(folder)


def _checked(folder: str | Path, kind: Kind) -> Path:
    """``folder`` as a Path, after checking it holds a run of ``kind``."""
    found = kind_of(folder)
    if found != kind:
        raise ReportError(f"holds a {found} run, not a {kind} run")
    return Path(folder)


def _write(folder: Path, title: str, sections: list[tuple[str, str]]) -> Path:
    return write_atomic(folder / "report.html", page(title, sections).encode("utf-8"))
