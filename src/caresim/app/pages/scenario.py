"""Scenario: pick a scenario, a population and a care policy, change the main parameters, run, and read the
results; put several runs side by side (e.g. today's practice against an alternative on the same seed).

Each run is a background job (``caresim.app.jobs``) writing an ordinary run folder; the page reads the folders
of the session's finished runs, so a reload or a restart loses nothing.
"""

from __future__ import annotations

from typing import Any

import dash
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
from caresim.app.run_figures import (
    KPI_METRICS,
    desk_waits,
    effect_intervals,
    evaluation_table,
    grade_shares,
    kpi_lines,
    survival,
)

PATH = "/scenario"
TITLE = "Scenario"
PREFIX = "scenario"
NO_CARE = "no care"
MAX_SHOWN = 4
DEFAULT_SCENARIO = "baseline"
#: the main parameters, in the order shown: key -> label
PARAMETERS = {
    "run.n_months": "Months",
    "run.scale": "Scale",
    "run.seed": "Seed",
    "market.rate_problems_per_month": "Service problems per subscriber-month",
    "market.network_quality": "Network quality",
    "market.competitor_pressure": "Competitor pressure",
    "market.p_bill_shock": "Chance of a bill shock",
    "service.p_complain": "Chance an open problem brings a complaint",
    "service.n_max_care_contacts_per_month": "Care contacts per subscriber-month, at most",
    "evaluation.holdout_share": "Control-group share under targeting",
}
TABS = (("kpis", "KPIs by segment"), ("grades", "Grades"), ("churn", "Churn and survival"), ("desks", "Desk waits"))


def _choices() -> tuple[list[str], list[str], list[str]]:
    from caresim.config.loading import available_scenarios, config_groups

    groups = config_groups()
    return available_scenarios(), groups.get("population", ["default"]), [*groups.get("policy", ["default"]), NO_CARE]


def _fields(scenario: str) -> list[html.Div]:
    config, _, _ = check(scenario, [])
    return [
        number_field(PREFIX, key, value_at(config, key) if config else None, label) for key, label in PARAMETERS.items()
    ]


def layout(workbench: Workbench) -> html.Div:
    scenarios, populations, policies = _choices()
    controls = html.Div(
        [
            html.Div(
                [
                    html.Label("Scenario"),
                    dcc.Dropdown(id="scenario-name", options=scenarios, value=DEFAULT_SCENARIO, clearable=False),
                ],
                className="field",
            ),
            html.Div(
                [
                    html.Label("Population"),
                    dcc.Dropdown(
                        id="scenario-population", options=populations, value=None, placeholder="the scenario's own"
                    ),
                ],
                className="field",
            ),
            html.Div(
                [
                    html.Label("Care policy"),
                    dcc.Dropdown(id="scenario-policy", options=policies, value="default", clearable=False),
                    html.Div(
                        "default is today's practice (conf/policy); saved care mixes appear here", className="help"
                    ),
                ],
                className="field",
            ),
            html.Div(_fields(DEFAULT_SCENARIO), id="scenario-fields", className="fields"),
            html.Div(
                [
                    html.Label("Name of this run"),
                    dcc.Input(
                        id="scenario-label",
                        type="text",
                        value="",
                        placeholder="e.g. today's practice",
                        className="control",
                    ),
                ],
                className="field",
            ),
            job_panel(PREFIX, "Run"),
        ],
        className="card",
    )
    results = html.Div(
        [
            html.Div(
                [
                    html.Label("Runs shown (side by side)"),
                    dcc.Dropdown(id="scenario-shown", multi=True, placeholder="finished runs of this session"),
                ],
                className="field",
            ),
            dcc.Tabs(
                id="scenario-tab", value="kpis", children=[dcc.Tab(label=label, value=value) for value, label in TABS]
            ),
            html.Div(
                [
                    dcc.Dropdown(
                        id="scenario-metric",
                        options=[{"label": label, "value": key} for key, (label, _) in KPI_METRICS.items()],
                        value="churn_rate",
                        clearable=False,
                        style={"width": "320px", "display": "inline-block"},
                    ),
                    dcc.Checklist(
                        id="scenario-by-segment",
                        options=[{"label": " by segment", "value": "yes"}],
                        value=["yes"],
                        inline=True,
                    ),
                ],
                id="scenario-kpi-controls",
            ),
            dcc.Loading(dcc.Graph(id="scenario-figure", figure={}), type="dot"),
            html.H3("Programme evaluation against control groups"),
            html.P(
                "Each option that assigned anyone, judged against its own control group (intention to treat): "
                "grade shift, churn reduction by the end and net benefit, with intervals, and the verdict.",
                className="muted",
            ),
            html.Div(id="scenario-evaluation"),
            dcc.Graph(id="scenario-effects", figure={}),
        ],
        className="card",
    )
    return html.Div([html.H2(TITLE), html.Div([controls, results], className="columns")])


def _policy_override(policy: str) -> tuple[list[str], dict | None]:
    """Overrides and the job's policy mapping for the policy chosen: a policy group option, or no care at all."""
    if policy == NO_CARE:
        return [], {}
    return [f"policy={policy}"], None


def finished_runs(workbench: Workbench, session: str) -> list[dict[str, str]]:
    """The session's finished simulations as dropdown options, newest first."""
    options = []
    for job, spec, status in workbench.jobs.list(session):
        if spec.kind == "simulate" and status.state == "done" and status.folder:
            options.append({"label": f"{spec.label or job} ({status.folder})", "value": job})
    return options


def _tables(workbench: Workbench, session: str, jobs: list[str], name: str) -> dict[str, Any]:
    """Table ``name`` of each shown run, by the run's label."""
    from caresim.report.folder import ReportError, read_table

    tables = {}
    for job in jobs:
        try:
            spec, status = workbench.jobs.spec(session, job), workbench.jobs.status(session, job)
        except (ValueError, OSError, TypeError, KeyError):  # an id from the browser that is not this session's job
            continue
        folder = safe_path(workbench.output_root, status.folder or "")
        if folder is None:
            continue
        try:
            table = read_table(folder, name)
        except ReportError:
            continue
        if table is not None:
            label = spec.label or job
            tables[label if label not in tables else f"{label} ({job})"] = table
    return tables


def register(app: dash.Dash, workbench: Workbench) -> None:
    register_job_panel(app, workbench, PREFIX)

    @app.callback(Output("scenario-fields", "children"), Input("scenario-name", "value"), prevent_initial_call=True)
    def scenario_defaults(scenario: str) -> list[html.Div]:
        return _fields(scenario)

    @app.callback(
        Output("scenario-job", "data"),
        error_outputs(PREFIX),
        Output("scenario-message", "children"),
        Input("scenario-run", "n_clicks"),
        State("scenario-name", "value"),
        State("scenario-population", "value"),
        State("scenario-policy", "value"),
        State("scenario-label", "value"),
        *field_inputs(PREFIX),
        State("session", "data"),
        prevent_initial_call=True,
    )
    @guarded
    def run(
        _clicks: int,
        scenario: str,
        population: str | None,
        policy: str,
        label: str,
        keys: list,
        values: list,
        session: object,
    ) -> tuple:
        policy_overrides, mapping = _policy_override(policy)
        overrides = [
            *([f"population={population}"] if population else []),
            *policy_overrides,
            *field_overrides(keys, values),
        ]
        config, key, message = check(scenario, overrides, {*PARAMETERS, "population", "policy"})
        if config is None:
            on_page = any(k["key"] == key for k in keys)
            return dash.no_update, field_errors(keys, key, message), "" if on_page else message
        name = label or f"{scenario} · {policy} · seed {config.run.seed}"
        spec = JobSpec(kind="simulate", scenario=scenario, overrides=tuple(overrides), policy=mapping, label=name)
        job = workbench.jobs.start(session_of(session), spec)
        return job, field_errors(keys, None, None), ""

    @app.callback(
        Output("scenario-shown", "options"),
        Output("scenario-shown", "value"),
        Input("scenario-done", "data"),
        Input("session", "data"),
        State("scenario-shown", "value"),
    )
    @guarded
    def list_runs(done: dict | None, session: object, shown: list[str] | None) -> tuple:
        options = finished_runs(workbench, session_of(session))
        known = {o["value"] for o in options}
        shown = [job for job in (shown or []) if job in known]
        newest = done.get("job") if isinstance(done, dict) and done.get("state") == "done" else None
        if newest in known and newest not in shown:
            shown = [newest, *shown][:MAX_SHOWN]
        if not shown and options:
            shown = [options[0]["value"]]
        return options, shown

    @app.callback(
        Output("scenario-figure", "figure"),
        Output("scenario-kpi-controls", "style"),
        Input("scenario-shown", "value"),
        Input("scenario-tab", "value"),
        Input("scenario-metric", "value"),
        Input("scenario-by-segment", "value"),
        State("session", "data"),
    )
    @guarded
    def draw(shown: list[str] | None, tab: str, metric: str, by_segment: list[str], session: object) -> tuple:
        session = session_of(session)
        hidden = {"display": "none"} if tab != "kpis" else {}
        if not shown:
            return {}, hidden
        if tab == "desks":
            desks = _tables(workbench, session, shown, "desks")
            return (desk_waits(desks) if desks else {}), hidden
        kpis = _tables(workbench, session, shown, "kpis")
        if not kpis:
            return {}, hidden
        if tab == "grades":
            return grade_shares(kpis), hidden
        if tab == "churn":
            return survival(kpis), hidden
        return kpi_lines(kpis, metric, bool(by_segment)), hidden

    @app.callback(
        Output("scenario-evaluation", "children"),
        Output("scenario-effects", "figure"),
        Input("scenario-shown", "value"),
        State("session", "data"),
    )
    @guarded
    def evaluate(shown: list[str] | None, session: object) -> tuple:
        if not shown:
            return html.P("Run a scenario to see its programmes judged.", className="muted"), {}
        programmes = _tables(workbench, session_of(session), shown, "programmes")
        table = evaluation_table(programmes)
        if table.empty:
            return html.P("No programme assigned anyone in the runs shown.", className="muted"), {}
        grid = dash_table.DataTable(
            id="scenario-evaluation-table",
            data=table.to_dict("records"),
            columns=[{"name": c.replace("_", " "), "id": c} for c in table.columns],
            sort_action="native",
            filter_action="native",
            page_size=12,
            style_cell={"fontSize": "0.8rem", "textAlign": "left"},
            style_data_conditional=[
                {
                    "if": {"filter_query": '{verdict} contains "works"', "column_id": "verdict"},
                    "color": "#067647",
                    "fontWeight": 600,
                },
                {
                    "if": {"filter_query": '{verdict} = "harms"', "column_id": "verdict"},
                    "color": "#b42318",
                    "fontWeight": 600,
                },
            ],
        )
        return grid, effect_intervals(programmes)
