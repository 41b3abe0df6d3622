"""Reading a run folder: which kind of run it holds, its tables (Parquet, else CSV) and ``plan.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pandas as pd

from caresim.files import write_file_atomic

Kind = Literal["plan", "simulation"]


class ReportError(ValueError):
    """A folder that cannot be reported on; the message is one line, ready to print."""


def table_path(folder: Path, name: str) -> Path | None:
    """The file holding table ``name`` in ``folder`` (Parquet preferred), or None."""
    for suffix in (".parquet", ".csv"):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def kind_of(folder: str | Path) -> Kind:
    """``plan`` when the folder has ``plan.json``, ``simulation`` when it has a ``kpis`` table."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError("no such folder" if not folder.exists() else "not a folder")
    if (folder / "plan.json").is_file():
        return "plan"
    if table_path(folder, "kpis") is not None:
        return "simulation"
    raise ReportError("not a caresim run folder (no plan.json and no kpis table)")


def read_table(folder: Path, name: str) -> pd.DataFrame | None:
    """Table ``name`` from ``folder``, or None when the folder does not have it."""
    path = table_path(folder, name)
    if path is None:
        return None
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as error:  # any unreadable file becomes one line for the user
        raise ReportError(f"{path.name}: cannot be read ({type(error).__name__})") from error


def read_tables(folder: Path, names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """The tables among ``names`` that the folder has."""
    tables = {name: read_table(folder, name) for name in names}
    return {name: table for name, table in tables.items() if table is not None}


def read_plan_status(folder: Path) -> dict[str, object]:
    """``plan.json`` as a dict."""
    try:
        status = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ReportError(f"plan.json: cannot be read ({type(error).__name__})") from error
    if not isinstance(status, dict):
        raise ReportError("plan.json: not a JSON object")
    return status


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder: readers see the old file or the
    new one, never a part."""
    return write_file_atomic(path, data)
