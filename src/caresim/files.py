"""Writing files and folders whole or not at all, readable as the user's umask says, and sweeping what killed
runs left half-written.

Every temporary file or folder is named ``.<name>.staging-<pid>@<host>-<random>`` next to its destination, so
a later run on the same host can tell a live writer's leftovers (its process still exists) from a dead one's,
and remove only those. Another host's are never touched: on a shared file system (a Ray cluster, containers on
one volume) a process id says nothing about another machine's processes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

STAGING = ".staging-"  # a half-written file or folder is named .<name><STAGING><pid>@<host>-<random>
HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "localhost"
# a name without "@<host>" was written by an earlier caresim on this host
_STAGED = re.compile(r"^\..+" + re.escape(STAGING) + r"(\d+)(?:@([A-Za-z0-9._]+))?-[^/]+$")

#: how a command ends on Ctrl-C: the exit status a shell reports for SIGINT, and one line on stderr
EXIT_INTERRUPTED = 130
INTERRUPTED = "caresim: interrupted; nothing written"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()


def public_mode(directory: bool) -> int:
    """The mode a plain ``mkdir`` or ``open`` would give under the user's umask (mkstemp/mkdtemp give 0600/0700)."""
    return (0o777 if directory else 0o666) & ~UMASK


def staging_prefix(name: str) -> str:
    """The name prefix of a temporary file or folder for ``name``: hidden, tagged with this process and host."""
    return f".{name}{STAGING}{os.getpid()}@{HOST}-"


def write_file_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder: readers see the old file or the
    new one, never a part; the file gets the user's umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=staging_prefix(path.name), dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, public_mode(directory=False))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def make_staging_folder(folder: Path) -> Path:
    """A fresh, empty temporary folder beside ``folder`` (made with the user's umask)."""
    staging = Path(tempfile.mkdtemp(prefix=staging_prefix(folder.name), dir=folder.parent))
    os.chmod(staging, public_mode(directory=True))
    return staging


def commit_folder(staging: Path, folder: Path) -> None:
    """Move a finished staging folder to ``folder``; ``FileExistsError`` when another writer got there first
    (never a half-merged folder)."""
    if folder.exists():
        raise FileExistsError(f"output folder {folder} already exists")
    try:
        os.rename(staging, folder)
    except OSError as error:
        if error.errno in (errno.EEXIST, errno.ENOTEMPTY):  # committed by another run since the check above
            raise FileExistsError(f"output folder {folder} already exists") from None
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_stale_staging(folder: str | Path) -> list[Path]:
    """Remove the staging files and folders directly in ``folder`` whose writing process, on this host, is gone
    (a killed run's); a live run's and another host's are left alone. Returns what was removed."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _STAGED.match(entry.name)
        if match is None or match.group(2) not in (None, HOST) or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            removed.append(entry)
    return removed


def unwritable(folder: str | Path) -> str | None:
    """Why runs cannot be written under ``folder`` (made if missing), or None when they can: its nearest
    existing ancestor must be a folder this user may write into."""
    path = Path(folder).absolute()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return "no part of the path exists"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable by this user"
    return None
