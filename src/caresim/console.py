"""The ``caresim`` console command's entry point: light, so that Ctrl-C at any moment, even while caresim is
still loading its libraries, ends with one line and exit status 130 instead of a traceback."""

from __future__ import annotations

import os
import signal
import sys

from caresim.files import EXIT_INTERRUPTED, INTERRUPTED

# Worker pools (joblib's loky) start a resource tracker that, when Ctrl-C reaches the whole process group,
# warns at exit about the semaphores it then cleans up itself: noise after the one line. Children inherit this.
QUIET_TRACKER = "ignore:resource_tracker:UserWarning"


def _interrupted_before_main(signum: int, frame: object) -> None:
    """Ctrl-C between loading this module and ``main``'s guard: nothing has started, so just end in one line.
    A second Ctrl-C while ending changes nothing (with this handler still in place, Python's shutdown would put
    back the default one, and a late second signal would end the process by SIGINT instead of status 130)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print(INTERRUPTED, file=sys.stderr)
    raise SystemExit(EXIT_INTERRUPTED)


# Installed as this module loads, so no instant is left in which an interrupt would print a traceback.
signal.signal(signal.SIGINT, _interrupted_before_main)


def main() -> None:
    """Load the command line (``caresim.cli``) and run it; an interrupt anywhere ends in one line."""
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # from here, Ctrl-C is a KeyboardInterrupt
        warnings = os.environ.get("PYTHONWARNINGS")
        os.environ["PYTHONWARNINGS"] = f"{warnings},{QUIET_TRACKER}" if warnings else QUIET_TRACKER
        from caresim.cli import main as run_command_line

        run_command_line()
    except KeyboardInterrupt:  # run folders are committed whole or not at all: nothing half-written is left
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while ending changes nothing
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
