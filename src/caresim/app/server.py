"""The workbench's web server (Dash on Flask): ``create_app``, its file route and its guard (``caresim-app`` starts
it: ``caresim.app.command``).

Security: the command binds to 127.0.0.1 unless ``--host`` says otherwise, and on the loopback only requests
addressed to a loopback name are answered; files are served from under the output root only (``..``, absolute
paths, links out of it and hidden folders such as the sessions' ``.app`` are refused); with a token, every
request without it is refused.
"""

from __future__ import annotations

import hmac
import importlib
import io
from pathlib import Path

import dash
from dash import Input, Output, State, dcc, html
from flask import Response, abort, request, send_file

from caresim.app.context import Workbench
from caresim.app.jobs import new_session, valid_session
from caresim.app.paths import safe_path

PAGES = ("scenario", "care_mix", "plan", "runs", "agents")
TOKEN_COOKIE = "caresim_token"
ASSETS = Path(__file__).parent / "assets"


def _pages() -> list:
    return [importlib.import_module(f"caresim.app.pages.{name}") for name in PAGES]


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _guard(workbench: Workbench) -> Response | None:
    """Flask ``before_request``. On the loopback, refuse a request whose Host is not a loopback name: a web page
    elsewhere that points its own domain at 127.0.0.1 (DNS rebinding) cannot then reach the workbench. With a
    token, refuse a request that carries it neither in ``?token=`` nor in the cookie set the first time."""
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    if workbench.local_only and host not in LOOPBACK_NAMES:
        return Response("caresim workbench: only this machine's loopback address is served\n", 403)
    if workbench.token is None:
        return None
    expected = workbench.token.encode()
    given = (request.args.get("token"), request.cookies.get(TOKEN_COOKIE), request.headers.get("X-Caresim-Token"))
    if any(value is not None and hmac.compare_digest(value.encode(), expected) for value in given):
        return None
    return Response("caresim workbench: an access token is required (open the URL the server printed)\n", 403)


def _remember_token(workbench: Workbench, response: Response) -> Response:
    if workbench.token is not None and request.args.get("token") == workbench.token:
        response.set_cookie(TOKEN_COOKIE, workbench.token, httponly=True, samesite="Strict")
    return response


def _serve_file(workbench: Workbench, relative: str) -> Response:
    path = safe_path(workbench.output_root, relative)
    if path is None or not path.is_file():
        abort(404)
    wanted = request.args.get("format")
    if wanted in ("csv", "parquet") and path.suffix in (".csv", ".parquet") and path.suffix[1:] != wanted:
        import pandas as pd

        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        buffer = io.BytesIO()
        table.to_csv(buffer, index=False) if wanted == "csv" else table.to_parquet(buffer, index=False)
        buffer.seek(0)
        return send_file(buffer, as_attachment=True, download_name=f"{path.stem}.{wanted}")
    return send_file(path, as_attachment=request.args.get("download") == "1")


def create_app(output_root: str | Path = "outputs", token: str | None = None, local_only: bool = True) -> dash.Dash:
    """The workbench app over ``output_root`` (made if missing); ``local_only``: served on the loopback only."""
    workbench = Workbench.at(output_root, token, local_only)
    app = dash.Dash(
        __name__,
        title="caresim workbench",
        assets_folder=str(ASSETS),
        suppress_callback_exceptions=True,
        update_title=None,
        serve_locally=True,
    )
    server = app.server
    server.before_request(lambda: _guard(workbench))
    server.after_request(lambda response: _remember_token(workbench, response))
    server.add_url_rule("/files/<path:relative>", "files", lambda relative: _serve_file(workbench, relative))
    pages = _pages()
    app.layout = html.Div(
        [
            dcc.Location(id="url"),
            dcc.Store(id="session", storage_type="local"),
            html.Header(
                [
                    html.Span("caresim", className="brand"),
                    html.Nav([dcc.Link(page.TITLE, href=page.PATH, className="nav-link") for page in pages]),
                    html.Span(str(workbench.output_root), className="root", title="output root"),
                ],
                className="top",
            ),
            html.Main(id="page"),
        ]
    )

    @app.callback(Output("session", "data"), Input("session", "modified_timestamp"), State("session", "data"))
    def ensure_session(_stamp: object, data: object) -> object:
        return dash.no_update if valid_session(data) else new_session()

    by_path = {page.PATH: page for page in pages}

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def show_page(pathname: str | None) -> object:
        page = by_path.get(pathname or "/", by_path.get("/scenario") if pathname in (None, "/") else None)
        if page is None:
            return html.Div([html.H2("Not found"), html.P(f"No page at {pathname}.")], className="card")
        return page.layout(workbench)

    for page in pages:
        page.register(app, workbench)
    app.workbench = workbench  # type: ignore[attr-defined]
    return app


__all__ = ["create_app"]
