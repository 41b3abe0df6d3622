"""The Plan page in a real browser: a tiny plan run, cancelled, resumed and read; its policy exported and
simulated again; a bad budget refused beside its field."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml
from playwright.sync_api import Page, expect

import caresim
from tests.app.conftest import Workbench, screenshot

pytestmark = pytest.mark.slow

PLAN_SECONDS = 180_000  # ms: a hang guard, not a time test
# a tiny plan: about 1,000 simulated subscribers for 4 months, 2 seeds each, no adjustment round; a budget that binds
TINY = {
    "run.n_months": "4",
    "run.scale": "400",
    "planner.pilot.n_replications": "2",
    "planner.verify.n_replications": "2",
    "planner.adjust.max_rounds": "0",
    "planner.budget": "20000",
}


def field(page: Page, key: str):
    """The input of config ``key`` on the Plan page (Dash writes a dict id as sorted JSON)."""
    return page.locator(f"[id='{json.dumps({'key': key, 'page': 'plan', 'type': 'field'}, separators=(',', ':'))}']")


def field_error(page: Page, key: str):
    ident = json.dumps({"key": key, "page": "plan", "type": "field-error"}, separators=(",", ":"))
    return page.locator(f"[id='{ident}']")


def set_field(page: Page, key: str, value: str) -> None:
    field(page, key).fill(value)
    field(page, key).press("Tab")  # a debounced input sends its value when it loses focus


def jobs_of(workbench: Workbench) -> list:
    return sorted((workbench.output_root / ".app").glob("*/jobs/*"))


def test_bad_budget_is_refused_beside_its_field(workbench: Workbench, page: Page):
    page.goto(workbench.url + "/plan")
    expect(page.get_by_role("heading", name="Plan", exact=True)).to_be_visible()
    before = jobs_of(workbench)
    set_field(page, "planner.budget", "-5")
    page.locator("#plan-run").click()
    expect(field_error(page, "planner.budget")).to_have_text(
        "planner.budget: Input should be greater than or equal to 0 (got -5)"
    )
    expect(field_error(page, "run.n_months")).to_have_text("")
    page.wait_for_timeout(1000)  # a job would have started by now
    assert jobs_of(workbench) == before
    expect(page.locator("#plan-status")).to_have_text("")


def test_tiny_plan_runs_resumes_exports_and_reproduces(workbench: Workbench, page: Page, monkeypatch):
    page.goto(workbench.url + "/plan")
    expect(page.get_by_role("heading", name="Plan", exact=True)).to_be_visible()
    for key, value in TINY.items():
        set_field(page, key, value)
    page.locator("#plan-run").click()

    # cancelled while it plans, then resumed: the same job spec started again (which runs it finished come from the
    # planner's run cache is the planner's business: tests/test_planning_resume.py)
    expect(page.locator("#plan-status")).to_contain_text("running: planning", timeout=60_000)
    page.locator("#plan-cancel").click()
    expect(page.locator("#plan-status")).to_contain_text("cancelled", timeout=30_000)
    expect(page.locator("#plan-resume")).to_be_visible()
    page.locator("#plan-resume").click()
    expect(page.get_by_role("heading", name="Binding limits")).to_be_visible(timeout=PLAN_SECONDS)
    expect(page.locator("#plan-resume")).to_be_hidden()
    jobs = jobs_of(workbench)[-2:]
    states = [json.loads((job / "status.json").read_text())["state"] for job in jobs]
    specs = [json.loads((job / "spec.json").read_text()) for job in jobs]
    assert states == ["cancelled", "done"] and specs[0] == specs[1]
    assert specs[0]["overrides"][0] == "planner.budget=20000"

    expect(page.locator("#plan-status-line")).to_contain_text("Status optimal")
    expect(page.locator("#plan-binding-table")).to_contain_text("budget")
    expect(page.locator("#plan-heatmap")).to_be_visible()
    expect(page.locator("#plan-comparison-table")).to_contain_text("todays_practice")
    expect(page.locator("#plan-frontier-figure")).to_be_visible()
    relative = json.loads((jobs[-1] / "status.json").read_text())["folder"]
    folder = workbench.output_root / relative
    plan = pd.read_parquet(folder / "plan.parquet")

    csv = page.request.get(workbench.url + page.locator("#plan-download-plan").get_attribute("href"))
    assert csv.ok and csv.text().startswith("segment,programme,coverage")

    # a reload loses nothing: the plan, and the values it was made with
    page.reload()
    expect(page.get_by_role("heading", name="Binding limits")).to_be_visible(timeout=30_000)
    for key, value in TINY.items():
        expect(field(page, key)).to_have_value(value)
    expect(page.locator("#plan-made-with")).to_contain_text("planner.budget=20000")

    # export: a bad name is refused in one line, a good one written where caresim policy=<name> finds it
    page.locator("#plan-export-name").fill("Bad-Name")
    page.locator("#plan-export").click()
    expect(page.locator("#plan-export-message")).to_have_text(re.compile(r"^name: lowercase letters"))
    page.locator("#plan-export-name").fill("plan_browser")
    page.locator("#plan-export").click()
    expect(page.locator("#plan-export-message")).to_contain_text(
        "caresim scenario=baseline policy=plan_browser run.n_months=4 run.scale=400"
    )
    screenshot(page, "plan")
    written = workbench.config_dir / "policy" / "plan_browser.yaml"
    policy = yaml.safe_load(written.read_text(encoding="utf-8"))
    assert policy == json.loads((folder / "plan.json").read_text())["policy"]
    page.locator("#plan-export").click()
    expect(page.locator("#plan-export-message")).to_contain_text("exists")
    with page.expect_download() as download:
        page.locator("#plan-export-yaml").click()
    assert download.value.suggested_filename == "plan_browser.yaml"
    assert yaml.safe_load(download.value.path().read_text(encoding="utf-8")) == policy

    # the exported policy reproduces the plan in a simulation of the same market
    monkeypatch.setenv("CARESIM_CONFIG_DIR", str(workbench.config_dir))
    run = ["run.progress=false", f"run.n_months={TINY['run.n_months']}", f"run.scale={TINY['run.scale']}"]
    assert caresim.load_config("baseline", ["policy=plan_browser", *run]).model_dump()["policy"] == policy
    results = caresim.simulate(caresim.load_config("baseline", run), policy)
    simulated = results.programmes[results.programmes.segment != "all"].set_index(["programme", "segment"])
    planned = plan.set_index(["programme", "segment"])["policy_share"]
    assert len(planned) > 0
    for (programme, segment), row in simulated.iterrows():
        share = planned.get((programme, segment), 0.0)
        assert row.policy_share == pytest.approx(share, abs=1e-9), (programme, segment)
        if share == 0.0:
            assert row.assigned == 0, (programme, segment)
    covered = simulated.loc[planned[planned > 0.2].index]
    assert (covered.assigned_share > 0).all()
