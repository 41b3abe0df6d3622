"""Hydra callbacks (the edge of the app): a sweep records its command at the start, and at the end collects
its points into one table and writes the sweep's report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from caresim.sweep import write_table


class CollectSweep(Callback):
    """``sweep.json`` (the command) at the start of a multirun; ``sweep.parquet``/``.csv`` at its end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        folder.mkdir(parents=True, exist_ok=True)
        command = {"command": " ".join(sys.argv), "overrides": list(config.hydra.overrides.task)}
        (folder / "sweep.json").write_text(json.dumps(command, indent=2))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        table = write_table(config.hydra.sweep.dir)
        print(f"caresim: sweep collected into {table}")
        if config.run.report:
            from caresim.report.sweep import sweep_report

            print(f"caresim: sweep report {sweep_report(config.hydra.sweep.dir)}")
