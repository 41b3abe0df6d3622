"""The results of one run: tables, the resolved config and the policy, and how they are written to disk.

A run's folder appears whole or not at all: everything is written to a hidden sibling folder first,
which is renamed into place at the end.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml

from caresim.config.schema import CareConfig
from caresim.engine.policy import CarePolicy
from caresim.engine.record import RunRecord
from caresim.files import commit_folder, make_staging_folder, sweep_stale_staging
from caresim.results.manifest import manifest

TABLES = (
    "kpis",
    "subscribers",
    "programmes",
    "care_spend",
    "programme_costs",
    "desks",
    "touchpoints",
    "stage_flows",
)


@dataclass
class Results:
    """Everything one simulation run produced."""

    config: CareConfig
    policy: CarePolicy
    kpis: pd.DataFrame
    subscribers: pd.DataFrame
    programmes: pd.DataFrame
    care_spend: pd.DataFrame
    programme_costs: pd.DataFrame
    desks: pd.DataFrame
    touchpoints: pd.DataFrame
    stage_flows: pd.DataFrame
    wall_seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)
    record: RunRecord | None = field(default=None, repr=False)  # the run's record (not written to disk)

    def tables(self) -> dict[str, pd.DataFrame]:
        """All tables by name."""
        return {name: getattr(self, name) for name in TABLES}

    def write(
        self,
        folder: str | Path,
        formats: tuple[str, ...] | list[str] = ("parquet", "csv"),
        overrides: list[str] | None = None,
    ) -> Path:
        """Write tables, resolved config, policy and manifest into ``folder`` (created whole, or not at all)."""
        files = {
            "config.yaml": yaml.safe_dump(self.config.model_dump(mode="json"), sort_keys=False),
            "policy.json": json.dumps(self.policy.to_mapping(), indent=2),
            "manifest.json": json.dumps(manifest(self.config, self.wall_seconds, "simulation", overrides), indent=2),
        }
        return write_folder(folder, self.tables(), files, formats)


def write_folder(
    folder: str | Path,
    tables: dict[str, pd.DataFrame],
    files: dict[str, str | bytes],
    formats: tuple[str, ...] | list[str],
) -> Path:
    """Write ``tables`` (Parquet and/or CSV) and ``files`` (text or bytes) into ``folder``, whole or not at all."""
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"output folder {folder} already exists")
    folder.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_staging(folder.parent)
    staging = make_staging_folder(folder)
    try:
        for name, table in tables.items():
            if "parquet" in formats:
                table.to_parquet(staging / f"{name}.parquet", index=False)
            if "csv" in formats:
                table.to_csv(staging / f"{name}.csv", index=False)
        for name, content in files.items():
            if isinstance(content, bytes):
                (staging / name).write_bytes(content)
            else:
                (staging / name).write_text(content, encoding="utf-8")
        commit_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def run_folder(output_dir: str, scenario: str, seed: int, suffix: str = "") -> Path:
    """A fresh folder name for one run: ``<output_dir>/<scenario>/<time>-seed<seed><suffix>``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(output_dir) / scenario / f"{stamp}-seed{seed}{suffix}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder
