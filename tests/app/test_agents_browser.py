"""The Agents page in a real browser: build a model, step it, watch the network and the KPIs change."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.app.conftest import screenshot

pytestmark = pytest.mark.slow

BUILD_MS = 60_000


def open_agents(workbench, page) -> None:
    page.goto(workbench.url + "/agents")
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    page.wait_for_function("() => !!localStorage.getItem('session')")  # callbacks need the session id


def test_build_and_step_a_model(workbench, page):
    open_agents(workbench, page)
    month, kpis = page.locator("#agents-month"), page.locator("#agents-kpi-table")
    page.get_by_role("button", name="Build", exact=True).click()
    expect(month).to_have_text("month 0 of 36", timeout=BUILD_MS)
    expect(kpis).to_contain_text("none closed yet")
    expect(page.locator("#agents-network .scatterlayer .point")).to_have_count(300)  # the default sample
    expect(page.locator("#agents-timing")).to_have_text(re.compile(r"built in \d+\.\d\d s"))

    page.get_by_role("button", name="Step 1 month").click()
    expect(month).to_have_text("month 1 of 36", timeout=BUILD_MS)
    after_one = kpis.inner_text()
    assert re.search(r"month\s+1", after_one), after_one
    page.get_by_role("button", name="Step 1 month").click()
    expect(month).to_have_text("month 2 of 36", timeout=BUILD_MS)
    expect(kpis).not_to_have_text(after_one)
    assert re.search(r"month\s+2", kpis.inner_text())
    expect(page.locator("#agents-kpis .barlayer .point")).to_have_count(2)  # churned in months 1 and 2
    expect(page.locator("#agents-timing")).to_have_text(re.compile(r"stepped 1 month in \d+\.\d\d s"))

    page.get_by_role("radio", name="satisfaction grade").check()
    expect(page.locator("#agents-network .legendtext").first).to_have_text(
        re.compile(r"^(excellent|good|fair|poor|churned) \(\d+\)$")
    )
    screenshot(page, "agents")

    page.get_by_role("button", name="Reset", exact=True).click()
    expect(month).to_have_text("month 0 of 36", timeout=BUILD_MS)
    expect(kpis).to_contain_text("none closed yet")


def test_a_bad_scale_gets_the_clis_message_by_its_field(workbench, page):
    open_agents(workbench, page)
    scale = page.locator(".field", has=page.locator("label", has_text="run.scale")).locator("input")
    scale.fill("0")
    scale.press("Enter")
    page.get_by_role("button", name="Build", exact=True).click()
    expect(page.get_by_text("run.scale: Input should be greater than or equal to 1 (got 0)")).to_be_visible()
    expect(page.locator("#agents-month")).to_have_text("no model yet")
    expect(page.get_by_role("button", name="Step 1 month")).to_be_disabled()
