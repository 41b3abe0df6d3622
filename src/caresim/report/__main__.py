"""``python -m caresim.report <run or sweep folder>``: write the folder's HTML report and print its path.

A folder that is not a run (or cannot be read) gives one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

from caresim.report.folder import ReportError
from caresim.report.html import report
from caresim.report.sweep import sweep_report


def main(argv: list[str] | None = None) -> int:
    """Report on the one folder named in ``argv``; return the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m caresim.report <run folder>", file=sys.stderr)
        return 2
    try:
        folder = Path(args[0])
        path = sweep_report(folder) if (folder / "sweep.parquet").is_file() else report(folder)
    except ReportError as error:
        print(f"caresim report: {args[0]}: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
