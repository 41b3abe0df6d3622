"""Checks shared by every reader of an operator's CSV table (calibration's customer table, a campaign table):
each failure is one line naming the file, the column and the row."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from caresim.config.errors import ConfigError


def where(path: Path, column: str, row: int) -> str:
    """How a message names a cell: data rows count from 1 after the header; file lines count the header."""
    return f"{path}: column '{column}', data row {row + 1} (file line {row + 2})"


def check_text(path: Path, error: type[ConfigError]) -> None:
    """Refuse a file that is not CSV text: NUL bytes, or bytes that are not UTF-8 (a spreadsheet, an archive)."""
    with path.open("rb") as stream:
        head = stream.read(1 << 16)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as problem:
        if problem.start < len(head) - 4:  # not merely a character cut at the end of the sample
            raise error(f"{path}: not a CSV text file (byte {problem.start} is not UTF-8 text)") from None
    if b"\x00" in head:
        raise error(f"{path}: not a CSV text file (it holds NUL bytes; a spreadsheet or archive?)")


def check_shape(path: Path, error: type[ConfigError]) -> None:
    """Refuse a file that is not CSV text, a header that names a column twice, and a row with more or fewer
    fields than the header (pandas would shift or drop values)."""
    check_text(path, error)
    with path.open(newline="", encoding="utf-8", errors="replace") as stream:
        rows = csv.reader(stream)
        header = [name.strip() for name in next(rows, [])]
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise error(f"{path}: column {repeated[0]!r} appears more than once in the header (file line 1)")
        for line, row in enumerate(rows, start=2):
            if row and len(row) != len(header):
                raise error(
                    f"{path}: data row {line - 1} (file line {line}) has {len(row)} fields, the header {len(header)}"
                )


def require_columns(path: Path, raw: pd.DataFrame, wanted: Mapping[str, str], error: type[ConfigError]) -> None:
    """Refuse a table missing a mapped column (``wanted``: config key -> column name) or without data rows."""
    for key, column in wanted.items():
        if column not in raw.columns:
            raise error(
                f"{path}: column '{column}' ({key}) is missing from the header (file line 1); "
                f"the table's columns: {list(raw.columns)[:30]}"
            )
    if raw.empty:
        raise error(f"{path}: the table has a header but no data rows")
