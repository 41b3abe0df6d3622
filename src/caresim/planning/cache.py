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
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from caresim.executors import Pool, done_future, when_done
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

    def _path(self, key: str) -> Path | None:
        return self.folder / f"{key}.pkl" if self.folder is not None else None

    def get(self, key: str) -> Any | None:
        """The stored result for ``key``, or None (counted as a hit or a miss)."""
        path = self._path(key)
        if path is not None and path.is_file():
            self.hits += 1
            with path.open("rb") as stream:
                return pickle.load(stream)
        self.misses += 1
        return None

    def put(self, key: str, result: Any) -> None:
        """Keep ``result`` under ``key``, whole or not at all (safe from several threads at once)."""
        path = self._path(key)
        if path is not None:
            write_file_atomic(path, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))

    def submit(
        self,
        pool: Pool,
        parts: tuple,
        function: Callable[..., Any],
        *args: Any,
        tick: Callable[[], None] | None = None,
        when_idle: bool = False,
    ) -> Future:
        """The kept result for ``parts`` as a done future, or ``function(*args)`` submitted to ``pool`` (``when
        idle``: see ``Pool.submit_when_idle``) and kept as soon as it is done (by whichever thread collects it);
        ``tick`` is called when the result is there."""
        key = self.key(*parts)
        found = self.get(key)
        if found is not None:
            if tick:
                tick()
            return done_future(found)
        future = (pool.submit_when_idle if when_idle else pool.submit)(function, *args)
        when_done(future, lambda result: self.put(key, result), with_result=True)
        when_done(future, tick)
        return future


def run_identity(config: Any) -> dict[str, Any]:
    """What determines a simulation run of ``config``: everything but how it is shown and where it is written."""
    data = config.model_dump(mode="json")
    for key in ("planner", "mode", "description"):
        data.pop(key, None)
    for key in ("progress", "output_dir", "formats", "report", "n_shard_workers", "executor", "ray_address"):
        data["run"].pop(key, None)
    return data
