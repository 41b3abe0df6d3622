"""The workbench's parts without a browser: file serving, the token, schema fields, policy files, costs before
running, background jobs and the run figures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from caresim.app import jobs as jobs_module
from caresim.app.fields import check, describe
from caresim.app.jobs import Jobs, JobSpec, JobStatus, new_session, read_status
from caresim.app.paths import safe_path
from caresim.app.policies import grid_mix, mix_cost, mix_grid, save_policy
from caresim.app.run_figures import evaluation_table, pooled, survival_curve
from caresim.config.errors import ConfigError

TINY = ("run.n_months=2", "run.scale=400", "run.report=false")


# ------------------------------------------------------------------ files and the guard
@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "baseline" / "run1").mkdir(parents=True)
    (tmp_path / "baseline" / "run1" / "kpis.csv").write_text("month,active\n0,5\n")
    (tmp_path / ".app" / "abc").mkdir(parents=True)
    (tmp_path / ".app" / "abc" / "spec.json").write_text("{}")
    (tmp_path.parent / "secret.txt").write_text("no")
    (tmp_path / "baseline" / "escape").symlink_to(tmp_path.parent / "secret.txt")
    (tmp_path / "baseline" / "sessions").symlink_to(tmp_path / ".app")  # a link into the hidden folder
    return tmp_path


@pytest.mark.parametrize(
    "relative",
    [
        "../secret.txt",
        "baseline/../../secret.txt",
        "/etc/passwd",
        ".app/abc/spec.json",
        "baseline/escape",
        "baseline\\run1\\kpis.csv",
        "",
        "baseline/run1/missing.csv",
        "baseline/sessions/abc/spec.json",
    ],
)
def test_safe_path_refuses_what_leaves_the_root_or_is_hidden(root: Path, relative: str) -> None:
    assert safe_path(root, relative) is None


def test_safe_path_resolves_a_file_under_the_root(root: Path) -> None:
    assert safe_path(root, "baseline/run1/kpis.csv") == root / "baseline" / "run1" / "kpis.csv"


@pytest.fixture
def client(root: Path):
    from caresim.app.server import create_app

    return create_app(root).server.test_client()


@pytest.mark.parametrize(
    "url", ["/files/..%2Fsecret.txt", "/files/%2e%2e/secret.txt", "/files/baseline/escape", "/files/.app/abc/spec.json"]
)
def test_files_route_refuses_traversal(client, url: str) -> None:
    assert client.get(url).status_code == 404


def test_files_route_serves_and_converts_tables(client) -> None:
    response = client.get("/files/baseline/run1/kpis.csv")
    assert response.status_code == 200 and response.data == b"month,active\n0,5\n"
    parquet = client.get("/files/baseline/run1/kpis.csv?format=parquet")
    assert parquet.status_code == 200
    table = pd.read_parquet(__import__("io").BytesIO(parquet.data))
    assert table.to_dict("list") == {"month": [0], "active": [5]}


def test_only_loopback_host_names_are_served(client) -> None:
    """A page elsewhere that points its own domain at 127.0.0.1 (DNS rebinding) sends its own Host."""
    assert client.get("/", headers={"Host": "attacker.example:8050"}).status_code == 403
    for host in ("127.0.0.1:8050", "localhost:8050", "[::1]:8050"):
        assert client.get("/", headers={"Host": host}).status_code == 200


def test_token_is_required_then_remembered(root: Path) -> None:
    from caresim.app.server import TOKEN_COOKIE, create_app

    client = create_app(root, token="s3cret").server.test_client()
    assert client.get("/").status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    first = client.get("/?token=s3cret")
    assert first.status_code == 200 and TOKEN_COOKIE in first.headers.get("Set-Cookie", "")
    assert client.get("/files/baseline/run1/kpis.csv").status_code == 200  # the cookie now carries it
    assert client.get("/files/baseline/run1/kpis.csv?token=wrong").status_code == 200  # the cookie still does


@pytest.mark.parametrize(
    ("argv", "says"),
    [(["--port", "70000"], "--port: a port number"), (["--port", "x"], "--port"), (["--token", " "], "--token")],
)
def test_bad_command_line_is_one_line_and_exit_2(argv: list[str], says: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "caresim.app", "--no-browser", "--output-root", str(tmp_path), *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in done.stderr


def test_without_the_app_extra_the_command_says_what_to_install(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['dash'] = None; from caresim.app.command import main; "
        f"main(['--no-browser', '--port', '0', '--output-root', {str(tmp_path)!r}])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "caresim-app: the workbench needs its extra (dash is missing): pip install 'caresim[app]'"
    )


# ------------------------------------------------------------------ schema fields
def test_describe_reads_the_schema_ranges() -> None:
    months = describe("run.n_months")
    assert (months.kind, months.minimum, months.maximum) == ("int", 1.0, 600.0)
    holdout = describe("evaluation.holdout_share")
    assert (holdout.kind, holdout.above, holdout.below) == ("float", 0.0, 1.0)
    assert describe("planner.objective").choices == ("net_value", "retained", "loyalty", "min_cost")
    assert describe("population.segments.high_flex.rate_churn_base").minimum == 0.0
    assert describe("service.n_max_care_contacts_per_month").optional
    with pytest.raises(KeyError):
        describe("run.no_such_key")


def test_check_gives_the_cli_message_for_bad_input(tmp_path: Path) -> None:
    """The page's message is the line the CLI prints (after its program name), found by another path."""
    config, key, message = check("baseline", ["run.n_months=-1"])
    assert config is None and key == "run.n_months"
    cli = subprocess.run(
        [sys.executable, "-m", "caresim", "run.n_months=-1", f"run.output_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 2
    assert cli.stderr.strip() == f"caresim: {message}"


@pytest.mark.parametrize(
    ("scenario", "overrides", "key", "says"),
    [
        ("baseline", ["run.n_months=${oc.env:HOME}"], "run.n_months", "not a value this field takes"),
        ("baseline", ["hydra.run.dir=/tmp/x"], "hydra.run.dir", "not a setting this page changes"),
        ("baseline", ["description=x"], "description", "not a setting this page changes"),
        ("../scenarios/baseline", [], "scenario", "unknown scenario"),
        ("/etc/passwd", [], "scenario", "unknown scenario"),
    ],
)
def test_check_refuses_what_a_crafted_request_could_send(scenario: str, overrides: list, key: str, says: str) -> None:
    config, found, message = check(scenario, overrides, {"run.n_months", "run.scale"})
    assert config is None and found == key and says in message and "/root" not in message


def test_a_scenario_name_is_never_a_path() -> None:
    from caresim.config.loading import read_scenario

    with pytest.raises(ConfigError, match="unknown scenario"):
        read_scenario("../scenarios/baseline")


# ------------------------------------------------------------------ policy files and costs
def test_saved_policy_is_read_back_by_the_cli_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import caresim
    from caresim.simulation import resolve_policy

    monkeypatch.setenv("CARESIM_CONFIG_DIR", str(tmp_path))
    mix = {"retention_offer": {"high_flex": {"share": 0.4, "target": "risk"}, "mid_flex": 0.25}, "loyalty_reward": {}}
    path = save_policy("my_mix", mix)
    assert path == tmp_path / "policy" / "my_mix.yaml"
    assert yaml.safe_load(path.read_text()) == mix  # as given: the file is the mapping
    config = caresim.load_config("baseline", ["policy=my_mix"])
    entries = resolve_policy(config, None).to_mapping()["retention_offer"]
    assert entries["high_flex"] == {"share": 0.4, "target": "risk"} and entries["mid_flex"] == 0.25
    assert entries["low_flex"] == 0.0
    with pytest.raises(ConfigError, match="exists"):
        save_policy("my_mix", mix)
    save_policy("my_mix", {"loyalty_reward": {"low_flex": 1.0}}, overwrite=True)
    assert yaml.safe_load(path.read_text()) == {"loyalty_reward": {"low_flex": 1.0}}
    with pytest.raises(ConfigError, match=r"^name: lowercase"):
        save_policy("../evil", mix)
    with pytest.raises(ConfigError, match="caresim's own policies"):  # conf/policy/default.yaml would win
        save_policy("default", mix)


def test_grid_round_trip_keeps_targeting_rules() -> None:
    mix = {"a": {"s1": {"share": 0.5, "target": "uplift"}, "s2": 0.2}, "b": {"s1": 0.0, "s2": 1.0}}
    rows, targets = mix_grid(mix, ["a", "b"], ["s1", "s2"])
    assert rows == [{"programme": "a", "s1": 0.5, "s2": 0.2}, {"programme": "b", "s1": 0.0, "s2": 1.0}]
    assert targets == {"a": {"s1": "uplift"}}
    rows[1]["s1"] = None  # an emptied cell counts as 0
    assert grid_mix(rows, ["s1", "s2"], targets) == mix
    rows[0]["s2"] = "lots"
    with pytest.raises(ConfigError, match=r"policy\.a\.s2"):
        grid_mix(rows, ["s1", "s2"], targets)


class _Spec:
    def __init__(self, capacity: float | None, per_contact: float, per_month: float) -> None:
        self.capacity_per_month, self.cost_per_contact, self.cost_fixed_per_month = capacity, per_contact, per_month


def test_mix_cost_by_hand() -> None:
    """Two months, two segments. ``capped`` delivered exactly its capacity (so one contact per eligible is
    assumed); ``free`` delivered 2 contacts per eligible subscriber."""
    reference = pd.DataFrame(
        {
            "month": [0, 0, 1, 1] * 2,
            "segment": ["s1", "s2"] * 4,
            "programme": ["capped"] * 4 + ["free"] * 4,
            "eligible_triggered": [100, 300, 100, 300, 10, 30, 20, 40],
            "contacts": [50, 150, 50, 150, 20, 60, 40, 80],
        }
    )
    catalogue = {"capped": _Spec(200, 3.0, 10.0), "free": _Spec(None, 1.0, 5.0)}
    mix = {"capped": {"s1": 1.0, "s2": 0.5}, "free": {"s2": 0.5}}
    table = mix_cost(mix, reference, catalogue, n_months=2).set_index("programme")
    # capped: reached 100 + 150 = 250 a month, cut to the capacity 200: 400 contacts × 3 + 2 months × 10
    assert table.loc["capped", "contacts"] == pytest.approx(400.0)
    assert table.loc["capped", "cost"] == pytest.approx(1200.0 + 20.0)
    # free: 0.5 × (30 + 40) eligible × 2 contacts each = 70 contacts × 1 + 2 × 5
    assert table.loc["free", "contacts"] == pytest.approx(70.0)
    assert table.loc["free", "cost"] == pytest.approx(80.0)
    # targeted by risk, a 0.2 holdout is kept from the care: 0.5 × 0.8 × 70 = 28 contacts, + 10 fixed
    targeted = {"free": {"s1": {"share": 0.5, "target": "risk"}, "s2": {"share": 0.5, "target": "risk"}}}
    table = mix_cost(targeted, reference, catalogue, n_months=2, holdout=0.2).set_index("programme")
    assert table.loc["free", "contacts"] == pytest.approx(0.5 * 0.8 * (30 + 40 + 10 + 20) * 2.0)
    nothing = mix_cost({}, reference, catalogue, n_months=2)
    assert nothing["cost"].sum() == 0.0  # no coverage: no variable cost and no fixed cost


# ------------------------------------------------------------------ jobs
def _wait(jobs: Jobs, session: str, job: str, timeout: float = 120.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.status(session, job)
        if status.finished:
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {job} did not finish in {timeout} s")


def test_a_job_writes_a_run_folder_and_sessions_stay_apart(tmp_path: Path) -> None:
    jobs = Jobs(tmp_path)
    mine, theirs = new_session(), new_session()
    job = jobs.start(mine, JobSpec(kind="simulate", scenario="baseline", overrides=TINY, policy={}, label="no care"))
    status = _wait(jobs, mine, job)
    assert status.state == "done", status.message
    assert (status.done, status.total) == (2, 2)
    folder = tmp_path / status.folder
    kpis = pd.read_parquet(folder / "kpis.parquet")
    assert sorted(kpis["month"].unique()) == [0, 1]
    policy = yaml.safe_load((folder / "policy.json").read_text())  # no care: every share 0
    assert policy and all(share == 0.0 for shares in policy.values() for share in shares.values())
    assert [j for j, _, _ in jobs.list(mine)] == [job]
    assert jobs.list(theirs) == []
    with pytest.raises(FileNotFoundError):
        jobs.spec(theirs, job)


def test_bad_input_fails_the_job_with_the_cli_line(tmp_path: Path) -> None:
    jobs = Jobs(tmp_path)
    session = new_session()
    job = jobs.start(session, JobSpec(kind="simulate", scenario="baseline", overrides=("run.scale=0",)))
    status = _wait(jobs, session, job)
    assert status.state == "failed"
    assert status.message == check("baseline", ["run.scale=0"])[2]
    assert not (tmp_path / "baseline").exists()  # nothing half-written


def test_a_cancelled_job_writes_no_run_folder(tmp_path: Path) -> None:
    jobs = Jobs(tmp_path)
    session = new_session()
    job = jobs.start(session, JobSpec(kind="simulate", scenario="baseline", overrides=("run.n_months=600",)))
    deadline = time.monotonic() + 60
    while jobs.status(session, job).done < 1 and time.monotonic() < deadline:  # months are being simulated
        time.sleep(0.1)
    status = jobs.cancel(session, job)
    assert status.state == "cancelled"
    assert jobs.status(session, job).state == "cancelled"
    assert not (tmp_path / "baseline").exists()


def test_ids_that_could_leave_the_jobs_folder_are_refused(tmp_path: Path) -> None:
    jobs = Jobs(tmp_path)
    with pytest.raises(ValueError):
        jobs.folder("../../etc")
    with pytest.raises(ValueError):
        jobs.folder(new_session(), "../other")


def test_a_running_job_whose_process_is_gone_reads_as_interrupted(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    jobs_module._write_status(tmp_path, JobStatus(state="running", pid=dead.pid))
    assert read_status(tmp_path).state == "interrupted"
    me, started = os.getpid(), jobs_module.process_started(os.getpid())
    jobs_module._write_status(tmp_path, JobStatus(state="running", pid=me, pid_started=started))
    assert read_status(tmp_path).state == "running"
    # the same pid given to a later process (after a reboot): not the job's
    jobs_module._write_status(tmp_path, JobStatus(state="running", pid=me, pid_started=started - 1))
    assert read_status(tmp_path).state == "interrupted"


# ------------------------------------------------------------------ figures
def _kpis() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "month": [0, 0, 1, 1],
            "segment": ["a", "b", "a", "b"],
            "active_start": [100.0, 300.0, 90.0, 270.0],
            "active": [90.0, 270.0, 81.0, 270.0],
            "churned": [10.0, 30.0, 9.0, 0.0],
            "satisfaction_mean": [0.5, 0.7, 0.4, 0.8],
        }
    )


def test_pooled_ratios_use_their_own_denominators() -> None:
    """First-contact resolution is over complaints, a wait over desk contacts, not over active subscribers."""
    kpis = pd.DataFrame(
        {
            "month": [0, 0],
            "segment": ["a", "b"],
            "active": [100.0, 900.0],
            "complaints": [50.0, 10.0],
            "resolved_first_contact": [10.0, 9.0],
            "first_contact_resolution": [0.2, 0.9],
            "hotline_contacts": [30.0, 5.0],
            "store_contacts": [10.0, 5.0],
            "mean_wait_min": [8.0, 2.0],
        }
    )
    assert pooled(kpis, "first_contact_resolution").iloc[0] == pytest.approx(19 / 60)
    assert pooled(kpis, "mean_wait_min").iloc[0] == pytest.approx((8 * 40 + 2 * 10) / 50)


def test_pooled_rates_by_hand() -> None:
    kpis = _kpis()
    assert pooled(kpis, "churn_rate").tolist() == pytest.approx([40 / 400, 9 / 360])
    assert pooled(kpis, "churned").tolist() == [40.0, 9.0]
    # a mean is weighted by active subscribers: (0.5 × 90 + 0.7 × 270) / 360
    assert pooled(kpis, "satisfaction_mean").iloc[0] == pytest.approx((45 + 189) / 360)
    curve = survival_curve(kpis)
    assert curve.index.tolist() == [0, 1, 2]
    assert curve.tolist() == pytest.approx([1.0, 0.9, 0.9 * (1 - 9 / 360)])


def test_evaluation_table_shows_intervals_judged_options_first() -> None:
    measures = ("grade_shift", "churn_reduction_by_end")
    programmes = pd.DataFrame(
        {
            "programme": ["u", "p", "q"],
            "segment": ["a", "a", "a"],
            "verdict": ["not evaluable (no control group)", "harms", "not run"],
            "assigned": [20, 10, 0],
            "control": [0, 5, 0],
            **{m: [np.nan, 0.1, np.nan] for m in measures},
            **{f"{m}_low": [np.nan, -0.05, np.nan] for m in measures},
            **{f"{m}_high": [np.nan, 0.25, np.nan] for m in measures},
            "net_benefit": [np.nan, 1500.0, np.nan],
            "net_benefit_low": [np.nan, -200.0, np.nan],
            "net_benefit_high": [np.nan, 3200.0, np.nan],
        }
    )
    table = evaluation_table({"one": programmes})
    assert table["programme"].tolist() == ["p", "u"]  # judged against a control group first; q assigned nobody
    assert table.loc[0, "grade_shift"] == "+0.100 [-0.050, +0.250]"
    assert table.loc[0, "net_benefit"] == "1,500 [-200, 3,200]"
    assert table.loc[1, "net_benefit"] == "n/a"
    both = evaluation_table({"x": programmes, "y": programmes})
    assert both["run"].tolist() == ["x", "x", "y", "y"]
