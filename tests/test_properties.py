"""Property-based tests: scenarios, catalogues and policies generated within the schema's ranges, and the
invariants checked on every case.

- nobody lost or counted twice (stocks and flows, one row per subscriber who ever bought);
- spend = contacts × cost per contact + fixed cost of each running programme, by hand from the catalogue;
- satisfaction and loyalty in [0, 1], grade shares summing to 1;
- no subscriber treated outside the programme's eligible segments or in a segment the policy gives no share;
- capacity held in every month, and the contact policy's limit per subscriber;
- the tables agree with each other (kpis, subscribers, care_spend, programme_costs, programmes).

The default tier runs the ``fast`` profile (``tests/conftest.py``: 30 cases); the slow tier, run by CI, runs
the ``ci`` profile's 1,000 cases (about 4 minutes on one core). Cases are derandomised: a failure is
reproduced by rerunning the same command, and Hypothesis prints the shrunk case.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import caresim
from caresim.config.loading import available_scenarios
from caresim.lifecycle import GRADES, PRESALE, STAGES
from tests.conftest import run_model, tiny_config

RULES = ("random", "risk", "value")  # uplift needs a trained model: its own tests
unit = st.floats(0.0, 1.0)


@functools.cache
def _catalogue(scenario: str) -> dict[str, Any]:
    config = caresim.load_config(scenario, ["run.progress=false"])
    return {"catalogue": config.model_dump()["catalogue"], "segments": list(config.population.segments)}


@st.composite
def programme_edits(draw: st.DrawFn) -> dict[str, Any]:
    """New values for a programme's delivery, costs and effects, each within the schema's range."""
    edits: dict[str, Any] = {}
    if draw(st.booleans()):
        edits["cost_per_contact"] = draw(st.floats(0.0, 200.0))
        edits["cost_fixed_per_month"] = draw(st.floats(0.0, 5_000.0))
    if draw(st.booleans()):
        edits["capacity_per_month"] = draw(st.none() | st.floats(0.0, 60.0))
    if draw(st.booleans()):
        edits["dur_min_gap_months"] = draw(st.integers(0, 6))
        edits["fatigue"] = draw(unit)
        edits["dur_delivery_days"] = draw(st.floats(0.0, 30.0))
    if draw(st.booleans()):
        edits["effects"] = {
            "d_satisfaction": draw(st.floats(-1.0, 1.0)),
            "d_loyalty": draw(st.floats(-1.0, 1.0)),
            "p_resolve_problem": draw(unit),
            "rel_churn_hazard": draw(st.floats(0.0, 5.0)),
        }
    if draw(st.booleans()):
        edits["response"] = {"sd_receptivity": draw(st.floats(0.0, 1.5)), "corr_risk": draw(st.floats(-1.0, 1.0))}
    return edits


@st.composite
def cases(draw: st.DrawFn) -> caresim.CareConfig:
    """A small run of any shipped scenario with an edited catalogue and a generated policy."""
    scenario = draw(st.sampled_from(available_scenarios()))
    shipped = _catalogue(scenario)
    names = sorted(shipped["catalogue"])
    edits = {name: draw(programme_edits()) for name in names}
    policy: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(names), unique=True)):
        if draw(st.booleans()):
            policy[name] = {"share": draw(unit), "target": draw(st.sampled_from(RULES))}
        else:  # per segment; the segments left out get no share
            chosen = draw(st.lists(st.sampled_from(shipped["segments"]), unique=True, min_size=1))
            policy[name] = {segment: draw(unit) for segment in chosen}

    north = draw(st.none() | st.floats(0.05, 0.95))  # one base, or two regions sharing capacity and desks
    limit = draw(st.none() | st.integers(1, 4))  # the contact policy: care contacts per subscriber a month

    def edit(data: dict) -> None:
        if north is not None:
            desks = {"hotline": 1, "store": 1}  # a small region's share of the desks would come to no server
            data["population"]["regions"] = {
                "north": {"share": north, "n_servers": desks},
                "south": {"share": 1 - north, "n_servers": desks},
            }
        data["service"]["n_max_care_contacts_per_month"] = limit
        for name, changes in edits.items():
            programme = data["catalogue"][name]
            for key, value in changes.items():
                programme[key] = {**programme[key], **value} if isinstance(value, dict) else value
        data["policy"] = policy
        data["run"]["seed"] = draw(st.integers(0, 2**31 - 1))

    return tiny_config(scenario, n_subscribers=draw(st.integers(60, 400)), n_months=draw(st.integers(1, 6)), edit=edit)


@given(cases())
def test_invariants_hold_on_every_generated_case(config):
    _check_invariants(config)


@pytest.mark.slow
@settings(settings.get_profile("ci"))
@given(cases())
def test_invariants_hold_on_1000_generated_cases(config):
    _check_invariants(config)


def _check_invariants(config: caresim.CareConfig) -> None:
    model, results = run_model(config)
    _nobody_lost_or_counted_twice(model, results)
    _scores_in_range(results)
    _spend_adds_up(config, results)
    _nobody_ineligible_treated(config, model, results)
    _capacity_held(config, results)
    _contact_policy_held(config, results)
    _tables_agree(config, results)


def _nobody_lost_or_counted_twice(model, results) -> None:
    kpis, subscribers = results.kpis.sort_values(["segment", "month"]), results.subscribers
    assert (kpis["active"] == kpis["active_start"] + kpis["new"] + kpis["won_back"] - kpis["churned"]).all()
    for _, rows in kpis.groupby("segment"):
        assert (rows["active_start"].to_numpy()[1:] == rows["active"].to_numpy()[:-1]).all()
    bought = kpis.loc[kpis["month"] == 0, "active_start"].sum() + kpis["new"].sum()
    key = ["region", "subscriber_id"] if "region" in subscribers else ["subscriber_id"]  # ids count within a region
    assert len(subscribers) == bought and not subscribers.duplicated(key).any()
    assert model.state.active.sum() == kpis.loc[kpis["month"] == kpis["month"].max(), "active"].sum()
    assert not (model.state.stage == PRESALE).any() and set(np.unique(model.state.stage)) <= set(range(len(STAGES)))
    assert kpis["churned"].sum() == subscribers["times_churned"].sum()
    assert kpis["won_back"].sum() == subscribers["times_won_back"].sum()
    assert (subscribers["churned"] == (subscribers["times_churned"] > subscribers["times_won_back"])).all()


def _scores_in_range(results) -> None:
    subscribers, kpis = results.subscribers, results.kpis
    for kind in ("satisfaction", "loyalty"):
        assert subscribers[kind].between(0.0, 1.0).all(), kind
        shares = kpis[[f"{kind}_{grade}" for grade in GRADES]].sum(axis=1)
        assert np.allclose(shares[kpis["active"] > 0], 1.0), kind


def _spend_adds_up(config, results) -> None:
    spend, costs = results.care_spend, results.programme_costs
    for name, programme in config.catalogue.items():
        rows = spend[spend["programme"] == name]
        contacts = rows["contacts"].sum()
        running = costs.loc[costs["programme"] == name, "running"].any()
        fixed = programme.cost_fixed_per_month * config.run.n_months if running else 0.0
        assert math.isclose(
            rows["spend"].sum(), contacts * programme.cost_per_contact + fixed, rel_tol=1e-9, abs_tol=1e-6
        )
        if running:  # a programme runs where the policy gives it a share somewhere
            assert _policy_share_anywhere(config, name)


def _policy_share_anywhere(config, name: str) -> bool:
    entry = config.policy.get(name, 0.0)
    if isinstance(entry, dict):
        return any(_share(value) > 0 for value in entry.values())
    return _share(entry) > 0


def _share(entry: Any) -> float:
    return float(getattr(entry, "share", entry))


def _segment_share(config, name: str, segment: str) -> float:
    entry = config.policy.get(name, 0.0)
    if isinstance(entry, dict):
        return _share(entry.get(segment, 0.0))
    return _share(entry)


def _nobody_ineligible_treated(config, model, results) -> None:
    subscribers = results.subscribers
    for name, programme in config.catalogue.items():
        treated = subscribers.loc[subscribers[f"received_{name}"] > 0, "segment"].unique()
        allowed = programme.eligibility.segments
        assert allowed is None or set(treated) <= set(allowed), (name, set(treated) - set(allowed))
        assert all(_segment_share(config, name, segment) > 0 for segment in treated), name


def _contact_policy_held(config, results) -> None:
    """At most n care contacts per subscriber in a month, so at most n x months in the run."""
    limit = config.service.n_max_care_contacts_per_month
    if limit is not None:
        received = results.subscribers[[f"received_{name}" for name in config.catalogue]].sum(axis=1)
        assert (received <= limit * config.run.n_months).all()


def _capacity_held(config, results) -> None:
    """Whole contacts each month; the fraction of a contact carries over, unused capacity does not
    (docs/model.md, capacity), in each region: so by every month's close, contacts <= capacity x months so far,
    and a month makes fewer than capacity + the number of regions."""
    costs = results.programme_costs
    n_regions = max(1, len(config.population.regions))
    for name, programme in config.catalogue.items():
        capacity = programme.capacity_per_month
        if capacity is not None:
            monthly = costs.loc[costs["programme"] == name].sort_values("month")["contacts"].to_numpy()
            months_so_far = np.arange(1, len(monthly) + 1)
            assert (np.cumsum(monthly) <= capacity * months_so_far * (1 + 1e-9) + 1e-9).all(), name
            assert (monthly < capacity + n_regions).all(), name  # each region carries its own fraction


def _tables_agree(config, results) -> None:
    kpis, subscribers, spend = results.kpis, results.subscribers, results.care_spend
    costs, judged = results.programme_costs, results.programmes
    assert math.isclose(kpis["care_spend"].sum(), spend["spend"].sum(), rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(subscribers["care_cost"].sum(), spend["variable_spend"].sum(), rel_tol=1e-9, abs_tol=1e-6)
    assert kpis["care_contacts"].sum() == spend["contacts"].sum()
    for name in config.catalogue:
        contacts = spend.loc[spend["programme"] == name, "contacts"].sum()
        assert subscribers[f"received_{name}"].sum() == contacts, name
        assert costs.loc[costs["programme"] == name, "contacts"].sum() == contacts, name
        assert math.isclose(
            kpis[f"spend_{name}"].sum(), spend.loc[spend["programme"] == name, "spend"].sum(), abs_tol=1e-6
        ), name
        rows = judged[judged["programme"] == name]
        whole = rows[rows["segment"] == "all"]
        if len(whole):
            parts = rows[rows["segment"] != "all"]
            for column in ("eligible", "assigned", "treated", "control", "contacts"):
                assert whole[column].sum() == parts[column].sum(), (name, column)
            assert whole["contacts"].sum() == contacts, name
            assert (parts["treated"] <= parts["eligible"]).all() and (parts["assigned"] <= parts["eligible"]).all()
