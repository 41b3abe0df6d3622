"""Shared fixtures: small configs built from the shipped scenarios, and a cache of runs."""

from __future__ import annotations

from typing import Any

import pytest

import caresim
from caresim.simulate import build_model, collect


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
    base = caresim.load_config(scenario, ["run.progress=false", f"run.n_months={n_months}", *overrides])
    data = base.model_dump()
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
    model.run()
    return model, collect(model)


@pytest.fixture(scope="session")
def baseline_run():
    """One small baseline run shared by the invariant tests."""
    return run_model(tiny_config(n_subscribers=3000, n_months=18))
