"""The workbench answers in a real browser (Chromium through Playwright)."""

import pytest
from playwright.sync_api import expect

from tests.app.conftest import screenshot

pytestmark = pytest.mark.slow


def test_every_page_renders(workbench, page):
    for path, heading in (("/scenario", "Scenario"), ("/care-mix", "Care mix"), ("/plan", "Plan"), ("/runs", "Runs")):
        page.goto(workbench.url + path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    screenshot(page, "runs")
