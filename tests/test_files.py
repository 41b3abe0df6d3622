"""Run folders under concurrency, killed writers' leftovers, the user's umask, an unwritable output location and
Ctrl-C: nothing lost, nothing half-written, one clear line (issue 12's failures 1, 2, 3 and 5)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from caresim.files import (
    HOST,
    commit_folder,
    make_staging_folder,
    sweep_stale_staging,
    unwritable,
    write_file_atomic,
)
from caresim.results.run import write_folder
from tests.conftest import HANG_GUARD_SECONDS


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_folder_committed_by_another_writer_is_a_file_exists_error_never_a_merge(tmp_path):
    folder = tmp_path / "run"
    staging = make_staging_folder(folder)
    (staging / "mine.csv").write_text("a\n")
    folder.mkdir()
    (folder / "theirs.csv").write_text("b\n")
    with pytest.raises(FileExistsError):
        commit_folder(staging, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["theirs.csv"]  # untouched


def test_writers_racing_for_one_folder_name_never_crash_and_one_wins(tmp_path):
    table = pd.DataFrame({"x": range(1000)})
    for attempt in range(20):
        folder = tmp_path / f"run{attempt}"
        outcomes: list[str] = []
        start = threading.Barrier(2)

        def write(tag: str, folder=folder, outcomes=outcomes, start=start) -> None:
            start.wait()
            try:
                write_folder(folder, {"t": table}, {"who.txt": tag}, ["csv"])
                outcomes.append("won")
            except FileExistsError:
                outcomes.append("lost")

        threads = [threading.Thread(target=write, args=(tag,)) for tag in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["lost", "won"], outcomes  # never an OSError, never two winners
        assert (folder / "who.txt").read_text() in ("a", "b")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the loser's staging was removed


def test_two_runs_finishing_in_the_same_second_both_keep_their_results(tmp_path):
    command = [sys.executable, "-m", "caresim", "run.n_months=1", "run.scale=400", "run.progress=false",
               "run.report=false", f"run.output_dir={tmp_path / 'out'}"]  # fmt: skip
    for _ in range(2):
        runs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"]
        for run in runs:
            _, err = run.communicate(timeout=HANG_GUARD_SECONDS)
            assert run.returncode == 0, err.decode()
    folders = list((tmp_path / "out" / "baseline").iterdir())
    assert len(folders) == 4 and all((f / "manifest.json").is_file() for f in folders)


def test_staging_left_by_a_killed_writer_is_swept_and_a_live_ones_is_not(tmp_path):
    dead, live = _dead_pid(), os.getpid()
    stale = tmp_path / f".20261204-seed1.staging-{dead}-abc"
    stale.mkdir()
    (stale / "subscribers.parquet").write_bytes(b"x" * 100)
    stale_file = tmp_path / f".sweep.csv.staging-{dead}-xyz"
    stale_file.write_text("half")
    running = tmp_path / f".20261204-seed2.staging-{live}@{HOST}-def"
    running.mkdir()
    this_host_dead = tmp_path / f".20261204-seed4.staging-{dead}@{HOST}-ghi"
    this_host_dead.mkdir()
    # another machine's writer on a shared file system: its pid means nothing here, so it is never touched
    other_host = tmp_path / f".20261204-seed5.staging-{dead}@{HOST}x-jkl"
    other_host.mkdir()
    kept = tmp_path / "20261204-seed3"
    kept.mkdir()
    assert sorted(sweep_stale_staging(tmp_path)) == sorted([stale, stale_file, this_host_dead])
    assert running.is_dir() and kept.is_dir() and other_host.is_dir()
    assert not stale.exists() and not stale_file.exists()
    # the next run's write sweeps them too
    again = tmp_path / f".x.staging-{dead}-1"
    again.mkdir()
    write_folder(tmp_path / "next", {}, {"a.txt": "a"}, ["csv"])
    assert not again.exists()


@pytest.mark.parametrize(("mask", "folder_mode", "file_mode"), [(0o022, 0o755, 0o644), (0o002, 0o775, 0o664)])
def test_folders_and_files_follow_the_users_umask(tmp_path, mask, folder_mode, file_mode):
    code = f"""
import os, sys
os.umask({mask})
import pandas as pd
from caresim.files import write_file_atomic
from caresim.results.run import write_folder
table = {{"t": pd.DataFrame({{"x": [1]}})}}
write_folder(sys.argv[1] + "/run", table, {{"m.json": "{{}}"}}, ["csv", "parquet"])
write_file_atomic(sys.argv[1] + "/sweep.csv", b"x")
"""
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == folder_mode
    for name in ("t.csv", "t.parquet", "m.json"):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == file_mode, name
    assert stat.S_IMODE((tmp_path / "sweep.csv").stat().st_mode) == file_mode


def test_write_file_atomic_replaces_whole(tmp_path):
    path = write_file_atomic(tmp_path / "a" / "b.txt", b"one")
    write_file_atomic(path, b"two")
    assert path.read_bytes() == b"two" and os.listdir(path.parent) == ["b.txt"]


def test_an_unwritable_output_location_is_named(tmp_path):
    a_file = tmp_path / "README.md"
    a_file.write_text("x")
    assert "is a file, not a folder" in unwritable(a_file / "out")
    assert unwritable(tmp_path / "new" / "deeper") is None


def _cli(tmp_path: Path, *args: str, **kwargs) -> subprocess.Popen:
    command = [sys.executable, "-m", "caresim", "run.progress=false", "run.report=false", *args]
    return subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_an_output_folder_under_a_file_is_refused_before_any_work(tmp_path):
    (tmp_path / "README.md").write_text("x")
    for mode in ("mode=simulate", "mode=calibrate"):
        run = _cli(tmp_path, mode, "calibration=telco", f"run.output_dir={tmp_path / 'README.md' / 'out'}")
        out, err = run.communicate(timeout=HANG_GUARD_SECONDS)
        assert run.returncode == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("caresim: run.output_dir: cannot write runs under")
        assert "is a file, not a folder" in lines[0]
        assert out == ""  # refused at the start: no run began (a run prints its summary, a fit its progress)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


# Each mode, interrupted once it shows it is working (its progress bar, or a sweep's first point), and one
# command interrupted while it is still loading its libraries (-X importtime tells when caresim's own code runs).
INTERRUPTED_MODES = {
    "simulate": (("run.n_months=36", "run.scale=4"), "simulating"),
    "plan": (("mode=plan", "run.n_months=3", "run.scale=100"), "planning"),
    "calibrate": (("mode=calibrate", "calibration=telco"), "calibrating"),
    "sweep": (("--multirun", "run.n_months=36", "run.scale=4", "run.seed=1,2"), "simulating"),
    "sweep on two workers": (
        (
            "--multirun",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "run.n_months=36",
            "run.scale=4",
            "run.seed=1,2",
        ),
        "simulating",
    ),
    "regional shards on two workers": (
        (
            "population.regions={north: {share: 0.5, n_servers: {hotline: 1, store: 1}}, south: {share: 0.5}}",
            "run.n_months=36",
            "run.scale=4",
            "run.n_shard_workers=2",
        ),
        "regional shards",
    ),
    "start-up": ((), "| caresim.console"),
}


@pytest.mark.parametrize("mode", sorted(INTERRUPTED_MODES))
def test_ctrl_c_stops_with_one_line_and_exit_130_leaving_nothing(tmp_path, mode):
    arguments, working = INTERRUPTED_MODES[mode]
    python = [sys.executable, "-X", "importtime"] if mode == "start-up" else [sys.executable]
    command = [*python, "-m", "caresim", *arguments, "run.progress=true", f"run.output_dir={tmp_path / 'out'}"]
    run = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: run.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.time() + HANG_GUARD_SECONDS
    while working not in "".join(seen) and run.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert run.poll() is None, "".join(seen)[-2000:]  # still working when interrupted
    before = len("".join(seen))
    os.killpg(run.pid, signal.SIGINT)  # as a terminal does: the whole foreground group, workers included
    run.wait(timeout=HANG_GUARD_SECONDS)
    reader.join(timeout=60)
    after = "".join(seen)[before:].replace("\r", "\n")
    noise = ("%|", "import time:")  # progress bars ("  3%|▎  | 1/36 ...") and -X importtime's lines
    lines = [line for line in after.splitlines() if line.strip() and not any(word in line for word in noise)]
    assert run.returncode == 130, after[-2000:]
    assert lines == ["caresim: interrupted; nothing written"], after[-2000:]
    out = tmp_path / "out"
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file() and p.suffix in (".parquet", ".csv")]


def test_the_manifest_records_what_was_typed_and_apart_what_caresim_added(tmp_path):
    import json

    run = _cli(tmp_path, "run.n_months=1", "run.scale=400", f"run.output_dir={tmp_path / 'out'}")
    _, err = run.communicate(timeout=HANG_GUARD_SECONDS)
    assert run.returncode == 0, err
    (folder,) = (tmp_path / "out" / "baseline").iterdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    typed = "caresim run.progress=false run.report=false run.n_months=1 run.scale=400"
    typed += f" run.output_dir={tmp_path / 'out'}"
    assert manifest["command"] == typed
    added = manifest["added_by_caresim"]
    assert any(arg.startswith("hydra.sweep.dir=") for arg in added) and "++run.n_months=1" in added
