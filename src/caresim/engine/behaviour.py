"""Behavioural rules as pure, vectorised functions: satisfaction, loyalty, churn, renewal, win-back.

Every function takes arrays (or scalars) and returns new arrays; none draws random numbers or touches
simulation state, so each can be tested on its own and reused by the benchmark's reference models.
"""

from __future__ import annotations

import numpy as np

from caresim.config.schema import Behaviour, Churn


def p_from_hazard(hazard: np.ndarray | float) -> np.ndarray:
    """Probability of the event within one month for a monthly hazard (constant within the month)."""
    return -np.expm1(-np.asarray(hazard, dtype=float))


def churn_hazard(
    churn: Churn,
    rate_base: np.ndarray,
    satisfaction: np.ndarray,
    loyalty: np.ndarray,
    tenure_months: np.ndarray,
    in_contract: np.ndarray,
    contract_ends_now: np.ndarray,
    in_retention: np.ndarray,
    competitor_pressure: np.ndarray | float,
    share_ties_churned: np.ndarray | float,
    rel_season: float,
    rel_care: np.ndarray | float = 1.0,
    unresolved_contacts: np.ndarray | float = 0.0,
) -> np.ndarray:
    """The monthly churn hazard of each subscriber.

    hazard = base × season × contract × retention × care ×
             exp(β_s (s − s_ref) + β_l (l − l_ref) + β_t log(1 + tenure/12) + β_c competitor + β_n social
                 + β_u min(failed contacts about the open problem, 3))
    """
    predictor = (
        churn.coef_satisfaction * (satisfaction - churn.satisfaction_ref)
        + churn.coef_loyalty * (loyalty - churn.loyalty_ref)
        + churn.coef_tenure * np.log1p(tenure_months / 12.0)
        + churn.coef_competitor * competitor_pressure
        + churn.coef_social * share_ties_churned
        + churn.coef_unresolved_contacts * np.minimum(unresolved_contacts, 3)
    )
    rel_contract = np.where(
        contract_ends_now, churn.rel_contract_end, np.where(in_contract, churn.rel_in_contract, 1.0)
    )
    rel_stage = np.where(in_retention, churn.rel_retention_stage, 1.0)
    return rate_base * rel_season * rel_contract * rel_stage * rel_care * np.exp(predictor)


def p_renew(churn: Churn, loyalty: np.ndarray) -> np.ndarray:
    """Chance that a subscriber who stays at contract end signs a new contract (logistic in loyalty)."""
    p0 = min(max(churn.p_renew, 1e-9), 1 - 1e-9)
    logit = np.log(p0 / (1 - p0)) + churn.coef_renew_loyalty * (loyalty - churn.loyalty_ref)
    return 1.0 / (1.0 + np.exp(-logit))


def win_back_hazard(
    rate_return: float, dur_memory_months: float, months_since_churn: np.ndarray, rel_care: np.ndarray | float = 1.0
) -> np.ndarray:
    """Monthly return hazard of a churned subscriber: fades as ``exp(-months / memory)``."""
    return rate_return * np.exp(-months_since_churn / dur_memory_months) * rel_care


def wait_penalty(behaviour: Behaviour, wait_hours: np.ndarray | float) -> np.ndarray:
    """Satisfaction lost by waiting at a desk: linear in the wait, floored at the maximum penalty."""
    return np.maximum(
        behaviour.d_satisfaction_per_wait_hour * np.asarray(wait_hours), behaviour.d_satisfaction_wait_max
    )


def revert_satisfaction(
    core: np.ndarray, resting: np.ndarray, rate_reversion: float, shocks: np.ndarray, noise: np.ndarray
) -> np.ndarray:
    """One month of core satisfaction: pull toward the resting level, add event shocks and drift, clip."""
    return np.clip(core + rate_reversion * (resting - core) + shocks + noise, 0.0, 1.0)


def follow_loyalty(core_loyalty: np.ndarray, satisfaction: np.ndarray, rate_follow: float) -> np.ndarray:
    """One month of core loyalty: satisfaction leads to loyalty, slowly."""
    return np.clip(core_loyalty + rate_follow * (satisfaction - core_loyalty), 0.0, 1.0)


def care_sum(boosts: np.ndarray, rows: np.ndarray) -> np.ndarray | float:
    """Sum of the programme rows ``rows`` of a boost array (programmes × subscribers); 0 when none."""
    if len(rows) == 0:
        return 0.0
    total = boosts[rows[0]].astype(float)
    for row in rows[1:]:
        total += boosts[row]
    return total


def effective_score(core: np.ndarray, boost_total: np.ndarray | float) -> np.ndarray:
    """Core score plus the summed care boosts, clipped to [0, 1]."""
    return np.clip(core + boost_total, 0.0, 1.0)


def decay_factor(half_life_months: np.ndarray) -> np.ndarray:
    """Monthly multiplier that halves an effect every ``half_life_months``."""
    return np.power(0.5, 1.0 / np.asarray(half_life_months, dtype=float))
