"""What every page of the workbench shares: the output root and the jobs of the sessions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from caresim.app.jobs import Jobs, valid_session


@dataclass
class Workbench:
    """The app's state outside the browser: where runs are written and the jobs that write them."""

    output_root: Path
    jobs: Jobs
    token: str | None = None
    local_only: bool = True  # bound to the loopback: requests must name it as their Host (no DNS rebinding)

    @classmethod
    def at(cls, output_root: str | Path, token: str | None = None, local_only: bool = True) -> Workbench:
        root = Path(output_root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return cls(output_root=root, jobs=Jobs(root), token=token, local_only=local_only)


class NoSessionError(Exception):
    """The browser has no session id yet (its first callback races the one that makes it)."""


def session_of(data: object) -> str:
    """The session id kept in the browser (``dcc.Store`` ``session``), checked."""
    if not valid_session(data):
        raise NoSessionError
    return str(data)
