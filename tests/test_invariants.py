"""Invariants that hold on every run: nobody lost, scores in range, spend adds up, eligibility respected."""

import numpy as np
import pytest

from caresim.engine.model import DAYS_PER_MONTH
from caresim.lifecycle import CHURNED, GRADES, LOST, PRESALE, STAGES


def test_stocks_reconcile_with_flows_every_month(baseline_run):
    _, results = baseline_run
    k = results.kpis.sort_values(["segment", "month"])
    assert (k["active"] == k["active_start"] + k["new"] + k["won_back"] - k["churned"]).all()
    for _, rows in k.groupby("segment"):
        assert (rows["active_start"].to_numpy()[1:] == rows["active"].to_numpy()[:-1]).all()


def test_every_subscriber_who_ever_existed_is_in_exactly_one_state(baseline_run):
    model, results = baseline_run
    state = model.state
    assert set(np.unique(state.stage)) <= set(range(len(STAGES)))
    assert not (state.stage == PRESALE).any()  # every prospect decided within its month
    k = results.kpis
    initial = k[k.month == 0]["active_start"].sum()
    bought = initial + k["new"].sum()
    assert state.active.sum() + (state.stage == CHURNED).sum() == bought
    assert (state.stage == LOST).sum() == k["lost_prospects"].sum()
    assert bought + k["lost_prospects"].sum() == initial + k["prospects"].sum()
    assert len(results.subscribers) == bought
    assert len(model.subscribers) == bought  # one Mesa agent per subscriber


def test_scores_stay_in_range_and_grade_shares_sum_to_one(baseline_run):
    _, results = baseline_run
    subs = results.subscribers
    assert subs["satisfaction"].between(0, 1).all() and subs["loyalty"].between(0, 1).all()
    for kind in ("satisfaction", "loyalty"):
        shares = results.kpis[[f"{kind}_{grade}" for grade in GRADES]].sum(axis=1)
        assert np.allclose(shares[results.kpis.active > 0], 1.0)


def test_spend_equals_contacts_times_cost_plus_fixed(baseline_run):
    model, results = baseline_run
    spend = results.care_spend
    assert np.allclose(spend["variable_spend"], spend["contacts"] * spend["cost_per_contact"])
    assert np.allclose(spend["spend"], spend["variable_spend"] + spend["fixed_spend"])
    per_programme = spend.groupby("programme", sort=False)[["variable_spend", "fixed_spend"]].sum()
    costs = results.programme_costs.groupby("programme", sort=False)[["variable_spend", "fixed_spend"]].sum()
    assert np.allclose(per_programme.loc[costs.index], costs)
    # fixed cost by hand: every month of the horizon for each programme the policy runs anywhere
    catalogue, running = model.config.catalogue, model.policy.running
    n_months = model.config.run.n_months
    for p, name in enumerate(model.programmes.names):
        expected = catalogue[name].cost_fixed_per_month * n_months if running[p] else 0.0
        assert costs.loc[name, "fixed_spend"] == pytest.approx(expected), name
    assert results.kpis["care_spend"].sum() == pytest.approx(spend["spend"].sum())
    assert results.kpis["care_spend_fixed"].sum() == pytest.approx(spend["fixed_spend"].sum())
    assert results.subscribers["care_cost"].sum() == pytest.approx(spend["variable_spend"].sum())
    received = results.subscribers[[f"received_{p}" for p in model.programmes.names]].sum()
    assert received.sum() == spend["contacts"].sum()


def test_no_ineligible_or_uncovered_treatment(baseline_run):
    model, results = baseline_run
    subs = results.subscribers
    high = subs.segment.isin(["high_contract", "high_flex"])
    assert subs.loc[~high, "received_account_manager"].sum() == 0
    assert subs.loc[high, "received_account_manager"].sum() > 0
    state = model.state
    share = model.policy.shares[state.segment].T  # programme x subscriber, like the state arrays
    treated = state.received > 0
    assert not (treated & (state.cover_u >= share)).any(), "treated outside the policy's coverage"
    never_covered = [p for p, name in enumerate(model.programmes.names) if model.policy.shares[:, p].max() == 0]
    assert all(state.received[p].sum() == 0 for p in never_covered)


def test_capacity_per_month_is_respected(baseline_run):
    model, results = baseline_run
    for p, name in enumerate(model.programmes.names):
        capacity = model.programmes.delivery.capacity_per_month[p]
        if np.isfinite(capacity):
            monthly = results.programme_costs.query("programme == @name")["contacts"]
            assert (monthly <= capacity + 1e-9).all(), name


def test_one_clock(baseline_run):
    model, _ = baseline_run
    months = model.config.run.n_months
    assert model.steps == months  # Mesa counts the months the SimPy process closed
    assert model.env.now == pytest.approx(months * DAYS_PER_MONTH)


def test_mesa_network_matches_the_tie_arrays(baseline_run):
    model, _ = baseline_run
    grid = model.network
    degree = model.ties.degree(model.state.n)
    some = list(model.subscribers)[:50]
    for slot in some:
        assert len(grid.get_neighbors(slot)) == degree[slot]
    agent = model.subscribers[some[0]]
    assert {a.slot for a in agent.ties()} == set(model.ties.target[model.ties.source == agent.slot].tolist())


def test_plausible_default_figures(baseline_run):
    """The default scenario's monthly churn is near published postpaid churn (0.8-1.1%), generously bounded."""
    _, results = baseline_run
    by_month = results.kpis.groupby("month").sum(numeric_only=True)
    churn = (by_month["churned"] / by_month["active_start"]).mean()
    assert 0.005 < churn < 0.016
    assert 0 < by_month["complaints"].sum() < by_month["problems"].sum()  # most problems go unreported
