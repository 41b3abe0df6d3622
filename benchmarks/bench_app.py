"""Benchmark the workbench (``caresim-app``) in Debian's Chromium, driven by Playwright.

Targets (issue 14): first paint at most 5 s after the server is started, and a 12-month scenario at the default
scale showing its results at most 10 s after the Run click. Each repetition starts a fresh server (a cold start,
as a user has it) on a free loopback port with a fresh output root, and times:

- start to first paint: from starting the process to the Scenario page's heading being visible;
- click to results: from the Run click to the KPI figure showing the new run's lines;
- of which the job: the run's own time as its status reports it (process start, simulation, writing).

    .venv/bin/python benchmarks/bench_app.py              # 3 repetitions, about 1 minute
    .venv/bin/python benchmarks/bench_app.py --repeat 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.app.conftest import start_workbench, stop_workbench

FIRST_PAINT_TARGET = 5.0
RESULTS_TARGET = 10.0


def once(browser, folder: Path) -> dict[str, float]:
    started = time.perf_counter()
    workbench = start_workbench(folder)
    try:
        page = browser.new_page()
        page.goto(workbench.url + "/scenario")
        expect(page.get_by_role("heading", name="Scenario", exact=True)).to_be_visible()
        first_paint = time.perf_counter() - started
        field = page.locator("input[id*='\"run.n_months\"']")
        field.fill("12")
        field.press("Tab")
        clicked = time.perf_counter()
        page.get_by_role("button", name="Run", exact=True).click()
        expect(page.locator("#scenario-status")).to_contain_text("done", timeout=120_000)
        expect(page.locator("#scenario-figure .scatterlayer .trace")).to_have_count(6, timeout=60_000)
        results = time.perf_counter() - clicked
        status = page.locator("#scenario-status").inner_text()  # "done: finished (12/12, 3 s)"
        job = float(status.rsplit(",", 1)[1].split("s")[0])
        page.close()
    finally:
        stop_workbench(workbench.process)
    return {"first_paint": first_paint, "results": results, "job": job}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("bench_app: Chromium is not installed (apt-get install -y chromium)")
    rows = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as scratch:
        browser = playwright.chromium.launch(executable_path=chromium)
        for n in range(args.repeat):
            row = once(browser, Path(scratch) / f"run{n}")
            rows.append(row)
            print(
                f"repetition {n + 1}: first paint {row['first_paint']:.2f} s, results {row['results']:.2f} s "
                f"after the click (the job {row['job']:.0f} s)",
                flush=True,
            )
        browser.close()
    paint = statistics.median(r["first_paint"] for r in rows)
    results = statistics.median(r["results"] for r in rows)
    print(
        f"\nmedian of {len(rows)}: first paint {paint:.2f} s after start (target ≤ {FIRST_PAINT_TARGET:.0f} s), "
        f"12-month default scenario shown {results:.2f} s after the click (target ≤ {RESULTS_TARGET:.0f} s)"
    )


if __name__ == "__main__":
    main()
