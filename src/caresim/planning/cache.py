"""Finished simulation runs of a planning job, kept on disk so that an interrupted job resumes where it stopped.

Each entry is keyed by everything that determines it: the run's config (seed included), the policy, the
measurement settings, and a fingerprint of caresim's own source, so that a changed model never serves an
old result. Entries are written to a temporary file and renamed into place: they exist whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from caresim.files import sweep_stale_staging, write_file_atomic
from caresim.results.manifest import source_fingerprint


class RunCache:
    """Results by key in ``folder`` (no folder: nothing is kept)."""

    def __init__(self, folder: str | Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None
        if self.folder is not None:
            sweep_stale_staging(self.folder)  # an entry a killed job was writing: never whole, never read
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(*parts: Any) -> str:
        """A key for JSON-able ``parts``."""
        text = json.dumps([source_fingerprint(), *parts], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def get_or_run(self, key: str, compute: Callable[[], Any]) -> Any:
        """The stored result for ``key``, or ``compute()``'s, stored before it is returned."""
        path = self.folder / f"{key}.pkl" if self.folder is not None else None
        if path is not None and path.is_file():
            self.hits += 1
            with path.open("rb") as stream:
                return pickle.load(stream)
        self.misses += 1
        result = compute()
        if path is not None:
            write_file_atomic(path, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        return result


def run_identity(config: Any) -> dict[str, Any]:
    """What determines a simulation run of ``config``: everything but how it is shown and where it is written."""
    data = config.model_dump(mode="json")
    for key in ("planner", "mode", "description"):
        data.pop(key, None)
    for key in ("progress", "output_dir", "formats", "report", "n_shard_workers"):
        data["run"].pop(key, None)
    return data
