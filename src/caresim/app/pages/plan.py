"""Plan: pilot, optimise, verify and adjust a care plan in the background (``caresim mode=plan``), then read it.

The form holds the planner's main settings with the schema's ranges; a bad value gets the CLI's one-line
message beside its field and nothing starts. A plan job writes an ordinary plan folder under the output root;
the page shows it from the folder (status, the plan as a heatmap, binding limits with shadow prices, the
comparison with the baselines, the budget frontier), so a reload loses nothing. A cancelled or interrupted plan
resumes from the planner's run cache. The plan's policy exports as YAML into the user's config folder
(``caresim policy=<name>``) or as a download.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dash
import pandas as pd
import yaml
from dash import Input, Output, State, dash_table, dcc, html

from caresim.app import plan_figures
from caresim.app.components import (
    error_outputs,
    field_errors,
    field_inputs,
    guarded,
    job_panel,
    number_field,
    register_job_panel,
)
from caresim.app.context import NoSessionError, Workbench, session_of
from caresim.app.fields import check, override
from caresim.app.jobs import JobSpec
from caresim.app.paths import safe_path
from caresim.app.policies import NAME, policy_path, save_policy
from caresim.config.errors import ConfigError

PATH = "/plan"
TITLE = "Plan"
PREFIX = "plan"
DEFAULT_SCENARIO = "baseline"
FIELDS: tuple[tuple[str, str], ...] = (
    ("planner.budget", "Budget over the horizon"),
    ("planner.objective", "Objective"),
    ("planner.max_contacts_per_subscriber_month", "Care contacts per subscriber a month, at most (empty: no limit)"),
    ("planner.channel_capacity.hotline", "Hotline capacity, contacts a month (empty: no limit)"),
    ("planner.channel_capacity.store", "Store capacity, contacts a month (empty: no limit)"),
    ("run.n_months", "Horizon, months"),
    ("run.scale", "Real subscribers per simulated one"),
    ("planner.pilot.n_replications", "Pilot replications"),
    ("planner.verify.n_replications", "Verification replications"),
    ("planner.adjust.max_rounds", "Adjustment rounds"),
)
CHANNEL_PREFIX = "planner.channel_capacity."
PROGRAMMES_KEY = "planner.programmes"
RESUMABLE = ("cancelled", "interrupted", "failed")
TABLES = ("plan", "binding", "comparison", "frontier", "rounds", "pilot_estimates")
HIDDEN = {"display": "none"}


# ------------------------------------------------------------------ the form
def plan_field(key: str, value: Any, label: str) -> html.Div:
    """``number_field`` without the browser's own range check: Chromium marks a number outside min/max (or off
    the step) invalid and Dash then sends None, which would hide the value typed; the schema checks it instead
    and answers with the CLI's message for it. The help line still gives the range."""
    block = number_field(PREFIX, key, value, label)
    control = block.children[1]
    if isinstance(control, dcc.Input):
        control.min, control.max, control.step = None, None, "any"
    return block


def defaults(scenario: str | None) -> tuple[dict[str, Any], list[str], list[str]]:
    """The scenario's values of the page's fields, its catalogue's programmes and those the planner may use."""
    from caresim.config.loading import load_config

    config = load_config(scenario or DEFAULT_SCENARIO)
    values: dict[str, Any] = {}
    for key, _ in FIELDS:
        if key.startswith(CHANNEL_PREFIX):
            values[key] = config.planner.channel_capacity.get(key.removeprefix(CHANNEL_PREFIX))
            continue
        current: Any = config
        for part in key.split("."):
            current = getattr(current, part)
        values[key] = current
    catalogue = list(config.catalogue)
    return values, catalogue, list(config.planner.programmes or catalogue)


def form_overrides(
    keys: list[dict], values: list[Any], chosen: list[str] | None, catalogue: list[str], has_channel: set[str]
) -> list[str]:
    """The ``key=value`` overrides of the form. An empty channel capacity means no limit: ``~key`` removes the
    scenario's (``has_channel``: the channels it limits); all programmes ticked is ``planner.programmes=null``."""
    overrides = []
    for key, value in zip((k["key"] for k in keys), values, strict=True):
        if key.startswith(CHANNEL_PREFIX) and (value is None or value == ""):
            if key.removeprefix(CHANNEL_PREFIX) in has_channel:
                overrides.append(f"~{key}")
            continue
        overrides.append(override(key, value))
    ticked = [name for name in catalogue if name in (chosen or [])]
    everything = bool(catalogue) and len(ticked) == len(catalogue)
    overrides.append(f"{PROGRAMMES_KEY}=null" if everything else f"{PROGRAMMES_KEY}=[{','.join(ticked)}]")
    return overrides


def form_values(scenario: str, overrides: tuple[str, ...] | list[str]) -> tuple[dict[str, Any], list[str], list[str]]:
    """The form's values that give ``overrides`` (a job's): the scenario's defaults with the overrides read back
    (``~key``: empty; ``planner.programmes=null``: every programme)."""
    values, catalogue, allowed = defaults(scenario)
    for text in overrides:
        if text.startswith("~"):
            values[text[1:]] = None
            continue
        key, _, raw = text.partition("=")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            continue
        if key == PROGRAMMES_KEY:
            allowed = list(catalogue) if value is None else [str(v) for v in value]
        elif key in values:
            values[key] = value
    return values, catalogue, allowed


def _scenario_channels(scenario: str) -> set[str]:
    from caresim.config.loading import load_config

    return set(load_config(scenario).planner.channel_capacity)


# ------------------------------------------------------------------ the policy export
def policy_note(status: dict[str, Any], source: str = "") -> str:
    """The comment lines of an exported plan's policy file."""
    return (
        f"caresim care policy: the plan{' ' + source if source else ''} (objective {status.get('objective')}, "
        f"budget {status.get('budget')}, status {status.get('status')})\n"
        "use: caresim policy=<this file's name>, or caresim.simulate(config, yaml.safe_load(<this file>))"
    )


def policy_yaml(status: dict[str, Any], source: str = "") -> str:
    """The plan's policy as a config-group file: ``{programme: {segment: share or {share, target}}}``."""
    header = "".join(f"# {line}\n" for line in policy_note(status, source).splitlines())
    return header + yaml.safe_dump(_plain(status.get("policy") or {}), sort_keys=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bool | str) or value is None:
        return value
    return float(value) if isinstance(value, float | int) else value


def export_policy(
    status: dict[str, Any],
    name: object,
    overwrite: bool = False,
    source: str = "",
    scenario: str | None = None,
    overrides: tuple[str, ...] = (),
) -> tuple[Path | None, str]:
    """Write the plan's policy to ``<user config folder>/policy/<name>.yaml`` (atomically). Returns the path and
    the command that simulates it in the plan's market (``scenario``, the ``run.*`` of ``overrides``), or None and
    the one-line reason it was refused."""
    from caresim.config.loading import read_scenario

    if not status.get("policy"):
        try:
            policy_path(name)  # a bad name is said first
        except ConfigError as error:
            return None, str(error)
        return None, f"this plan has no policy to export (status {status.get('status')})"
    try:
        path = save_policy(name, _plain(status["policy"]), overwrite, note=policy_note(status, source))
    except ConfigError as error:
        return None, str(error)
    market = [f"scenario={scenario}"] if scenario else []
    command = " ".join(["caresim", *market, f"policy={name}", *(o for o in overrides if o.startswith("run."))])
    message = f"written to {path}: simulate it with {command}"
    if scenario and read_scenario(scenario)["overrides"].get("policy"):
        message += (
            f" (scenario {scenario} sets policy shares of its own over the file's: simulate with caresim.simulate)"
        )
    return path, message


# ------------------------------------------------------------------ the plan's folder
def plan_folder(workbench: Workbench, session: object, done: object) -> tuple[Path | None, str]:
    """The folder of this session's finished plan job named in ``done`` (the page's store), or None and why."""
    if not isinstance(done, dict) or not done.get("job"):
        return None, ""
    try:
        status = workbench.jobs.status(session_of(session), str(done["job"]))
    except (ValueError, OSError):
        return None, ""
    if status.state != "done" or not status.folder:
        return None, f"The last plan was {status.state}: {status.message}." if status.state in RESUMABLE else ""
    folder = safe_path(workbench.output_root, status.folder)
    if folder is None or not folder.is_dir():
        return None, f"The plan's folder {status.folder} is no longer under the output root."
    return folder, ""


def _made_with(workbench: Workbench, session: object, done: dict) -> str:
    """The scenario and overrides of the job that made the plan, in words."""
    try:
        spec = workbench.jobs.spec(session_of(session), str(done["job"]))
    except (ValueError, OSError):
        return ""
    return f"scenario {spec.scenario or DEFAULT_SCENARIO}" + "".join(f"; {o}" for o in spec.overrides)


def _read(folder: Path, names: tuple[str, ...] = TABLES) -> tuple[dict[str, Any], dict[str, pd.DataFrame]] | str:
    """``plan.json`` and tables ``names`` of a plan folder, or the one line saying why they cannot be read."""
    from caresim.report.folder import ReportError, read_plan_status, read_tables  # caresim.report loads matplotlib

    try:
        return read_plan_status(folder), read_tables(folder, names)
    except ReportError as error:
        return f"{folder.name}: {error}"


def _number(value: object, money: bool = True) -> str:
    if not isinstance(value, int | float):
        return "n/a"
    return plan_figures.amount(value) if money else f"{value:,.0f}"


def _data_table(table: pd.DataFrame, table_id: str) -> dash_table.DataTable:
    return dash_table.DataTable(
        id=table_id,
        data=table.astype(object).where(table.notna(), None).to_dict("records"),
        columns=[{"name": str(c), "id": str(c)} for c in table.columns],
        style_table={"overflowX": "auto"},
        style_cell={"fontSize": "0.8rem", "textAlign": "left"},
        page_size=20,
    )


def _status_block(status: dict[str, Any], relative: str, made_with: str) -> list:
    objective = str(status.get("objective", ""))
    money = objective in ("net_value", "min_cost")
    budget, cost = status.get("budget"), status.get("total_cost")
    line = (
        f"Status {status.get('status')}: objective {objective} {_number(status.get('objective_value'), money)}; "
        f"spends {_number(cost)} of a budget of {_number(budget)}"
    )
    if isinstance(budget, int | float) and isinstance(cost, int | float) and budget > 0:
        line += f" ({cost / budget:.0%})"
    block: list = [html.P(line, id="plan-status-line", className="plan-status"), html.P(relative, className="muted")]
    if made_with:
        block.append(html.P(f"Made with {made_with}", id="plan-made-with", className="muted"))
    reasons = [str(r) for r in status.get("explanation") or []]
    if status.get("status") != "optimal":
        block.append(
            html.Div(
                [
                    html.H3(f"No plan: {status.get('status')}"),
                    html.Ul([html.Li(r) for r in reasons] or [html.Li("the optimiser gave no reason")]),
                ],
                id="plan-explanation",
                className="card form-error",
                style={"fontSize": "1rem", "borderColor": "#b42318"},
            )
        )
    return block


def results(status: dict[str, Any], tables: dict[str, pd.DataFrame], relative: str, made_with: str = "") -> list:
    """The page's view of a plan folder: status, plan, binding limits, baselines, frontier, downloads."""
    blocks: list = [html.Div(_status_block(status, relative, made_with), className="card")]
    plan = tables.get("plan")
    if plan is not None and not plan.empty:
        blocks.append(
            html.Div(
                [
                    html.H3("The plan"),
                    dcc.Graph(id="plan-heatmap", figure=plan_figures.coverage_heatmap(plan)),
                ],
                className="card",
            )
        )
    binding = tables.get("binding")
    if binding is not None:
        objective = str(status.get("objective", "the objective")).replace("_", " ")
        blocks.append(
            html.Div(
                [
                    html.H3("Binding limits"),
                    html.P(
                        f"A limit binds when the plan uses all of it. Its shadow price is how much the objective "
                        f"({objective}) would gain per unit more of that limit: a shadow price of 0.5 on the budget "
                        "means one more unit of money would buy 0.5 more. The limit with the highest price is the "
                        "one worth relaxing; a limit not listed has room to spare.",
                        className="muted",
                    ),
                    _data_table(plan_figures.binding_table(binding), "plan-binding-table")
                    if not binding.empty
                    else html.P("No limit binds.", className="muted"),
                ],
                className="card",
                id="plan-binding",
            )
        )
    comparison = tables.get("comparison")
    if comparison is not None and not comparison.empty:
        metric = plan_figures.comparison_metric(str(status.get("objective", "")), comparison)
        blocks.append(
            html.Div(
                [
                    html.H3("Against the baselines"),
                    html.P(
                        "Each policy re-simulated on held-out seeds against no care; todays_practice is the "
                        "scenario's own policy, the other baselines spend the plan's money by simple rules.",
                        className="muted",
                    ),
                    dcc.Graph(id="plan-comparison-figure", figure=plan_figures.comparison_bars(comparison, metric)),
                    _data_table(plan_figures.comparison_table(comparison), "plan-comparison-table"),
                ],
                className="card",
            )
        )
    frontier = tables.get("frontier")
    if frontier is not None and not frontier.empty:
        budget = status.get("budget")
        figure = plan_figures.frontier_line(frontier, float(budget) if isinstance(budget, int | float) else None)
        blocks.append(
            html.Div(
                [html.H3("Budget frontier"), dcc.Graph(id="plan-frontier-figure", figure=figure)], className="card"
            )
        )
    blocks.append(html.Div([html.H3("Tables"), html.Ul(_table_links(tables, relative))], className="card"))
    return blocks


def _table_links(tables: dict[str, pd.DataFrame], relative: str) -> list:
    items = []
    for name in tables:
        url = f"/files/{quote(relative)}/{quote(name)}.parquet"
        items.append(
            html.Li(
                [
                    html.Span(name, className="table-name"),
                    " ",
                    html.A("CSV", href=f"{url}?format=csv", download=f"{name}.csv", id=f"plan-download-{name}"),
                    " · ",
                    html.A("Parquet", href=f"{url}?download=1", download=f"{name}.parquet"),
                ]
            )
        )
    items.append(html.Li(html.A("the whole report", href=f"/files/{quote(relative)}/report.html", target="_blank")))
    return items


# ------------------------------------------------------------------ the page
def layout(workbench: Workbench) -> html.Div:
    from caresim.config.loading import available_scenarios

    values, catalogue, allowed = defaults(DEFAULT_SCENARIO)
    form = html.Div(
        [
            html.Div(
                [
                    html.Label("Scenario", htmlFor="plan-scenario"),
                    dcc.Dropdown(
                        id="plan-scenario",
                        options=available_scenarios(),
                        value=DEFAULT_SCENARIO,
                        clearable=False,
                        className="control",
                    ),
                ],
                className="field",
            ),
            html.Div([plan_field(key, values[key], label) for key, label in FIELDS], className="fields"),
            html.Div(
                [
                    html.Label("Programmes the planner may use", htmlFor="plan-programmes"),
                    dcc.Checklist(
                        id="plan-programmes",
                        options=catalogue,
                        value=allowed,
                        labelStyle={"display": "block", "fontSize": "0.85rem"},
                    ),
                    html.Div("", id="plan-programmes-error", className="field-error"),
                ],
                className="field",
            ),
            job_panel(PREFIX, "Plan"),
            dcc.Store(id="plan-form-job"),  # the job whose values the form shows
            html.Button("Resume", id="plan-resume", className="secondary", n_clicks=0, style=HIDDEN),
        ],
        className="card",
    )
    export = html.Div(
        [
            html.H3("Export the plan's policy"),
            html.P(
                "As a config-group file in your config folder, so that caresim policy=<name> runs it, or as a "
                "download.",
                className="muted",
            ),
            dcc.Input(id="plan-export-name", type="text", value=f"plan_{time.strftime('%Y%m%d')}", debounce=False),
            dcc.Checklist(id="plan-export-overwrite", options=[{"label": " overwrite", "value": "yes"}], value=[]),
            html.Button("Export policy", id="plan-export", className="primary", n_clicks=0),
            html.Button("Download YAML", id="plan-export-yaml", className="secondary", n_clicks=0),
            html.Div("", id="plan-export-message", className="muted"),
            dcc.Download(id="plan-export-download"),
        ],
        id="plan-export-card",
        className="card",
        style=HIDDEN,
    )
    return html.Div(
        [
            html.H2(TITLE),
            html.P(
                "Pilot the catalogue inside the simulation, optimise the care mix per segment within the limits, "
                "re-simulate the plan against baselines and adjust what fails (caresim mode=plan).",
                className="muted",
            ),
            html.Div(
                [form, html.Div([html.Div(id="plan-results"), export], id="plan-output")],
                className="columns",
            ),
        ]
    )


def register(app: dash.Dash, workbench: Workbench) -> None:
    register_job_panel(app, workbench, PREFIX)
    field_ids, field_values = field_inputs(PREFIX)

    @app.callback(
        Output("plan-scenario", "value"),
        Output({"type": "field", "page": PREFIX, "key": dash.ALL}, "value"),
        Output("plan-programmes", "options"),
        Output("plan-programmes", "value"),
        Output("plan-form-job", "data"),
        Input("plan-scenario", "value"),
        Input("plan-job", "data"),
        field_ids,
        State("plan-form-job", "data"),
        State("session", "data"),
    )
    def fill_form(scenario: str | None, job: object, keys: list[dict], shown: object, session: object) -> tuple:
        """A scenario picked: its values. The page (re)loaded, or another job started (Run, Resume): the values of
        the page's job (a cancel, the same job, leaves the form as it is)."""
        if dash.ctx.triggered_id == "plan-scenario":
            try:
                values, catalogue, allowed = defaults(scenario)
            except ConfigError:  # not one of caresim's scenarios (a crafted request): the form stays
                raise dash.exceptions.PreventUpdate from None
            return scenario, [values.get(key["key"]) for key in keys], catalogue, allowed, dash.no_update
        if not job or job == shown:
            raise dash.exceptions.PreventUpdate
        try:
            spec = workbench.jobs.spec(session_of(session), str(job))
        except (NoSessionError, ValueError, OSError):
            raise dash.exceptions.PreventUpdate from None
        scenario = spec.scenario or DEFAULT_SCENARIO
        try:
            values, catalogue, allowed = form_values(scenario, spec.overrides)
        except ConfigError:
            raise dash.exceptions.PreventUpdate from None
        return scenario, [values.get(key["key"]) for key in keys], catalogue, allowed, job

    @app.callback(
        error_outputs(PREFIX),
        Output("plan-programmes-error", "children"),
        Output("plan-message", "children"),
        Output("plan-job", "data"),
        Input("plan-run", "n_clicks"),
        State("plan-scenario", "value"),
        field_ids,
        field_values,
        State("plan-programmes", "value"),
        State("plan-programmes", "options"),
        State("session", "data"),
        prevent_initial_call=True,
    )
    @guarded
    def run(
        _clicks: int,
        scenario: str | None,
        keys: list[dict],
        values: list[Any],
        chosen: list[str] | None,
        catalogue: list[Any],
        session: object,
    ) -> tuple:
        session_id = session_of(session)
        scenario = scenario or DEFAULT_SCENARIO
        names = [str(o["value"] if isinstance(o, dict) else o) for o in catalogue or []]
        channels: set[str] = set()
        if any(k["key"].startswith(CHANNEL_PREFIX) and v in (None, "") for k, v in zip(keys, values, strict=True)):
            try:
                channels = _scenario_channels(scenario)
            except ConfigError as error:  # an unknown or broken scenario: its one line, under the form
                return [""] * len(keys), "", str(error), dash.no_update
        overrides = form_overrides(keys, values, chosen, names, channels)
        config, key, message = check(scenario, overrides, {key for key, _ in FIELDS} | {PROGRAMMES_KEY})
        if config is None:
            on_page = {k["key"] for k in keys}
            return (
                field_errors(keys, key, message),
                message if key == PROGRAMMES_KEY else "",
                message if key not in on_page and key != PROGRAMMES_KEY else "",
                dash.no_update,
            )
        job = workbench.jobs.start(session_id, JobSpec(kind="plan", scenario=scenario, overrides=tuple(overrides)))
        return [""] * len(keys), "", "", job

    @app.callback(
        Output("plan-resume", "style"),
        Input("plan-done", "data"),
        Input("plan-job", "data"),
    )
    def resume_visible(done: object, job: object) -> dict:
        resumable = isinstance(done, dict) and done.get("job") == job and done.get("state") in RESUMABLE
        return {} if resumable else HIDDEN

    @app.callback(
        Output("plan-job", "data", allow_duplicate=True),
        Output("plan-message", "children", allow_duplicate=True),
        Input("plan-resume", "n_clicks"),
        State("plan-done", "data"),
        State("session", "data"),
        prevent_initial_call=True,
    )
    @guarded
    def resume(clicks: int, done: object, session: object) -> tuple:
        if not clicks or not isinstance(done, dict) or not done.get("job"):
            raise dash.exceptions.PreventUpdate
        session_id = session_of(session)
        try:
            spec = workbench.jobs.spec(session_id, str(done["job"]))
        except (ValueError, OSError):
            return dash.no_update, "The plan to resume cannot be found in this session."
        return workbench.jobs.start(session_id, spec), "Resumed: finished simulation runs come from the run cache."

    @app.callback(
        Output("plan-results", "children"),
        Output("plan-export-card", "style"),
        Input("plan-done", "data"),
        Input("session", "data"),
    )
    def show(done: object, session: object) -> tuple:
        try:
            folder, why = plan_folder(workbench, session, done)
        except NoSessionError:
            raise dash.exceptions.PreventUpdate from None
        if folder is None:
            return ([html.P(why, className="card form-error")] if why else []), HIDDEN
        read = _read(folder)
        if isinstance(read, str):
            return [html.P(read, className="card form-error")], HIDDEN
        status, tables = read
        relative = folder.relative_to(workbench.output_root).as_posix()
        return results(status, tables, relative, _made_with(workbench, session, done)), (
            {} if status.get("policy") else HIDDEN
        )

    @app.callback(
        Output("plan-export-message", "children"),
        Input("plan-export", "n_clicks"),
        State("plan-export-name", "value"),
        State("plan-export-overwrite", "value"),
        State("plan-done", "data"),
        State("session", "data"),
        prevent_initial_call=True,
    )
    @guarded
    def export(_clicks: int, name: object, overwrite: list[str] | None, done: object, session: object) -> str:
        folder, why = plan_folder(workbench, session, done)
        if folder is None:
            return why or "No finished plan to export."
        read = _read(folder, ())
        if isinstance(read, str):
            return read
        spec = workbench.jobs.spec(session_of(session), str(done["job"]))  # plan_folder found it
        _, message = export_policy(
            read[0], name, bool(overwrite), folder.name, spec.scenario or DEFAULT_SCENARIO, spec.overrides
        )
        return message

    @app.callback(
        Output("plan-export-download", "data"),
        Output("plan-export-message", "children", allow_duplicate=True),
        Input("plan-export-yaml", "n_clicks"),
        State("plan-export-name", "value"),
        State("plan-done", "data"),
        State("session", "data"),
        prevent_initial_call=True,
    )
    @guarded
    def download(_clicks: int, name: object, done: object, session: object) -> tuple:
        folder, why = plan_folder(workbench, session, done)
        if folder is None:
            return dash.no_update, why or "No finished plan to download."
        read = _read(folder, ())
        if isinstance(read, str):
            return dash.no_update, read
        filename = f"{name if isinstance(name, str) and NAME.match(name) else 'plan_policy'}.yaml"
        return {"content": policy_yaml(read[0], folder.name), "filename": filename}, ""
