"""The planner's own runs: an interrupted plan resumes from its run cache, and a plan across scenarios pilots
each one. Apart from tests/test_planning.py so that the slow tier spreads over two workers."""

from __future__ import annotations

import pandas as pd
import pytest

from caresim.optimize import solve
from caresim.planning import plan
from caresim.planning.responses import planning_problem
from tests.conftest import tiny_plan_config

pytestmark = pytest.mark.slow  # end to end: minutes (the slow tier, run by CI)


def _count_runs(monkeypatch, stop_after: int | None = None) -> dict[str, int]:
    """Count simulation runs of the planner; raise KeyboardInterrupt (a kill) after ``stop_after`` of them."""
    import caresim.planning.pilot as pilot_module
    import caresim.planning.verify as verify_module

    counter = {"runs": 0}
    real = pilot_module.run_record

    def counted(config, policy=None, show=False):
        if stop_after is not None and counter["runs"] >= stop_after:
            raise KeyboardInterrupt
        counter["runs"] += 1
        return real(config, policy, show)

    monkeypatch.setattr(pilot_module, "run_record", counted)
    monkeypatch.setattr(verify_module, "run_record", counted)
    return counter


def test_interrupted_plan_resumes_without_redoing_finished_runs(tmp_path, monkeypatch):
    config = tiny_plan_config(
        n_subscribers=1500,
        n_months=6,
        replications=2,
        planner={"resume": True, "frontier": {"n_points": 2}},
        overrides=(f"run.output_dir={tmp_path}",),
    )
    with monkeypatch.context() as patch:
        total = _count_runs(patch)
        fresh = config.model_copy(update={"planner": config.planner.model_copy(update={"resume": False})})
        uninterrupted = plan(fresh, progress=False)
    with monkeypatch.context() as patch:
        first = _count_runs(patch, stop_after=7)
        with pytest.raises(KeyboardInterrupt):
            plan(config, progress=False)
    with monkeypatch.context() as patch:
        second = _count_runs(patch)
        resumed = plan(config, progress=False)
    with monkeypatch.context() as patch:
        third = _count_runs(patch)
        again = plan(config, progress=False)
    per_replication = 1 + len(config.planner.pilot.coverage_levels)  # the no-care twin and one run per level
    assert first["runs"] == 7 and per_replication < 7  # killed inside the second pilot replication
    assert second["runs"] == total["runs"] - 7  # every finished run was kept, whichever replication it was in
    assert third["runs"] == 0  # everything finished is found again
    for name in ("plan", "comparison", "pilot_estimates", "rounds"):
        pd.testing.assert_frame_equal(resumed.tables()[name], uninterrupted.tables()[name], obj=name)
        pd.testing.assert_frame_equal(again.tables()[name], uninterrupted.tables()[name], obj=name)


def test_plan_across_scenarios_pilots_each_scenario():
    from caresim.planning.pilot import run_pilot
    from caresim.planning.plan import scenario_configs

    config = tiny_plan_config(
        n_subscribers=1500, n_months=6, replications=2, planner={"scenarios": ["baseline", "price_war"]}
    )
    configs = scenario_configs(config)
    assert [c.scenario for c in configs] == ["baseline", "price_war"]
    assert configs[1].market != configs[0].market  # the price war's overrides are applied
    assert configs[1].population == configs[0].population  # on top of this (shrunk) config
    pilot = run_pilot(configs)
    assert set(pilot.responses["scenario"]) == {"baseline", "price_war"}
    problem = planning_problem(pilot, config)
    assert problem.n_samples == 4  # two scenarios × two replications, equal weight
    assert solve(problem).ok
