"""Pure rules: grades, hazards, renewal, decay, waiting."""

import math

import numpy as np
import pytest

from caresim.config.schema import Behaviour, Churn
from caresim.engine.behaviour import churn_hazard, decay_factor, p_from_hazard, p_renew, wait_penalty, win_back_hazard
from caresim.lifecycle import GRADES, TOUCHPOINTS, grade_of, is_success


def test_grades_follow_thresholds_with_lower_bound_inclusive():
    scores = np.array([0.0, 0.39, 0.4, 0.59, 0.6, 0.79, 0.8, 1.0])
    assert [GRADES[g] for g in grade_of(scores, 0.8, 0.6, 0.4)] == [
        "poor",
        "poor",
        "fair",
        "fair",
        "good",
        "good",
        "excellent",
        "excellent",
    ]


def test_success_rule_good_or_better():
    assert [is_success(g) for g in range(4)] == [True, True, False, False]


def test_fifteen_touchpoints_in_four_stages():
    assert len(TOUCHPOINTS) == 15
    assert [stage for stage, _ in TOUCHPOINTS].count("usage") == 5


def test_p_from_hazard_is_one_minus_exp():
    assert p_from_hazard(0.0) == 0.0
    assert p_from_hazard(0.1) == pytest.approx(1 - math.exp(-0.1))
    assert p_from_hazard(1e9) == pytest.approx(1.0)


def _hazard(churn: Churn, **changes):
    args = dict(
        rate_base=np.array([0.01]),
        satisfaction=np.array([churn.satisfaction_ref]),
        loyalty=np.array([churn.loyalty_ref]),
        tenure_months=np.array([0]),
        in_contract=np.array([False]),
        contract_ends_now=np.array([False]),
        in_retention=np.array([False]),
        competitor_pressure=0.0,
        share_ties_churned=0.0,
        rel_season=1.0,
    )
    args.update(changes)
    return float(churn_hazard(churn, **args)[0])


def test_hazard_at_reference_is_base_and_moves_the_right_way():
    churn = Churn()
    assert _hazard(churn) == pytest.approx(0.01)
    assert _hazard(churn, satisfaction=np.array([0.9])) < 0.01
    assert _hazard(churn, loyalty=np.array([0.3])) > 0.01
    assert _hazard(churn, in_contract=np.array([True])) == pytest.approx(0.01 * churn.rel_in_contract)
    assert _hazard(churn, in_contract=np.array([True]), contract_ends_now=np.array([True])) == pytest.approx(
        0.01 * churn.rel_contract_end
    )
    assert _hazard(churn, share_ties_churned=0.5) == pytest.approx(0.01 * math.exp(churn.coef_social * 0.5))
    assert _hazard(churn, rel_care=0.5) == pytest.approx(0.005)


def test_renewal_at_reference_loyalty_is_p_renew():
    churn = Churn(p_renew=0.3)
    assert p_renew(churn, np.array([churn.loyalty_ref]))[0] == pytest.approx(0.3)
    assert p_renew(churn, np.array([0.9]))[0] > 0.3


def test_decay_halves_at_half_life():
    assert decay_factor(np.array([4.0]))[0] ** 4 == pytest.approx(0.5)


def test_wait_penalty_is_linear_then_capped():
    behaviour = Behaviour()
    assert wait_penalty(behaviour, 1.0) == pytest.approx(behaviour.d_satisfaction_per_wait_hour)
    assert wait_penalty(behaviour, 1000.0) == pytest.approx(behaviour.d_satisfaction_wait_max)


def test_win_back_hazard_fades():
    h = win_back_hazard(0.02, 12.0, np.array([1.0, 13.0]))
    assert h[1] / h[0] == pytest.approx(math.exp(-1.0))
