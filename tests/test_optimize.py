"""The planning model on hand-solvable instances: known optima, binding limits, infeasibility in words."""

import dataclasses

import numpy as np
import pyomo.environ as pyo
import pytest

from caresim.optimize import Option, PlanningProblem, evaluate_plan, solve
from caresim.optimize.evaluate import Outcome, coverage_vector, cvar
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


def _two_risky_options(**more) -> PlanningProblem:
    """A: net 300 or 0 (mean 150); B: net 120 in both samples. The budget covers one of them."""
    options = [
        _option(programme="a", value=(0, 250), value_samples=((0, 400), (0, 100))),
        _option(programme="b", value=(0, 220), value_samples=((0, 220), (0, 220))),
    ]
    return PlanningProblem(options=options, budget=100, **more)


def test_mean_prefers_the_better_average_and_cvar_the_better_worst_case():
    mean = solve(_two_risky_options())
    assert mean.objective == pytest.approx(150)
    assert mean.coverage() == {"a": {"s1": pytest.approx(1)}, "b": {"s1": pytest.approx(0)}}
    cvar = solve(_two_risky_options(risk="cvar", cvar_alpha=0.5))
    assert cvar.objective == pytest.approx(120)  # the worst of two equally likely samples
    assert cvar.coverage() == {"a": {"s1": pytest.approx(0)}, "b": {"s1": pytest.approx(1)}}


def test_sample_weights_move_the_expected_curve():
    plan = solve(_two_risky_options(sample_weights=(1, 3)))  # A: (400 + 3 x 100) / 4 - 100 = 75 < 120
    assert plan.objective == pytest.approx(120) and plan.coverage()["b"]["s1"] == pytest.approx(1)


def test_cvar_of_retained_subscribers():
    options = [
        _option(programme="a", retained_samples=((0, 40), (0, 0))),
        _option(programme="b", retained_samples=((0, 15), (0, 15))),
    ]
    problem = PlanningProblem(options=options, budget=100, objective="retained", risk="cvar", cvar_alpha=0.5)
    plan = solve(problem)
    assert plan.objective == pytest.approx(15) and plan.coverage()["b"]["s1"] == pytest.approx(1)


def test_predicted_outcome_has_intervals_from_the_samples():
    plan = solve(_two_risky_options())
    predicted = plan.predicted
    assert list(predicted.index) == ["net_value", "value", "retained", "loyal", "cost"]
    assert predicted.loc["net_value", "mean"] == pytest.approx(150)
    assert predicted.loc["net_value", "low"] == pytest.approx(7.5)  # 2.5 % between 0 and 300
    assert predicted.loc["net_value", "high"] == pytest.approx(292.5)
    assert predicted.loc["cost"].tolist() == pytest.approx([100, 100, 100])
    row = plan.allocations.set_index("programme").loc["a"]
    assert (row["value_low"], row["value"], row["value_high"]) == pytest.approx((107.5, 250, 392.5))


def test_predicted_without_samples_is_a_point():
    plan = solve(PlanningProblem(options=[_option()], budget=50))
    assert plan.predicted.loc["net_value"].tolist() == pytest.approx([100, 100, 100])
    assert "value_low" not in plan.allocations


def test_evaluate_plan_predicts_any_coverage_with_the_same_curves():
    problem = PlanningProblem(options=[_option(coverage=(0, 0.5, 1), value=(0, 200, 240))], budget=1000)
    outcome = evaluate_plan(problem, {"reward": {"s1": 0.25}})  # halfway up the first piece
    assert outcome["value"]["mean"] == pytest.approx(100) and outcome["cost"]["mean"] == pytest.approx(25)
    assert outcome["net_value"]["mean"] == pytest.approx(75)
    fixed = dataclasses.replace(problem, fixed_cost={"reward": 10})
    assert evaluate_plan(fixed, {"reward": {"s1": 0.25}})["cost"]["mean"] == pytest.approx(35)
    assert evaluate_plan(fixed, {})["cost"]["mean"] == pytest.approx(0)  # nothing covered: not running
    plan = solve(problem)
    assert evaluate_plan(problem, plan.coverage())["net_value"]["mean"] == pytest.approx(plan.objective)
    with pytest.raises(ValueError, match=r"^coverage\.gift\.s1: no such option"):
        evaluate_plan(problem, {"gift": {"s1": 0.5}})


def test_period_budget_binds_and_fixed_cost_is_spread_evenly():
    option = _option(spend_profile=(0.8, 0.2))  # 80 of the 100 spent in period 0
    plan = solve(PlanningProblem(options=[option], budget=1000, period_budget=(30, 100)))
    assert plan.coverage()["reward"]["s1"] == pytest.approx(30 / 80)
    assert plan.objective == pytest.approx(75)
    row = plan.binding.set_index("constraint").loc["period_budget"]
    assert row["index"] == "0" and row["shadow_price"] == pytest.approx(200 / 80)
    fixed = solve(PlanningProblem(options=[option], budget=1000, period_budget=(30, 100), fixed_cost={"reward": 20}))
    assert fixed.coverage()["reward"]["s1"] == pytest.approx(0.25)  # 80 c + 10 <= 30
    assert fixed.objective == pytest.approx(0.25 * 200 - 20)


def test_period_that_cannot_carry_the_minimum_spend_is_explained():
    option = _option(spend_profile=(0.8, 0.2))
    problem = PlanningProblem(options=[option], budget=1000, period_budget=(30, 100), segment_min_spend={"s1": 60})
    plan = solve(problem)
    assert plan.status == "infeasible"
    assert any("period 0" in line and "48.00" in line and "30.00" in line for line in plan.explanation)


@pytest.mark.parametrize(
    ("more", "message"),
    [
        ({"channel_capacity": {"sms": -1}}, r"^channel_capacity\.sms: must be >= 0"),
        ({"channel_capacity": {"fax": 5}}, r"^channel_capacity\.fax: unknown channel; known: \['sms'\]"),
        ({"segment_max_spend": {"nowhere": 5}}, r"^segment_max_spend\.nowhere: unknown segment"),
        ({"max_poor_share": {"nowhere": 0.1}}, r"^max_poor_share\.nowhere: unknown segment"),
        ({"fixed_cost": {"gift": 5}}, r"^fixed_cost\.gift: unknown programme; known: \['reward'\]"),
        ({"cvar_alpha": 0.0}, r"^cvar_alpha: must be in \(0, 1\]"),
        ({"cvar_alpha": 1.5}, r"^cvar_alpha: must be in \(0, 1\]"),
        ({"risk": "cvar"}, r"^risk: cvar needs sample curves"),
        ({"period_budget": (10, -1)}, r"^period_budget: must be >= 0"),
        ({"period_budget": (10, 10, 10)}, r"^spend_profile: option s1/reward has 2 periods"),
    ],
)
def test_bad_limits_name_the_key(more, message):
    option = _option(channel="sms", spend_profile=(0.5, 0.5))
    with pytest.raises(ValueError, match=message):
        solve(PlanningProblem(options=[option], budget=10, **more))


def test_bad_samples_and_risk_settings_name_the_key():
    with pytest.raises(ValueError, match=r"^value_samples: option s1/reward, sample 1 needs one value per breakpoint"):
        _option(value_samples=((0, 1), (0, 1, 2)))
    with pytest.raises(ValueError, match=r"^spend_profile: option s1/reward must be >= 0 and sum to 1"):
        _option(spend_profile=(0.5, 0.4))
    with pytest.raises(ValueError, match=r"^risk: cvar needs objective net_value, retained or loyalty"):
        solve(_two_risky_options(risk="cvar", objective="min_cost"))
    with pytest.raises(ValueError, match=r"^sample_weights: need 2 weights"):
        solve(_two_risky_options(sample_weights=(1, 2, 3)))
    uneven = [_option(value_samples=((0, 1), (0, 2))), _option(programme="b", value_samples=((0, 1),))]
    with pytest.raises(ValueError, match=r"^value_samples: option s1/b has 1 samples, others 2"):
        solve(PlanningProblem(options=uneven, budget=10))


def test_non_concave_curve_fills_in_order():
    option = _option(coverage=(0, 0.5, 1), value=(0, 50, 400))  # convex: the second piece pays more
    problem = PlanningProblem(options=[option], budget=75)
    assert len(Layout(problem).order_pieces) == 1  # one ordering binary between its two pieces
    plan = solve(problem)
    # in order: the first piece (worth what it costs) full, then 0.25 of the second: 50 + 0.25 x 700 - 75
    assert plan.ok and not plan.notes
    assert plan.coverage()["reward"]["s1"] == pytest.approx(0.75)
    assert plan.objective == pytest.approx(150)  # out of order it would be 0.5 x 700 + 0.25 x 100 - 75 = 300
    assert plan.predicted.loc["net_value", "mean"] == pytest.approx(plan.objective)
    # duals from the LP with the open pieces fixed: money buys the second piece, 7 of value per 1 of cost
    assert plan.binding.set_index("constraint").loc["budget", "shadow_price"] == pytest.approx(6)
    assert set(plan.binding["constraint"]) == {"budget"}  # the ordering rows are never reported


def test_only_options_that_need_it_get_ordering_binaries_and_pruning_keeps_a_prefix():
    # slopes 30, 270, 15 against a cost of 100 per unit of coverage: the third piece is pruned, the first kept
    bumpy = _option(programme="bumpy", coverage=(0, 1 / 3, 2 / 3, 1), value=(0, 10, 100, 105))
    concave = _option(programme="plain", coverage=(0, 0.5, 1), value=(0, 100, 120))
    problem = PlanningProblem(options=[bumpy, concave], budget=1000)
    layout = Layout(problem)
    assert layout.order_options.tolist() == [0] and len(layout.order_pieces) == 1
    assert layout.option_columns(0).tolist() == [0, 1]  # pieces 0 and 1 of bumpy kept, piece 2 dropped
    plan = solve(problem)
    assert plan.coverage()["bumpy"]["s1"] == pytest.approx(2 / 3)  # 100 - 66.67, not 90 - 33.33 out of order
    assert plan.objective == pytest.approx(100 - 200 / 3 + 50)
    assert not len(Layout(_random_problem(6, 4)).order_pieces)  # concave curves: no ordering binaries


def test_retention_target_met_in_order_when_the_retained_curve_is_not_concave():
    option = _option(coverage=(0, 0.5, 1), value=(), retained=(0, 5, 50))
    plan = solve(PlanningProblem(options=[option], budget=1000, objective="min_cost", retention_target=30))
    coverage = 0.5 + 25 / 90  # 5 from the first piece, 25 more at 90 per unit of coverage
    assert plan.coverage()["reward"]["s1"] == pytest.approx(coverage)
    assert plan.objective == pytest.approx(100 * coverage)  # not 100 x 30 / 90 by filling the second piece only


def test_service_floor_met_in_order_when_the_poor_reduction_is_not_concave():
    option = _option(coverage=(0, 0.5, 1), value=(0, 0, 0), poor_reduction=(0, 0.01, 0.11))
    problem = PlanningProblem(options=[option], budget=1000, poor_share={"s1": 0.2}, max_poor_share={"s1": 0.15})
    plan = solve(problem)
    assert plan.coverage()["reward"]["s1"] == pytest.approx(0.5 + 0.04 / 0.2)  # 0.01 + 0.2 (c - 0.5) = 0.05
    assert plan.objective == pytest.approx(-100 * 0.7)


def test_no_option_that_can_pay_gives_an_empty_plan():
    problem = PlanningProblem(options=[_option(value=(0, 10))], budget=100, segment_max_spend={"s1": 50})
    plan = solve(problem)
    assert plan.ok and plan.objective == pytest.approx(0)
    assert plan.coverage()["reward"]["s1"] == pytest.approx(0)


def test_service_floor_no_option_can_reach_is_explained():
    problem = PlanningProblem(options=[_option()], budget=10, poor_share={"s1": 0.2}, max_poor_share={"s1": 0.1})
    plan = solve(problem)
    assert plan.status == "infeasible"
    assert plan.explanation[0].startswith("segment s1: the share of Poor satisfaction cannot fall below 20.0%")


def test_fractional_relaxation_goes_to_the_milp_and_duals_come_from_the_fixed_lp():
    # LP relaxation: run = coverage = 0.75 (objective 225); the MILP must pay the whole fixed cost
    plan = solve(PlanningProblem(options=[_option(value=(0, 500))], budget=150, fixed_cost={"reward": 100}))
    assert plan.running["reward"] and plan.objective == pytest.approx(100)
    assert plan.coverage()["reward"]["s1"] == pytest.approx(0.5)
    assert plan.binding.set_index("constraint").loc["budget", "shadow_price"] == pytest.approx(4)


def test_cvar_with_a_sample_curve_that_is_not_concave_is_exact():
    # a: net 20 c (sample 0, convex: slopes 120 then 480 against a cost of 100) or 100 c (sample 1) for c <= 0.5;
    # filled out of order, half coverage would be worth 190 and 50, CVaR 50. b: net 30 in both samples.
    bumpy = _option(programme="a", coverage=(0, 0.5, 1), value=(), value_samples=((0, 60, 300), (0, 100, 200)))
    steady = _option(programme="b", eligible=50, value=(0, 80))
    problem = PlanningProblem(options=[bumpy, steady], budget=50, risk="cvar", cvar_alpha=0.5)
    plan = solve(problem)
    assert plan.ok and not plan.notes
    assert plan.coverage() == {"a": {"s1": pytest.approx(0)}, "b": {"s1": pytest.approx(1)}}
    assert plan.objective == pytest.approx(30)  # the worst sample of b; a at 0.5 would only be worth 10
    running = np.array([plan.running[p] for p in problem.programmes])
    outcome = Outcome(Layout(problem), coverage_vector(problem, plan.coverage()), running)
    worth = outcome.totals()["net_value"]
    assert plan.objective == pytest.approx(cvar(worth, problem.weights(), 0.5)) == pytest.approx(worth.min())
    assert plan.objective == pytest.approx(outcome.objective())
    alone = solve(dataclasses.replace(problem, options=[bumpy]))  # only a: half coverage, worth 10 in order
    assert alone.coverage()["a"]["s1"] == pytest.approx(0.5) and alone.objective == pytest.approx(10)
    assert solve(dataclasses.replace(problem, risk="mean")).ok


def test_cvar_matches_the_worst_share_with_uneven_weights():
    worth = np.array([5.0, 1.0, 3.0])
    assert cvar(worth, np.array([0.2, 0.3, 0.5]), 0.5) == pytest.approx((0.3 * 1 + 0.2 * 3) / 0.5)
    assert cvar(worth, None, 1.0) == pytest.approx(3.0)


def test_no_options_is_a_plain_result():
    plan = solve(PlanningProblem(options=[], budget=10, segment_min_spend={"gone": 5}))
    assert not plan.ok and plan.status == "no_options"
    assert plan.explanation == ["there are no care options to choose from"]


def test_loyalty_objective_buys_the_cheapest_loyal_subscribers_first():
    options = [
        _option(programme="a", value=(0, 0), loyal=(0, 40)),  # 0.4 loyal per unit of money
        _option(programme="b", eligible=50, value=(0, 0), loyal=(0, 30)),  # 0.6 per unit of money
    ]
    problem = PlanningProblem(options=options, budget=100, objective="loyalty")
    plan = solve(problem)
    assert plan.ok and plan.objective == pytest.approx(30 + 20)  # b in full, then half of a
    assert plan.coverage() == {"a": {"s1": pytest.approx(0.5)}, "b": {"s1": pytest.approx(1)}}
    assert plan.allocations.set_index("programme")["loyal"].to_dict() == pytest.approx({"a": 20, "b": 30})
    assert plan.predicted.loc["loyal"].tolist() == pytest.approx([50, 50, 50])
    assert plan.binding.set_index("constraint").loc["budget", "shadow_price"] == pytest.approx(0.4)
    assert evaluate_plan(problem, plan.coverage())["loyal"]["mean"] == pytest.approx(50)


def test_cvar_of_loyal_subscribers_and_loyalty_in_large_numbers():
    options = [
        _option(programme="a", loyal_samples=((0, 40), (0, 0))),
        _option(programme="b", loyal_samples=((0, 15), (0, 15))),
    ]
    problem = PlanningProblem(options=options, budget=100, objective="loyalty", risk="cvar", cvar_alpha=0.5)
    plan = solve(problem)
    assert plan.objective == pytest.approx(15) and plan.coverage()["b"]["s1"] == pytest.approx(1)
    mean = solve(dataclasses.replace(problem, risk="mean"))
    assert mean.objective == pytest.approx(20) and mean.coverage()["a"]["s1"] == pytest.approx(1)
    assert mean.predicted.loc["loyal", "mean"] == pytest.approx(20)
    big = _option(eligible=1e6, value=(0, 0), loyal=(0, 4e5))  # subscribers measured in units of 1e5
    large = PlanningProblem(options=[big], budget=5e5, objective="loyalty")
    assert Layout(large).units.subscribers == 1e5
    assert solve(large).objective == pytest.approx(2e5)


def test_unknown_objective_names_the_key():
    with pytest.raises(ValueError, match=r"^objective: must be one of net_value, retained, loyalty, min_cost"):
        solve(PlanningProblem(options=[_option()], budget=10, objective="loyal"))


def test_programme_capacity_limits_the_contacts_of_one_programme_across_segments():
    options = [
        _option(segment=s, eligible=100, value=(0, 300), contacts_per_treated_month=1.0, channel="hotline")
        for s in ("s1", "s2")
    ]
    plan = solve(PlanningProblem(options=options, budget=1000, programme_capacity={"reward": 120}))
    assert plan.allocations["contacts_per_month"].sum() == pytest.approx(120)
    assert plan.objective == pytest.approx(120 * (3 - 1))  # 120 treated, value 3 and cost 1 each
    row = plan.binding.set_index("constraint").loc["programme_capacity"]
    assert row["shadow_price"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match=r"programme_capacity.gift: unknown programme"):
        solve(PlanningProblem(options=options, budget=1000, programme_capacity={"gift": 1}))


def test_bulk_handover_gives_what_pyomos_own_highs_interface_gives():
    """The hand-over (build's arrays, a repn for a user's variable and constraint) and Pyomo's appsi interface,
    on one built model: the same objective, values and duals. By hand: gift (4 of value per unit of money) is
    capped at 20% cover, reward (3 per unit) takes the rest of the budget of 50: net 30 + 80."""
    from pyomo.contrib.appsi.base import TerminationCondition
    from pyomo.contrib.appsi.solvers import Highs

    from caresim.optimize.build import build
    from caresim.optimize.handover import HighsModel

    def cap_gift(model, problem):
        model.t = pyo.Var(bounds=(0, 0.2))
        model.cap = pyo.Constraint(expr=model.cover[1] <= model.t)

    gift = _option(programme="gift", cost=0.5, value=(0, 200))
    problem = PlanningProblem(options=[_option(), gift], budget=50, extra_constraints=[cap_gift])
    model = build(problem)
    ours = HighsModel(model, {})
    assert ours.run() == TerminationCondition.optimal
    assert ours.objective * model.objective_unit == pytest.approx(110)
    appsi = Highs()
    appsi.config.load_solution = False
    result = appsi.solve(model)
    assert result.termination_condition == TerminationCondition.optimal
    assert ours.objective == pytest.approx(result.best_feasible_objective, rel=1e-12)
    primals = result.solution_loader.get_primals(ours.columns)
    assert ours.values() == pytest.approx([primals[v] for v in ours.columns], abs=1e-12)
    duals = result.solution_loader.get_duals(ours.constraints)
    assert ours.duals(ours.constraints) == pytest.approx([duals[c] for c in ours.constraints], abs=1e-12)
    prices = solve(problem).binding.set_index("constraint")["shadow_price"]
    assert prices["budget"] == pytest.approx(2) and prices["cap"] == pytest.approx(50)  # 200 - 150 per cover
