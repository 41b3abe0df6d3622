"""Sweeps: one folder per point, resumable, collected into one table.

A sweep (``caresim --multirun ...``) writes each point into ``<sweep dir>/<point>``. The point's name is made
from its overrides (``run.seed=2,scenario=price_war``), so running the same command again finds the points
already finished and skips them: a sweep killed mid-way resumes without losing or repeating a run (each
folder appears whole or not at all). At the end the points are collected into ``sweep.parquet`` and
``sweep.csv``: one row per run and replication, the swept parameters as columns. Query it with pandas or
DuckDB (``SELECT * FROM 'sweep.parquet'``).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from caresim.files import sweep_stale_staging, write_file_atomic
from caresim.lifecycle import GRADES
from caresim.results.manifest import source_fingerprint

#: Overrides that say how a run is shown or where it goes, not what it computes: not part of a point's name.
PRESENTATION_KEYS = ("run.output_dir", "run.progress", "run.formats", "run.report", "run.n_shard_workers")
MAX_NAME = 150
POINTS_VARIABLE = "CARESIM_SWEEP_POINTS"  # set by the sweep's start callback for its jobs


def _key_value(override: str) -> tuple[str, str]:
    """(key, value) of an override, the ``+``/``++`` marks dropped (``~key`` is kept apart from ``key=``)."""
    key, _, value = override.lstrip("+").partition("=")
    return key, value


def point_name(overrides: list[str], sweep_dir: str | Path | None = None) -> str:
    """A folder name for a sweep point, from its overrides (presentation keys left out): the keys the sweep
    varies first, then the others, each part sorted. The swept keys are read from ``sweep_dir``'s
    ``sweep.json`` (written by the sweep's start callback); without it every key is in one sorted part.

    Values that a file name cannot carry as they are ('/', spaces, a very long or non-ASCII name) get a
    short hash of the raw overrides appended, so that two points never share a folder.
    """
    swept = swept_keys(sweep_dir) if sweep_dir is not None else frozenset()
    kept = [(k, f"{k}={v}" if not k.startswith("~") else k) for k, v in map(_key_value, overrides) if _counts(k)]
    raw = ",".join(text for _, text in sorted(kept, key=lambda kt: (kt[0] not in swept, kt[1]))) or "defaults"
    name = raw.replace("/", "_").replace(" ", "_")
    if name != raw or not name.isascii() or len(name.encode()) > MAX_NAME:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:12]
        name = f"{name.encode()[: MAX_NAME - 13].decode(errors='ignore')}-{digest}"
    return name


def swept_keys(sweep_dir: str | Path) -> frozenset[str]:
    """The keys a sweep varies, as its start callback recorded them in ``sweep.json`` (none without one)."""
    path = Path(sweep_dir) / "sweep.json"
    if not path.is_file():
        return frozenset()
    return frozenset(json.loads(path.read_text()).get("swept", []))


def _counts(key: str) -> bool:
    """Whether an override's key says what a run computes (not how it is shown or where it goes)."""
    key = key.lstrip("~")
    return key not in PRESENTATION_KEYS and not key.startswith("hydra")


def sweep_id(overrides: list[str], extra: str = "") -> str:
    """A short, stable name for a sweep: the same points give the same folder, whatever the order of the
    overrides or of the values in a sweep; ``extra`` (an experiment's file) is part of the identity."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    canonical = {}
    for override, text in zip(OverridesParser.create().parse_overrides(list(overrides)), overrides, strict=True):
        key = _key_value(text)[0]
        if not _counts(key):
            continue
        try:
            values = sorted(override.sweep_string_iterator()) if override.is_sweep_override() else [text]
        except Exception:  # an interval or glob sweep: take it as written
            values = [text]
        canonical[key] = [str(v) for v in values]
    text = json.dumps([sorted(canonical.items()), extra])
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def comparable(config_text: str) -> dict:
    """A resolved config without the settings that only say how a run is shown or where it goes."""
    data = yaml.safe_load(config_text) or {}
    for key in PRESENTATION_KEYS:
        data.get("run", {}).pop(key.split(".", 1)[1], None)
    return data


def is_finished(folder: Path, config_text: str) -> bool:
    """True when ``folder`` holds a finished run of this config (presentation aside) by this code."""
    manifest, config = folder / "manifest.json", folder / "config.yaml"
    if not (manifest.is_file() and config.is_file()):
        return False
    source = json.loads(manifest.read_text()).get("source")
    return source == source_fingerprint() and comparable(config.read_text()) == comparable(config_text)


def clear_leftovers(folder: Path) -> None:
    """Remove half-written staging folders beside ``folder`` left by killed runs (never a live run's)."""
    sweep_stale_staging(folder.parent)


def _parameters(point: Path) -> dict[str, Any]:
    manifest = json.loads((point / "manifest.json").read_text())
    parameters: dict[str, Any] = {"point": point.name, "kind": manifest["kind"]}
    for override in manifest.get("overrides", []):
        key, value = _key_value(override)
        if not _counts(key) or key.startswith("~"):
            continue
        parsed = yaml.safe_load(value) if value else None
        parameters[key] = parsed if isinstance(parsed, int | float | str | bool) or parsed is None else value
    parameters.setdefault("scenario", manifest["scenario"])
    parameters.setdefault("run.seed", manifest["seed"])
    return parameters


def _read(point: Path, name: str) -> pd.DataFrame:
    parquet, csv = point / f"{name}.parquet", point / f"{name}.csv"
    return pd.read_parquet(parquet) if parquet.is_file() else pd.read_csv(csv)


def simulation_summary(point: Path) -> list[dict[str, Any]]:
    """One row of headline figures of a simulation run."""
    kpis = _read(point, "kpis")
    by_month = kpis.groupby("month").sum(numeric_only=True)
    last = kpis[kpis.month == kpis.month.max()]
    active = last["active"].sum()
    row: dict[str, Any] = {
        "replication": 0,
        "months": int(kpis.month.max()) + 1,
        "active_end": float(active),
        "churned": float(kpis["churned"].sum()),
        "monthly_churn_rate": float((by_month["churned"] / by_month["active_start"]).mean()),
        "complaints_per_1000": float((1000 * by_month["complaints"] / by_month["active_start"]).mean()),
        "revenue": float(kpis["revenue"].sum()),
        "care_spend": float(kpis["care_spend"].sum()),
    }
    for grade in GRADES:
        share = (last[f"satisfaction_{grade}"] * last["active"]).sum() / active if active else math.nan
        row[f"satisfaction_{grade}_end"] = float(share)
    return [row]


def plan_summary(point: Path) -> list[dict[str, Any]]:
    """One row per verification replication of the plan: its simulated net value, subscribers kept, cost."""
    status = json.loads((point / "plan.json").read_text())
    head = {"plan_status": status["status"], "plan_cost": status["total_cost"], "objective": status["objective"]}
    if not ((point / "simulated.parquet").is_file() or (point / "simulated.csv").is_file()):
        return [{"replication": 0, **head}]
    simulated = _read(point, "simulated")
    own = simulated[simulated.policy == "plan"].groupby("replication", as_index=False).mean(numeric_only=True)
    columns = ["replication", "net_value", "value", "retained", "cost", "poor_share"]
    return [{**head, **row} for row in own[columns].to_dict("records")]


def collect(sweep_dir: str | Path) -> pd.DataFrame:
    """Every finished point of a sweep: one row per run and replication, parameters as columns, sorted."""
    sweep_dir = Path(sweep_dir)
    rows = []
    for point in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (point / "manifest.json").is_file():
            continue
        parameters = _parameters(point)
        summary = plan_summary(point) if parameters["kind"] == "plan" else simulation_summary(point)
        rows += [{**parameters, **row} for row in summary]
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values(["point", "replication"], kind="stable").reset_index(drop=True)


def write_table(sweep_dir: str | Path) -> Path:
    """Collect the sweep and write ``sweep.parquet`` and ``sweep.csv`` beside its points (each file whole)."""
    sweep_dir = Path(sweep_dir)
    table = collect(sweep_dir)
    parquet = io.BytesIO()
    table.to_parquet(parquet, index=False)
    write_file_atomic(sweep_dir / "sweep.parquet", parquet.getvalue())
    write_file_atomic(sweep_dir / "sweep.csv", table.to_csv(index=False).encode("utf-8"))
    return sweep_dir / "sweep.parquet"
