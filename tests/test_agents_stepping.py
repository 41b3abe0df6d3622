"""Interactive stepping on the SimPy clock: ``CareModel.advance`` (the workbench's Agents page steps with it)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from caresim.config.loading import load_config
from caresim.engine.record import RunRecord
from caresim.results.tables import kpi_table
from caresim.simulation import build_model

N_MONTHS = 7


def config(scenario: str = "baseline", seed: int = 4242):
    """The scenario at its default scale (desks carry shadow contacts), a few months."""
    return load_config(scenario, [f"run.n_months={N_MONTHS}", f"run.seed={seed}", "run.progress=false"])


def assert_same_record(left: RunRecord, right: RunRecord) -> None:
    """Every monthly record, subscriber outcome and care flag equal, value for value."""
    for name, value in vars(left.monthly).items():
        other = vars(right.monthly)[name]
        if isinstance(value, dict):
            assert value.keys() == other.keys()
            for key in value:
                np.testing.assert_array_equal(value[key], other[key], err_msg=f"monthly.{name}.{key}")
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, other, err_msg=f"monthly.{name}")
    for part in ("subscribers", "care"):
        for f in fields(getattr(left, part)):
            mine, theirs = getattr(getattr(left, part), f.name), getattr(getattr(right, part), f.name)
            np.testing.assert_array_equal(mine, theirs, err_msg=f"{part}.{f.name}")
    pd.testing.assert_frame_equal(kpi_table(left), kpi_table(right), check_exact=True)


@pytest.mark.parametrize("scenario", ["baseline", "network_outage"])
def test_advancing_month_by_month_gives_the_record_of_run(scenario):
    whole = build_model(config(scenario)).run()
    model = build_model(config(scenario))
    closed = [model.advance() for _ in range(N_MONTHS)]
    assert closed == list(range(1, N_MONTHS + 1))
    assert model.steps == N_MONTHS and model.env.now == pytest.approx(N_MONTHS * model.world.month_days)
    assert whole.monthly.stock["active"][-1].sum() > 0  # the comparison is of a real run
    assert_same_record(model.record(), whole)


def test_advance_in_strides_then_run_finishes_the_same_run():
    whole = build_model(config()).run()
    model = build_model(config())
    assert model.advance(2) == 2
    assert model.advance(3) == 5
    assert_same_record(model.run(), whole)
    assert model.steps == N_MONTHS


def test_a_partial_advance_differs_from_the_whole_run():
    """The comparison above can fail: two months closed are not the run's record."""
    whole = build_model(config()).run()
    model = build_model(config())
    model.advance(2)
    partial = kpi_table(model.record())
    assert (partial.loc[partial["month"] >= 2, "active"] == 0).all()
    with pytest.raises(AssertionError):
        assert_same_record(model.record(), whole)


def test_advance_stops_at_the_last_month():
    model = build_model(config())
    assert model.advance(N_MONTHS + 10) == N_MONTHS
    assert model.steps == N_MONTHS
    before = model.record()
    assert model.advance(6) == N_MONTHS
    assert model.steps == N_MONTHS
    assert_same_record(model.record(), before)


def test_advance_zero_does_nothing():
    model = build_model(config())
    fresh = model.record()
    assert model.advance(0) == 0
    assert model.env.now == 0 and model._clock is None  # the month process is not even started
    assert_same_record(model.record(), fresh)
    model.advance(1)
    now, after_one = model.env.now, model.record()
    assert model.advance(0) == 1
    assert model.env.now == now
    assert_same_record(model.record(), after_one)
    with pytest.raises(ValueError, match="n_months must be >= 0"):
        model.advance(-1)


def test_a_different_seed_gives_a_different_record():
    """The equality tests compare runs that could differ."""
    one, other = build_model(config(seed=1)).run(), build_model(config(seed=2)).run()
    assert not np.array_equal(one.monthly.flow["churned"], other.monthly.flow["churned"])
