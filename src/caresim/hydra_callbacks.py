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

from caresim.sweep import POINTS_VARIABLE, write_table


class CollectSweep(Callback):
    """``sweep.json`` (the command) at the start of a multirun; ``sweep.parquet``/``.csv`` at its end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        folder.mkdir(parents=True, exist_ok=True)
        command = {"command": " ".join(sys.argv), "overrides": list(config.hydra.overrides.task)}
        (folder / "sweep.json").write_text(json.dumps(command, indent=2))
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


def count_points(config: DictConfig) -> int:
    """How many points the sweep has: the product of the numbers of values of every swept key."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = config.hydra.sweeper.get("params") or {}
    texts = [*config.hydra.overrides.task, *(f"{key}={value}" for key, value in params.items())]
    sizes = {}  # the last override of a key wins, as in Hydra
    for override in OverridesParser.create().parse_overrides(texts):
        key = override.key_or_group.lstrip("+")
        sizes[key] = len(list(override.sweep_string_iterator())) if override.is_sweep_override() else 1
    count = 1
    for size in sizes.values():
        count *= size
    return count
