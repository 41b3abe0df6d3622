"""Plan page (being built)."""

from __future__ import annotations

import dash
from dash import html

from caresim.app.context import Workbench

PATH = "/plan"
TITLE = "Plan"


def layout(workbench: Workbench) -> html.Div:
    return html.Div([html.H2(TITLE)])


def register(app: dash.Dash, workbench: Workbench) -> None:
    return None
