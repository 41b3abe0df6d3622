"""Which files the workbench may serve: only those under the output root, never its hidden entries."""

from __future__ import annotations

from pathlib import Path, PurePosixPath


def safe_path(root: Path, relative: str) -> Path | None:
    """``relative`` resolved under ``root``, or None when it would leave it, names a hidden entry (the sessions'
    ``.app`` folder, caches, half-written folders) or is absolute."""
    if not relative or "\\" in relative or "\x00" in relative:
        return None
    parts = PurePosixPath(relative).parts
    if PurePosixPath(relative).is_absolute() or any(part in ("..", ".") or part.startswith(".") for part in parts):
        return None
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.exists():
        return None
    if any(part.startswith(".") for part in path.relative_to(root).parts):  # a link into a hidden folder
        return None
    return path
