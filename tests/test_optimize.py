"""The planning model on hand-solvable instances: known optima, binding limits, infeasibility in words."""

import dataclasses

import numpy as np
import pyomo.environ as pyo
import pytest

from caresim.optimize import Option, PlanningProblem, solve
from caresim.optimize.layout import Layout


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


def _money_times(problem: PlanningProblem, factor: float) -> PlanningProblem:
    options = [
        dataclasses.replace(o, cost_per_treated=o.cost_per_treated * factor, value=tuple(v * factor for v in o.value))
        for o in problem.options
    ]
    return dataclasses.replace(
        problem,
        options=options,
        budget=problem.budget * factor,
        fixed_cost={p: f * factor for p, f in problem.fixed_cost.items()},
        segment_min_spend={s: v * factor for s, v in problem.segment_min_spend.items()},
    )


def _random_problem(n_segments: int, n_programmes: int, seed: int = 5) -> PlanningProblem:
    """Money coefficients spanning ~1e2-1e8, a binding budget, channel capacities and fixed costs."""
    rng = np.random.default_rng(seed)
    options = []
    for s in range(n_segments):
        for p in range(n_programmes):
            eligible = float(rng.uniform(100, 2000))
            slopes = np.sort(rng.uniform(0, 40, 3))[::-1] * eligible
            options.append(
                _option(
                    segment=f"s{s}",
                    programme=f"p{p}",
                    eligible=eligible,
                    cost=float(rng.uniform(2, 30)),
                    coverage=(0, 1 / 3, 2 / 3, 1),
                    value=tuple(np.concatenate([[0.0], np.cumsum(slopes / 3)])),
                    channel=("sms", "hotline")[p % 2],
                    contacts_per_treated_month=float(rng.uniform(0.1, 1.0)),
                )
            )
    total = sum(o.cost_per_treated * o.eligible for o in options)
    contacts = sum(o.eligible * o.contacts_per_treated_month for o in options if o.channel == "sms")
    return PlanningProblem(
        options=options,
        budget=0.25 * total,
        fixed_cost={f"p{p}": float(rng.uniform(0, 0.01 * total)) for p in range(n_programmes)},
        channel_capacity={"sms": 0.4 * contacts},
    )


def test_money_in_any_unit_gives_the_same_plan():
    problem = _random_problem(6, 4)
    plan, scaled = solve(problem), solve(_money_times(problem, 1e6))
    units, scaled_units = Layout(problem).units, Layout(_money_times(problem, 1e6)).units
    assert scaled_units.money == pytest.approx(units.money * 1e6)  # HiGHS sees the same numbers
    assert 1 <= problem.budget / units.money <= 1e6
    assert plan.ok and scaled.ok
    assert scaled.objective == pytest.approx(plan.objective * 1e6, rel=1e-6)
    assert scaled.total_cost == pytest.approx(plan.total_cost * 1e6, rel=1e-6)
    for programme, shares in plan.coverage().items():
        assert scaled.coverage()[programme] == pytest.approx(shares, abs=1e-6)
    prices = plan.binding.set_index("constraint")["shadow_price"]
    scaled_prices = scaled.binding.set_index("constraint")["shadow_price"]
    assert scaled_prices["budget"] == pytest.approx(prices["budget"], rel=1e-6)  # value per unit of money
    assert scaled_prices["channel_capacity"] == pytest.approx(prices["channel_capacity"] * 1e6, rel=1e-6)


def test_objective_does_not_collapse_at_moderate_size():
    problem = _random_problem(60, 10)
    plan = solve(problem)
    in_thousands = solve(_money_times(problem, 1e-3))
    assert plan.ok and plan.objective > 0.05 * problem.budget
    assert plan.objective == pytest.approx(in_thousands.objective * 1e3, rel=1e-6)
    assert plan.objective == pytest.approx(plan.predicted.loc["net_value", "mean"], rel=1e-6)
    assert plan.total_cost <= problem.budget * (1 + 1e-9)


def test_contact_shadow_price_is_money_per_contact():
    option = _option(eligible=1000, value=(0, 3000), channel="sms", contacts_per_treated_month=0.01)
    plan = solve(PlanningProblem(options=[option], budget=1e6, channel_capacity={"sms": 2}))
    assert plan.objective == pytest.approx(400)  # 20% coverage: 200 treated × (3 − 1)
    row = plan.binding.set_index("constraint").loc["channel_capacity"]
    assert row["limit"] == pytest.approx(2) and row["shadow_price"] == pytest.approx(200)
    more = solve(PlanningProblem(options=[option], budget=1e6, channel_capacity={"sms": 2.01}))
    assert (more.objective - plan.objective) / 0.01 == pytest.approx(200)
