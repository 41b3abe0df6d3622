"""Subscribers as lazy Mesa agents, and the AgentRule extension point (engine/agents.py, docs/model.md 7.17)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import caresim
from caresim.lifecycle import LOST, STAGES
from caresim.simulation import build_model, collect
from tests.conftest import tiny_config

SHOCK = -0.5


class Shocked(caresim.Subscriber):
    """Loses half the satisfaction scale every month it is stepped."""

    def step(self) -> None:
        self.shock_satisfaction(SHOCK)


class FreeService(caresim.Subscriber):
    """Pays nothing from the first month it is stepped."""

    def step(self) -> None:
        self.set_revenue_per_month(0.0)


class FreeFromMonth3(caresim.Subscriber):
    """Pays nothing from the close of month 3 on."""

    def step(self) -> None:
        if self.model.month >= 3:
            self.set_revenue_per_month(0.0)


def no_ties(data: dict) -> None:
    """No ties: with ties, a segment whose satisfaction falls churns more, and its churners raise the churn
    hazard of their ties in other segments (contagion, 7.9), so other segments' draws land differently
    (checked: at 4000 x 24 every choice of segment moves subscribers of other segments). The desks and the
    capacity limits are shared across segments too, but at this size (scale 1, real-size desks and
    capacities) nobody waits and no capacity binds, so they need not be switched off."""
    data["population"]["ties"].update(mean_degree=0, n_ties_new_subscriber=0)


def run(config: caresim.CareConfig, *rules: caresim.AgentRule):
    model = build_model(config, agent_rules=rules)
    return model, collect(model.run())


# ---------------------------------------------------------------- agents as views, made on access
def test_a_run_that_reads_no_agent_creates_none_and_each_read_creates_one():
    model = build_model(tiny_config(n_subscribers=800, n_months=6))
    model.run()
    assert len(model.agents) == 0 and model.subscribers.n_made == 0

    state = model.world.state
    slot = int(np.flatnonzero(state.ever_active)[10])
    agent = model.subscribers[slot]
    assert len(model.agents) == 1
    assert model.subscribers[slot] is agent and len(model.agents) == 1  # cached: the same view
    assert agent.slot == slot and type(agent) is caresim.Subscriber
    assert agent.segment == model.world.segments.names[state.segment[slot]]
    assert agent.stage == STAGES[state.stage[slot]] and agent.satisfaction == state.satisfaction[slot]

    lost = int(np.flatnonzero(state.stage == LOST)[0])  # a prospect who never bought is no subscriber
    for missing in (lost, state.n, -1):
        with pytest.raises(KeyError):
            model.subscribers[missing]
        assert missing not in model.subscribers
    assert len(model.agents) == 1
    assert len(model.subscribers) == int(state.ever_active.sum())


def test_ties_make_only_the_ties_agents_and_match_the_mesa_network():
    model = build_model(tiny_config(n_subscribers=800, n_months=6))
    model.run()
    state = model.world.state
    slot = next(s for s in np.flatnonzero(state.ever_active).tolist() if len(model.subscribers.tie_slots(s)) >= 2)
    ties = model.subscribers[slot].ties()
    assert len(model.agents) == 1 + len(ties)
    network = model.network  # the whole network: every subscriber's agent, made now
    assert len(model.agents) == len(model.subscribers)
    assert [tie.slot for tie in ties] == sorted(a.slot for a in network.get_neighbors(slot))
    assert all(tie is model.subscribers[tie.slot] for tie in ties)
    # a rule's class replaces the plain agent, on the network too (one agent per slot)
    remade = model.subscribers.get_as(slot, Shocked)
    assert model.subscribers[slot] is remade and len(model.agents) == len(model.subscribers)
    assert remade in model.network.get_neighbors(ties[0].slot)


# ---------------------------------------------------------------- the extension point
def test_a_rule_changes_only_the_selected_segment():
    config = tiny_config(n_subscribers=1500, n_months=12, edit=no_ties)
    names = list(config.population.segments)
    target = names[2]
    _, plain = run(config)
    model, shocked = run(config, caresim.AgentRule(agent=Shocked, segments=(target,)))

    assert len(model.agents) > 0 and {agent.segment for agent in model.agents} == {target}
    assert all(type(agent) is Shocked for agent in model.agents)
    a, b = plain.record.subscribers, shocked.record.subscribers
    np.testing.assert_array_equal(a.segment, b.segment)  # same subscribers in the same slots
    selected = a.segment == names.index(target)
    assert not np.array_equal(a.satisfaction[selected], b.satisfaction[selected])
    assert b.satisfaction[selected].mean() < a.satisfaction[selected].mean() - 0.1
    for name in ("satisfaction", "loyalty", "stage", "churn_month", "revenue_total", "contacts", "care_cost"):
        assert getattr(a, name)[~selected].tobytes() == getattr(b, name)[~selected].tobytes(), name
    # every other segment's monthly KPIs too, but for spend that includes fixed costs: a programme's fixed
    # cost is shared among segments by their share of its contacts (results/costs.py), an accounting split
    others = plain.kpis["segment"] != target
    shared = ["care_spend_fixed", "care_spend", *(c for c in plain.kpis if c.startswith("spend_"))]
    pd.testing.assert_frame_equal(plain.kpis[others].drop(columns=shared), shocked.kpis[others].drop(columns=shared))
    assert not plain.kpis[~others].equals(shocked.kpis[~others])


def test_free_service_in_usage_makes_the_segments_revenue_zero_from_month_0():
    """Exact expectation: segment X's revenue is 0 in *every* month, month 0 included, and nothing else moves.

    Rules run at the close before the month is billed (7.17), and every subscriber billed at a close is in
    usage at that close or was at an earlier one: the initial base starts in usage and nobody recurs in month
    0, buyers and returners reach usage at once, and retention is entered only from usage. Revenue feeds no
    other rule, so every other number is unchanged, ties included.
    """
    config = tiny_config(n_subscribers=1500, n_months=8)
    x = list(config.population.segments)[3]
    _, plain = run(config)
    model, free = run(config, caresim.AgentRule(agent=FreeService, segments=x, stages="usage"))
    in_x = free.kpis["segment"] == x
    assert plain.kpis.loc[in_x, "revenue"].gt(0).all()
    assert free.kpis.loc[in_x, "revenue"].eq(0.0).all()
    pd.testing.assert_frame_equal(plain.kpis.drop(columns="revenue"), free.kpis.drop(columns="revenue"))
    pd.testing.assert_frame_equal(plain.kpis[~in_x], free.kpis[~in_x])
    assert model.agent_rules[0].stages == ("usage",) and model.agent_rules[0].segments == (x,)


def test_a_rule_that_starts_in_month_3_bills_month_3_at_zero():
    """With usage and retention selected (everyone active at a close), the months before the rule acts are
    unchanged and the month it first acts is already billed at 0: the step runs before the month's bill."""
    config = tiny_config(n_subscribers=1500, n_months=6)
    x = list(config.population.segments)[3]
    _, plain = run(config)
    _, free = run(config, caresim.AgentRule(agent=FreeFromMonth3, segments=(x,), stages=("usage", "retention")))
    revenue = free.kpis.loc[free.kpis["segment"] == x, "revenue"].to_numpy()
    before = plain.kpis.loc[plain.kpis["segment"] == x, "revenue"].to_numpy()
    np.testing.assert_array_equal(revenue[:3], before[:3])
    assert (before[3:] > 0).all() and (revenue[3:] == 0.0).all()


# ---------------------------------------------------------------- what a step may change
class WritesState(caresim.Subscriber):
    def step(self) -> None:
        self.model.world.state.satisfaction[self.slot] = 0.0


class SetsProperty(caresim.Subscriber):
    def step(self) -> None:
        self.satisfaction = 0.0


def test_a_step_changes_subscribers_only_through_the_documented_methods():
    config = tiny_config(n_subscribers=300, n_months=2)
    model = build_model(config, agent_rules=(caresim.AgentRule(agent=WritesState),))
    with pytest.raises(RuntimeError, match=r"WritesState\.step .*read-only.*shock_satisfaction"):
        model.run()
    assert model.world.state.satisfaction.flags.writeable  # unlocked again after the failed step
    with pytest.raises(AttributeError):
        build_model(config, agent_rules=(caresim.AgentRule(agent=SetsProperty),)).run()
    agent = model.subscribers[int(np.flatnonzero(model.world.state.ever_active)[0])]
    with pytest.raises(AttributeError):
        agent.slot = 0
    with pytest.raises(ValueError, match="shock_satisfaction"):
        agent.shock_satisfaction(float("nan"))
    with pytest.raises(ValueError, match="set_revenue_per_month"):
        agent.set_revenue_per_month(-1.0)


# ---------------------------------------------------------------- bad rules
class NoStep(caresim.Subscriber):
    pass


@pytest.mark.parametrize(
    ("rule", "error", "message"),
    [
        (dict(agent=object), TypeError, r"AgentRule\.agent: a subclass of caresim\.Subscriber"),
        (dict(agent=NoStep), TypeError, r"AgentRule\.agent: NoStep does not define step"),
        (dict(agent=Shocked, stages=("usage", "asleep")), ValueError, r"AgentRule\.stages: .*'asleep'.*allowed"),
        (dict(agent=Shocked, stages="presale"), ValueError, r"AgentRule\.stages: .*'presale'.*allowed"),
        (dict(agent=Shocked, segments=()), TypeError, r"AgentRule\.segments: a name or a non-empty tuple"),
    ],
)
def test_a_bad_rule_is_refused_when_made(rule, error, message):
    with pytest.raises(error, match=message):
        caresim.AgentRule(**rule)


def test_an_unknown_segment_is_refused_when_the_model_is_built():
    config = tiny_config(n_subscribers=300, n_months=2)
    rule = caresim.AgentRule(agent=Shocked, segments=("high_flex", "gold"))
    for make in (
        lambda: build_model(config, agent_rules=(rule,)),
        lambda: caresim.simulate(config, agent_rules=(rule,)),
    ):
        with pytest.raises(ValueError, match=r"AgentRule\.segments: unknown segments \['gold'\]; allowed: .*high_flex"):
            make()
    with pytest.raises(TypeError, match=r"agent_rules\[0\]: an AgentRule"):
        build_model(config, agent_rules=(Shocked,))
