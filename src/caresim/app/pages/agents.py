"""Agents: build a model, step it month by month on its SimPy clock, and watch a sample of subscribers on their ties.

The network view is this stack's equivalent of Mesa's SolaraViz network component (the workbench is Dash, not
Solara): a Plotly scatter of a sample of subscriber agents over the lines of the ties among them, coloured by
lifecycle stage or satisfaction grade, laid out once (``caresim.app.agent_figures``) and redrawn after every
step. Beside it: the model's KPIs so far, from ``kpi_table`` of its record.

The models live in the server process, per browser session (``LiveModels``: a few per session, the oldest
dropped first); the browser keeps only the id of its current model. Stepping calls ``CareModel.advance``, so
a model stepped to its last month has exactly the record ``caresim`` would write for the same settings.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from caresim.app.components import error_outputs, field_errors, field_inputs, field_overrides, guarded, number_field
from caresim.app.context import Workbench, session_of
from caresim.app.fields import check

if TYPE_CHECKING:  # the engine is imported when a model is first built, not when the workbench starts
    from caresim.app.agent_figures import AgentSample
    from caresim.config.schema import CareConfig
    from caresim.engine.model import CareModel

ALLOWED = {"run.scale", "run.seed"}  # the settings this page changes
PATH = "/agents"
TITLE = "Agents"
SAMPLE_MIN, SAMPLE_MAX, SAMPLE_DEFAULT = 50, 1000, 300
#: the most simulated subscribers a model kept in the server may have (about 200 MB; models live in memory)
MAX_SIMULATED = 100_000
MODELS_PER_SESSION = 3
SESSIONS = 16  # sessions whose models are kept (the least recently used dropped first)
STRIDES = {"agents-step-1": 1, "agents-step-6": 6}


@dataclass
class LiveModel:
    """A model being stepped, its settings and its drawn sample (kept across steps and resets)."""

    config: CareConfig
    model: CareModel
    sample: AgentSample
    lock: threading.Lock = field(default_factory=threading.Lock)


class LiveModels:
    """The models of every session (session id -> model id -> ``LiveModel``), thread-safe, bounded."""

    def __init__(self, per_session: int = MODELS_PER_SESSION, sessions: int = SESSIONS) -> None:
        self.per_session, self.sessions = per_session, sessions
        self._models: OrderedDict[str, OrderedDict[str, LiveModel]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, session: str, live: LiveModel) -> str:
        """Keep ``live`` for ``session`` and return its new id (dropping the session's oldest beyond the cap)."""
        model_id = uuid.uuid4().hex[:12]
        with self._lock:
            mine = self._models.setdefault(session, OrderedDict())
            self._models.move_to_end(session)
            mine[model_id] = live
            while len(mine) > self.per_session:
                mine.popitem(last=False)
            while len(self._models) > self.sessions:
                self._models.popitem(last=False)
        return model_id

    def get(self, session: str, model_id: object) -> LiveModel | None:
        with self._lock:
            mine = self._models.get(session)
            if mine is None or not isinstance(model_id, str) or model_id not in mine:
                return None
            self._models.move_to_end(session)
            return mine[model_id]

    def count(self, session: str) -> int:
        with self._lock:
            return len(self._models.get(session, ()))


def default_config() -> CareConfig:
    from caresim.config.loading import load_config

    return load_config(None, [])


def check_model_size(config: CareConfig) -> str | None:
    """The scale's one-line message when the model would be too large to keep in the server's memory."""
    real = sum(segment.size for segment in config.population.segments.values())
    if real / config.run.scale <= MAX_SIMULATED:
        return None
    least = real / MAX_SIMULATED
    return (
        f"run.scale: the Agents page keeps its model in memory: at least {least:g} for this population "
        f"({MAX_SIMULATED:,} simulated subscribers at most), got {config.run.scale:g}"
    )


def build_live(config: CareConfig, sample_size: int) -> LiveModel:
    """A fresh model of ``config`` (month 0) and its sample, drawn with the run's seed."""
    from caresim.app.agent_figures import draw_sample
    from caresim.simulation import build_model

    model = build_model(config)
    return LiveModel(config=config, model=model, sample=draw_sample(model, sample_size, config.run.seed))


def check_sample_size(value: object) -> str | None:
    """The sample size's one-line message, or None when it is a whole number in range."""
    whole = isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    if whole and SAMPLE_MIN <= value <= SAMPLE_MAX:
        return None
    return f"sample size: a whole number from {SAMPLE_MIN} to {SAMPLE_MAX}, got {value!r}"


def _empty_figure(text: str, height: int) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=text, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False, font={"size": 14})
    figure.update_layout(height=height, plot_bgcolor="white", paper_bgcolor="white", margin={"t": 20, "b": 20})
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return figure


def render(live: LiveModel, model_id: str, colour_by: str) -> tuple[go.Figure, go.Figure, html.Table, str]:
    """The network and KPI figures, the KPI lines and the month counter of a model as it stands."""
    from caresim.app.agent_figures import kpi_figure, kpi_summary, latest_kpis, network_figure, node_table

    model = live.model
    n_months = live.config.run.n_months
    summary = kpi_summary(model.record(), model.steps)
    network = network_figure(live.sample, node_table(model, live.sample.slots), colour_by, revision=model_id)
    lines = html.Table(
        [html.Tr([html.Th(label), html.Td(value)]) for label, value in latest_kpis(summary, live.model.scale)],
        className="plain",
        id="agents-kpi-lines",
    )
    return network, kpi_figure(summary, n_months, revision=model_id), lines, f"month {model.steps} of {n_months}"


def layout(workbench: Workbench) -> html.Div:
    from caresim.config.loading import available_scenarios

    config = default_config()
    scenarios = available_scenarios()
    return html.Div(
        [
            html.H2(TITLE),
            html.P(
                "Build a model, step it a month at a time on its SimPy clock and watch a sample of its subscribers "
                "(Mesa agents) on their tie network. Settings apply when you build; Reset starts the same model "
                "again from month 0.",
                className="muted",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.Label("scenario"),
                                    dcc.Dropdown(
                                        id="agents-scenario",
                                        options=scenarios,
                                        value="baseline" if "baseline" in scenarios else scenarios[0],
                                        clearable=False,
                                        className="control",
                                    ),
                                ],
                                className="field",
                            ),
                            number_field("agents", "run.scale", config.run.scale),
                            number_field("agents", "run.seed", config.run.seed),
                            html.Div(
                                [
                                    html.Label("sample size"),
                                    dcc.Input(
                                        id="agents-sample",
                                        type="number",
                                        value=SAMPLE_DEFAULT,
                                        min=SAMPLE_MIN,
                                        max=SAMPLE_MAX,
                                        step=1,
                                        debounce=True,
                                        className="control",
                                    ),
                                    html.Div(
                                        f"subscribers drawn on the network; {SAMPLE_MIN} to {SAMPLE_MAX}",
                                        className="help",
                                    ),
                                    html.Div("", id="agents-sample-error", className="field-error"),
                                ],
                                className="field",
                            ),
                            html.Div(
                                [
                                    html.Label("colour by"),
                                    dcc.RadioItems(
                                        id="agents-colour",
                                        options=[
                                            {"label": " stage", "value": "stage"},
                                            {"label": " satisfaction grade", "value": "grade"},
                                        ],
                                        value="stage",
                                        inline=True,
                                        inputStyle={"marginLeft": "0.6rem"},
                                    ),
                                ],
                                className="field",
                            ),
                            html.Div(
                                [
                                    html.Button("Build", id="agents-build", className="primary", n_clicks=0),
                                    html.Button(
                                        "Step 1 month",
                                        id="agents-step-1",
                                        className="secondary",
                                        n_clicks=0,
                                        disabled=True,
                                    ),
                                    html.Button(
                                        "Step 6 months",
                                        id="agents-step-6",
                                        className="secondary",
                                        n_clicks=0,
                                        disabled=True,
                                    ),
                                    html.Button(
                                        "Reset", id="agents-reset", className="secondary", n_clicks=0, disabled=True
                                    ),
                                ],
                                className="job-panel",
                            ),
                            html.Div("", id="agents-message", className="form-error"),
                            dcc.Store(id="agents-model", storage_type="session"),
                        ],
                        className="card fields",
                    ),
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.Strong("no model yet", id="agents-month"),
                                    html.Span("", id="agents-timing", className="muted"),
                                ],
                                style={"display": "flex", "gap": "1rem", "alignItems": "baseline"},
                            ),
                            html.Div(
                                [
                                    dcc.Graph(
                                        id="agents-network",
                                        figure=_empty_figure("Build a model to see its subscribers", 560),
                                        config={"displaylogo": False},
                                    ),
                                    html.Div(
                                        [
                                            dcc.Graph(
                                                id="agents-kpis",
                                                figure=_empty_figure("KPIs appear as months close", 400),
                                                config={"displayModeBar": False},
                                            ),
                                            html.Div(id="agents-kpi-table"),
                                        ]
                                    ),
                                ],
                                style={
                                    "display": "grid",
                                    "gridTemplateColumns": "minmax(420px, 3fr) minmax(300px, 2fr)",
                                    "gap": "0.8rem",
                                },
                            ),
                        ],
                        className="card",
                    ),
                ],
                className="columns",
            ),
        ]
    )


def register(app: dash.Dash, workbench: Workbench) -> None:
    models = LiveModels()
    app.agent_models = models  # type: ignore[attr-defined]  # (for inspection)
    keys, values = field_inputs("agents")

    @app.callback(
        Output("agents-network", "figure"),
        Output("agents-kpis", "figure"),
        Output("agents-kpi-table", "children"),
        Output("agents-month", "children"),
        Output("agents-timing", "children"),
        Output("agents-message", "children"),
        Output("agents-model", "data"),
        Output("agents-step-1", "disabled"),
        Output("agents-step-6", "disabled"),
        Output("agents-reset", "disabled"),
        error_outputs("agents"),
        Output("agents-sample-error", "children"),
        Input("agents-build", "n_clicks"),
        Input("agents-step-1", "n_clicks"),
        Input("agents-step-6", "n_clicks"),
        Input("agents-reset", "n_clicks"),
        Input("agents-colour", "value"),
        State("agents-scenario", "value"),
        keys,
        values,
        State("agents-sample", "value"),
        State("session", "data"),
        State("agents-model", "data"),
    )
    @guarded
    def act(
        _build: int,
        _step_1: int,
        _step_6: int,
        _reset: int,
        colour_by: str,
        scenario: str | None,
        field_ids: list[dict],
        field_values: list[Any],
        sample_size: object,
        session_data: object,
        model_id: object,
    ) -> tuple:
        session = session_of(session_data)
        trigger = dash.ctx.triggered_id
        no_errors = field_errors(field_ids, None, None)
        keep = dash.no_update

        def answer(live: LiveModel | None, shown_id: object, timing: str = "", message: str = "") -> tuple:
            if live is None:
                blank = (keep, keep, keep, keep)
                return (*blank, timing, message, shown_id, True, True, True, no_errors, "")
            with live.lock:
                network, kpis, lines, month = render(live, str(shown_id), colour_by or "stage")
                over = live.model.steps >= live.config.run.n_months
            return network, kpis, lines, month, timing, message, shown_id, over, over, False, no_errors, ""

        if trigger == "agents-build":
            size_problem = check_sample_size(sample_size)
            overrides = field_overrides(field_ids, field_values)
            config, key, message = check(scenario, overrides, ALLOWED)
            if config is not None and check_model_size(config):
                config, key, message = None, "run.scale", check_model_size(config)
            if config is None or size_problem:
                errors = field_errors(field_ids, key, message)
                shown = message if message and key not in {k["key"] for k in field_ids} else ""
                return (*(keep,) * 5, shown, *(keep,) * 4, errors, size_problem or "")
            started = time.perf_counter()
            try:
                live = build_live(config, int(sample_size))  # type: ignore[arg-type]
            except (ValueError, OSError) as error:  # e.g. a policy the config names that cannot be loaded
                return (*(keep,) * 5, f"cannot build: {error}", *(keep,) * 4, no_errors, "")
            new_id = models.add(session, live)
            return answer(live, new_id, f"built in {time.perf_counter() - started:.2f} s")

        live = models.get(session, model_id)
        if live is None:
            gone = "This model is no longer kept (the server restarted or newer models replaced it): Build again."
            return answer(None, None, message=gone if model_id else "")
        started = time.perf_counter()
        timing = ""
        if trigger in STRIDES:
            with live.lock:
                before = live.model.steps
                live.model.advance(STRIDES[trigger])
                closed = live.model.steps - before
            timing = f"stepped {closed} month{'s' if closed != 1 else ''} in {time.perf_counter() - started:.2f} s"
        elif trigger == "agents-reset":
            from caresim.simulation import build_model

            with live.lock:
                live.model = build_model(live.config)  # the same settings: the same base, so the same sample
            timing = f"reset in {time.perf_counter() - started:.2f} s"
        return answer(live, model_id, timing)
