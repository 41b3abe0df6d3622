"""A constant hazard gives exponential survival (two-sided tolerance)."""

import numpy as np

from caresim.lifecycle import CHURNED
from tests.conftest import run_model, tiny_config

HAZARD = 0.06
N = 4000


def _constant_hazard(data):
    churn = data["behaviour"]["churn"]
    churn.update(
        coef_satisfaction=0.0,
        coef_loyalty=0.0,
        coef_tenure=0.0,
        coef_competitor=0.0,
        coef_social=0.0,
        rel_in_contract=1.0,
        rel_contract_end=1.0,
        rel_retention_stage=1.0,
    )
    data["market"]["rel_churn_by_calendar_month"] = [1.0] * 12
    data["behaviour"]["win_back"]["rate_return"] = 0.0
    data["policy"] = {}
    for segment in data["population"]["segments"].values():
        segment["rate_churn_base"] = HAZARD
        segment["rate_prospects_per_month"] = 0.0


def test_constant_hazard_gives_exponential_survival():
    config = tiny_config(n_subscribers=N, n_months=24, edit=_constant_hazard)
    model, _ = run_model(config)
    n = model.state.n
    churned = model.state.stage == CHURNED
    lifetime = np.where(churned, model.state.churn_month + 1, np.inf)  # months survived until leaving
    for t in (1, 6, 12, 24):
        observed = np.mean(lifetime > t)
        expected = np.exp(-HAZARD * t)
        sigma = np.sqrt(expected * (1 - expected) / n)
        assert abs(observed - expected) < 4 * sigma, (t, observed, expected)
    # memorylessness: the monthly leaving rate among survivors is the same early and late
    early = np.mean(lifetime[lifetime > 0] <= 3)
    late = np.mean(lifetime[lifetime > 12] <= 15)
    expected = 1 - np.exp(-3 * HAZARD)
    assert abs(early - expected) < 0.03 and abs(late - expected) < 0.04
