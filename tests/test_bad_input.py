"""Bad input gets one clear line naming the key, a non-zero exit, no traceback, nothing written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import caresim
from caresim import ConfigError
from caresim.config.loading import read_scenario
from caresim.results.run import TABLES
from tests.conftest import HANG_GUARD_SECONDS


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("run.colour=blue", "run.colour: unknown config key 'colour' under run"),
        ("service.p_complain=1.5", "service.p_complain: Input should be less than or equal to 1"),
        (
            "population.segments.low_flex.size=-5",
            "population.segments.low_flex.size: Input should be greater than or equal to 0",
        ),
        ("catalogue.loyalty_reward.cost_per_contact=-1", "catalogue.loyalty_reward.cost_per_contact"),
        ("policy.no_such_programme=0.5", "policy.no_such_programme"),
        ("policy.loyalty_reward={nowhere: 0.5}", "policy.loyalty_reward: unknown segment 'nowhere'"),
        ("policy.loyalty_reward=2", "policy.loyalty_reward: Input should be less than or equal to 1 (got 2)"),
        ("scenario=atlantis", "scenario: unknown scenario 'atlantis'"),
        ("population=nope", "population: unknown option 'nope'"),
        ("market.outages=[{month: 2, p_affected: 0.2, segments: [vip]}]", "unknown segment 'vip'"),
        ("evaluation.confidence=2", "evaluation.confidence: Input should be less than 1 (got 2)"),
        ("evaluation.value_beyond_horizon=maybe", "evaluation.value_beyond_horizon: Input should be a valid boolean"),
        ("evaluation.months_after=3", "evaluation.months_after: unknown config key 'months_after' under evaluation"),
        (
            "catalogue.loyalty_reward.effects_by_segment={vip: {d_loyalty: 0.1}}",
            "catalogue.loyalty_reward.effects_by_segment: unknown segment 'vip'",
        ),
        (
            "catalogue.loyalty_reward.response.corr_risk=1.5",
            "catalogue.loyalty_reward.response.corr_risk: Input should be less than or equal to 1",
        ),
        ("behaviour.prompting.rel_churn_hazard=0.5", "behaviour.prompting.rel_churn_hazard: Input should be greater"),
        ("catalogue.loyalty_reward.response.coef.age=1", "catalogue.loyalty_reward.response.coef.age: unknown config"),
        ("policy.loyalty_reward={share: 0.3, target: uplift}", "policy.loyalty_reward: target 'uplift' needs"),
        ("policy.retention_offer={mid_flex: {share: 0.3, target: age}}", "policy.retention_offer"),
        ("service.p_complain=nan", "service.p_complain: Input should be a finite number (got nan)"),
        ("planner.budget=inf", "planner.budget: Input should be a finite number (got inf)"),
        (
            "population.segments.mid_flx.size=5",
            "population.segments.mid_flx: unknown segment 'mid_flx'; known segments: ['high_contract', 'high_flex',",
        ),
        ("catalogue.retention_ofer.cost_per_contact=5", "catalogue.retention_ofer: unknown programme 'retention_ofer'"),
        ("policy.retention_offer={mid_flex: 0.3, share: 0.2}", "policy.retention_offer: mixes segment names"),
    ],
)
def test_bad_values_name_the_key(override, expected):
    with pytest.raises(ConfigError) as error:
        config = caresim.load_config("baseline", [override])
        caresim.simulate(config.model_copy(update={"run": config.run.model_copy(update={"n_months": 1})}))
    message = str(error.value)
    assert expected in message
    assert "\n" not in message


def test_contract_mix_must_sum_to_one():
    data = caresim.load_config("baseline").model_dump()
    data["population"]["segments"]["mid_flex"]["contract_mix"] = {0: 0.5, 12: 0.2}
    with pytest.raises(ConfigError, match=r"population.segments.mid_flex.contract_mix: shares must sum to 1"):
        caresim.validate(data)


def test_malformed_scenario_file_is_reported(tmp_path, monkeypatch):
    (tmp_path / "broken.yaml").write_text("description: [unclosed\n")
    (tmp_path / "odd.yaml").write_text("colour: red\n")
    monkeypatch.setattr("caresim.config.loading.scenarios_dir", lambda: tmp_path)
    with pytest.raises(ConfigError, match=r"scenario 'broken' .* not valid YAML"):
        read_scenario("broken")
    with pytest.raises(ConfigError, match=r"must hold only 'description' and 'overrides'"):
        read_scenario("odd")
    # an unknown key deep in the overrides: the file, the key's line and what is allowed
    (tmp_path / "typo.yaml").write_text(
        "description: a typo\noverrides:\n  market:\n    outages:\n      - {month: 2, p_affected: 0.2}\n"
        "  servce:\n    p_complain: 0.1\n"
    )
    with pytest.raises(ConfigError) as error:
        read_scenario("typo")
    message = str(error.value)
    assert f"scenario 'typo' ({tmp_path / 'typo.yaml'}, line 6): servce: unknown config key 'servce'" in message
    (tmp_path / "deep.yaml").write_text("overrides:\n  market:\n    outages:\n      - {month: 2, p_afected: 0.2}\n")
    with pytest.raises(ConfigError, match=r"line 4\): market.outages.0.p_afected: unknown config key"):
        read_scenario("deep")


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    flags = [arg for arg in args if arg.startswith("-")]  # Hydra reads flags before overrides
    values = [arg for arg in args if not arg.startswith("-")]
    command = [sys.executable, "-m", "caresim", *flags, f"run.output_dir={tmp_path / 'out'}", *values]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=HANG_GUARD_SECONDS)


@pytest.mark.parametrize(
    "bad",
    [
        "run.colour=blue",
        "service.p_complain=-0.1",
        "run.n_months=0",
        "policy.loyalty_reward.nowhere=0.5",
        "scenario=atlantis",
    ],
)
def test_cli_bad_input_one_line_exit_2_nothing_written(tmp_path, bad):
    done = _cli(tmp_path, bad)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("caresim: ")
    assert "Traceback" not in done.stderr + done.stdout
    assert list(tmp_path.iterdir()) == []


def test_cli_runs_a_scenario_and_writes_every_table(tmp_path):
    done = _cli(tmp_path, "scenario=network_outage", "run.n_months=8", "run.scale=400", "run.progress=false")
    assert done.returncode == 0, done.stderr
    runs = list((tmp_path / "out" / "network_outage").iterdir())
    assert len(runs) == 1
    names = {path.name for path in runs[0].iterdir()}
    for table in TABLES:
        assert {f"{table}.parquet", f"{table}.csv"} <= names
    assert {"config.yaml", "policy.json", "manifest.json", "report.html"} <= names
    assert (runs[0] / "report.html").read_text().count("data:image/png;base64,") == 3
    assert "monthly churn" in done.stdout and "care programmes" in done.stdout
    resolved = (runs[0] / "config.yaml").read_text()
    assert "scenario: network_outage" in resolved and "p_affected: 0.4" in resolved


def test_only_complaint_programmes_may_jump_the_queue():
    with pytest.raises(ConfigError, match=r"catalogue.usage_reminder.queue_priority: only programmes"):
        caresim.load_config("baseline", ["catalogue.usage_reminder.queue_priority=true"])


def test_cli_sweep_runs_every_point_and_sets_keys_absent_from_conf(tmp_path):
    done = _cli(
        tmp_path,
        "--multirun",
        "run.seed=1,2",
        "run.n_months=2",
        "run.scale=400",
        "run.progress=false",
        "catalogue.tariff_advice.capacity_per_month=50",
    )
    assert done.returncode == 0, done.stderr
    (sweep,) = (tmp_path / "out" / "sweeps").iterdir()
    runs = sorted(path.name for path in sweep.iterdir() if path.is_dir() and not path.name.startswith("."))
    assert len(runs) == 2 and runs[0].startswith("run.seed=1,") and runs[1].startswith("run.seed=2,")  # swept first
    config = (sweep / runs[0] / "config.yaml").read_text()
    assert "capacity_per_month: 50" in config


@pytest.mark.parametrize("content", [bytes(range(256)) * 40, b"a,b\n1,2\n\x00\x00\x00"])
def test_random_bytes_given_as_a_table_are_not_a_csv_text_file(tmp_path, content):
    table = tmp_path / "customers.csv"
    table.write_bytes(content)
    done = _cli(tmp_path, "mode=calibrate", "calibration=telco", f"calibration.table={table}")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{table}: not a CSV text file" in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_help_is_a_short_page_with_the_modes_and_every_scenario(tmp_path):
    from caresim.config.loading import available_scenarios

    done = _cli(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert 20 < len(lines) <= 60  # Hydra's own help was a 509-line dump of the config
    text = done.stdout
    for word in ("simulate", "plan", "calibrate", "uplift", "docs/model.md", "--cfg job", *available_scenarios()):
        assert word in text, word
