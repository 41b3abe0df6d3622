"""``caresim mode=plan`` from the command line: a plan written whole, bad planner input refused in one line."""

import json

import pandas as pd
import pytest

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
