"""Every experiment definition loads, and one point of its sweep plans and verifies at tiny size."""

import pandas as pd
import pytest
import yaml

from caresim.config.loading import conf_dir, load_config, sweep_variants
from caresim.planning import plan
from caresim.report.sweep import sweep_report
from caresim.sweeps.sweep import point_name, write_table

pytestmark = pytest.mark.slow  # end to end: minutes (the slow tier, run by CI)

EXPERIMENTS = sorted(path.stem for path in (conf_dir() / "experiment").glob("*.yaml"))
TINY = (
    "run.n_months=2",
    "run.scale=400",
    "run.progress=false",
    "planner.pilot.n_replications=2",
    "planner.pilot.coverage_levels=[0.5]",
    "planner.verify.n_replications=2",
    "planner.adjust.max_rounds=0",
    "planner.frontier.n_points=2",
)


def _first_point(name: str) -> list[str]:
    text = yaml.safe_load((conf_dir() / "experiment" / f"{name}.yaml").read_text())
    params = text["hydra"]["sweeper"]["params"]
    return sweep_variants([f"{key}={value}" for key, value in params.items()])[0]


def test_the_five_experiments_of_issue_4_are_defined():
    assert EXPERIMENTS == ["budget_frontier", "pilot_size", "robustness", "sensitivity", "uplift_vs_risk"]
    for name in EXPERIMENTS:
        readme = conf_dir().parent / "experiments" / name / "README.md"
        text = readme.read_text()
        assert f"+experiment={name}" in text and "## Question" in text and "## Produces" in text, name


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_runs_one_point_at_tiny_size(name, tmp_path):
    overrides = [f"+experiment={name}", *_first_point(name), *TINY, f"run.output_dir={tmp_path}"]  # its run cache
    if name == "robustness":
        overrides.append("planner.verify.scenarios=[baseline,price_war]")
    config = load_config(None, overrides)
    assert config.mode == "plan"
    report = plan(config, progress=False)
    assert report.plan.ok, report.plan.explanation
    assert report.comparison is not None and set(report.comparison.policy) >= {"plan", "no_care"}
    if name == "budget_frontier":  # the point, collected as a sweep, gives the simulated frontier
        report.write(tmp_path / point_name(overrides), overrides)
        write_table(tmp_path)
        page = sweep_report(tmp_path).read_text()
        assert (tmp_path / "budget_frontier_simulated.png").is_file() and "Budget frontier (simulated)" in page
        frontier = pd.read_csv(tmp_path / "budget_frontier.csv")
        assert list(frontier["planner.budget"]) == [1_000_000] and list(frontier["runs"]) == [2]
        assert frontier[["net_value", "net_value_low", "net_value_high", "predicted_net_value"]].notna().all(axis=None)
