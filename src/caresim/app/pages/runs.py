"""Runs: every run, plan, calibration, uplift and sweep folder under the output root, with its report and tables.

A folder is a run when it holds ``manifest.json`` (as every finished caresim run does), a sweep when it holds
``sweep.parquet``. Files are served by the server's ``/files/`` route, which refuses anything outside the root.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import dash
import pandas as pd
from dash import Input, Output, State, dash_table, dcc, html

from caresim.app.context import Workbench
from caresim.app.paths import safe_path

PATH = "/runs"
TITLE = "Runs"
MAX_DEPTH = 4  # <root>/sweeps/<id>/<point>/manifest.json is the deepest the CLI writes
PREVIEW_ROWS = 200
COLUMNS = ("folder", "kind", "scenario", "seed", "finished", "report")


def _kind(folder: Path, manifest: dict) -> str:
    name = folder.name
    for suffix, kind in (("-calibrate", "calibration"), ("-uplift", "uplift"), ("-plan", "plan")):
        if name.endswith(suffix) or f"{suffix}-" in name:
            return kind
    return str(manifest.get("kind", "simulation"))


def discover(root: Path) -> pd.DataFrame:
    """The run and sweep folders under ``root`` (hidden folders skipped), newest first."""
    rows = []

    def walk(folder: Path, depth: int) -> None:
        try:
            entries = sorted(e for e in folder.iterdir() if e.is_dir() and not e.name.startswith("."))
        except OSError:
            return
        for entry in entries:
            manifest_path = entry / "manifest.json"
            if manifest_path.is_file():
                try:
                    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    manifest = {}
                rows.append(_row(root, entry, _kind(entry, manifest), manifest))
            elif (entry / "sweep.parquet").is_file() or (entry / "sweep.csv").is_file():
                rows.append(_row(root, entry, "sweep", {}))
                walk(entry, depth + 1)
            elif depth < MAX_DEPTH:
                walk(entry, depth + 1)

    walk(root, 1)
    table = pd.DataFrame(rows, columns=[*COLUMNS, "modified"])
    return table.sort_values("modified", ascending=False, kind="stable").drop(columns="modified")


def _row(root: Path, folder: Path, kind: str, manifest: dict) -> dict:
    relative = folder.relative_to(root).as_posix()
    modified = folder.stat().st_mtime
    finished = str(manifest.get("finished") or datetime.fromtimestamp(modified).isoformat(timespec="seconds"))
    report = f"[report](/files/{quote(relative)}/report.html)" if (folder / "report.html").is_file() else ""
    return {
        "folder": relative,
        "kind": kind,
        "scenario": manifest.get("scenario", ""),
        "seed": manifest.get("seed", ""),
        "finished": finished,
        "report": report,
        "modified": modified,
    }


def folder_files(root: Path, relative: str) -> list[html.Li]:
    """Links to a run folder's tables (each as CSV and Parquet) and other files."""
    folder = safe_path(root, relative)
    if folder is None or not folder.is_dir():
        return [html.Li("This folder is not under the output root.")]
    items = []
    tables = sorted({p.stem for p in folder.iterdir() if p.suffix in (".parquet", ".csv")})
    for name in tables:
        source = folder / f"{name}.parquet"
        source = source if source.is_file() else folder / f"{name}.csv"
        url = f"/files/{quote(relative)}/{quote(source.name)}"
        items.append(
            html.Li(
                [
                    html.Span(name, className="table-name"),
                    " ",
                    html.A("CSV", href=f"{url}?format=csv", download=f"{name}.csv"),
                    " · ",
                    html.A("Parquet", href=f"{url}?format=parquet", download=f"{name}.parquet"),
                ]
            )
        )
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix not in (".parquet", ".csv")):
        items.append(html.Li(html.A(path.name, href=f"/files/{quote(relative)}/{quote(path.name)}", target="_blank")))
    return items


def layout(workbench: Workbench) -> html.Div:
    table = discover(workbench.output_root)
    return html.Div(
        [
            html.H2("Runs"),
            html.P(
                f"Run, plan, calibration, uplift and sweep folders under {workbench.output_root}. Pick one to open "
                "its report and download its tables.",
                className="muted",
            ),
            html.Button("Refresh", id="runs-refresh", className="secondary", n_clicks=0),
            html.Div(
                dash_table.DataTable(
                    id="runs-table",
                    columns=[
                        {"name": c, "id": c, "presentation": "markdown"} if c == "report" else {"name": c, "id": c}
                        for c in COLUMNS
                    ],
                    data=table.to_dict("records"),
                    row_selectable="single",
                    filter_action="native",
                    sort_action="native",
                    page_size=15,
                    markdown_options={"link_target": "_blank"},
                    style_cell={"textAlign": "left", "fontSize": "0.85rem"},
                ),
                className="card",
            ),
            html.Div(id="runs-files", className="card"),
            html.Div(
                [
                    dcc.Dropdown(id="runs-preview-table", placeholder="preview a table", className="control"),
                    html.Div(id="runs-preview"),
                ],
                className="card",
            ),
        ]
    )


def register(app: dash.Dash, workbench: Workbench) -> None:
    root = workbench.output_root

    @app.callback(Output("runs-table", "data"), Input("runs-refresh", "n_clicks"), prevent_initial_call=True)
    def refresh(_clicks: int) -> list[dict]:
        return discover(root).to_dict("records")

    @app.callback(
        Output("runs-files", "children"),
        Output("runs-preview-table", "options"),
        Output("runs-preview-table", "value"),
        Input("runs-table", "selected_rows"),
        State("runs-table", "derived_virtual_data"),
    )
    def show_files(selected: list[int] | None, rows: list[dict] | None) -> tuple:
        if not selected or not rows or selected[0] >= len(rows):
            return html.P("Select a run above.", className="muted"), [], None
        relative = str(rows[selected[0]].get("folder") or "")
        folder = safe_path(root, relative)
        if folder is None or not folder.is_dir():
            return html.P("Not a run folder under the output root.", className="form-error"), [], None
        names = sorted({p.stem for p in folder.iterdir() if p.suffix in (".parquet", ".csv")})
        options = [{"label": n, "value": f"{relative}/{n}"} for n in names]
        return [html.H3(relative), html.Ul(folder_files(root, relative))], options, None

    @app.callback(Output("runs-preview", "children"), Input("runs-preview-table", "value"))
    def preview(value: str | None) -> object:
        if not value:
            return ""
        from caresim.report.folder import ReportError, read_table

        relative, _, name = value.rpartition("/")
        folder = safe_path(root, relative)
        if folder is None:
            return html.P("Not under the output root.", className="form-error")
        try:
            table = read_table(folder, name)
        except ReportError as error:
            return html.P(str(error), className="form-error")
        if table is None:
            return ""
        shown = table.head(PREVIEW_ROWS)
        return [
            html.P(f"{name}: {len(table):,} rows × {table.shape[1]} columns; first {len(shown)}", className="muted"),
            dash_table.DataTable(
                data=shown.astype(object).where(shown.notna(), None).to_dict("records"),
                columns=[{"name": str(c), "id": str(c)} for c in shown.columns],
                page_size=20,
                style_table={"overflowX": "auto"},
                style_cell={"fontSize": "0.8rem"},
            ),
        ]
