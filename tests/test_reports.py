"""Reports: the HTML page is written whole, embeds every figure it can draw, and names the ones it cannot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import caresim
from caresim.report import ReportError, kind_of, plan_report, report, simulation_report
from caresim.report.__main__ import main
from caresim.report.sweep import sweep_report
from tests.conftest import HANG_GUARD_SECONDS, tiny_config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMG = '<img src="data:image/png;base64,'


@pytest.fixture(scope="module")
def simulation_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulation run written to disk."""
    folder = tmp_path_factory.mktemp("runs") / "simulation"
    caresim.simulate(tiny_config(n_subscribers=800, n_months=6)).write(folder)
    return folder


def plan_tables() -> dict[str, pd.DataFrame]:
    """Small plan-like tables with the columns a plan run writes."""
    plan = pd.DataFrame(
        {
            "segment": ["high_flex", "high_flex", "low_flex"],
            "programme": ["retention_offer", "loyalty_reward", "retention_offer"],
            "coverage": [0.8, 0.3, 0.5],
            "spend": [120_000.0, 40_000.0, 60_000.0],
        }
    )
    policies = ["plan", "even_spread", "risk_first", "value_first"]
    net = np.array([1.5e6, 0.2e6, 0.1e6, 0.8e6])
    predicted = np.array([1.0e6, 0.3e6, 0.2e6, 0.7e6])
    comparison = pd.DataFrame({"policy": policies, "cost": 2e5, "retained": [900.0, 300, 250, 600]})
    for name, middle in (("net_value", net), ("predicted_net_value", predicted), ("retained", comparison.retained)):
        comparison[name], comparison[f"{name}_low"], comparison[f"{name}_high"] = middle, middle * 0.8, middle * 1.2
    comparison["net_value_vs_plan"] = net - net[0]
    budgets = np.linspace(0.0, 4e5, 4)
    frontier = pd.DataFrame({"budget": budgets, "status": ["optimal"] * 3 + ["infeasible"]})
    frontier["net_value"] = [0.0, 0.9e6, 1.3e6, np.nan]
    frontier["value"] = frontier["net_value"] + budgets
    frontier["retained"] = [0.0, 500.0, 800.0, np.nan]
    for name in ("net_value", "retained"):
        frontier[f"{name}_low"], frontier[f"{name}_high"] = frontier[name] * 0.7, frontier[name] * 1.3
    frontier["poor_share"] = [0.1, 0.08, 0.07, np.nan]
    fraction = np.linspace(0.02, 1.0, 50)
    qini = pd.concat(
        [
            pd.DataFrame({"programme": name, "replication": rep, "fraction": fraction,
                          "curve": 40 * np.sqrt(fraction) + rep, "random_line": 40 * fraction})
            for name in ("retention_offer", "loyalty_reward")
            for rep in (0, 1)
        ]
    )  # fmt: skip
    return {"plan": plan, "comparison": comparison, "frontier": frontier, "pilot_qini_curves": qini}


def write_plan_folder(folder: Path, tables: dict[str, pd.DataFrame]) -> Path:
    """A plan-like run folder: the given tables (Parquet) and ``plan.json``."""
    folder.mkdir(parents=True)
    for name, table in tables.items():
        table.to_parquet(folder / f"{name}.parquet", index=False)
    status = {"status": "optimal", "objective": "net_value", "budget": 2e5, "explanation": ["budget binds <here>"]}
    (folder / "plan.json").write_text(json.dumps(status))
    return folder


def assert_figures(folder: Path, names: set[str]) -> str:
    """``report.html`` embeds one PNG per figure in ``names``, each also a valid PNG file under figures/."""
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert text.count(IMG) == len(names)
    assert "<script" not in text and 'src="http' not in text  # self-contained
    assert {p.stem for p in (folder / "figures").glob("*.png")} == names
    for path in (folder / "figures").glob("*.png"):
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000, path.name
    assert not list(folder.glob(".report.html.*")), "temporary file left behind"
    return text


def test_simulation_report_embeds_every_figure(simulation_folder: Path):
    path = simulation_report(simulation_folder)
    assert path == simulation_folder / "report.html"
    text = assert_figures(simulation_folder, {"survival", "grades", "stage_flows"})
    assert "Figures not drawn" not in text
    assert "Subscribers and money by segment" in text and "high_flex" in text


def test_plan_report_embeds_every_plan_figure(tmp_path: Path):
    folder = write_plan_folder(tmp_path / "plan", plan_tables())
    assert kind_of(folder) == "plan"
    report(folder)
    text = assert_figures(folder, {"frontier", "allocation", "pilot_qini", "predicted_vs_simulated"})
    assert "Figures not drawn" not in text
    assert "budget binds &lt;here&gt;" in text  # text from the folder is escaped
    assert "even_spread" in text and "retention_offer" in text


def test_a_figure_without_its_table_is_skipped_and_named(tmp_path: Path):
    tables = plan_tables()
    del tables["comparison"]  # as after an infeasible plan
    del tables["pilot_qini_curves"]  # as with planner.targeting=[]
    folder = write_plan_folder(tmp_path / "plan", tables)
    plan_report(folder)
    text = assert_figures(folder, {"frontier", "allocation"})
    assert "Figures not drawn" in text and "needs table comparison" in text
    assert "needs table pilot_qini_curves" in text


def test_simulation_report_refuses_a_plan_folder(tmp_path: Path):
    folder = write_plan_folder(tmp_path / "plan", plan_tables())
    with pytest.raises(ReportError, match="plan run"):
        simulation_report(folder)


def test_main_prints_the_path(simulation_folder: Path, capsys: pytest.CaptureFixture[str]):
    assert main([str(simulation_folder)]) == 0
    assert capsys.readouterr().out.strip() == str(simulation_folder / "report.html")


@pytest.mark.parametrize("make", ["missing", "empty", "unreadable"])
def test_a_bad_folder_gives_one_line_and_exit_2(tmp_path: Path, make: str):
    folder = tmp_path / "run"
    if make != "missing":
        folder.mkdir()
    if make == "unreadable":
        (folder / "kpis.parquet").write_text("not parquet")
    done = subprocess.run(
        [sys.executable, "-m", "caresim.report", str(folder)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"caresim report: {folder}: "), done.stderr
    assert "Traceback" not in done.stderr
    assert not (folder / "report.html").exists()


def budget_sweep(folder: Path) -> pd.DataFrame:
    """A collected sweep of plan runs over two budgets × two scenarios (price_war at 2 M with two seeds), and
    each point's comparison table holding the plan's predicted net value."""
    points = {  # point: (scenario, budget, seed, simulated net value per replication, predicted)
        "a": ("baseline", 1e6, 1, [1e6, 2e6, 3e6], 2.5e6),
        "b": ("baseline", 2e6, 1, [3e6, 3e6, 3e6], 3.5e6),
        "c": ("price_war", 1e6, 1, [0.5e6, 1e6, 1.5e6], 1e6),
        "d": ("price_war", 2e6, 1, [1e6, 2e6], 5e6),
        "e": ("price_war", 2e6, 2, [3e6, 4e6], 7e6),
    }
    rows = []
    for point, (scenario, budget, seed, values, predicted) in points.items():
        (folder / point).mkdir(parents=True)
        comparison = pd.DataFrame({"policy": ["plan", "no_care"], "predicted_net_value": [predicted, 0.0]})
        comparison.to_parquet(folder / point / "comparison.parquet")
        for replication, value in enumerate(values):
            rows.append(
                {
                    "point": point,
                    "kind": "plan",
                    "planner.budget": budget,
                    "scenario": scenario,
                    "run.seed": seed,
                    "replication": replication,
                    "plan_status": "optimal",
                    "plan_cost": budget * (0.99 + 0.001 * len(rows)),  # a result, not a parameter: varies by point
                    "objective": "net_value",
                    "net_value": value,
                }
            )
    table = pd.DataFrame(rows)
    table.to_parquet(folder / "sweep.parquet")
    return table


def test_sweep_report_of_a_budget_sweep_draws_the_simulated_frontier(tmp_path: Path):
    budget_sweep(tmp_path)
    text = sweep_report(tmp_path).read_text(encoding="utf-8")
    assert text.count(IMG) == 2 and "Budget frontier (simulated)" in text  # the arms, then the frontier
    assert (tmp_path / "budget_frontier_simulated.png").read_bytes().startswith(PNG_SIGNATURE)
    frontier = pd.read_csv(tmp_path / "budget_frontier.csv")
    assert list(frontier.columns) == [
        "scenario",
        "planner.budget",
        "runs",
        "net_value",
        "net_value_low",
        "net_value_high",
        "predicted_net_value",
    ]
    assert list(zip(frontier.scenario, frontier["planner.budget"], frontier.runs, strict=True)) == [
        ("baseline", 1e6, 3),
        ("baseline", 2e6, 3),
        ("price_war", 1e6, 3),
        ("price_war", 2e6, 4),  # two seeds pooled
    ]
    # hand-computed: mean ± t(0.975, n - 1) · sd / √n, with t(0.975, 2) = 4.302653 and t(0.975, 3) = 3.182446
    half_a, half_c = 4.302653 * 1e6 / 3**0.5, 4.302653 * 0.5e6 / 3**0.5
    half_de = 3.182446 * (5 / 3) ** 0.5 * 1e6 / 2
    expected = [
        (2e6, 2e6 - half_a, 2e6 + half_a, 2.5e6),
        (3e6, 3e6, 3e6, 3.5e6),
        (1e6, 1e6 - half_c, 1e6 + half_c, 1e6),
        (2.5e6, 2.5e6 - half_de, 2.5e6 + half_de, 6e6),  # predicted: the mean of the two points' predictions
    ]
    columns = ["net_value", "net_value_low", "net_value_high", "predicted_net_value"]
    np.testing.assert_allclose(frontier[columns].to_numpy(), np.array(expected), rtol=1e-6)
    assert "2.5 M [446 k, 4.55 M]" in text  # price_war at 2 M, as the report shows it


def test_sweep_report_without_a_budget_drops_an_earlier_frontier(tmp_path: Path):
    table = budget_sweep(tmp_path)
    sweep_report(tmp_path)
    table.drop(columns="planner.budget").to_parquet(tmp_path / "sweep.parquet")
    text = sweep_report(tmp_path).read_text(encoding="utf-8")
    assert text.count(IMG) == 1 and "Budget frontier" not in text
    assert not (tmp_path / "budget_frontier_simulated.png").exists()
    assert not (tmp_path / "budget_frontier.csv").exists()
