"""Calibration (``caresim mode=calibrate``): target figures of a table, the shipped Telco population, bad tables
refused cleanly, and the command end to end. Recovery of known parameters and the shipped postpaid and prepaid
populations: tests/test_calibration_fits.py.

Stochastic checks run on the config's seed (common random numbers, as the fit does) and, where stated, on a
second seed, with two-sided tolerances.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import caresim
from caresim.calibration import TableError, calibrate, figures_of, read_table, table_figures
from caresim.calibration.snapshot import cross_section, snapshot_config
from caresim.calibration.targets import tenure_groups
from caresim.config.calibration import Calibration
from caresim.config.errors import ConfigError
from caresim.config.loading import conf_dir, user_conf_dir
from tests.test_bad_input import _cli

TELCO_CSV = Path(__file__).resolve().parents[1] / "data" / "telco" / "Telco-Customer-Churn.csv"  # shipped
HEADER = "customerID,tenure,Contract,MonthlyCharges,Churn\n"


def _write(tmp_path: Path, text: str, name: str = "customers.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- (5) the figures of a hand-made table
HAND_MADE = HEADER + "\n".join(
    [
        "a,1,Month-to-month,20,Yes",
        "b,3,Month-to-month,90,Yes",
        "c,10,Month-to-month,70,No",
        "d,20,One year,30,No",
        "e,30,One year,100,Yes",
        "f,50,Two year,40,No",
        "g,60,Two year,80,No",
        "h,80,Two year,60,No",
    ]
)


def test_figures_of_a_hand_made_table(tmp_path):
    calibration = Calibration()
    frame = read_table(_write(tmp_path, HAND_MADE), calibration)
    assert frame["contract_months"].tolist() == [0, 0, 0, 12, 12, 24, 24, 24]
    figures = figures_of(frame, calibration)
    value = {family: {group: figure.value for group, figure in groups.items()} for family, groups in figures.items()}
    assert value["churn_overall"]["all"] == pytest.approx(3 / 8)
    assert value["contract_share"] == pytest.approx({"month-to-month": 3 / 8, "12 months": 2 / 8, "24 months": 3 / 8})
    assert value["churn_by_contract"] == pytest.approx({"month-to-month": 2 / 3, "12 months": 1 / 2, "24 months": 0.0})
    # buckets 0-6 {1, 3}, 7-12 {10}, 13-24 {20}, 25-48 {30}, 49-72 {50, 60, 72 (80 capped)}
    assert tenure_groups(calibration) == ["0-6", "7-12", "13-24", "25-48", "49-72"]
    assert value["churn_by_tenure"] == pytest.approx(
        {"0-6": 1.0, "7-12": 0.0, "13-24": 0.0, "25-48": 1.0, "49-72": 0.0}
    )
    capped = np.array([1, 3, 10, 20, 30, 50, 60, 72])
    assert value["tenure_quartiles"] == pytest.approx(
        dict(zip(("25%", "50%", "75%"), np.quantile(capped, [0.25, 0.5, 0.75]), strict=True))
    )
    assert value["tenure_quartiles_churned"] == pytest.approx({"25%": 2.0, "50%": 3.0, "75%": 16.5})
    charges = [20, 90, 70, 30, 100, 40, 80, 60]
    edges = np.quantile(charges, [0.25, 0.5, 0.75])  # 37.5, 65, 82.5
    assert value["charge_quartiles"] == pytest.approx(dict(zip(("25%", "50%", "75%"), edges, strict=True)))
    # Q1 {20, 30}: 1 of 2 churned; Q2 {40, 60}: 0; Q3 {70, 80}: 0; Q4 {90, 100}: 2 of 2
    assert value["churn_by_charge_quartile"] == pytest.approx({"Q1": 0.5, "Q2": 0.0, "Q3": 0.0, "Q4": 1.0})
    # binomial standard errors, floored at sqrt(1/n)/sqrt(n) for tiny or extreme groups
    assert figures["churn_overall"]["all"].se == pytest.approx(np.sqrt((3 / 8) * (5 / 8) / 8))
    assert figures["churn_by_contract"]["24 months"].se == pytest.approx(np.sqrt(1 / 3 / 3))


def test_columns_and_labels_are_mapped_from_config(tmp_path):
    text = "id;months;plan;bill;left\n1;5;Monthly;10.5;1\n2;40;Annual;20;0\n3;7;Monthly;30;0\n"
    path = _write(tmp_path, text.replace(";", ","))
    calibration = Calibration(
        columns={"tenure": "months", "contract": "plan", "churned": "left", "monthly_charge": "bill"},
        contract_labels={"Monthly": 0, "Annual": 12},
        churn_labels={"churned": ["1"], "stayed": ["0"]},
    )
    frame = read_table(path, calibration)
    assert frame.to_dict("list") == {
        "tenure": [5, 40, 7],
        "contract_months": [0, 12, 0],
        "churned": [True, False, False],
        "monthly_charge": [10.5, 20.0, 30.0],
    }
    assert figures_of(frame, calibration)["churn_by_contract"]["month-to-month"].value == pytest.approx(0.5)


# ---------------------------------------------------------------- (4) bad tables
BAD_TABLES = {
    "missing column": (
        HEADER.replace(",tenure", ",months") + "a,1,Month-to-month,20,Yes\n",
        "column 'tenure'",
        "file line 1",
    ),
    "non-numeric tenure": (
        HEADER + "a,1,Month-to-month,20,Yes\nb,two,One year,30,No\n",
        "column 'tenure', data row 2",
        "file line 3",
    ),
    "unknown contract": (
        HEADER + "a,1,Month-to-month,20,Yes\nb,2,Three year,30,No\n",
        "column 'Contract', data row 2",
        "'Three year'",
    ),
    "unknown churn label": (HEADER + "a,1,Month-to-month,20,Maybe\n", "column 'Churn', data row 1", "'Maybe'"),
    "non-numeric charge": (
        HEADER + "a,1,Month-to-month,lots,Yes\n",
        "column 'MonthlyCharges', data row 1",
        "file line 2",
    ),
    "infinite tenure": (HEADER + "a,inf,Month-to-month,20,Yes\n", "column 'tenure', data row 1", "'inf'"),
    "infinite charge": (HEADER + "a,1,Month-to-month,inf,Yes\n", "column 'MonthlyCharges', data row 1", "'inf'"),
    "column named twice": (
        HEADER.rstrip("\n") + ",tenure\na,1,Month-to-month,20,Yes,1\n",
        "'tenure' appears more than once",
        "file line 1",
    ),
    "row with a field too many": (
        HEADER + "a,1,Month-to-month,20,Yes\nb,2,One year,30,No,extra\n",
        "data row 2 (file line 3) has 6 fields",
        "the header 5",
    ),
    "header only": (HEADER, "no data rows", "customers.csv"),
    "empty file": ("", "empty", "customers.csv"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_table_raises_one_clear_line_through_the_api(tmp_path, case):
    text, *expected = BAD_TABLES[case]
    path = _write(tmp_path, text)
    config = caresim.load_config(None, ["mode=calibrate", "calibration=telco", f"calibration.table={path}"])
    with pytest.raises(TableError) as caught:
        calibrate(config, progress=False)
    message = str(caught.value)
    assert "\n" not in message and all(part in message for part in expected), message
    assert isinstance(caught.value, ConfigError)


def test_missing_table_file_is_named(tmp_path):
    config = caresim.load_config(None, ["calibration=telco", f"calibration.table={tmp_path / 'nowhere.csv'}"])
    with pytest.raises(TableError, match=r"calibration\.table: no such file: .*nowhere\.csv"):
        calibrate(config, progress=False)


@pytest.mark.parametrize("case", ["missing column", "non-numeric tenure", "unknown contract"])
def test_bad_table_through_the_cli_one_line_exit_2_nothing_written(tmp_path, case):
    text, *expected = BAD_TABLES[case]
    (tmp_path / "in").mkdir()
    table = _write(tmp_path / "in", text)
    before = sorted(path.name for path in (conf_dir() / "population").iterdir())
    saved = user_conf_dir() / "population" / "t_bad.yaml"
    done = _cli(
        tmp_path, "mode=calibrate", "calibration=telco", f"calibration.table={table}", "calibration.save_as=t_bad"
    )
    assert done.returncode == 2, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("caresim: "), lines
    assert all(part in lines[0] for part in expected), lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in"]  # no output folder
    assert sorted(path.name for path in (conf_dir() / "population").iterdir()) == before
    assert not saved.exists()


def test_save_as_refuses_a_shipped_name_and_an_existing_saved_one_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CARESIM_CONFIG_DIR", str(tmp_path / "mine"))
    (tmp_path / "run").mkdir()
    done = _cli(tmp_path / "run", "mode=calibrate", "calibration=telco", "calibration.save_as=default")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "caresim: calibration.save_as: 'default' is taken by caresim's own conf/population/default.yaml; "
        "choose another name"
    )
    saved = tmp_path / "mine" / "population" / "ours.yaml"
    saved.parent.mkdir(parents=True)
    saved.write_text("kept: true\n")
    done = _cli(tmp_path / "run", "mode=calibrate", "calibration=telco", "calibration.save_as=ours")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"caresim: calibration.save_as: {saved} exists; choose another name or set calibration.overwrite=true"
    )
    assert list((tmp_path / "run").iterdir()) == [] and saved.read_text() == "kept: true\n"


# ---------------------------------------------------------------- (2) the shipped Telco population
SOURCES = ["shipped figures", "the CSV"]


def _telco_snapshot(seed: int | None = None) -> dict:
    config = caresim.load_config(None, ["population=telco", "calibration=telco", "run.progress=false"])
    data = config.model_dump()
    if seed is not None:
        data["run"]["seed"] = seed
    results = caresim.simulate(snapshot_config(data, config.calibration))
    return figures_of(cross_section(results, config.calibration.tenure_cap_months), config.calibration)


@pytest.fixture(scope="module")
def telco_snapshots() -> list[dict]:
    """The shipped population's snapshot on the fit's seed and on another seed."""
    return [_telco_snapshot(), _telco_snapshot(seed=7)]


@pytest.mark.parametrize("source", SOURCES)
def test_shipped_telco_population_reproduces_the_table(source, telco_snapshots):
    calibration = caresim.load_config(None, ["calibration=telco"]).calibration
    shipped = calibration.figures
    observed = shipped if source == "shipped figures" else table_figures(TELCO_CSV, calibration, shipped.source)
    if source == "the CSV":  # the shipped figures are those of the public table
        assert observed.n_rows == shipped.n_rows == 7043
        for family, groups in shipped.figures.items():
            for group, figure in groups.items():
                assert observed.figures[family][group].value == pytest.approx(figure.value, abs=1e-6), (family, group)
        assert observed.cells.keys() == shipped.cells.keys()
        for name, cell in shipped.cells.items():
            assert observed.cells[name].n == cell.n and observed.cells[name].churn == pytest.approx(
                cell.churn, abs=1e-6
            )
    for simulated in telco_snapshots:
        for group, figure in observed.figures["churn_by_contract"].items():
            assert simulated["churn_by_contract"][group].value == pytest.approx(figure.value, abs=0.02), group
        for group, figure in observed.figures["churn_by_tenure"].items():
            assert simulated["churn_by_tenure"][group].value == pytest.approx(figure.value, abs=0.03), group
        assert simulated["churn_overall"]["all"].value == pytest.approx(
            observed.figures["churn_overall"]["all"].value, abs=0.02
        )


def test_shipped_populations_load_for_every_command():
    for name in ("telco", "postpaid", "prepaid"):
        text = (conf_dir() / "population" / f"{name}.yaml").read_text()
        assert (
            text.startswith(f"# Population '{name}', calibrated by caresim")
            and "Produced by: caresim mode=calibrate" in text
        )
        for extra in (
            ["mode=plan"],
            ["scenario=price_war"],
            ["scenario=handset_launch"],
            ["mode=calibrate", "calibration=postpaid"],
        ):
            config = caresim.load_config(None, [f"population={name}", *extra])
            assert {"high_contract", "high_flex", "mid_contract", "mid_flex", "low_contract", "low_flex"} <= set(
                config.population.segments
            )


# ---------------------------------------------------------------- the command end to end
def test_cli_calibrates_writes_the_folder_and_a_population_usable_by_name(tmp_path, monkeypatch):
    name = "t_calibrated"
    monkeypatch.setenv("CARESIM_CONFIG_DIR", str(tmp_path / "mine"))
    shipped = sorted(path.name for path in (conf_dir() / "population").iterdir())
    # the population is saved in the user's config folder, never in caresim's conf/
    done = _cli(
        tmp_path,
        "mode=calibrate",
        "calibration=telco",
        "calibration.snapshot.n_subscribers=2000",
        "calibration.fit.max_evaluations=3",
        f"calibration.save_as={name}",
        "run.progress=false",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = (tmp_path / "out" / "baseline").iterdir()
    assert run.name.endswith("-calibrate")
    names = {p.name for p in run.iterdir()}
    assert {"targets.parquet", "targets.csv", "fit.csv", "population.yaml", "summary.txt", "manifest.json"} <= names
    targets = pd.read_csv(run / "targets.csv")
    assert {"target", "group", "observed", "fitted", "error", "tolerance", "ok"} <= set(targets.columns)
    assert set(targets["target"]) >= {"churn_by_contract", "churn_by_tenure", "tenure_quartiles_churned"}
    held_out = targets[targets["target"] == "churn_by_tenure_month_to_month"]
    assert len(held_out) == 5 and (held_out["weight"] == 0).all()  # a check the fit never saw
    assert (targets.loc[targets["target"] == "churn_by_contract", "weight"] == 1).all()
    assert len(pd.read_csv(run / "fit.csv")) == 3
    assert (run / "calibration.png").read_bytes().startswith(b"\x89PNG")
    page = (run / "report.html").read_text(encoding="utf-8")
    assert page.count('<img src="data:image/png;base64,') == 1 and "churn_by_tenure" in page
    assert f"Population '{name}'" in (run / "population.yaml").read_text()
    assert "stopped: max_evaluations reached" in done.stdout and f"population={name}" in done.stdout
    assert (tmp_path / "mine" / "population" / f"{name}.yaml").is_file()
    assert sorted(path.name for path in (conf_dir() / "population").iterdir()) == shipped
    config = caresim.load_config(None, [f"population={name}", "run.n_months=2", "run.scale=400"])
    assert "high_two_year" in config.population.segments
    assert caresim.simulate(config, progress=False).kpis["active"].sum() > 0
    shown = _cli(tmp_path, "--cfg=job", f"population={name}")  # the command line finds it too
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "high_two_year" in shown.stdout


def test_setting_one_tolerance_keeps_the_others():
    config = caresim.load_config(None, ["calibration=telco", "calibration.tolerances={churn_by_contract: 0.01}"])
    assert config.calibration.tolerances["churn_by_contract"] == 0.01
    assert config.calibration.tolerances["churn_by_tenure"] == 0.03  # the default, not dropped


def test_the_telco_table_ships_with_the_project_unchanged():
    """The README's calibration command reads data/telco/Telco-Customer-Churn.csv from a fresh clone."""
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    table = root / "data" / "telco" / "Telco-Customer-Churn.csv"
    digest = hashlib.sha256(table.read_bytes()).hexdigest()
    assert digest == "16320c9c1ec72448db59aa0a26a0b95401046bef5d02fd3aeb906448e3055e91"
    assert "calibration.table=data/telco/Telco-Customer-Churn.csv" in (root / "README.md").read_text()
    assert "Apache License 2.0" in (root / "data" / "telco" / "README.md").read_text()


@pytest.mark.parametrize("name", ["plain", "with space", "it's", "back\\slash", "ends\\", "a,b[c]"])
def test_a_saved_population_loads_from_a_user_folder_with_any_name(tmp_path, monkeypatch, name):
    """The user's folder reaches Hydra as a quoted string: spaces, quotes, backslashes and brackets survive."""
    folder = tmp_path / name
    (folder / "population").mkdir(parents=True)
    shipped = (conf_dir() / "population" / "default.yaml").read_text()
    (folder / "population" / "mine.yaml").write_text(shipped.replace("size: ", "size: 1", 1))
    monkeypatch.setenv("CARESIM_CONFIG_DIR", str(folder))
    config = caresim.load_config(None, ["population=mine"])
    default = caresim.load_config(None, [])
    changed = [s for s in config.population.segments if config.population.segments[s] != default.population.segments[s]]
    assert len(changed) == 1  # the saved file was read, not the shipped one


def test_save_as_into_a_config_folder_that_is_a_file_is_refused_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "not_a_folder").write_text("x")
    monkeypatch.setenv("CARESIM_CONFIG_DIR", str(tmp_path / "not_a_folder"))
    (tmp_path / "run").mkdir()
    done = _cli(tmp_path / "run", "mode=calibrate", "calibration=telco", "calibration.save_as=mine")
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("caresim: calibration.save_as: cannot write "), lines
    assert "CARESIM_CONFIG_DIR" in lines[0]
    assert list((tmp_path / "run").iterdir()) == []
