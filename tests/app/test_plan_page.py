"""The Plan page without a browser: its figures on hand-made tables, the form's overrides, the policy export and
the session check on the plan shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import caresim
from caresim.app import plan_figures
from caresim.app.context import Workbench
from caresim.app.fields import check
from caresim.app.jobs import JobSpec, JobStatus, _write_status, new_session
from caresim.app.pages import plan as page

PLAN = pd.DataFrame(
    {
        "segment": ["high_contract", "mid_flex", "mid_flex"],
        "programme": ["usage_reminder", "usage_reminder", "loyalty_reward"],
        "coverage": [0.9, 0.25, 0.5],
        "spend": [2_000.0, 4_000.0, 270_000.0],
        "target": ["random", "random", "risk"],
    }
)
COMPARISON = pd.DataFrame(
    {
        "policy": ["plan", "todays_practice", "no_care", "even_spread"],
        "net_value": [300_000.0, -2_300_000.0, 0.0, -110_000.0],
        "net_value_low": [-1_600_000.0, -5_100_000.0, 0.0, -1_400_000.0],
        "net_value_high": [2_200_000.0, 500_000.0, 0.0, 1_200_000.0],
        "predicted_net_value": [1_300_000.0, np.nan, 0.0, 140_000.0],
        "predicted_net_value_low": [-5_000_000.0, np.nan, 0.0, 60_000.0],
        "predicted_net_value_high": [8_000_000.0, np.nan, 0.0, 220_000.0],
        "cost": [325_000.0, 2_950_000.0, 0.0, 295_000.0],
        "poor_share": [0.0029, 0.0029, 0.0053, 0.0038],
    }
)
POLICY = {
    "usage_reminder": {"high_contract": 0.9, "mid_flex": 0.25},
    "loyalty_reward": {"mid_flex": {"share": 0.5, "target": "risk"}, "low_flex": 0.0},
}


def _texts(component: Any) -> list[str]:
    """Every string in a Dash component tree."""
    if isinstance(component, str):
        return [component]
    if isinstance(component, list | tuple):
        return [text for child in component for text in _texts(child)]
    children = getattr(component, "children", None)
    return _texts(children) if children is not None else []


def test_heatmap_cells_are_the_plans_coverage():
    figure = plan_figures.coverage_heatmap(PLAN)
    heatmap = figure.data[0]
    assert list(heatmap.y) == ["high_contract", "mid_flex"]
    assert list(heatmap.x) == ["usage_reminder", "loyalty_reward"]
    assert np.array_equal(np.asarray(heatmap.z, dtype=float), np.array([[0.9, 0.0], [0.25, 0.5]]))
    assert heatmap.text[1][1].startswith("50% by risk") and heatmap.text[0][1] == ""
    assert "270 k" in heatmap.text[1][1]


def test_comparison_bars_and_error_bars_are_the_tables_numbers():
    figure = plan_figures.comparison_bars(COMPARISON)
    bars, predicted = figure.data
    assert list(bars.x) == list(COMPARISON.policy)
    assert np.allclose(bars.y, COMPARISON.net_value)
    assert np.allclose(bars.error_y.array, COMPARISON.net_value_high - COMPARISON.net_value)
    assert np.allclose(bars.error_y.arrayminus, COMPARISON.net_value - COMPARISON.net_value_low)
    assert bars.marker.color[0] != bars.marker.color[1]  # the plan stands out
    assert list(predicted.x) == ["plan", "no_care", "even_spread"]  # today's practice has no prediction
    assert np.allclose(predicted.y, [1_300_000.0, 0.0, 140_000.0])
    assert np.allclose(predicted.error_y.arrayminus, [6_300_000.0, 0.0, 80_000.0])


def test_comparison_metric_follows_the_objective():
    with_retained = COMPARISON.assign(retained=[1800.0, 2000.0, 0.0, 600.0])
    assert plan_figures.comparison_metric("retained", with_retained) == "retained"
    assert plan_figures.comparison_metric("retained", COMPARISON) == "net_value"
    assert plan_figures.comparison_metric("min_cost", with_retained) == "net_value"
    assert np.allclose(plan_figures.comparison_bars(with_retained, "retained").data[0].y, with_retained.retained)


def test_comparison_table_writes_intervals():
    table = plan_figures.comparison_table(COMPARISON).set_index("policy")
    assert table.loc["plan", "net_value"] == "300 k [-1.6 M, 2.2 M]"
    assert table.loc["todays_practice", "predicted_net_value"] == ""
    assert table.loc["plan", "poor_share"] == "0.29%"


def test_frontier_line_and_the_plans_budget():
    frontier = pd.DataFrame(
        {
            "budget": [240_000.0, 0.0, 120_000.0, 360_000.0],
            "status": ["optimal", "optimal", "optimal", "infeasible"],
            "net_value": [1.28e6, 0.0, 1.22e6, np.nan],
            "net_value_low": [-5e6, 0.0, -4e6, np.nan],
            "net_value_high": [7.9e6, 0.0, 6.7e6, np.nan],
        }
    )
    figure = plan_figures.frontier_line(frontier, 300_000.0)
    band, line = figure.data
    assert np.allclose(line.x, [0.0, 120_000.0, 240_000.0])  # sorted, the unsolved budget left out
    assert np.allclose(line.y, [0.0, 1.22e6, 1.28e6])
    assert np.allclose(band.y[:3], [0.0, 6.7e6, 7.9e6])
    marks = [shape for shape in figure.layout.shapes if shape.x0 == shape.x1 == 300_000.0]
    assert len(marks) == 1


def test_binding_table_names_the_limit_and_its_price():
    binding = pd.DataFrame(
        {
            "constraint": ["budget", "channel_capacity"],
            "index": ["", "hotline"],
            "limit": [300_000.0, 20_000.0],
            "shadow_price": [0.530423, 12.5],
        }
    )
    table = plan_figures.binding_table(binding)
    assert table["limit"].tolist() == ["budget", "channel_capacity [hotline]"]
    assert table["shadow price"].tolist() == ["0.5304", "12.5"]
    assert plan_figures.binding_table(binding.iloc[:0]).empty


def test_infeasible_plan_is_explained_in_words():
    status = {
        "status": "infeasible",
        "objective": "net_value",
        "budget": 1000.0,
        "policy": {},
        "explanation": ["minimum spends add up to 1.50 k, above the budget of 1.00 k"],
    }
    shown = _texts(page.results(status, {}, "baseline/x-plan"))
    assert "No plan: infeasible" in shown
    assert "minimum spends add up to 1.50 k, above the budget of 1.00 k" in shown
    optimal = _texts(page.results({**status, "status": "optimal", "explanation": []}, {"plan": PLAN}, "x"))
    assert not any(text.startswith("No plan") for text in optimal)


def test_form_overrides():
    keys = [
        {"key": "planner.budget"},
        {"key": "planner.channel_capacity.hotline"},
        {"key": "planner.channel_capacity.store"},
    ]
    catalogue = ["usage_reminder", "loyalty_reward", "win_back_offer"]
    everything = page.form_overrides(keys, [300000, None, None], catalogue, catalogue, {"hotline"})
    assert everything == ["planner.budget=300000", "~planner.channel_capacity.hotline", "planner.programmes=null"]
    some = page.form_overrides(keys, [1, 5, 7], ["win_back_offer", "usage_reminder"], catalogue, {"hotline"})
    assert some[-1] == "planner.programmes=[usage_reminder,win_back_offer]"
    config, key, message = check("baseline", some)
    assert key is None and config.planner.channel_capacity == {"hotline": 5.0, "store": 7.0}
    assert config.planner.programmes == ["usage_reminder", "win_back_offer"]
    config, key, _ = check("baseline", page.form_overrides(keys, [1, None, 7], catalogue, catalogue, {"hotline"}))
    assert key is None and config.planner.channel_capacity == {"store": 7.0}  # empty: no limit
    _, key, message = check("baseline", page.form_overrides(keys, [-5, 1, 1], [], catalogue, set()))
    assert key == "planner.budget" and message.startswith("planner.budget: Input should be greater than or equal to 0")
    _, key, message = check("baseline", page.form_overrides(keys, [5, 1, 1], [], catalogue, set()))
    assert key == "planner.programmes" and "\n" not in message


def test_form_values_read_a_jobs_overrides_back():
    overrides = ["planner.budget=20000", "~planner.channel_capacity.hotline", "planner.programmes=[usage_reminder]"]
    values, catalogue, allowed = page.form_values("baseline", overrides)
    assert values["planner.budget"] == 20000 and values["planner.channel_capacity.hotline"] is None
    assert values["planner.channel_capacity.store"] == 5000 and allowed == ["usage_reminder"]
    _, _, allowed = page.form_values("baseline", ["planner.programmes=null"])
    assert allowed == catalogue


def test_defaults_come_from_the_scenario():
    values, catalogue, allowed = page.defaults("budget_cut")
    assert values["planner.budget"] == 4_200_000 and values["planner.objective"] == "net_value"
    assert values["planner.channel_capacity.hotline"] == 20_000 and values["run.n_months"] >= 1
    assert "usage_reminder" in catalogue and allowed == catalogue


def test_exported_policy_runs_as_a_config_group(tmp_path, monkeypatch):
    monkeypatch.setenv("CARESIM_CONFIG_DIR", str(tmp_path))
    status = {"status": "optimal", "objective": "net_value", "budget": 300000.0, "policy": POLICY}
    overrides = ("planner.budget=300000", "run.n_months=4", "run.scale=400")
    path, message = page.export_policy(status, "plan_test", False, "20260101-plan", "baseline", overrides)
    assert path == tmp_path / "policy" / "plan_test.yaml"
    assert message.endswith("caresim scenario=baseline policy=plan_test run.n_months=4 run.scale=400")
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == POLICY
    config = caresim.load_config("baseline", ["policy=plan_test"])
    assert {name: _dumped(entry) for name, entry in config.policy.items()} == POLICY
    assert not list((tmp_path / "policy").glob(".*"))  # no staging file left


def _dumped(entry: Any) -> Any:
    if isinstance(entry, dict):
        return {segment: _dumped(share) for segment, share in entry.items()}
    return entry.model_dump() if hasattr(entry, "model_dump") else entry


@pytest.mark.parametrize("name", ["Plan", "9plan", "plan-x", "../plan", "", None, "default"])
def test_bad_policy_names_are_refused_in_one_line(tmp_path, monkeypatch, name):
    monkeypatch.setenv("CARESIM_CONFIG_DIR", str(tmp_path))
    path, message = page.export_policy({"status": "optimal", "policy": POLICY}, name)
    assert path is None and message.startswith("name: ") and "\n" not in message
    assert not (tmp_path / "policy").exists()


def test_an_existing_policy_is_kept_unless_overwrite(tmp_path, monkeypatch):
    monkeypatch.setenv("CARESIM_CONFIG_DIR", str(tmp_path))
    existing = tmp_path / "policy" / "mine.yaml"
    existing.parent.mkdir()
    existing.write_text("usage_reminder: 1.0\n", encoding="utf-8")
    path, message = page.export_policy({"status": "optimal", "policy": POLICY}, "mine")
    assert path is None and "exists" in message and "\n" not in message
    assert existing.read_text(encoding="utf-8") == "usage_reminder: 1.0\n"
    path, _ = page.export_policy({"status": "optimal", "policy": POLICY}, "mine", overwrite=True)
    assert path == existing and yaml.safe_load(existing.read_text(encoding="utf-8")) == POLICY
    _, message = page.export_policy({"status": "optimal", "policy": POLICY}, "cut", scenario="budget_cut")
    assert "scenario budget_cut sets policy shares of its own" in message and "\n" not in message
    path, message = page.export_policy({"status": "infeasible", "policy": {}}, "other")
    assert path is None and message == "this plan has no policy to export (status infeasible)"


def test_the_page_registers_in_the_app(tmp_path):
    from caresim.app.server import create_app

    app = create_app(tmp_path / "outputs")
    outputs = " ".join(app.callback_map)
    for wanted in ("plan-results.children", "plan-job.data", "plan-export-message.children", "plan-resume.style"):
        assert wanted in outputs
    ids = [str(getattr(c, "id", "")) for c in page.layout(app.workbench).children[2]._traverse()]
    named = [i for i in ids if i and not i.startswith("{")]
    assert named and all(i.startswith("plan-") for i in named)


def _finished_job(workbench: Workbench, session: str, relative: str) -> str:
    job = "20260101-000000-0123abcd"
    folder = workbench.jobs.folder(session, job)
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(JobSpec(kind="plan", scenario="baseline").to_json(), encoding="utf-8")
    _write_status(folder, JobStatus(state="done", folder=relative, message="finished"))
    return job


def test_only_the_sessions_own_plan_is_shown(tmp_path):
    workbench = Workbench.at(tmp_path / "outputs")
    plan_dir: Path = workbench.output_root / "baseline" / "20260101-000000-seed1-plan"
    plan_dir.mkdir(parents=True)
    (plan_dir / "plan.json").write_text(json.dumps({"status": "optimal", "policy": POLICY}), encoding="utf-8")
    mine, theirs = new_session(), new_session()
    job = _finished_job(workbench, mine, "baseline/20260101-000000-seed1-plan")
    folder, _ = page.plan_folder(workbench, mine, {"job": job, "folder": "ignored"})
    assert folder == plan_dir
    assert page.plan_folder(workbench, theirs, {"job": job})[0] is None
    assert page.plan_folder(workbench, mine, {"job": "../../x"})[0] is None
