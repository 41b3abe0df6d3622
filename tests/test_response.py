"""Who responds to care: receptivity, effects per segment, prompted comparison (backfire) and plan moves.

Each test runs one programme on a small base simulated one-to-one, half the eligible subscribers assigned
at random, and compares the assigned with their control group by a calculation of its own (two-proportion
and rate-ratio intervals, not the product's evaluation code). Tolerances are stated where used.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from caresim.simulation import build_model
from tests.conftest import tiny_config

Z = 3.0  # two-sided tolerance in standard errors (about 1 in 370 by chance per check)


def _one_programme(programme: dict, share: float = 0.5, behaviour: dict | None = None, segments: dict | None = None):
    def edit(data: dict) -> None:
        data["catalogue"] = {"care": programme}
        data["policy"] = {"care": share}
        data["planner"]["programmes"] = None
        for key, value in (behaviour or {}).items():
            data["behaviour"][key] = {**data["behaviour"][key], **value}
        for segment in data["population"]["segments"].values():
            segment.update(segments or {})

    return edit


def _run(programme: dict, n: int = 20_000, months: int = 12, **more):
    model = build_model(tiny_config(n_subscribers=n, n_months=months, edit=_one_programme(programme, **more)))
    record = model.run()
    return model, record


def _schedule(effects: dict | None = None, **keys) -> dict:
    return {
        "trigger": "schedule",
        "every_months": 1,
        "eligibility": {"stages": ["usage", "retention"]},
        "channel": "hotline",
        "cost_per_contact": 1.0,
        "dur_delivery_days": 0,
        "effects": effects or {},
        **keys,
    }


def _initial(record) -> np.ndarray:
    """Subscribers of the initial base (joined before month 0), the ones exposed from the start."""
    return record.subscribers.joined_month <= 0


def _churn_gap(record, within: np.ndarray) -> tuple[float, float]:
    """Churned share of the assigned minus that of the control group, and its standard error."""
    churned = record.subscribers.n_churns > 0
    a, c = within & record.care.assigned[0], within & record.care.control[0]
    pa, pc = churned[a].mean(), churned[c].mean()
    return pa - pc, math.sqrt(pa * (1 - pa) / a.sum() + pc * (1 - pc) / c.sum())


def _log_rate_ratio(record, within: np.ndarray, n_months: int) -> tuple[float, float]:
    """log(churn rate of the assigned / of the control), churns per subscriber-month, and its standard error."""
    subs = record.subscribers
    churned = subs.n_churns > 0
    first_churn = np.where(churned, subs.churn_month, n_months - 1)  # first churn (few return in the window)
    exposure = first_churn + 1.0
    a, c = within & record.care.assigned[0], within & record.care.control[0]
    events_a, events_c = churned[a].sum(), churned[c].sum()
    log_ratio = math.log((events_a / exposure[a].sum()) / (events_c / exposure[c].sum()))
    return log_ratio, math.sqrt(1 / events_a + 1 / events_c)


# ------------------------------------------------------------------ receptivity
def test_no_response_in_half_the_base_shows_none_there_and_the_full_effect_in_the_other_half():
    # Half the base prefers sms (digital), half the hotline; receptivity is ~0 for digital-preferring ones.
    effects = {"d_satisfaction": 0.05, "rel_churn_hazard": 0.4}
    halves = {"channel_preference": {"sms": 1.0, "hotline": 1.0}}
    deaf = _schedule(effects, response={"coef": {"digital_channel": -50.0}})
    model, record = _run(deaf, segments=halves)
    _, uniform = _run(_schedule(effects), segments=halves)
    initial = _initial(record)
    digital = record.subscribers.channel == 4  # sms

    # where receptivity is 0 the programme leaves no boost at all (exact), and no churn gap (within Z se)
    state = model.world.state
    sms_slots = np.flatnonzero(state.channel == 4)
    assert np.abs(state.sat_boost[0, sms_slots]).max() < 1e-12
    assert np.abs(state.log_hazard_boost[0, sms_slots]).max() < 1e-12
    gap, se = _churn_gap(record, initial & digital)
    assert abs(gap) < Z * se, (gap, se)
    # the same half under uniform response is helped: the test can tell
    gap_uniform, se_uniform = _churn_gap(uniform, initial & digital)
    assert gap_uniform < -Z * se_uniform

    # the other half gets the full effect: its gap equals the uniform run's for the same subscribers
    gap_rest, se_rest = _churn_gap(record, initial & ~digital)
    gap_rest_uniform, _ = _churn_gap(uniform, initial & ~digital)
    assert gap_rest < -Z * se_rest
    assert abs(gap_rest - gap_rest_uniform) < 0.25 * abs(gap_rest_uniform)  # same draws: close, not exact (ties)


def test_effects_per_segment_replace_the_programme_wide_block_only_where_given():
    segments = list(tiny_config().population.segments)
    programme = _schedule(
        {"d_satisfaction": 0.05, "rel_churn_hazard": 0.5},
        effects_by_segment={segments[0]: {"d_satisfaction": 0.0}},
    )
    model, _ = _run(programme, n=3000, months=2)
    product = model.programmes.product
    assert product.d_satisfaction[0, 0] == 0.0 and np.all(product.d_satisfaction[0, 1:] == 0.05)
    assert np.allclose(product.log_rel_churn_hazard[0], math.log(0.5))  # not given for the segment: the block's
    state = model.world.state
    first = np.flatnonzero((state.segment == 0) & (state.received[0] > 0))
    others = np.flatnonzero((state.segment != 0) & (state.received[0] > 0))
    assert len(first) > 50 and len(others) > 50
    assert np.abs(state.sat_boost[0, first]).max() == 0.0
    assert state.sat_boost[0, others].min() > 0.0


@pytest.mark.parametrize(("rho", "direction"), [(0.0, 0), (0.9, -1), (-0.9, 1)])
def test_uplift_across_risk_quintiles_follows_the_correlation_of_receptivity_with_risk(rho, direction):
    """The relative uplift (the churn-rate ratio, treated over control) per baseline-risk quintile.

    With receptivity uncorrelated with risk the ratio is the same in every quintile; correlated positively,
    the riskiest are helped most (a lower ratio as risk rises); negatively, least. Checked by a weighted
    least-squares slope of the log rate ratio over the quintile number, against ``Z`` standard errors.
    """
    programme = _schedule({"rel_churn_hazard": 0.5}, response={"sd_receptivity": 1.0, "corr_risk": rho})
    months = 6
    _, record = _run(programme, n=60_000, months=months)
    initial = _initial(record)
    risk = record.subscribers.risk_score
    edges = np.quantile(risk[initial], [0.2, 0.4, 0.6, 0.8])
    quintile = np.searchsorted(edges, risk)
    ratios = [_log_rate_ratio(record, initial & (quintile == q), months) for q in range(5)]
    y = np.array([r for r, _ in ratios])
    w = 1 / np.array([se for _, se in ratios]) ** 2
    x = np.arange(5.0)
    xm = (w * x).sum() / w.sum()
    slope = (w * (x - xm) * y).sum() / (w * (x - xm) ** 2).sum()
    se_slope = math.sqrt(1 / (w * (x - xm) ** 2).sum())
    if direction == 0:
        assert abs(slope) < Z * se_slope, (slope, se_slope, y)
    else:
        assert direction * slope > Z * se_slope, (slope, se_slope, y)
    # every quintile is helped on average whatever rho (receptivity scales the effect, never reverses it)
    assert np.all(y < 0)


def test_standardised_risk_is_centred_and_the_same_for_a_region_alone():
    def regions(only: list[str] | None):
        def edit(data: dict) -> None:
            data["population"]["regions"] = {"north": {"share": 0.5}, "south": {"share": 0.5}}
            data["run"]["regions"] = only

        return edit

    whole = build_model(tiny_config(n_subscribers=8000, n_months=1, edit=regions(None)))
    alone = build_model(tiny_config(n_subscribers=8000, n_months=1, edit=regions(["north"])))
    assert (whole.world.reference.risk_mean, whole.world.reference.risk_sd) == (
        alone.world.reference.risk_mean,
        alone.world.reference.risk_sd,
    )
    risk = whole.world.state.risk_score
    assert abs(risk.mean()) < 0.1 and 0.8 < risk.std() < 1.2  # standardised against a sample of the same base
    north = whole.world.state.region == 0
    assert np.array_equal(whole.world.state.risk_score[north], alone.world.state.risk_score)


# ------------------------------------------------------------------ backfire
def _recommendation(**keys) -> dict:
    return _schedule({}, channel="sms", prompts_comparison=1.0, **keys)


IN_CONTRACT_ONLY = {"prompting": {"rel_out_of_contract": 0.0}}


def test_backfire_among_contacted_poor_fit_subscribers_and_nowhere_else():
    model, record = _run(_recommendation(), n=30_000, behaviour=IN_CONTRACT_ONLY)
    initial = _initial(record)
    poor = record.subscribers.overpay_at_joining >= 0.05
    gap_poor, se_poor = _churn_gap(record, initial & poor)
    gap_fit, se_fit = _churn_gap(record, initial & ~poor)
    assert gap_poor > Z * se_poor, (gap_poor, se_poor)
    assert abs(gap_fit) < Z * se_fit, (gap_fit, se_fit)

    # hand calculation: a contacted poor-fit subscriber's hazard is multiplied by 1.6 ** min(overpay / 0.3, 1)
    state = model.world.state
    hit = np.flatnonzero((state.received[0] > 0) & (state.overpay >= 0.05) & (state.stage != 4))
    expected = np.minimum(state.overpay[hit] / 0.3, 1.0) * math.log(1.6)
    assert np.allclose(state.prompt_log_hazard[hit], expected, rtol=1e-6)
    assert np.all(state.prompt_log_hazard[state.overpay < 0.05] == 0.0)


def test_out_of_contract_subscribers_are_prompted_whatever_their_fit():
    model, record = _run(_recommendation(), n=30_000, segments={"plan_fit": {"p_poor_fit": 0.0}})
    subs = record.subscribers
    flexible = _initial(record) & (subs.contract_months == 0)
    gap, se = _churn_gap(record, flexible)
    assert gap > Z * se
    # hand calculation: with every plan fitting, only being out of contract prompts, at strength 0.5
    prompted = model.world.state.prompt_log_hazard[model.world.state.prompt_log_hazard != 0]
    assert len(prompted) > 100
    assert np.allclose(prompted, 0.5 * math.log(1.6), rtol=1e-6)


def test_a_contact_that_fixes_the_fit_does_not_backfire_and_costs_the_overpaid_revenue():
    model, record = _run(_recommendation(p_fix_fit=1.0), n=30_000, behaviour=IN_CONTRACT_ONLY)
    subs = record.subscribers
    initial = _initial(record)
    poor = subs.overpay_at_joining >= 0.05
    gap, se = _churn_gap(record, initial & poor)
    assert gap < Z * se, (gap, se)  # no backfire left (it may help a little: nothing else changes)
    moved = initial & poor & record.care.treated[0]
    assert np.all(subs.overpay[moved] == 0.0)
    # hand calculation: monthly revenue fell by exactly the overpaid share
    state = model.world.state
    drawn = _revenue_at_joining(model)
    slots = np.flatnonzero(state.ever_active)[moved]
    slots = slots[slots < len(drawn)]  # the initial base (prospects are drawn later)
    assert len(slots) > 500
    assert np.allclose(state.revenue[slots], drawn[slots] * (1 - state.overpay_at_joining[slots]))
    assert model.world.records.flow["plan_moves"].sum() == (poor & record.care.treated[0]).sum()  # each once


def _revenue_at_joining(model) -> np.ndarray:
    """Monthly revenue as drawn at joining: the same model's draws replayed on a fresh build."""
    fresh = build_model(model.config)
    return fresh.world.state.revenue


def test_over_contact_costs_satisfaction_beyond_what_is_tolerated():
    many = {"n_tolerated_per_month": 0, "d_satisfaction_per_extra": -0.05}
    model, record = _run(_schedule({}), n=4000, months=3, share=1.0, behaviour={"over_contact": many})
    _, calm = _run(_schedule({}), n=4000, months=3, share=1.0)
    initial = _initial(record) & (record.subscribers.n_churns == 0)
    drop = calm.subscribers.satisfaction[initial].mean() - record.subscribers.satisfaction[initial].mean()
    # three monthly contacts of -0.05, pulled back 15% a month toward rest: 0.05 (0.85^2 + 0.85 + 1) = 0.1286
    assert 0.10 < drop < 0.15, drop
    assert model.world.records.flow["over_contacts"].sum() > 0
    assert calm.monthly.flow["over_contacts"].sum() == 0
