"""Why a planning problem has no solution, in plain words.

First the conflicts that can be stated with their numbers directly (minimum spends above the budget, a
target above what full coverage could reach, ...). If none applies, an elastic copy of the model lets
every limit be broken at a cost and minimises the total breach: the limits it must break are the ones
that conflict, with by how much.
"""

from __future__ import annotations

import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.contrib.appsi.solvers import Highs

from caresim.optimize.build import build
from caresim.optimize.problem import PlanningProblem


def _money(value: float) -> str:
    for unit, size in (("bn", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.2f} {unit}"
    return f"{value:,.2f}"


def direct_conflicts(problem: PlanningProblem) -> list[str]:
    """Conflicts visible from the numbers alone."""
    reasons = []
    minimum = sum(problem.segment_min_spend.values())
    if minimum > problem.budget:
        reasons.append(f"minimum spends add up to {_money(minimum)}, above the budget of {_money(problem.budget)}")
    for segment, low in problem.segment_min_spend.items():
        high = problem.segment_max_spend.get(segment)
        if high is not None and low > high:
            reasons.append(f"segment {segment}: minimum spend {_money(low)} is above its maximum {_money(high)}")
        most = sum(o.cost_per_treated * o.eligible * o.coverage[-1] for o in problem.options if o.segment == segment)
        if low > most:
            reasons.append(
                f"segment {segment}: minimum spend {_money(low)} is more than covering every eligible subscriber "
                f"costs ({_money(most)})"
            )
    if problem.objective == "min_cost":
        reachable = sum(o.retained[-1] for o in problem.options if o.retained)
        if problem.retention_target > reachable:
            reasons.append(
                f"the retention target of {problem.retention_target:,.0f} subscribers is above the "
                f"{reachable:,.0f} that full coverage of every option would retain"
            )
    for segment, floor in problem.max_poor_share.items():
        best = problem.poor_share.get(segment, 0.0) - sum(
            o.poor_reduction[-1] for o in problem.options if o.segment == segment and o.poor_reduction
        )
        if best > floor:
            reasons.append(
                f"segment {segment}: the share of Poor satisfaction cannot fall below {best:.1%} even with full "
                f"coverage, above the floor of {floor:.1%}"
            )
    return reasons


def elastic_conflicts(problem: PlanningProblem) -> list[str]:
    """Limits an elastic copy of the model must break, smallest total (relative) breach first."""
    model = build(problem)
    limits = [
        c
        for c in model.component_data_objects(pyo.Constraint, active=True)
        if c.parent_component().name != "runs_only_if_on"
    ]
    model.breach = pyo.Var(range(len(limits)), within=pyo.NonNegativeReals)
    model.elastic = pyo.ConstraintList()
    weights = []
    for k, constraint in enumerate(limits):
        constraint.deactivate()
        bound = pyo.value(constraint.upper if constraint.has_ub() else constraint.lower)
        weights.append(1.0 / max(1.0, abs(bound)))
        if constraint.has_ub():
            model.elastic.add(constraint.body <= constraint.upper + model.breach[k])
        if constraint.has_lb():
            model.elastic.add(constraint.body >= constraint.lower - model.breach[k])
    model.objective.deactivate()
    model.least_breach = pyo.Objective(expr=sum(w * model.breach[k] for k, w in enumerate(weights)))
    solver = Highs()
    solver.config.load_solution = False
    result = solver.solve(model)
    if result.termination_condition != TerminationCondition.optimal:
        return ["the limits conflict, but no single set of them could be identified"]
    result.solution_loader.load_vars()
    reasons = []
    for k, constraint in enumerate(limits):
        amount = pyo.value(model.breach[k])
        if amount > 1e-6:
            index = constraint.index()
            name = constraint.parent_component().name + ("" if index is None else f"[{index}]")
            bound = pyo.value(constraint.upper if constraint.has_ub() else constraint.lower)
            reasons.append(f"{name} (limit {bound:,.2f}) would have to give by {amount:,.2f}")
    return reasons


def explain_infeasibility(problem: PlanningProblem) -> list[str]:
    """Plain reasons why no plan satisfies every limit."""
    return direct_conflicts(problem) or elastic_conflicts(problem)
