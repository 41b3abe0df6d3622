"""Sweeps: one folder per point, collected into one table; resumed after a kill; the same with two workers."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from caresim.report.sweep import sweep_report
from caresim.sweeps.sweep import point_name, sweep_id
from tests.conftest import HANG_GUARD_SECONDS

SWEEP = ("run.seed=1,2,3", "run.n_months=3", "run.scale=400", "run.progress=false")


def _caresim(output: Path, *args: str, wait: bool = True):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    flags = [a for a in args if a.startswith("-")]
    values = [a for a in args if not a.startswith("-")]
    command = [sys.executable, "-m", "caresim", *flags, f"run.output_dir={output}", *values]
    if not wait:
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True
        )
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=HANG_GUARD_SECONDS)


def _sweep_dir(output: Path) -> Path:
    (folder,) = (output / "sweeps").iterdir()
    return folder


def _points(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_sweep_writes_one_folder_per_point_and_one_table(tmp_path):
    done = _caresim(tmp_path, "--multirun", *SWEEP)
    assert done.returncode == 0, done.stderr
    assert [f"sweep point {k} of 3" in done.stdout for k in (1, 2, 3)] == [True] * 3  # progress of the sweep
    folder = _sweep_dir(tmp_path)
    assert _points(folder) == [f"run.seed={s},run.n_months=3,run.scale=400" for s in (1, 2, 3)]  # swept first
    assert json.loads((folder / "sweep.json").read_text())["swept"] == ["run.seed"]
    for point in _points(folder):
        names = {p.name for p in (folder / point).iterdir()}
        assert {"kpis.parquet", "config.yaml", "manifest.json", "policy.json"} <= names
    table = pd.read_parquet(folder / "sweep.parquet")
    assert list(table["run.seed"]) == [1, 2, 3] and (table["run.n_months"] == 3).all()
    assert table["monthly_churn_rate"].nunique() == 3  # three seeds, three different runs
    report = (folder / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 1 and "monthly_churn_rate by arm" in report
    by_duckdb = duckdb.sql(f"SELECT \"run.seed\", churned FROM '{folder / 'sweep.parquet'}' ORDER BY 1").df()
    assert list(by_duckdb["churned"]) == list(table["churned"])


@pytest.mark.slow
def test_killed_sweep_resumes_without_losing_or_repeating_a_run(tmp_path):
    reference = tmp_path / "whole"
    assert _caresim(reference, "--multirun", *SWEEP).returncode == 0
    killed = tmp_path / "killed"
    process = _caresim(killed, "--multirun", *SWEEP, wait=False)
    deadline = time.time() + HANG_GUARD_SECONDS
    while not _any_point(killed) and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    folder = _sweep_dir(killed)
    finished = _points(folder)
    assert 1 <= len(finished) < 3, finished  # killed mid-way
    stamps = {p: (folder / p / "manifest.json").stat().st_mtime_ns for p in finished}
    again = _caresim(killed, "--multirun", *SWEEP)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("finished already, skipped") == len(finished)
    assert {p: (folder / p / "manifest.json").stat().st_mtime_ns for p in finished} == stamps  # not redone
    assert len(_points(folder)) == 3 and not [p for p in folder.iterdir() if p.name.startswith(".run")]
    resumed = pd.read_parquet(folder / "sweep.parquet")
    pd.testing.assert_frame_equal(resumed, pd.read_parquet(_sweep_dir(reference) / "sweep.parquet"))


def _any_point(output: Path) -> bool:
    sweeps = output / "sweeps"
    return sweeps.exists() and any(_points(folder) for folder in sweeps.iterdir())


@pytest.mark.slow
def test_two_joblib_workers_give_the_same_table_as_one(tmp_path):
    one = _caresim(tmp_path / "one", "--multirun", *SWEEP)
    two = _caresim(tmp_path / "two", "--multirun", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *SWEEP)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    tables = [pd.read_parquet(_sweep_dir(tmp_path / name) / "sweep.parquet") for name in ("one", "two")]
    pd.testing.assert_frame_equal(*tables)
    kpis = [
        pd.read_parquet(_sweep_dir(tmp_path / n) / _points(_sweep_dir(tmp_path / n))[1] / "kpis.parquet")
        for n in ("one", "two")
    ]
    pd.testing.assert_frame_equal(*kpis)


@pytest.mark.slow
def test_ray_launcher_runs_a_two_point_sweep_on_a_local_instance(tmp_path):
    ray_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must stay short
    try:
        done = _caresim(
            tmp_path,
            "--multirun",
            "hydra/launcher=ray",
            "+hydra.launcher.ray.init.num_cpus=2",
            f"+hydra.launcher.ray.init._temp_dir={ray_dir}",
            "run.seed=1,2",
            "run.n_months=2",
            "run.scale=400",
            "run.progress=false",
            "run.report=false",
        )
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    folder = _sweep_dir(tmp_path)
    assert _points(folder) == [f"run.seed={s},run.n_months=2,run.scale=400" for s in (1, 2)]
    table = pd.read_parquet(folder / "sweep.parquet")
    assert list(table["run.seed"]) == [1, 2] and table["churned"].gt(0).all()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("+experiment=pilot_size", "planner.pilot.scale=40"), "planner.pilot.scale: experiment pilot_size sweeps"),
        (("+experiment=pilot_size,sensitivity",), "experiment: run one experiment per command"),
        (("hydra/launcher=joblib", "hydra.launcher.n_jobs=0"), "hydra.launcher.n_jobs: a whole number of workers"),
        (("hydra/launcher=nope", "run.seed=1,2"), "hydra/launcher: unknown launcher 'nope'"),
        (("run.seed=interval(1,3)",), "run.seed: sweep over a list of values"),
    ],
)
def test_bad_sweep_settings_one_line_exit_2_nothing_written(tmp_path, args, expected):
    done = _caresim(tmp_path / "out", "--multirun", *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"caresim: {expected}"), lines
    assert not (tmp_path / "out").exists()


def test_point_names_never_collide_and_fit_a_file_name():
    assert point_name(["description=a/b"]) != point_name(["description=a_b"])
    assert point_name(["description=x y"]) != point_name(["description=x_y"])
    assert point_name(["~description"]) != point_name(["description="])
    long = point_name(["description=" + "é" * 140])
    assert len(long.encode()) <= 150 and long != point_name(["description=" + "é" * 139])
    assert point_name(["run.seed=2", "++scenario=x", "run.output_dir=/tmp/a"]) == "run.seed=2,scenario=x"


def test_point_names_put_the_swept_values_first(tmp_path):
    (tmp_path / "sweep.json").write_text(json.dumps({"swept": ["run.seed", "scenario"]}))
    fixed = [f"planner.{key}={'x' * 30}" for key in ("alpha", "beta", "gamma", "delta", "epsilon")]
    names = {point_name([*fixed, f"run.seed={s}", f"++scenario={c}"], tmp_path) for s in (1, 2) for c in "ab"}
    assert len(names) == 4
    for name in names:  # the swept values are read first, even when the fixed ones make the name too long
        assert name.startswith(("run.seed=1,scenario=", "run.seed=2,scenario=")) and len(name.encode()) <= 150
    assert point_name(["b=1", "a=2"], tmp_path) == point_name(["a=2", "b=1"], tmp_path) == "a=2,b=1"  # stable
    assert point_name(["a=1", "run.seed=2", "run.output_dir=/x"], tmp_path) == "run.seed=2,a=1"
    assert point_name(["a=1", "run.seed=2"]) == "a=1,run.seed=2"  # no sweep.json: all keys in one sorted part


def test_sweep_id_depends_on_the_points_not_on_how_they_are_written():
    assert sweep_id(["run.seed=1,2"]) == sweep_id(["run.seed=2,1"]) == sweep_id(["++run.seed=1,2"])
    assert sweep_id(["run.seed=1,2", "run.output_dir=/x"]) == sweep_id(["run.seed=1,2"])
    assert sweep_id(["run.seed=1,2"]) != sweep_id(["run.seed=1,3"])
    assert sweep_id(["+experiment=a"], "params: 1") != sweep_id(["+experiment=a"], "params: 2")


@pytest.mark.slow
def test_a_finished_point_is_recognised_whatever_the_presentation_settings(tmp_path):
    done = _caresim(tmp_path, "--multirun", *SWEEP)
    assert done.returncode == 0
    again = _caresim(tmp_path, "--multirun", *SWEEP[:-1], "run.progress=true", "run.report=false")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("finished already, skipped") == 3


def test_sweep_report_of_a_sweep_without_the_headline_figure(tmp_path):
    table = pd.DataFrame(
        {"point": ["a", "b"], "kind": ["plan"] * 2, "replication": [0, 0], "plan_status": ["infeasible"] * 2}
    )
    table.to_parquet(tmp_path / "sweep.parquet")
    page = sweep_report(tmp_path).read_text()
    assert "every plan was infeasible" in page and "data:image/png" not in page
