"""Pieces the pages share: a schema-described number field with its error line, and the panel of a background
job (progress, cancel, the run folder it wrote).

Ids: a page's ids start with its prefix (``scenario-``, ``plan-``, ...). A field's input is
``{"type": "field", "page": prefix, "key": key}`` and its message ``{"type": "field-error", ...}``, so a page
reads all its fields with one pattern-matching callback.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import dash
from dash import ALL, Input, Output, State, dcc, html

from caresim.app.context import NoSessionError, Workbench, session_of
from caresim.app.fields import describe

POLL_MS = 400


def number_field(prefix: str, key: str, value: Any, label: str | None = None) -> html.Div:
    """A number (or choice) input for config ``key``, labelled, with the schema's range and meaning as help and
    an empty line below for its validation message."""
    parameter = describe(key)
    field_id = {"type": "field", "page": prefix, "key": key}
    if parameter.kind == "choice":
        control = dcc.Dropdown(
            id=field_id, options=list(parameter.choices), value=value, clearable=False, className="control"
        )
    else:
        # no min/max/step on the input: the browser would blank a value out of range, and the user would not see
        # the CLI's message naming the key and what is allowed (the help line below gives the range)
        control = dcc.Input(id=field_id, type="number", value=value, step="any", debounce=True, className="control")
    help_text = f"{parameter.description}; {parameter.range_text}" if parameter.description else parameter.range_text
    return html.Div(
        [
            html.Label(label or key, title=key),
            control,
            html.Div(help_text, className="help"),
            html.Div("", id={"type": "field-error", "page": prefix, "key": key}, className="field-error"),
        ],
        className="field",
    )


def field_overrides(keys: list[dict], values: list[Any]) -> list[str]:
    """``key=value`` overrides of a page's fields (empty numbers become null)."""
    from caresim.app.fields import override

    return [override(key["key"], value) for key, value in zip(keys, values, strict=True)]


def field_errors(keys: list[dict], error_key: str | None, message: str | None) -> list[str]:
    """The message under the field it names, empty elsewhere."""
    return [message if message and key["key"] == error_key else "" for key in keys]


def job_panel(prefix: str, run_label: str = "Run") -> html.Div:
    """A run button, a progress bar with its line, a cancel button, and the stores of the page's current job."""
    return html.Div(
        [
            html.Button(run_label, id=f"{prefix}-run", className="primary", n_clicks=0),
            html.Button("Cancel", id=f"{prefix}-cancel", className="secondary", n_clicks=0, disabled=True),
            html.Progress(id=f"{prefix}-progress", value="0", max="1", className="progress"),
            html.Span("", id=f"{prefix}-status", className="status"),
            html.Div("", id=f"{prefix}-message", className="form-error"),
            dcc.Store(id=f"{prefix}-job", storage_type="local"),
            dcc.Store(id=f"{prefix}-done", storage_type="local"),
            dcc.Interval(id=f"{prefix}-tick", interval=POLL_MS, disabled=True),
        ],
        className="job-panel",
    )


def register_job_panel(app: dash.Dash, workbench: Workbench, prefix: str) -> None:
    """Poll the page's job while it runs; fill ``{prefix}-done`` with ``{"job", "folder"}`` when it ends."""

    @app.callback(
        Output(f"{prefix}-progress", "value"),
        Output(f"{prefix}-progress", "max"),
        Output(f"{prefix}-status", "children"),
        Output(f"{prefix}-tick", "disabled"),
        Output(f"{prefix}-cancel", "disabled"),
        Output(f"{prefix}-done", "data"),
        Output(f"{prefix}-run", "disabled"),
        Input(f"{prefix}-tick", "n_intervals"),
        Input(f"{prefix}-job", "data"),
        State("session", "data"),
        State(f"{prefix}-done", "data"),
    )
    def poll(_ticks: int | None, job: str | None, session: object, done: dict | None) -> tuple:
        if not job:
            return "0", "1", "", True, True, dash.no_update, False
        try:
            status = workbench.jobs.status(session_of(session), job)
        except (NoSessionError, ValueError, OSError):
            return "0", "1", "", True, True, dash.no_update, False
        total = max(status.total, 1)
        elapsed = (status.ended or time.time()) - status.started
        line = f"{status.state}: {status.message} ({status.done}/{status.total}, {elapsed:.0f} s)"
        if not status.finished:  # one job of a page at a time: Run waits until this one ends
            return str(status.done), str(total), line, False, False, dash.no_update, True
        result = {"job": job, "folder": status.folder, "state": status.state, "message": status.message}
        same = isinstance(done, dict) and done.get("job") == job and done.get("state") == status.state
        return (
            str(total if status.state == "done" else status.done),
            str(total),
            line,
            True,
            True,
            (dash.no_update if same else result),
            False,
        )

    @app.callback(
        Output(f"{prefix}-job", "data", allow_duplicate=True),
        Input(f"{prefix}-cancel", "n_clicks"),
        State(f"{prefix}-job", "data"),
        State("session", "data"),
        prevent_initial_call=True,
    )
    def cancel(_clicks: int, job: str | None, session: object) -> object:
        if job:
            with contextlib.suppress(NoSessionError, ValueError, OSError):
                workbench.jobs.cancel(session_of(session), job)
        return job  # re-polled at once


def field_inputs(prefix: str) -> tuple[State, State]:
    """States of all of a page's fields: their ids and their values."""
    pattern = {"type": "field", "page": prefix, "key": ALL}
    return State(pattern, "id"), State(pattern, "value")


def error_outputs(prefix: str) -> Output:
    return Output({"type": "field-error", "page": prefix, "key": ALL}, "children")


def guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """A callback that turns a missing session into no update (the session store fills a moment later)."""

    def wrapper(*args: Any) -> Any:
        try:
            return function(*args)
        except NoSessionError:
            raise dash.exceptions.PreventUpdate from None

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper
