"""``caresim-app``: the workbench's web server (Dash on Flask), its file routes and its guard.

    caresim-app                                 # http://127.0.0.1:8050, runs under ./outputs, opens a browser
    caresim-app --port 0 --no-browser           # a free port, printed
    caresim-app --output-root runs --token s3cret   # every request then needs ?token=s3cret once (a cookie after)
    caresim-app --host 0.0.0.0                  # reachable from other machines: warns, use a token

Security: it binds to 127.0.0.1 unless ``--host`` says otherwise; files are served from under the output root
only (``..``, absolute paths, links out of it and the sessions' private ``.app`` folder are refused); with a
token, every request without it is refused.
"""

from __future__ import annotations

import argparse
import hmac
import importlib
import io
import socket
import sys
import threading
import webbrowser
from pathlib import Path

import dash
from dash import Input, Output, State, dcc, html
from flask import Response, abort, request, send_file

from caresim.app.context import Workbench
from caresim.app.jobs import new_session, valid_session
from caresim.app.paths import safe_path

PAGES = ("scenario", "care_mix", "plan", "runs", "agents")
TOKEN_COOKIE = "caresim_token"
EXIT_BAD_INPUT = 2
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


# ------------------------------------------------------------------ the command
def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"--port: a port number from 0 (any free port) to 65535, got {text!r}")
    return int(text)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        print(f"caresim-app: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = _Parser(prog="caresim-app", description="the caresim planning workbench, in the browser")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=_port, default=8050, help="port (0: any free port); default 8050")
    parser.add_argument("--output-root", default="outputs", help="where runs are written and browsed")
    parser.add_argument("--token", default=None, help="require this access token (?token=... once per browser)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    """Start the workbench and print its URL."""
    args = parse_args(argv)
    from caresim.files import unwritable

    problem = unwritable(args.output_root)
    if problem:
        print(f"caresim-app: --output-root: {problem}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    if args.token is not None and not args.token.strip():
        print("caresim-app: --token: give a non-empty token", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"caresim-app: warning: binding to {args.host} lets other machines reach the workbench"
            + ("" if args.token else "; give --token to require an access token"),
            file=sys.stderr,
        )
    try:
        port = args.port or free_port(args.host)
    except OSError as error:
        print(f"caresim-app: --host: cannot bind {args.host} ({error.strerror})", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    local = args.host in ("127.0.0.1", "localhost", "::1")
    app = create_app(args.output_root, args.token, local_only=local)
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    shown_host = f"[{shown_host}]" if ":" in shown_host else shown_host
    url = f"http://{shown_host}:{port}/" + (f"?token={args.token}" if args.token else "")
    print(f"caresim workbench: {url}  (output root {app.workbench.output_root}; Ctrl-C stops it)", flush=True)
    if not args.no_browser:
        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    try:
        app.run(host=args.host, port=port, debug=args.debug, use_reloader=False)
    except OSError as error:
        print(f"caresim-app: --port: cannot listen on {args.host}:{port} ({error.strerror or error})", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        pass
    finally:
        app.workbench.jobs.close()


__all__ = ["create_app", "main"]
