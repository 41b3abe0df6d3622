"""A run's manifest: what produced it (package versions, seed, scenario, overrides, git commit) and how long
it took, so that a result can be traced and reproduced from its folder alone."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path

from caresim.config.schema import CareConfig

PACKAGES = ("caresim", "numpy", "pandas", "pyarrow", "scipy", "simpy", "mesa", "pyomo", "highspy", "hydra-core")
PROJECT_DIR = Path(__file__).resolve().parents[3]
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/caresim


@cache
def source_fingerprint() -> str:
    """A hash of caresim's Python source: results computed by other code are never taken for this code's."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def package_versions() -> dict[str, str]:
    """Installed versions of caresim and the packages its results depend on."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(folder: Path = PROJECT_DIR) -> dict[str, object] | None:
    """The commit of the checkout caresim runs from, and whether it had uncommitted changes (None outside git)."""
    if not (folder / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "uncommitted_changes": bool(status.strip())}


#: Set by the command line: what the user typed, and what caresim added to it for Hydra (JSON lists).
TYPED_VARIABLE, ADDED_VARIABLE = "CARESIM_TYPED", "CARESIM_ADDED"


def command_line() -> dict[str, object]:
    """The command as the user typed it, and separately the arguments caresim added for Hydra (the sweep
    folder) and how it rewrote the user's (``++key=value`` so that any schema key may be set)."""
    typed = os.environ.get(TYPED_VARIABLE)
    if typed is None:  # called from Python
        return {"command": " ".join(sys.argv), "added_by_caresim": []}
    return {
        "command": shlex.join(["caresim", *json.loads(typed)]),
        "added_by_caresim": json.loads(os.environ.get(ADDED_VARIABLE, "[]")),
    }


def manifest(
    config: CareConfig, wall_seconds: float, kind: str, overrides: list[str] | None = None
) -> dict[str, object]:
    """The manifest of one run of ``kind`` ("simulation" or "plan")."""
    return {
        "kind": kind,
        "scenario": config.scenario,
        "seed": config.run.seed,
        "overrides": list(overrides or []),
        "wall_seconds": round(wall_seconds, 3),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        **command_line(),
        "versions": package_versions(),
        "source": source_fingerprint(),
        "git": git_commit(),
    }
