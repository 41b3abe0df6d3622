"""Care mix: edit the coverage of every programme × segment as a grid, see its cost before running, simulate it,
and save it as a policy file that the CLI (``caresim policy=<name>``) and ``caresim.simulate`` read.

The cost is predicted from a reference run of the same scenario at full coverage (``caresim.app.policies``),
run once per scenario and settings as a background job; the simulated cost is shown beside it after a run.
"""

from __future__ import annotations

import json
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, State, dash_table, dcc, html

from caresim.app.components import (
    error_outputs,
    field_errors,
    field_inputs,
    field_overrides,
    guarded,
    job_panel,
    number_field,
    register_job_panel,
)
from caresim.app.context import Workbench, session_of
from caresim.app.fields import check, value_at
from caresim.app.jobs import JobSpec
from caresim.app.paths import safe_path
from caresim.app.policies import full_coverage, grid_mix, mix_cost, mix_grid, save_policy
from caresim.config.errors import ConfigError

PATH = "/care-mix"
TITLE = "Care mix"
PREFIX = "caremix"
DEFAULT_SCENARIO = "baseline"
REFERENCE = "cost reference (full coverage)"
PARAMETERS = {"run.n_months": "Months", "run.scale": "Scale", "run.seed": "Seed"}


def _policy_mapping(scenario: str, start: str) -> tuple[dict, list[str], list[str]]:
    """The mix to start from (a policy option, or nothing), with the scenario's programmes and segments."""
    from caresim.simulation import resolve_policy

    config, _, message = check(scenario, [f"policy={start}"] if start != "none" else [], {"policy"})
    if config is None:
        raise ConfigError(message)
    programmes, segments = list(config.catalogue), list(config.population.segments)
    mix = resolve_policy(config, None).to_mapping() if start != "none" else {}
    return mix, programmes, segments


def _grid(mix: dict, programmes: list[str], segments: list[str]) -> tuple[list[dict], list[dict], dict]:
    rows, targets = mix_grid(mix, programmes, segments)
    columns = [{"name": "programme", "id": "programme", "editable": False}]
    columns += [{"name": s, "id": s, "type": "numeric", "editable": True} for s in segments]
    return rows, columns, targets


def layout(workbench: Workbench) -> html.Div:
    from caresim.config.loading import available_scenarios, config_groups

    mix, programmes, segments = _policy_mapping(DEFAULT_SCENARIO, "default")
    rows, columns, targets = _grid(mix, programmes, segments)
    config, _, _ = check(DEFAULT_SCENARIO, [])
    fields = [number_field(PREFIX, key, value_at(config, key), label) for key, label in PARAMETERS.items()]
    starts = [*config_groups().get("policy", ["default"]), "none"]
    controls = html.Div(
        [
            html.Div(
                [
                    html.Label("Scenario"),
                    dcc.Dropdown(
                        id="caremix-scenario", options=available_scenarios(), value=DEFAULT_SCENARIO, clearable=False
                    ),
                ],
                className="field",
            ),
            html.Div(
                [
                    html.Label("Start from"),
                    dcc.Dropdown(id="caremix-start", options=starts, value="default", clearable=False),
                    html.Div("default is today's practice; none is no care at all", className="help"),
                ],
                className="field",
            ),
            html.Div(fields, className="fields"),
            html.Div(
                [
                    html.Label("Name"),
                    dcc.Input(id="caremix-name", type="text", value="my_care_mix", className="control"),
                ],
                className="field",
            ),
            job_panel(PREFIX, "Simulate"),
            html.Div(
                [
                    html.Button("Save as policy file", id="caremix-save", className="secondary", n_clicks=0),
                    dcc.Checklist(
                        id="caremix-overwrite", options=[{"label": " overwrite", "value": "yes"}], value=[], inline=True
                    ),
                    html.Div("", id="caremix-saved", className="muted"),
                ]
            ),
        ],
        className="card",
    )
    grid = html.Div(
        [
            html.H3("Coverage: share of eligible subscribers each programme reaches, by segment (0 to 1)"),
            dash_table.DataTable(
                id="caremix-grid",
                data=rows,
                columns=columns,
                editable=True,
                style_cell={"fontSize": "0.85rem", "minWidth": "80px"},
                style_data_conditional=[{"if": {"column_id": "programme"}, "fontWeight": 600}],
            ),
            html.Div("", id="caremix-grid-error", className="form-error"),
            html.P("", id="caremix-targets", className="muted"),
            dcc.Store(id="caremix-rules", data=targets),
            html.H3("Cost before running"),
            html.Div(id="caremix-cost"),
            html.Div(
                [
                    html.Button(
                        "Compute the cost reference", id="caremix-reference-run", className="secondary", n_clicks=0
                    ),
                    html.Span("", id="caremix-reference-status", className="status"),
                    dcc.Store(id="caremix-reference", storage_type="local"),
                    dcc.Interval(id="caremix-reference-tick", interval=500, disabled=True),
                ]
            ),
            html.H3("Simulated"),
            html.Div(id="caremix-results"),
        ],
        className="card",
    )
    return html.Div([html.H2(TITLE), html.Div([controls, grid], className="columns")])


def _settings(scenario: str, keys: list, values: list) -> tuple[str, list[str]]:
    overrides = field_overrides(keys, values)
    return json.dumps([scenario, overrides]), overrides


def _rules_text(targets: dict) -> str:
    if not targets:
        return ""
    rules = "; ".join(f"{p}: " + ", ".join(f"{s} by {r}" for s, r in shares.items()) for p, shares in targets.items())
    return f"Targeting kept from the starting mix (the rest is random): {rules}."


def _read(workbench: Workbench, folder: str | None, name: str) -> pd.DataFrame | None:
    from caresim.report.folder import ReportError, read_table

    path = safe_path(workbench.output_root, folder or "")
    if path is None:
        return None
    try:
        return read_table(path, name)
    except ReportError:
        return None


def simulated_summary(kpis: pd.DataFrame, costs: pd.DataFrame) -> dict[str, float]:
    """A run's headline: care spend, subscribers churned, churn share of everyone ever active, active at the end."""
    last = kpis["month"].max()
    churned = float(kpis["churned"].sum())
    started = float(kpis.loc[kpis["month"] == kpis["month"].min(), "active_start"].sum()) + float(kpis["new"].sum())
    return {
        "care_spend": float(costs["total_spend"].sum()),
        "churned": churned,
        "churned_share": churned / started if started else float("nan"),
        "active_at_end": float(kpis.loc[kpis["month"] == last, "active"].sum()),
    }


def register(app: dash.Dash, workbench: Workbench) -> None:
    register_job_panel(app, workbench, PREFIX)

    @app.callback(
        Output("caremix-grid", "data"),
        Output("caremix-grid", "columns"),
        Output("caremix-rules", "data"),
        Output("caremix-targets", "children"),
        Input("caremix-scenario", "value"),
        Input("caremix-start", "value"),
    )
    def start_from(scenario: str, start: str) -> tuple:
        try:
            mix, programmes, segments = _policy_mapping(scenario, start)
        except ConfigError as error:
            return dash.no_update, dash.no_update, dash.no_update, str(error)
        rows, columns, targets = _grid(mix, programmes, segments)
        return rows, columns, targets, _rules_text(targets)

    def current_mix(rows: list[dict], columns: list[dict], rules: dict) -> dict:
        segments = [c["id"] for c in columns if c["id"] != "programme"]
        return grid_mix(rows, segments, rules or {})

    @app.callback(
        Output("caremix-job", "data"),
        error_outputs(PREFIX),
        Output("caremix-grid-error", "children"),
        Input("caremix-run", "n_clicks"),
        State("caremix-scenario", "value"),
        State("caremix-grid", "data"),
        State("caremix-grid", "columns"),
        State("caremix-rules", "data"),
        State("caremix-name", "value"),
        *field_inputs(PREFIX),
        State("session", "data"),
        prevent_initial_call=True,
    )
    @guarded
    def simulate(
        _clicks: int,
        scenario: str,
        rows: list,
        columns: list,
        rules: dict,
        name: str,
        keys: list,
        values: list,
        session: object,
    ) -> tuple:
        from caresim.simulation import resolve_policy

        _, overrides = _settings(scenario, keys, values)
        config, key, message = check(scenario, overrides, set(PARAMETERS))
        if config is None:
            on_page = any(k["key"] == key for k in keys)
            return dash.no_update, field_errors(keys, key, message), "" if on_page else message
        try:
            mix = current_mix(rows, columns, rules)
            resolve_policy(config, mix)  # the CLI's message for a bad share, before anything runs
        except ConfigError as error:
            return dash.no_update, field_errors(keys, None, None), str(error)
        spec = JobSpec(
            kind="simulate", scenario=scenario, overrides=tuple(overrides), policy=mix, label=name or "care mix"
        )
        return workbench.jobs.start(session_of(session), spec), field_errors(keys, None, None), ""

    @app.callback(
        Output("caremix-reference", "data"),
        Output("caremix-reference-tick", "disabled", allow_duplicate=True),
        Input("caremix-reference-run", "n_clicks"),
        State("caremix-scenario", "value"),
        State("caremix-grid", "columns"),
        *field_inputs(PREFIX),
        State("caremix-reference", "data"),
        State("session", "data"),
        prevent_initial_call=True,
    )
    @guarded
    def reference(
        _clicks: int, scenario: str, columns: list, keys: list, values: list, known: dict | None, session: object
    ) -> tuple:
        settings, overrides = _settings(scenario, keys, values)
        config, _, _ = check(scenario, overrides, set(PARAMETERS))
        if config is None:
            return dash.no_update, True
        known = dict(known or {})
        programmes = list(config.catalogue)
        spec = JobSpec(
            kind="simulate",
            scenario=scenario,
            overrides=tuple(overrides),
            policy=full_coverage(programmes),
            label=REFERENCE,
        )
        known[settings] = workbench.jobs.start(session_of(session), spec)
        return known, False

    @app.callback(
        Output("caremix-cost", "children"),
        Output("caremix-reference-status", "children"),
        Output("caremix-reference-tick", "disabled"),
        Input("caremix-grid", "data"),
        Input("caremix-reference", "data"),
        Input("caremix-reference-tick", "n_intervals"),
        State("caremix-grid", "columns"),
        State("caremix-rules", "data"),
        State("caremix-scenario", "value"),
        *field_inputs(PREFIX),
        State("session", "data"),
    )
    @guarded
    def cost(
        rows: list,
        known: dict | None,
        _ticks: int,
        columns: list,
        rules: dict,
        scenario: str,
        keys: list,
        values: list,
        session: object,
    ) -> tuple:
        settings, overrides = _settings(scenario, keys, values)
        job = (known or {}).get(settings)
        if not job:
            return (
                html.P(
                    "Compute the cost reference for these settings to see the cost before running.", className="muted"
                ),
                "",
                True,
            )
        try:
            status = workbench.jobs.status(session_of(session), job)
        except (ValueError, OSError):
            return html.P("The cost reference is gone; compute it again.", className="muted"), "", True
        if not status.finished:
            return dash.no_update, f"reference: {status.message} ({status.done}/{status.total})", False
        reference_table = _read(workbench, status.folder, "care_spend")
        config, _, _ = check(scenario, overrides, set(PARAMETERS))
        if status.state != "done" or reference_table is None or config is None:
            return html.P(f"The cost reference {status.state}: {status.message}", className="form-error"), "", True
        try:
            mix = current_mix(rows, columns, rules)
            holdout = config.evaluation.holdout_share
            table = mix_cost(mix, reference_table, config.catalogue, config.run.n_months, holdout)
        except ConfigError as error:
            return html.P(str(error), className="form-error"), "", True
        total = table["cost"].sum()
        shown = table[table["cost"] > 0].assign(
            **{c: table[c].map("{:,.0f}".format) for c in ("variable_cost", "fixed_cost", "cost")}
        )
        return (
            [
                html.P(
                    f"Predicted care cost over the horizon (an estimate): {total:,.0f}",
                    id="caremix-predicted-cost",
                    className="status",
                ),
                dash_table.DataTable(
                    data=shown.to_dict("records"),
                    columns=[{"name": c.replace("_", " "), "id": c} for c in shown.columns],
                    style_cell={"fontSize": "0.8rem"},
                ),
            ],
            "reference ready",
            True,
        )

    @app.callback(Output("caremix-results", "children"), Input("caremix-done", "data"), Input("session", "data"))
    @guarded
    def results(_done: dict | None, session: object) -> object:
        rows = []
        for job, spec, status in workbench.jobs.list(session_of(session)):
            if spec.kind != "simulate" or spec.label == REFERENCE or status.state != "done":
                continue
            kpis, costs = _read(workbench, status.folder, "kpis"), _read(workbench, status.folder, "programme_costs")
            if kpis is None or costs is None:
                continue
            summary = simulated_summary(kpis, costs)
            rows.append(
                {
                    "run": spec.label or job,
                    "folder": status.folder,
                    "care spend": f"{summary['care_spend']:,.0f}",
                    "churned": f"{summary['churned']:,.0f}",
                    "churned share": f"{summary['churned_share']:.2%}",
                    "active at end": f"{summary['active_at_end']:,.0f}",
                }
            )
        if not rows:
            return html.P("Simulate the mix to see what it does.", className="muted")
        return dash_table.DataTable(
            id="caremix-results-table",
            data=rows,
            columns=[{"name": c, "id": c} for c in rows[0]],
            style_cell={"fontSize": "0.8rem", "textAlign": "left"},
        )

    @app.callback(
        Output("caremix-saved", "children"),
        Input("caremix-save", "n_clicks"),
        State("caremix-name", "value"),
        State("caremix-overwrite", "value"),
        State("caremix-grid", "data"),
        State("caremix-grid", "columns"),
        State("caremix-rules", "data"),
        State("caremix-scenario", "value"),
        prevent_initial_call=True,
    )
    def save(
        _clicks: int, name: str, overwrite: list[str], rows: list, columns: list, rules: dict, scenario: str
    ) -> Any:
        from caresim.simulation import resolve_policy

        try:
            mix = current_mix(rows, columns, rules)
            config, _, message = check(scenario, [], set())
            if config is None:
                raise ConfigError(message)
            resolve_policy(config, mix)
            path = save_policy(
                name, mix, overwrite=bool(overwrite), note=f"care mix saved from the caresim workbench ({scenario})"
            )
        except ConfigError as error:
            return html.Span(str(error), className="form-error")
        return f"saved {path}: run it with caresim policy={name}"
