"""``caresim-app``: start the workbench and print its URL; bad options end in one line and exit 2.

    caresim-app                                 # http://127.0.0.1:8050, runs under ./outputs, opens a browser
    caresim-app --port 0 --no-browser           # a free port, printed
    caresim-app --output-root runs --token s3cret   # every request then needs ?token=s3cret once (a cookie after)
    caresim-app --host 0.0.0.0                  # reachable from other machines: warns, use a token

Dash is imported only when the server starts, so that without the ``app`` extra the command says what to install.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import webbrowser

EXIT_BAD_INPUT = 2


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port number from 0 (any free port) to 65535, got {text!r}")
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
    try:
        from caresim.app.server import create_app
    except ImportError as error:  # the default install: the workbench is an extra
        print(
            f"caresim-app: the workbench needs its extra ({error.name} is missing): pip install 'caresim[app]'",
            file=sys.stderr,
        )
        sys.exit(EXIT_BAD_INPUT)
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


__all__ = ["main"]
