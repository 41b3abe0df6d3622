"""Solving the planning model with HiGHS and reading out the plan: allocation, binding limits, predicted
outcome, and, when the limits cannot all hold, a plain explanation of which ones conflict.

The Pyomo model goes to HiGHS once, through ``handover`` (one ``passModel`` from the numpy rows ``build``
made it from; user extras through Pyomo's standard repn): Pyomo's appsi interface walked every constraint
and took longer than HiGHS itself on the benchmark. The LP relaxation is solved first (binaries in [0, 1]:
run[p], and the ordering binaries of options whose curves are not concave). With the per-piece run bounds
it is usually integral, and then it is the MILP optimum and its duals are the shadow prices. Otherwise the
MILP is solved (the same HiGHS model, the binaries made integer), then the LP with the binaries fixed (which
programmes run, which pieces are open) gives the duals. A shadow price is the objective's change per one
more unit of a limit (money, contacts, ...).

HiGHS options (``HIGHS_OPTIONS``, overridable per call): ``mip_rel_gap`` 1e-6 (plans are compared to a
few units of money); above ``LARGE`` columns the interior-point method with crossover for LPs and the MIP's
LP relaxations (dual simplex took several times longer on the 150k-column benchmark).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition

from caresim.optimize.build import build
from caresim.optimize.evaluate import METRICS, Outcome
from caresim.optimize.explain import explain_infeasibility, explain_rows
from caresim.optimize.handover import HighsModel
from caresim.optimize.layout import Layout
from caresim.optimize.problem import PlanningProblem

TOLERANCE = 1e-6
INTEGRAL = 1e-6
HIGHS_OPTIONS: dict[str, object] = {"mip_rel_gap": 1e-6}
LARGE = 20_000
LARGE_OPTIONS: dict[str, object] = {"solver": "ipm", "mip_lp_solver": "ipm"}
INFEASIBLE = (TerminationCondition.infeasible, TerminationCondition.infeasibleOrUnbounded)


@dataclass
class Plan:
    """The result of planning: status, the plan, what limits it, the predicted outcome (or why there is none).

    ``predicted``: one row per metric (net_value, value, retained, loyal, cost), columns mean, low, high.
    ``notes``: remarks on an optimal plan (pieces filled out of order, possible only through
    ``extra_constraints``: every other reason gets ordering binaries).
    ``timings``: seconds spent building the Pyomo model (``build``), solving (``solve``: the ``handover`` to
    HiGHS, then ``highs``, its runs), reading the plan (``read``).
    """

    status: str
    objective: float | None = None
    total_cost: float = 0.0
    allocations: pd.DataFrame = field(default_factory=pd.DataFrame)
    running: dict[str, bool] = field(default_factory=dict)
    binding: pd.DataFrame = field(default_factory=pd.DataFrame)
    explanation: list[str] = field(default_factory=list)
    predicted: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "optimal"

    def coverage(self) -> dict[str, dict[str, float]]:
        """``{programme: {segment: share}}``: the plan in the form a ``CarePolicy`` reads."""
        policy: dict[str, dict[str, float]] = {}
        for programme, segment, share in zip(
            self.allocations["programme"], self.allocations["segment"], self.allocations["coverage"], strict=True
        ):
            policy.setdefault(programme, {})[segment] = round(float(share), 9)
        return policy


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: the model is hundreds of thousands of small objects, and
    collections triggered while creating them cost about a third of the build time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def solve(problem: PlanningProblem, highs_options: dict[str, object] | None = None) -> Plan:
    """Build and solve; an infeasible problem gives a Plan with status "infeasible" and an explanation.
    ``highs_options`` override ``HIGHS_OPTIONS`` (e.g. ``{"time_limit": 60}``)."""
    with _no_gc():
        return _solve(problem, highs_options)


def _solve(problem: PlanningProblem, highs_options: dict[str, object] | None) -> Plan:
    if not problem.options:
        return Plan(status="no_options", explanation=["there are no care options to choose from"])
    started = time.perf_counter()
    model = build(problem)
    built = time.perf_counter()
    if model.failed_rows:
        return Plan(status="infeasible", explanation=explain_rows(problem, model.failed_rows))
    layout: Layout = model.layout
    options = {**HIGHS_OPTIONS, **(LARGE_OPTIONS if layout.n_columns > LARGE else {}), **(highs_options or {})}
    binary = np.arange(layout.n_d, layout.n_d + layout.n_binaries)  # run[p], then the ordering binaries
    highs = HighsModel(model, options, relax=binary)  # the LP relaxation (the whole problem without binaries)
    handed = time.perf_counter()
    condition = highs.run()
    if condition != TerminationCondition.optimal:
        return _failed(problem, condition)
    x = highs.values(len(model.columns))
    on = x[binary]
    if np.any(np.abs(on - np.round(on)) > INTEGRAL):  # fractional: solve the MILP, then fix for the duals
        highs.set_columns(binary, np.zeros(len(binary)), np.ones(len(binary)), integer=True)
        condition = highs.run()
        if condition != TerminationCondition.optimal:
            return _failed(problem, condition)
        on = np.round(highs.values(len(model.columns))[binary])
        highs.set_columns(binary, on, on, integer=False)
        condition = highs.run()
        if condition != TerminationCondition.optimal:
            return _failed(problem, condition)
        x = highs.values(len(model.columns))
    solved = time.perf_counter()
    plan = _plan(problem, model, highs, x, np.round(on[: len(layout.run_programmes)]).astype(bool))
    plan.timings = {
        "build": built - started,
        "solve": solved - built,
        "handover": handed - built,
        "highs": solved - handed,
        "read": time.perf_counter() - solved,
    }
    return plan


def _failed(problem: PlanningProblem, condition: TerminationCondition) -> Plan:
    if condition in INFEASIBLE:
        return Plan(status="infeasible", explanation=explain_infeasibility(problem))
    return Plan(status=str(condition.name), explanation=[f"the solver stopped: {condition.name}"])


def _plan(problem: PlanningProblem, model: pyo.ConcreteModel, highs: HighsModel, x: np.ndarray, on: np.ndarray) -> Plan:
    layout: Layout = model.layout
    cover = np.bincount(layout.col_option, weights=x[: layout.n_d], minlength=layout.n_options)
    running = np.bincount(layout.programme, weights=cover, minlength=len(layout.programmes)) > 1e-9
    for p, value in zip(layout.run_programmes, on, strict=True):
        running[layout.programmes.index(p)] = value
    outcome = Outcome(layout, cover, running)
    predicted = pd.DataFrame.from_dict(outcome.predicted(), orient="index").loc[list(METRICS)]
    objective = highs.objective * model.objective_unit
    return Plan(
        status="optimal",
        objective=objective,
        total_cost=outcome.cost,
        allocations=outcome.allocations(),
        running=dict(zip(layout.programmes, running.tolist(), strict=True)),
        binding=_binding_limits(model, highs, x),
        predicted=predicted,
        notes=_out_of_order(layout, x, outcome, objective),
    )


def _binding_limits(model: pyo.ConcreteModel, highs: HighsModel, x: np.ndarray) -> pd.DataFrame:
    """Limits that hold with equality, in natural units, with their shadow prices."""
    sign = 1.0 if model.objective.sense == pyo.maximize else -1.0
    binding = []  # (family, index, limit in model units, row unit, has upper bound, constraint)
    for row in model.rows:
        if row.definitional or not row.constraint.active:  # an extra may deactivate a limit to replace it
            continue
        activity = row.constant + float(row.coefs @ x[row.columns])
        bound = row.upper if row.upper is not None else row.lower
        if abs(activity - bound) <= TOLERANCE * max(1.0, abs(bound)):
            binding.append((row.family, row.index, bound, row.unit, row.upper is not None, row.constraint))
    if highs.extras:  # constraints from extra_constraints: their slacks from the loaded values
        highs.load()
    for constraint in highs.extras:
        slack = min(constraint.lslack(), constraint.uslack())
        bound = pyo.value(constraint.upper if constraint.has_ub() else constraint.lower)
        if slack <= TOLERANCE * max(1.0, abs(bound)):
            name = constraint.parent_component().name
            binding.append((name, constraint.index(), bound, 1.0, constraint.has_ub(), constraint))
    duals = highs.duals([item[-1] for item in binding])
    rows = [
        {
            "constraint": family,
            "index": "" if index is None else str(index),
            "limit": bound * unit,
            "shadow_price": sign * abs(dual) * (1 if upper else -1) * model.objective_unit / unit,
        }
        for (family, index, bound, unit, upper, _), dual in zip(binding, duals, strict=True)
    ]
    return pd.DataFrame(rows, columns=["constraint", "index", "limit", "shadow_price"])


def _out_of_order(layout: Layout, x: np.ndarray, outcome: Outcome, objective: float) -> list[str]:
    """A note when a later piece of an option is used before an earlier one is full and the model's objective
    is not what the chosen coverage is worth in order (possible only through ``extra_constraints``)."""
    d, width = x[: layout.n_d], layout.width[layout.kept]
    same = layout.col_option[1:] == layout.col_option[:-1]
    wrong = same & (d[1:] > 1e-7) & (d[:-1] < width[:-1] - 1e-7)
    if not wrong.any():
        return []
    in_order = outcome.objective()
    if abs(in_order - objective) <= 1e-6 * max(1.0, abs(objective), abs(in_order)):
        return []  # out of order only across pieces that are worth the same
    options = sorted({int(o) for o in layout.col_option[1:][wrong]})
    names = ", ".join(f"{layout.problem.options[o].segment}/{layout.problem.options[o].programme}" for o in options[:3])
    return [
        f"{len(options)} option(s) filled a later response piece before an earlier one ({names}): the model's "
        f"objective {objective:,.6g} is {in_order:,.6g} at the chosen coverage in order, which the predicted "
        "outcome reports"
    ]
