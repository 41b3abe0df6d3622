"""Where tasks run (``caresim.executors``): one after another, local worker processes, or Ray. The planner's
pilot and regional shards give the same tables on every pool and any number of workers."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

import pandas as pd
import pytest

import caresim
from caresim import ConfigError
from caresim.executors import LocalPool, Pool, done_future, open_pool, when_done
from caresim.planning.pilot import run_pilot
from tests.conftest import tiny_plan_config
from tests.test_bad_input import _cli
from tests.test_shards import TOLERANCE, regional


def _square(x: int) -> int:
    return x * x


def _fail(x: int) -> int:
    raise ValueError(f"bad {x}")


def _pid(_: int) -> int:
    return os.getpid()


def test_sequential_pool_runs_at_submit_and_keeps_errors_in_the_future():
    pool = Pool()
    calls = []
    future = pool.submit(_square, 7)
    when_done(future, lambda: calls.append("done"))
    assert future.done() and future.result() == 49 and calls == ["done"]
    failed = pool.submit(_fail, 3)
    when_done(failed, lambda: calls.append("not called"))  # only on success
    with pytest.raises(ValueError, match="bad 3"):
        failed.result()
    assert calls == ["done"]
    assert done_future("x").result() == "x"


def test_local_pool_runs_in_other_processes_and_returns_each_result_to_its_task():
    pool = LocalPool(2)
    futures = [pool.submit(_square, x) for x in range(20)]
    assert [f.result() for f in futures] == [x * x for x in range(20)]
    pids = {pool.submit(_pid, x).result() for x in range(8)}
    assert os.getpid() not in pids
    with pytest.raises(ValueError, match="bad 5"):
        pool.submit(_fail, 5).result()
    pool.close()


def _kind_of_nested_pool(_: int) -> str:
    return open_pool("local", 2).kind


def test_a_local_pool_inside_a_worker_runs_one_by_one():
    """Nested pools never start more processes than cores: inside a LocalPool's worker or a joblib call."""
    import joblib

    pool = open_pool("local", 2)
    assert pool.kind == "local"
    assert pool.submit(_kind_of_nested_pool, 0).result() == "sequential"
    pool.close()
    assert joblib.Parallel(n_jobs=2)(joblib.delayed(_kind_of_nested_pool)(x) for x in range(2)) == ["sequential"] * 2


def test_unknown_pool_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="sequential, local, ray"):
        open_pool("threads")


def test_bad_executor_in_config_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"planner\.executor"):
        tiny_plan_config(planner={"executor": "threads"})
    with pytest.raises(ConfigError, match=r"run\.executor"):
        caresim.load_config("baseline", ["run.executor=dask"])
    with pytest.raises(ConfigError, match=r"planner\.verify\.executor"):  # the planner's, not the verification's
        caresim.load_config("baseline", ["+planner.verify.executor=local"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_ray_address_where_nothing_answers_is_refused_in_one_line(tmp_path):
    """Ray would wait for such a cluster without end; caresim names the key and stops, writing nothing."""
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'caresim[ray]'); CI installs it")
    regions = "population.regions={north: {share: 0.5}, south: {share: 0.5}}"
    for settings, key in (
        ([regions, "run.n_shard_workers=2", "run.executor=ray"], "run.executor"),
        (["mode=plan", "planner.executor=ray"], "planner.executor"),
    ):
        address = f"127.0.0.1:{_free_port()}"
        run = _cli(tmp_path, *settings, f"run.ray_address={address}", "run.n_months=2", "run.progress=false")
        assert run.returncode == 2, run.stderr[-2000:]
        line = f"caresim: {key}: no Ray cluster answers at {address} (Connection refused)"
        assert run.stderr.strip().splitlines() == [line]
        assert not (tmp_path / "out" / "baseline").exists()


def _pilot_tables(pool: Pool) -> dict[str, pd.DataFrame]:
    config = tiny_plan_config(n_subscribers=1500, n_months=6, replications=2)
    pilot = run_pilot([config], pool=pool)
    return {"responses": pilot.responses, "targeted": pilot.targeted, "qini": pilot.qini, "segments": pilot.segments}


def test_pilot_is_the_same_one_by_one_and_on_two_local_workers():
    """Every table of the pilot (responses, targeting gains, Qini of the cross-fitted uplift models), exactly."""
    one_by_one = _pilot_tables(Pool())
    parallel = _pilot_tables(LocalPool(2))
    assert not one_by_one["targeted"].empty and not one_by_one["qini"].empty
    for name, table in one_by_one.items():
        pd.testing.assert_frame_equal(parallel[name], table, check_exact=True, obj=name)


def test_shards_on_local_workers_equal_the_whole_run():
    config = regional()
    whole = caresim.simulate(config)
    run = config.run.model_copy(update={"n_shard_workers": 3, "executor": "local"})
    sharded = caresim.simulate(config.model_copy(update={"run": run}))
    assert whole.subscribers.equals(sharded.subscribers)
    for name, table in whole.tables().items():
        pd.testing.assert_frame_equal(table, sharded.tables()[name], check_exact=False, obj=name, **TOLERANCE)


# ---------------------------------------------------------------- Ray (optional extra caresim[ray])
@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance of two CPUs started by the test, its files in a temporary folder, stopped after."""
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'caresim[ray]'); CI installs it")
    folder = tempfile.mkdtemp(prefix="ray")  # short: Ray's socket paths must fit in 107 characters
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=folder)
    yield ray
    ray.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_pilot_on_ray_is_the_same_as_one_by_one(local_ray):
    one_by_one = _pilot_tables(Pool())
    pool = open_pool("ray")
    assert pool.kind == "ray" and pool.n_workers == 2  # the instance the test started, not a new one
    on_ray = _pilot_tables(pool)
    pool.close()
    assert local_ray.is_initialized()  # a pool does not stop a Ray instance it did not start
    for name, table in one_by_one.items():
        pd.testing.assert_frame_equal(on_ray[name], table, check_exact=True, obj=name)


@pytest.mark.slow
def test_a_local_pool_inside_a_ray_task_runs_one_by_one(local_ray):
    pool = open_pool("ray")
    assert pool.submit(_kind_of_nested_pool, 0).result() == "sequential"
    local = open_pool("local", 2)
    assert local.kind == "local"  # the driver itself is no worker
    local.close()
    pool.close()


@pytest.mark.slow
def test_shards_on_ray_equal_the_whole_run(local_ray):
    config = regional()
    whole = caresim.simulate(config)
    run = config.run.model_copy(update={"n_shard_workers": 3, "executor": "ray"})
    sharded = caresim.simulate(config.model_copy(update={"run": run}))
    assert whole.subscribers.equals(sharded.subscribers)
    counts = ["active", "churned", "complaints", "care_contacts", "won_back"]
    assert whole.kpis[counts].equals(sharded.kpis[counts])
    for name, table in whole.tables().items():
        pd.testing.assert_frame_equal(table, sharded.tables()[name], check_exact=False, obj=name, **TOLERANCE)


@pytest.mark.slow
def test_plan_is_the_same_on_every_executor(local_ray):
    """The whole planning job (pilot, adjustment rounds, final comparison, frontier) one by one, on one and two
    local workers and on Ray: every table identical."""
    tables = {}
    for executor, workers in (("sequential", None), ("local", 1), ("local", 2), ("ray", None)):
        config = tiny_plan_config(
            n_subscribers=1500, n_months=6, replications=2, planner={"executor": executor, "n_workers": workers}
        )
        report = caresim.plan(config, progress=False)
        assert report.plan.ok and set(report.phase_seconds) == {"pilot", "adjust", "final", "frontier"}
        tables[(executor, workers)] = report.tables()
    reference = tables[("sequential", None)]
    assert not reference["comparison"].empty and not reference["pilot_targeting"].empty
    for key, other in tables.items():
        for name, table in reference.items():
            pd.testing.assert_frame_equal(other[name], table, check_exact=True, obj=f"{key}: {name}")


def _sleep_then(value: int, seconds: float = 0.3) -> int:
    import time

    time.sleep(seconds)
    return value


def test_tasks_submitted_when_idle_fill_idle_workers_and_never_go_first():
    """On two workers with three tasks the job needs, a when-idle task starts only once fewer than two tasks
    remain; every result reaches its own future; closing cancels the when-idle tasks not started."""
    pool = LocalPool(2)
    pool.submit(_square, 1).result()  # workers up
    needed = [pool.submit(_sleep_then, value) for value in (1, 2, 3)]
    idle = pool.submit_when_idle(_sleep_then, 4)
    assert not idle.running() and not idle.done()  # three tasks ahead of it: no worker is idle
    assert [f.result() for f in needed] == [1, 2, 3]
    assert idle.result() == 4
    started = [pool.submit_when_idle(_sleep_then, value, 5.0) for value in range(6)]
    pool.close(cancel=True)
    assert sum(f.cancelled() for f in started) >= 4  # at most two had started
    sequential = Pool()
    assert sequential.submit_when_idle(_square, 3).result() == 9
