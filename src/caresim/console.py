"""The ``caresim`` console command's entry point: light, so that Ctrl-C at any moment, even while caresim is
still loading its libraries, ends with one line and exit status 130 instead of a traceback."""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130  # as a shell reports a process ended by Ctrl-C
INTERRUPTED = "caresim: interrupted; nothing written"


def main() -> None:
    """Load the command line (``caresim.cli``) and run it; an interrupt anywhere ends in one line."""
    try:
        from caresim.cli import main as run_command_line

        run_command_line()
    except KeyboardInterrupt:  # run folders are committed whole or not at all: nothing half-written is left
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
