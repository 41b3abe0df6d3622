"""Why a planning problem has no solution, in plain words.

First the conflicts that can be stated with their numbers directly (minimum spends above the budget, a
target above what full coverage could reach, ...). If none applies, an elastic copy of the model lets
every limit be broken at a cost and minimises the total breach: the limits it must break are the ones
that conflict, with by how much.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.contrib.appsi.solvers import Highs

from caresim.optimize.build import build, spend_shares
from caresim.optimize.layout import Row
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
        weights = problem.weights()
        reachable = sum(float(o.curve("retained", weights).max()) for o in problem.options)
        if problem.retention_target > reachable:
            reasons.append(
                f"the retention target of {problem.retention_target:,.0f} subscribers is above the "
                f"{reachable:,.0f} that full coverage of every option would retain"
            )
    for segment, floor in problem.max_poor_share.items():
        best = problem.poor_share.get(segment, 0.0) - sum(
            float(o.curve("poor_reduction").max()) for o in problem.options if o.segment == segment
        )
        if best > floor:
            reasons.append(
                f"segment {segment}: the share of Poor satisfaction cannot fall below {best:.1%} even with full "
                f"coverage, above the floor of {floor:.1%}"
            )
    return reasons + _period_conflicts(problem)


def _period_conflicts(problem: PlanningProblem) -> list[str]:
    """Per-period budgets that cannot carry the minimum spends (by the options' spend profiles)."""
    if not problem.period_budget or not problem.segment_min_spend:
        return []
    reasons = []
    minimum = sum(problem.segment_min_spend.values())
    total = sum(problem.period_budget)
    if minimum > total:
        reasons.append(f"the period budgets add up to {_money(total)}, below the minimum spends of {_money(minimum)}")
    shares = spend_shares(problem)
    segment = np.array([o.segment for o in problem.options])
    for t, limit in enumerate(problem.period_budget):
        needed = {s: low * shares[segment == s, t].min() for s, low in problem.segment_min_spend.items()}
        if sum(needed.values()) > limit * (1 + 1e-9):
            parts = ", ".join(f"segment {s}: {_money(v)}" for s, v in needed.items() if v > 0)
            reasons.append(
                f"period {t}: the minimum spends need at least {_money(sum(needed.values()))} in this period "
                f"({parts}), above its budget of {_money(limit)}"
            )
    return reasons


def explain_rows(problem: PlanningProblem, rows: list[Row]) -> list[str]:
    """Limits that no plan can change (no option acts on them) and that fail as they stand."""
    reasons = direct_conflicts(problem)
    for row in rows:
        name = row.family + ("" if row.index is None else f"[{row.index}]")
        reasons.append(
            f"{name}: no option can change it, and as it stands ({row.constant * row.unit:,.4g}) it breaks its "
            f"limit of {row.limit * row.unit:,.4g}"
        )
    return list(dict.fromkeys(reasons))


def elastic_conflicts(problem: PlanningProblem) -> list[str]:
    """Limits an elastic copy of the model must break, smallest total (relative) breach first."""
    model = build(problem)
    limits = [(row.constraint, row.unit) for row in model.rows if not row.definitional]
    limits += [
        (c, 1.0)
        for c in model.component_data_objects(pyo.Constraint, active=True)
        if c.parent_component().name not in model.families
    ]
    model.breach = pyo.Var(range(len(limits)), within=pyo.NonNegativeReals)
    model.elastic = pyo.ConstraintList()
    weights = []
    for k, (constraint, _) in enumerate(limits):
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
    breach = result.solution_loader.get_primals(list(model.breach.values()))
    reasons = []
    for k, (constraint, unit) in enumerate(limits):
        amount = breach[model.breach[k]]
        if amount > 1e-6:
            index = constraint.index()
            name = constraint.parent_component().name + ("" if index is None else f"[{index}]")
            bound = pyo.value(constraint.upper if constraint.has_ub() else constraint.lower)
            reasons.append(f"{name} (limit {bound * unit:,.2f}) would have to give by {amount * unit:,.2f}")
    return reasons


def explain_infeasibility(problem: PlanningProblem) -> list[str]:
    """Plain reasons why no plan satisfies every limit."""
    return direct_conflicts(problem) or elastic_conflicts(problem)
