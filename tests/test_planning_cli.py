"""``caresim mode=plan`` from the command line: a plan written whole, bad planner input refused in one line."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import HANG_GUARD_SECONDS
from tests.test_bad_input import _cli

pytestmark = pytest.mark.slow  # end to end: minutes (the slow tier, run by CI)

QUICK = (
    "mode=plan",
    "run.n_months=3",
    "run.scale=400",
    "run.progress=false",
    "planner.pilot.coverage_levels=[0.5]",
    "planner.pilot.n_replications=2",
    "planner.verify.n_replications=2",
    "planner.verify.baselines=[no_care,even_spread]",
    "planner.adjust.max_rounds=0",
    "planner.frontier.n_points=2",
)


def test_cli_plans_and_writes_the_plan(tmp_path):
    done = _cli(tmp_path, *QUICK, "planner.budget=300000")
    assert done.returncode == 0, done.stderr
    runs = list((tmp_path / "out" / "baseline").iterdir())
    assert len(runs) == 1 and runs[0].name.endswith("-plan")
    names = {path.name for path in runs[0].iterdir()}
    for table in ("plan", "binding", "comparison", "pilot_estimates", "overlaps", "frontier", "rounds"):
        assert {f"{table}.parquet", f"{table}.csv"} <= names, table
    assert {"report.html", "manifest.json", "summary.txt"} <= names
    # frontier, allocation, the pilot's Qini curves, predicted vs simulated
    assert (runs[0] / "report.html").read_text().count("data:image/png;base64,") == 4
    status = json.loads((runs[0] / "plan.json").read_text())
    assert status["status"] == "optimal" and status["total_cost"] <= 300000 * (1 + 1e-6)
    assert "caresim plan:" in done.stdout and "plan minus even_spread" in done.stdout


def test_cli_infeasible_plan_is_explained_not_an_error(tmp_path):
    done = _cli(tmp_path, *QUICK, "planner.budget=1000", "planner.segment_min_spend={mid_flex: 800, low_flex: 700}")
    assert done.returncode == 0, done.stderr
    assert "status: infeasible" in done.stdout
    assert "minimum spends add up to 1.50 k, above the budget of 1.00 k" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("bad", "key"),
    [
        ("planner.budget=-1", "planner.budget: Input should be greater than or equal to 0"),
        ("planner.channel_capacity.hotline=-5", "planner.channel_capacity.hotline"),
        ("planner.channel_capacity.fax=5", "planner.channel_capacity.fax"),
        ("planner.segment_min_spend.vip=5", "planner.segment_min_spend: unknown segment 'vip'"),
        ("planner.max_poor_share.mid_flex=1.5", "planner.max_poor_share.mid_flex"),
        ("planner.programmes=[no_such_care]", "planner.programmes: unknown programme 'no_such_care'"),
        ("planner.scenarios=[atlantis]", "planner.scenarios: unknown scenario 'atlantis'"),
        ("planner.pilot.coverage_levels=[0.6,0.3]", "planner.pilot.coverage_levels"),
        ("planner.objective=profit", "planner.objective"),
        ("mode=optimise", "mode"),
    ],
)
def test_cli_bad_planner_input_one_line_exit_2_nothing_written(tmp_path, bad, key):
    done = _cli(tmp_path, "mode=plan", bad)
    assert done.returncode == 2, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"caresim: {key}"), lines
    assert list(tmp_path.iterdir()) == []


def test_cli_plans_across_two_scenarios(tmp_path):
    done = _cli(tmp_path, *QUICK, "planner.budget=300000", "planner.scenarios=[baseline,price_war]")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "scenario baseline, price_war" in done.stdout
    (run,) = (tmp_path / "out" / "baseline").iterdir()
    simulated = pd.read_parquet(run / "simulated.parquet")
    assert set(simulated["scenario"]) == {"baseline", "price_war"}


def test_killed_plan_resumes_from_its_run_cache_and_plans_the_same(tmp_path):
    """SIGKILL a real ``caresim mode=plan`` on two local workers part-way; the rerun reuses every finished run
    and writes the plan the uninterrupted job (one run after another) writes; what the killed job was writing
    is never read and is swept."""
    settings = (*QUICK, "planner.budget=300000", "planner.resume=true", "planner.executor=local", "planner.n_workers=2")
    whole = tmp_path / "whole"
    whole.mkdir()
    assert _cli(whole, *settings[:-2], "planner.executor=sequential").returncode == 0  # the same plan, one by one
    killed = tmp_path / "killed"
    killed.mkdir()
    cache = killed / "out" / ".cache" / "planner"
    command = [sys.executable, "-m", "caresim", f"run.output_dir={killed / 'out'}", *settings]
    process = subprocess.Popen(command, cwd=killed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + HANG_GUARD_SECONDS
    while len(list(cache.glob("*.pkl"))) < 3 and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.time() + 30  # its workers end on their own (within a second; without that, never)
    while _processes_of(killed) and time.time() < deadline:
        time.sleep(0.1)
    assert not _processes_of(killed)
    kept = {path.name: path.stat().st_ino for path in cache.glob("*.pkl")}
    assert len(kept) >= 3 and not (killed / "out" / "baseline").exists()  # killed mid-way: no plan folder
    for path in cache.glob("*.pkl"):
        with path.open("rb") as stream:
            pickle.load(stream)  # every entry is whole
    (cache / f".{'0' * 32}.pkl.staging-{_dead_pid()}-x1y2").write_bytes(b"half an entry")  # a write cut short
    again = _cli(killed, *settings)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {name: (cache / name).stat().st_ino for name in kept} == kept  # reused, not recomputed
    assert len(list(cache.glob("*.pkl"))) > len(kept)
    assert not [path for path in cache.iterdir() if ".staging-" in path.name]
    (first,) = (whole / "out" / "baseline").iterdir()
    (second,) = (killed / "out" / "baseline").iterdir()
    for table in ("plan", "comparison", "pilot_estimates", "rounds"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(second / f"{table}.parquet"), pd.read_parquet(first / f"{table}.parquet"), obj=table
        )


def _processes_of(folder) -> list[int]:
    """Processes (the job's, or its local workers) whose command line or environment names ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                text = (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes()
            except OSError:  # ended meanwhile, or not ours to read
                continue
            if str(folder).encode() in text:
                found.append(int(entry.name))
    return found


def _dead_pid() -> int:
    """The pid of a process that has ended (a child, waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
