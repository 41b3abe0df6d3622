"""Building the Pyomo model: variables, then each family of constraints from a small named function.

Coverage of each option is the sum of its piece variables ``d[o, k]`` (each at most the piece's width);
with concave response curves, filling pieces in order is optimal, so no binaries are needed for them.
One binary ``run[p]`` per programme pays its fixed cost; an option covers nobody unless it runs.
"""

from __future__ import annotations

from collections.abc import Callable

import pyomo.environ as pyo

from caresim.optimize.problem import PlanningProblem

ConstraintFamily = Callable[[pyo.ConcreteModel, PlanningProblem], None]


def _variables(model: pyo.ConcreteModel, problem: PlanningProblem) -> None:
    options = problem.options
    model.O = pyo.Set(initialize=range(len(options)))
    model.P = pyo.Set(initialize=problem.programmes)
    model.S = pyo.Set(initialize=problem.segments)
    model.OK = pyo.Set(
        dimen=2, initialize=[(o, k) for o, option in enumerate(options) for k in range(len(option.widths))]
    )
    model.d = pyo.Var(model.OK, bounds=lambda m, o, k: (0.0, float(options[o].widths[k])))
    model.run = pyo.Var(model.P, within=pyo.Binary)

    def piecewise(name: str):
        slopes = {o: option.slopes(name) for o, option in enumerate(options)}
        return lambda m, o: sum(float(slopes[o][k]) * m.d[o, k] for k in range(len(options[o].widths)))

    model.cover = pyo.Expression(model.O, rule=lambda m, o: sum(m.d[o, k] for k in range(len(options[o].widths))))
    model.value = pyo.Expression(model.O, rule=piecewise("value"))
    model.retained = pyo.Expression(model.O, rule=piecewise("retained"))
    model.poor_reduction = pyo.Expression(model.O, rule=piecewise("poor_reduction"))
    model.spend = pyo.Expression(
        model.O, rule=lambda m, o: options[o].cost_per_treated * options[o].eligible * m.cover[o]
    )
    model.contacts = pyo.Expression(
        model.O, rule=lambda m, o: options[o].eligible * options[o].contacts_per_treated_month * m.cover[o]
    )
    model.total_cost = pyo.Expression(
        expr=sum(model.spend[o] for o in model.O) + sum(problem.fixed_cost.get(p, 0.0) * model.run[p] for p in model.P)
    )


def runs_only_if_on(model: pyo.ConcreteModel, problem: PlanningProblem) -> None:
    """An option covers subscribers only if its programme runs (and pays its fixed cost)."""
    model.runs_only_if_on = pyo.Constraint(model.O, rule=lambda m, o: m.cover[o] <= m.run[problem.options[o].programme])


def budget(model: pyo.ConcreteModel, problem: PlanningProblem) -> None:
    """Total spend, variable and fixed, within the budget."""
    model.budget = pyo.Constraint(expr=model.total_cost <= problem.budget)


def _segment_spend(model: pyo.ConcreteModel, problem: PlanningProblem, segment: str):
    return sum(model.spend[o] for o, option in enumerate(problem.options) if option.segment == segment)


def segment_spend(model: pyo.ConcreteModel, problem: PlanningProblem) -> None:
    """Minimum and maximum variable spend per segment."""
    model.segment_min_spend = pyo.Constraint(
        list(problem.segment_min_spend),
        rule=lambda m, s: _segment_spend(m, problem, s) >= problem.segment_min_spend[s],
    )
    model.segment_max_spend = pyo.Constraint(
        list(problem.segment_max_spend),
        rule=lambda m, s: _segment_spend(m, problem, s) <= problem.segment_max_spend[s],
    )


def channel_capacity(model: pyo.ConcreteModel, problem: PlanningProblem) -> None:
    """Care contacts per month through each channel within its capacity (hotline hours, store staff, SMS)."""

    def rule(m, channel):
        return (
            sum(m.contacts[o] for o, option in enumerate(problem.options) if option.channel == channel)
            <= (problem.channel_capacity[channel])
        )

    model.channel_capacity = pyo.Constraint(list(problem.channel_capacity), rule=rule)


def contact_policy(model: pyo.ConcreteModel, problem: PlanningProblem) -> None:
    """At most k care contacts per subscriber per month, on average over each segment."""
    limit = problem.max_contacts_per_subscriber_month
    segments = [s for s in problem.segments if problem.segment_size.get(s, 0) > 0] if limit is not None else []

    def rule(m, s):
        contacts = sum(m.contacts[o] for o, option in enumerate(problem.options) if option.segment == s)
        return contacts <= limit * problem.segment_size[s]

    model.contact_policy = pyo.Constraint(segments, rule=rule)


def service_floor(model: pyo.ConcreteModel, problem: PlanningProblem) -> None:
    """The share of Poor satisfaction in a segment at most its floor (domain.md's success rule)."""

    def rule(m, s):
        reduction = sum(m.poor_reduction[o] for o, option in enumerate(problem.options) if option.segment == s)
        return problem.poor_share.get(s, 0.0) - reduction <= problem.max_poor_share[s]

    model.service_floor = pyo.Constraint(list(problem.max_poor_share), rule=rule)


def retention_target(model: pyo.ConcreteModel, problem: PlanningProblem) -> None:
    """For "min_cost": retain at least the target number of subscribers."""
    targets = ["all"] if problem.objective == "min_cost" else []
    model.retention_target = pyo.Constraint(
        targets, rule=lambda m, _: sum(m.retained[o] for o in m.O) >= problem.retention_target
    )


FAMILIES: tuple[ConstraintFamily, ...] = (
    runs_only_if_on,
    budget,
    segment_spend,
    channel_capacity,
    contact_policy,
    service_floor,
    retention_target,
)


def objective(model: pyo.ConcreteModel, problem: PlanningProblem) -> None:
    """Net value (value − cost), retained subscribers, or cost to reach the retention target."""
    if problem.objective == "net_value":
        model.objective = pyo.Objective(
            expr=sum(model.value[o] for o in model.O) - model.total_cost, sense=pyo.maximize
        )
    elif problem.objective == "retained":
        model.objective = pyo.Objective(expr=sum(model.retained[o] for o in model.O), sense=pyo.maximize)
    elif problem.objective == "min_cost":
        model.objective = pyo.Objective(expr=model.total_cost, sense=pyo.minimize)
    else:
        raise ValueError(f"objective: must be net_value, retained or min_cost, got {problem.objective!r}")


def build(problem: PlanningProblem) -> pyo.ConcreteModel:
    """The Pyomo model of ``problem``: variables, every constraint family, user extras, objective."""
    problem.validate()
    model = pyo.ConcreteModel(name="care_plan")
    _variables(model, problem)
    for family in (*FAMILIES, *problem.extra_constraints):
        family(model, problem)
    objective(model, problem)
    return model
