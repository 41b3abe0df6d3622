"""Solving the planning model with HiGHS and reading out the plan: allocation, binding limits, and, when
the limits cannot all hold, a plain explanation of which ones conflict (never just a solver code).

Duals come from the LP obtained by fixing the run/don't-run decisions at their optimum: the shadow price
of a binding limit is the objective's change per one more unit of it (one more unit of money, of contacts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.contrib.appsi.solvers import Highs

from caresim.optimize.build import build
from caresim.optimize.explain import explain_infeasibility
from caresim.optimize.problem import PlanningProblem

TOLERANCE = 1e-6


@dataclass
class Plan:
    """The result of planning: status, the plan, and what limits it (or why there is none)."""

    status: str
    objective: float | None = None
    total_cost: float = 0.0
    allocations: pd.DataFrame = field(default_factory=pd.DataFrame)
    running: dict[str, bool] = field(default_factory=dict)
    binding: pd.DataFrame = field(default_factory=pd.DataFrame)
    explanation: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "optimal"

    def coverage(self) -> dict[str, dict[str, float]]:
        """``{programme: {segment: share}}``: the plan in the form a ``CarePolicy`` reads."""
        policy: dict[str, dict[str, float]] = {}
        for row in self.allocations.itertuples():
            policy.setdefault(row.programme, {})[row.segment] = round(float(row.coverage), 9)
        return policy


def _solver() -> Highs:
    solver = Highs()
    solver.config.load_solution = False
    solver.config.stream_solver = False
    return solver


def solve(problem: PlanningProblem) -> Plan:
    """Build and solve; an infeasible problem gives a Plan with status "infeasible" and an explanation."""
    model = build(problem)
    result = _solver().solve(model)
    condition = result.termination_condition
    if condition in (TerminationCondition.infeasible, TerminationCondition.infeasibleOrUnbounded):
        return Plan(status="infeasible", explanation=explain_infeasibility(problem))
    if condition != TerminationCondition.optimal:
        return Plan(status=str(condition.name), explanation=[f"the solver stopped: {condition.name}"])
    result.solution_loader.load_vars()
    running = {p: bool(round(pyo.value(model.run[p]))) for p in model.P}
    binding = _binding_limits(model, running)
    return Plan(
        status="optimal",
        objective=float(pyo.value(model.objective)),
        total_cost=float(pyo.value(model.total_cost)),
        allocations=_allocations(model, problem),
        running=running,
        binding=binding,
    )


def _allocations(model: pyo.ConcreteModel, problem: PlanningProblem) -> pd.DataFrame:
    rows = []
    for o, option in enumerate(problem.options):
        coverage = float(pyo.value(model.cover[o]))
        rows.append(
            {
                "segment": option.segment,
                "programme": option.programme,
                "coverage": coverage,
                "treated": coverage * option.eligible,
                "spend": float(pyo.value(model.spend[o])),
                "value": float(pyo.value(model.value[o])),
                "retained": float(pyo.value(model.retained[o])),
                "contacts_per_month": float(pyo.value(model.contacts[o])),
            }
        )
    return pd.DataFrame(rows)


def _binding_limits(model: pyo.ConcreteModel, running: dict[str, bool]) -> pd.DataFrame:
    """Limits that hold with equality, and their shadow prices from the LP with the on/off decisions fixed."""
    for p, on in running.items():  # fixed and continuous: HiGHS sees an LP and returns duals
        model.run[p].domain = pyo.UnitInterval
        model.run[p].fix(1 if on else 0)
    result = _solver().solve(model)
    duals = {}
    if result.termination_condition == TerminationCondition.optimal:
        result.solution_loader.load_vars()
        duals = result.solution_loader.get_duals()
    sign = 1.0 if model.objective.sense == pyo.maximize else -1.0
    rows = []
    for constraint in model.component_data_objects(pyo.Constraint, active=True):
        family = constraint.parent_component().name
        if family == "runs_only_if_on":
            continue
        slack = min(constraint.lslack(), constraint.uslack())
        scale = max(1.0, abs(pyo.value(constraint.upper if constraint.has_ub() else constraint.lower)))
        if slack <= TOLERANCE * scale:
            index = constraint.index()
            rows.append(
                {
                    "constraint": family,
                    "index": "" if index is None else str(index),
                    "limit": pyo.value(constraint.upper if constraint.has_ub() else constraint.lower),
                    "shadow_price": sign * abs(duals.get(constraint, 0.0)) * (1 if constraint.has_ub() else -1),
                }
            )
    for p in running:
        model.run[p].unfix()
        model.run[p].domain = pyo.Binary
    return pd.DataFrame(rows, columns=["constraint", "index", "limit", "shadow_price"])
