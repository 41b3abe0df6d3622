"""Hydra callbacks (the edge of the app): a sweep records its command at the start, and at the end collects
its points into one table and writes the sweep's report."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from caresim.files import write_file_atomic
from caresim.sweeps.sweep import POINTS_VARIABLE, write_table


class CollectSweep(Callback):
    """``sweep.json`` (the command) at the start of a multirun; ``sweep.parquet``/``.csv`` at its end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        folder.mkdir(parents=True, exist_ok=True)
        sizes = values_per_key(config)
        command = {
            "command": " ".join(sys.argv),
            "overrides": list(config.hydra.overrides.task),
            "swept": sorted(key for key, size in sizes.items() if size is not None),  # first in point names
        }
        # whole or not at all: the points of a parallel run of this sweep read it to name their folders
        write_file_atomic(folder / "sweep.json", json.dumps(command, indent=2).encode("utf-8"))
        # workers started after this inherit it: each point then says "point k of n" (progress of the sweep)
        os.environ[POINTS_VARIABLE] = str(count_points(config))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns a callback's exception into a warning: say it in one line and exit non-zero instead
        try:
            table = write_table(config.hydra.sweep.dir)
            print(f"caresim: sweep collected into {table}")
            if config.run.report:
                from caresim.report.sweep import sweep_report

                print(f"caresim: sweep report {sweep_report(config.hydra.sweep.dir)}")
        except Exception as error:  # any failure here must reach the user as one line
            print(f"caresim: collecting the sweep in {config.hydra.sweep.dir} failed: {error}", file=sys.stderr)
            sys.exit(2)


def values_per_key(config: DictConfig) -> dict[str, int | None]:
    """Every key the sweep sets, on the command line or in the sweeper's params (the last override of a key
    wins, as in Hydra): its number of values when it is swept (a list or a range), None when it is fixed."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = config.hydra.sweeper.get("params") or {}
    texts = [*config.hydra.overrides.task, *(f"{key}={value}" for key, value in params.items())]
    sizes: dict[str, int | None] = {}
    for override in OverridesParser.create().parse_overrides(texts):
        key = override.key_or_group.lstrip("+")
        sizes[key] = len(list(override.sweep_string_iterator())) if override.is_sweep_override() else None
    return sizes


def count_points(config: DictConfig) -> int:
    """How many points the sweep has: the product of the numbers of values of every swept key."""
    count = 1
    for size in values_per_key(config).values():
        count *= size or 1
    return count
