"""The workbench in a real browser (Debian's Chromium through Playwright): a scenario end to end, the care mix
grid changing the simulated churn, a bad value's message, sessions kept apart, a reload, path traversal and the
access token. Screenshots of each page are saved (see ``tests/app/conftest.py``)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
import yaml
from playwright.sync_api import Page, expect

from tests.app.conftest import screenshot, start_workbench, stop_workbench

pytestmark = pytest.mark.slow
RUN_SECONDS = 90_000  # ms Playwright waits for a run to finish (2 cores shared with other tests)


def _set(page: Page, key: str, value: str) -> None:
    field = page.locator(f"input[id*='\"{key}\"']")  # a pattern-matching id: its JSON holds "key"
    field.fill(value)
    field.press("Tab")


def _run_scenario(page: Page, url: str, label: str, months: str = "12") -> None:
    page.goto(url + "/scenario")
    _set(page, "run.n_months", months)
    page.locator("#scenario-label").fill(label)
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#scenario-status")).to_contain_text("done", timeout=RUN_SECONDS)


def test_a_scenario_runs_end_to_end_and_survives_a_reload(workbench, page: Page) -> None:
    _run_scenario(page, workbench.url, "today 12 months")
    shown = page.locator("#scenario-shown")
    expect(shown).to_contain_text("today 12 months")
    lines = page.locator("#scenario-figure .scatterlayer .trace")
    expect(lines).to_have_count(6)  # the KPI view: one line per segment of the default population
    verdicts = re.compile("works and pays|works, does not pay|no measurable effect|harms")
    expect(page.locator("#scenario-evaluation-table")).to_contain_text(verdicts)
    screenshot(page, "scenario")
    page.reload()  # nothing lives only in the page: the run is read back from its folder
    expect(page.locator("#scenario-shown")).to_contain_text("today 12 months", timeout=20_000)
    expect(page.locator("#scenario-figure .scatterlayer .trace")).to_have_count(6, timeout=20_000)
    for tab in ("Grades", "Churn and survival", "Desk waits"):
        page.locator("#scenario-tab").get_by_text(tab, exact=True).click()
        expect(page.locator("#scenario-figure .main-svg").first).to_be_visible()


def test_a_bad_value_shows_the_cli_message_by_its_field(workbench, page: Page) -> None:
    page.goto(workbench.url + "/scenario")
    _set(page, "run.scale", "0")
    page.get_by_role("button", name="Run", exact=True).click()
    error = page.locator('[id*="field-error"][id*="run.scale"]')
    expect(error).to_have_text("run.scale: Input should be greater than or equal to 1 (got 0)")
    expect(page.locator("#scenario-status")).to_have_text("")  # nothing started
    screenshot(page, "scenario-bad-value")


def test_two_sessions_do_not_see_each_other(workbench, browser) -> None:
    first, second = browser.new_context(), browser.new_context()
    try:
        mine = first.new_page()
        _run_scenario(mine, workbench.url, "only mine", months="3")
        theirs = second.new_page()
        theirs.goto(workbench.url + "/scenario")
        theirs.locator("#scenario-shown").click()
        expect(theirs.get_by_text("only mine")).to_have_count(0)
        theirs.goto(workbench.url + "/care-mix")
        expect(theirs.locator("#caremix-results")).not_to_contain_text("only mine")
    finally:
        first.close()
        second.close()


def test_a_coverage_change_changes_the_simulated_churn(workbench, page: Page) -> None:
    page.goto(workbench.url + "/care-mix")
    _set(page, "run.n_months", "6")
    page.get_by_role("button", name="Compute the cost reference").click()
    cost = page.locator("#caremix-predicted-cost")
    expect(cost).to_be_visible(timeout=RUN_SECONDS)
    before = cost.inner_text()
    page.locator("#caremix-name").fill("todays_mix")
    page.get_by_role("button", name="Simulate", exact=True).click()
    rows = page.locator("#caremix-results-table tbody tr")
    expect(rows).to_have_count(2, timeout=RUN_SECONDS)  # the header row and this run
    # loyalty rewards (no capacity limit) for every mid_contract subscriber: costs more, keeps more
    page.locator('#caremix-grid td[data-dash-column="mid_contract"]').nth(4).click()
    page.keyboard.type("1")
    page.keyboard.press("Enter")
    expect(cost).not_to_have_text(before, timeout=20_000)
    page.locator("#caremix-name").fill("more_loyalty")
    page.get_by_role("button", name="Simulate", exact=True).click()
    expect(rows).to_have_count(3, timeout=RUN_SECONDS)
    churned = {}
    for row in range(1, 3):
        cells = rows.nth(row).locator("td")
        churned[cells.nth(0).inner_text()] = float(cells.nth(3).inner_text().replace(",", ""))
    assert churned["more_loyalty"] != churned["todays_mix"]
    assert churned["more_loyalty"] < churned["todays_mix"]  # same seed: more care, fewer leave
    page.get_by_role("button", name="Save as policy file").click()
    expect(page.locator("#caremix-saved")).to_contain_text("policy=more_loyalty")
    saved = yaml.safe_load((workbench.config_dir / "policy" / "more_loyalty.yaml").read_text())
    assert saved["loyalty_reward"]["mid_contract"] == 1.0
    screenshot(page, "care-mix")


def test_runs_page_lists_folders_and_refuses_traversal(workbench, page: Page) -> None:
    _run_scenario(page, workbench.url, "for the runs page", months="2")
    page.goto(workbench.url + "/runs")
    expect(page.locator("#runs-table")).to_contain_text("baseline/")
    page.locator('#runs-table input[type="radio"]').first.check()
    expect(page.locator("#runs-files")).to_contain_text("kpis")
    expect(page.locator("#runs-files a", has_text="CSV").first).to_be_visible()
    screenshot(page, "runs")
    for path in ("/files/..%2F..%2Fetc%2Fpasswd", "/files/baseline/..%2F..%2F..%2Fetc%2Fpasswd", "/files/.app"):
        response = page.request.get(workbench.url + path)
        assert response.status == 404, path
        assert "root:" not in response.text()
    # a client that resolves dot segments asks for /etc/passwd itself: the app's own page, never the file
    response = page.request.get(workbench.url + "/files/%2e%2e/%2e%2e/etc/passwd")
    assert "root:" not in response.text()


def test_an_access_token_is_required_when_given(tmp_path, page: Page) -> None:
    guarded = start_workbench(tmp_path, "--token", "s3cret")
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(guarded.url + "/scenario", timeout=10)
        assert refused.value.code == 403
        page.goto(guarded.url + "/scenario?token=s3cret")
        expect(page.get_by_role("heading", name="Scenario", exact=True)).to_be_visible()
        page.goto(guarded.url + "/runs")  # the cookie carries the token from here on
        expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    finally:
        stop_workbench(guarded.process)
