"""Shared fixtures: small configs built from the shipped scenarios, and a cache of runs."""

from __future__ import annotations

import atexit
import contextlib
import copy
import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import caresim
from caresim.simulation import build_model, collect

ROOT = Path(__file__).resolve().parents[1]
# Tests write only to temporary folders: the user's config folder (saved populations) too, for every test and
# every subprocess it starts. pytest_sessionfinish below fails the session if the checkout gained a file.
os.environ["CARESIM_CONFIG_DIR"] = tempfile.mkdtemp(prefix="caresim-test-conf-")
atexit.register(shutil.rmtree, os.environ["CARESIM_CONFIG_DIR"], ignore_errors=True)
TOOL_FOLDERS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".import_linter_cache"}
# test artefacts (the workbench's screenshots, tests/app/conftest.py) are meant to land in the checkout
TOOL_FOLDERS |= {"test-artifacts", "test-results"}

# Property-based tests (tests/test_properties.py): a fast profile by default, 1,000 cases in the slow tier
# (or anywhere with HYPOTHESIS_PROFILE=ci). Derandomised, and no example database in the checkout: a run is
# repeatable.
_PROPERTY_SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("fast", max_examples=30, **_PROPERTY_SETTINGS)
settings.register_profile("ci", max_examples=1000, **_PROPERTY_SETTINGS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

# A subprocess that runs longer than this has hung: a guard against hangs, never a time test.
# CI machines run the slow tier up to twice as slowly as a developer's, so it is generous.
HANG_GUARD_SECONDS = 1800


@functools.cache
def _composed(scenario: str, overrides: tuple[str, ...]) -> dict[str, Any]:
    """A scenario's whole config as plain data, composed once per test process (Hydra takes about 0.3 s)."""
    return caresim.load_config(scenario, list(overrides)).model_dump()


def tiny_config(
    scenario: str = "baseline",
    n_subscribers: int = 1500,
    n_months: int = 12,
    edit: Any = None,
    overrides: tuple[str, ...] = (),
) -> caresim.CareConfig:
    """A scenario shrunk to about ``n_subscribers`` real subscribers simulated one-to-one.

    ``edit`` may change the plain config dict before validation.
    """
    data = copy.deepcopy(_composed(scenario, ("run.progress=false", f"run.n_months={n_months}", *overrides)))
    data["run"]["scale"] = 1.0
    segments = data["population"]["segments"].values()
    factor = n_subscribers / sum(s["size"] for s in segments)
    for segment in segments:
        segment["size"] = max(1, round(segment["size"] * factor))
        segment["rate_prospects_per_month"] *= factor
    if edit is not None:
        edit(data)
    return caresim.validate(data)


def run_model(config: caresim.CareConfig, policy: Any = None):
    """Run and return (model, results) for tests that also inspect the state arrays."""
    model = build_model(config, policy)
    return model, collect(model.run())


@pytest.fixture(scope="session")
def baseline_run():
    """One small baseline run shared by the invariant tests."""
    return run_model(tiny_config(n_subscribers=3000, n_months=18))


def tiny_plan_config(
    n_subscribers: int = 4000, n_months: int = 12, replications: int = 3, planner: dict | None = None, **more: Any
) -> caresim.CareConfig:
    """The default scenario shrunk for planning tests: population, fixed costs, programme capacities, budget
    and channel capacities all scaled by the same factor; ``planner`` entries replace planner settings."""
    factor = n_subscribers / 400_000
    settings = caresim.load_config().planner

    def shrink(data: dict) -> None:
        for programme in data["catalogue"].values():
            programme["cost_fixed_per_month"] *= factor
            if programme["capacity_per_month"] is not None:
                programme["capacity_per_month"] *= factor
        plan = data["planner"]
        plan["budget"] = settings.budget * factor * n_months / 36 / 4  # a budget that binds
        plan["channel_capacity"] = {c: v * factor for c, v in settings.channel_capacity.items()}
        plan["pilot"]["n_replications"] = replications
        plan["verify"]["n_replications"] = replications
        plan["frontier"]["n_points"] = 3
        plan["resume"] = False  # tests that resume give their own output folder
        plan["executor"] = "sequential"  # xdist already keeps every core busy; executor tests choose their own
        for key, value in (planner or {}).items():
            plan[key] = value

    return tiny_config(n_subscribers=n_subscribers, n_months=n_months, edit=shrink, **more)


def _checkout_files() -> dict[str, tuple[int, int]]:
    """Every file of the checkout but tools' caches, with its size and modification time."""
    files = {}
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in TOOL_FOLDERS and not name.endswith(".egg-info")]
        for name in names:
            if name.startswith(".coverage"):
                continue
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                status = os.stat(path)
                files[os.path.relpath(path, ROOT)] = (status.st_size, status.st_mtime_ns)
    return files


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")  # an xdist worker: the controller checks once, for all of them


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _is_worker(session.config):
        session.config.stash[CHECKOUT_KEY] = _checkout_files()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a passing run when a test added, changed or removed a file of the checkout (outputs/, conf/, ...)."""
    if _is_worker(session.config) or exitstatus != pytest.ExitCode.OK:
        return
    before, after = session.config.stash[CHECKOUT_KEY], _checkout_files()
    touched = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    if touched:
        print(f"\ntests wrote into the checkout (they must write only to temporary folders): {touched[:10]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


CHECKOUT_KEY = pytest.StashKey[dict]()
