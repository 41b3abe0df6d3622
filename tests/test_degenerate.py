"""Degenerate parameters give exact outcomes."""

import numpy as np

from caresim.lifecycle import CHURNED
from tests.conftest import run_model, tiny_config


def _closed_base(data, rate):
    for segment in data["population"]["segments"].values():
        segment["rate_churn_base"] = rate
        segment["rate_prospects_per_month"] = 0.0
    data["behaviour"]["win_back"]["rate_return"] = 0.0


def test_no_churn_keeps_everyone():
    config = tiny_config(n_subscribers=800, edit=lambda d: _closed_base(d, 0.0))
    model, results = run_model(config)
    initial = results.kpis[results.kpis.month == 0]["active_start"].sum()
    assert (results.kpis.groupby("month")["active"].sum() == initial).all()
    assert results.kpis["churned"].sum() == 0
    assert not (model.state.stage == CHURNED).any()


def test_certain_churn_empties_the_base_in_the_first_month():
    config = tiny_config(n_subscribers=800, edit=lambda d: _closed_base(d, 1e6))
    model, results = run_model(config)
    by_month = results.kpis.groupby("month").sum(numeric_only=True)
    assert by_month["active"].iloc[0] == 0
    assert by_month["churned"].iloc[0] == by_month["active_start"].iloc[0] > 0
    assert (by_month["active"] == 0).all()
    assert np.all(model.state.stage == CHURNED)


def test_no_policy_means_no_care_spend():
    config = tiny_config(n_subscribers=800, edit=lambda d: d.update(policy={}))
    _, results = run_model(config)
    assert results.kpis["care_contacts"].sum() == 0
    assert results.programme_costs["total_spend"].sum() == 0
