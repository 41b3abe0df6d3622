"""The planning model on hand-solvable instances: known optima, binding limits, infeasibility in words."""

import numpy as np
import pyomo.environ as pyo
import pytest

from caresim.optimize import Option, PlanningProblem, solve


def _option(segment="s1", programme="reward", eligible=100, cost=1.0, coverage=(0, 1), value=(0, 300), **more):
    return Option(
        segment=segment,
        programme=programme,
        eligible=eligible,
        cost_per_treated=cost,
        coverage=coverage,
        value=value,
        **more,
    )


def test_profitable_option_is_covered_fully_and_unprofitable_left_out():
    problem = PlanningProblem(options=[_option(), _option(programme="gift", cost=2.0, value=(0, 150))], budget=1000)
    plan = solve(problem)
    assert plan.ok and plan.objective == pytest.approx(200)
    coverage = plan.coverage()
    assert coverage["reward"]["s1"] == pytest.approx(1.0) and coverage["gift"]["s1"] == pytest.approx(0.0)
    assert plan.binding.empty or "budget" not in set(plan.binding["constraint"])


def test_binding_budget_and_its_shadow_price():
    plan = solve(PlanningProblem(options=[_option()], budget=50))
    assert plan.objective == pytest.approx(100)  # half coverage: value 150 - cost 50
    assert plan.total_cost == pytest.approx(50)
    row = plan.binding.set_index("constraint").loc["budget"]
    assert row["shadow_price"] == pytest.approx(2.0)  # one more unit of money buys 3 of value for 1 of cost
    more = solve(PlanningProblem(options=[_option()], budget=51))
    assert more.objective - plan.objective == pytest.approx(row["shadow_price"])


def test_concave_response_stops_where_the_margin_turns_negative():
    plan = solve(PlanningProblem(options=[_option(coverage=(0, 0.5, 1), value=(0, 200, 240))], budget=1000))
    assert plan.coverage()["reward"]["s1"] == pytest.approx(0.5)
    assert plan.objective == pytest.approx(150)


def test_fixed_cost_decides_whether_a_programme_runs():
    cheap = solve(PlanningProblem(options=[_option()], budget=1000, fixed_cost={"reward": 150}))
    dear = solve(PlanningProblem(options=[_option()], budget=1000, fixed_cost={"reward": 250}))
    assert cheap.running["reward"] and cheap.objective == pytest.approx(50)
    assert not dear.running["reward"] and dear.objective == pytest.approx(0)
    assert dear.coverage()["reward"]["s1"] == pytest.approx(0)


def test_minimum_cost_to_reach_a_retention_target():
    option = _option(retained=(0, 50))
    plan = solve(PlanningProblem(options=[option], budget=1000, objective="min_cost", retention_target=30))
    assert plan.objective == pytest.approx(60) and plan.coverage()["reward"]["s1"] == pytest.approx(0.6)


def test_over_constrained_budget_is_explained_in_plain_words():
    options = [_option(), _option(segment="s2")]
    plan = solve(PlanningProblem(options=options, budget=100, segment_min_spend={"s1": 80, "s2": 60}))
    assert plan.status == "infeasible" and plan.objective is None
    assert plan.explanation == ["minimum spends add up to 140.00, above the budget of 100.00"]


def test_conflict_found_by_the_elastic_model_names_the_limits():
    options = [_option(channel="sms", contacts_per_treated_month=1.0)]
    plan = solve(
        PlanningProblem(options=options, budget=1000, segment_min_spend={"s1": 50}, channel_capacity={"sms": 20})
    )
    assert plan.status == "infeasible"
    text = " ".join(plan.explanation)
    assert "channel_capacity[sms]" in text or "segment_min_spend[s1]" in text


def test_capacity_contact_policy_and_service_floor_hold():
    options = [
        _option(channel="sms", contacts_per_treated_month=2.0),
        _option(
            programme="call",
            cost=3.0,
            value=(0, 250),
            channel="hotline",
            contacts_per_treated_month=1.0,
            poor_reduction=(0, 0.1),
        ),
    ]
    problem = PlanningProblem(
        options=options,
        budget=1000,
        channel_capacity={"sms": 120},
        segment_size={"s1": 100},
        max_contacts_per_subscriber_month=1.5,
        poor_share={"s1": 0.2},
        max_poor_share={"s1": 0.15},
    )
    plan = solve(problem)
    table = plan.allocations.set_index("programme")
    assert table.loc["reward", "contacts_per_month"] <= 120 + 1e-6
    assert table["contacts_per_month"].sum() <= 1.5 * 100 + 1e-6
    assert 0.2 - 0.1 * table.loc["call", "coverage"] <= 0.15 + 1e-9  # the floor forces the loss-making call
    assert table.loc["call", "coverage"] == pytest.approx(0.5)


def test_extra_named_constraint_from_the_user():
    def cap_reward(model, problem):
        model.cap_reward = pyo.Constraint(expr=model.cover[0] <= 0.3)

    plan = solve(PlanningProblem(options=[_option()], budget=1000, extra_constraints=[cap_reward]))
    assert plan.coverage()["reward"]["s1"] == pytest.approx(0.3)
    assert "cap_reward" in set(plan.binding["constraint"])


def test_a_plan_never_spends_more_than_its_budget():
    rng = np.random.default_rng(3)
    for _ in range(5):
        options = []
        for s in range(3):
            for p in range(4):
                slopes = np.sort(rng.uniform(0, 500, 3))[::-1]
                value = np.concatenate([[0], np.cumsum(slopes / 3)])
                options.append(
                    _option(
                        segment=f"s{s}",
                        programme=f"p{p}",
                        cost=float(rng.uniform(0.5, 3)),
                        coverage=(0, 1 / 3, 2 / 3, 1),
                        value=tuple(value),
                    )
                )
        budget = float(rng.uniform(50, 500))
        plan = solve(PlanningProblem(options=options, budget=budget, fixed_cost={"p0": 30.0}))
        assert plan.ok and plan.total_cost <= budget + 1e-6


def test_bad_input_names_the_key():
    with pytest.raises(ValueError, match="budget: must be >= 0"):
        solve(PlanningProblem(options=[_option()], budget=-1))
    with pytest.raises(ValueError, match=r"segment_min_spend\.nowhere: unknown"):
        solve(PlanningProblem(options=[_option()], budget=10, segment_min_spend={"nowhere": 1}))
    with pytest.raises(ValueError, match="coverage must start at 0"):
        _option(coverage=(0.1, 1))
