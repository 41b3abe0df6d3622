"""The Pyomo model handed to HiGHS (highspy) as one sparse matrix, and HiGHS's answer read back by row and column.

``build`` makes each of its constraint families from numpy rows and attaches them to the model as a
``Block`` (the family's Pyomo component, one constraint per row, the rows in CSR form); its objective
likewise (``model.objective_arrays``). The hand-over sends those arrays in bulk, keeping the rows whose Pyomo
constraints are active; every other active constraint (user extras) and objective goes through Pyomo's
standard repn. Variables, in Pyomo's declaration order, carry the bounds, fixed values and domains read
from the Pyomo variables, so what an extra constraint function changed there holds. Rows and columns are
in the order Pyomo's appsi interface used (component by component, in declaration order), so HiGHS sees
the same matrix it saw through appsi, without appsi's per-constraint walk (seconds at 90k rows).

Built-in constraints are handed over as ``build`` made them: to change one, an extra constraint function
deactivates it and adds its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.tee import capture_output
from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.repn import generate_standard_repn

INF = highspy.kHighsInf
CONTINUOUS, INTEGER = highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger

#: HiGHS's model status as Pyomo's (appsi) termination condition
CONDITIONS = {
    highspy.HighsModelStatus.kNotset: TerminationCondition.unknown,
    highspy.HighsModelStatus.kLoadError: TerminationCondition.error,
    highspy.HighsModelStatus.kModelError: TerminationCondition.error,
    highspy.HighsModelStatus.kPresolveError: TerminationCondition.error,
    highspy.HighsModelStatus.kSolveError: TerminationCondition.error,
    highspy.HighsModelStatus.kPostsolveError: TerminationCondition.error,
    highspy.HighsModelStatus.kModelEmpty: TerminationCondition.unknown,
    highspy.HighsModelStatus.kOptimal: TerminationCondition.optimal,
    highspy.HighsModelStatus.kInfeasible: TerminationCondition.infeasible,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: TerminationCondition.infeasibleOrUnbounded,
    highspy.HighsModelStatus.kUnbounded: TerminationCondition.unbounded,
    highspy.HighsModelStatus.kObjectiveBound: TerminationCondition.objectiveLimit,
    highspy.HighsModelStatus.kObjectiveTarget: TerminationCondition.objectiveLimit,
    highspy.HighsModelStatus.kTimeLimit: TerminationCondition.maxTimeLimit,
    highspy.HighsModelStatus.kIterationLimit: TerminationCondition.maxIterations,
    highspy.HighsModelStatus.kSolutionLimit: TerminationCondition.maxIterations,
    highspy.HighsModelStatus.kUnknown: TerminationCondition.unknown,
}


@dataclass
class Block:
    """One Pyomo constraint component made from numpy rows: row ``r`` is
    ``lower[r] <= coefs[start[r]:start[r+1]] · x[columns[start[r]:start[r+1]]] <= upper[r]`` (constants moved
    into the bounds, ±inf for no bound), and ``data[r]`` is its Pyomo constraint."""

    component: object
    data: list
    start: np.ndarray
    columns: np.ndarray
    coefs: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def from_rows(
        cls, component, data: list, columns: list[np.ndarray], coefs: list[np.ndarray], lower: list, upper: list
    ) -> Block:
        """From per-row column and coefficient arrays and bounds (None: no bound), zero coefficients dropped
        (as ``build.linear`` drops them)."""
        lengths = np.fromiter((len(c) for c in columns), int, len(columns))
        flat_columns = np.concatenate(columns) if columns else np.zeros(0, dtype=int)
        flat_coefs = np.concatenate(coefs) if coefs else np.zeros(0)
        keep = flat_coefs != 0
        row = np.repeat(np.arange(len(columns)), lengths)[keep]
        start = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=len(columns)))])
        low = np.array([-INF if b is None else b for b in lower], dtype=float)
        up = np.array([INF if b is None else b for b in upper], dtype=float)
        return cls(component, data, start, flat_columns[keep].astype(np.int32), flat_coefs[keep], low, up)

    def rows(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Row lengths, columns, coefficients, lower and upper bounds of the active rows."""
        lengths = np.diff(self.start)
        if active.all():
            return lengths, self.columns, self.coefs, self.lower, self.upper
        entries = np.repeat(active, lengths)
        return lengths[active], self.columns[entries], self.coefs[entries], self.lower[active], self.upper[active]


def _integer(domain, cache: dict[int, bool]) -> bool:
    """Whether a Pyomo domain is integer (step 1) or continuous (step 0), cached by domain."""
    key = id(domain)
    if key not in cache:
        step = domain.get_interval()[2]
        if step not in (0, 1):
            raise ValueError(f"unrecognised domain step {step} (HiGHS takes continuous or integer variables)")
        cache[key] = step == 1
    return cache[key]


Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # lengths, columns, coefs, lower, upper


class HighsModel:
    """A Pyomo model in a ``highspy.Highs``: ``columns`` (every Pyomo variable, declaration order), ``constraints``
    (the active constraints, row order), ``extras`` (those not from a ``Block``), and the run's results."""

    def __init__(self, model: pyo.ConcreteModel, options: dict[str, object], relax: np.ndarray | None = None) -> None:
        """Hand ``model`` over with HiGHS ``options``; columns ``relax`` (indices) go over continuous."""
        self.columns: list = []
        for component in model.component_objects(pyo.Var, descend_into=True):
            self.columns += component.values()
        self._column_of: dict[int, int] | None = None  # id(variable) -> column, made when a repn needs it
        self.constraints: list = []
        self.extras: list = []
        rows = self._rows(model)
        with capture_output(capture_fd=True):  # HiGHS's banner, printed once per process on the first Highs()
            self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        for key, value in options.items():
            self.highs.setOptionValue(key, value)
        self._pass(model, relax, rows)

    def _rows(self, model: pyo.ConcreteModel) -> list[Rows]:
        """The active constraints, component by component: a ``Block``'s arrays, or a repn per constraint."""
        blocks = {id(b.component): b for b in getattr(model, "blocks", [])}
        rows = []
        for component in model.component_objects(pyo.Constraint, active=True, descend_into=True):
            block = blocks.get(id(component))
            if block is not None and block.component is component:
                active = np.fromiter((c.active for c in block.data), bool, len(block.data))
                rows.append(block.rows(active))
                self.constraints += block.data if active.all() else list(np.array(block.data, dtype=object)[active])
                continue
            for constraint in component.values():
                if constraint.active:
                    columns, coefs, constant = self._repn(constraint.body)
                    low, up = constraint.lower, constraint.upper
                    lower = -INF if low is None else pyo.value(low) - constant
                    upper = INF if up is None else pyo.value(up) - constant
                    rows.append((np.array([len(columns)]), columns, coefs, np.array([lower]), np.array([upper])))
                    self.constraints.append(constraint)
                    self.extras.append(constraint)
        return rows

    def _repn(self, expression) -> tuple[np.ndarray, np.ndarray, float]:
        """Columns, coefficients and constant of a linear Pyomo expression."""
        repn = generate_standard_repn(expression, quadratic=False, compute_values=True)
        if repn.nonlinear_expr is not None:
            raise ValueError(f"HiGHS takes linear constraints and objectives only: {expression}")
        if self._column_of is None:
            self._column_of = {id(v): j for j, v in enumerate(self.columns)}
        columns = np.fromiter((self._column_of[id(v)] for v in repn.linear_vars), np.int32, len(repn.linear_vars))
        return columns, np.array(repn.linear_coefs, dtype=float), float(repn.constant)

    def _pass(self, model: pyo.ConcreteModel, relax: np.ndarray | None, rows: list[Rows]) -> None:
        """One ``passModel``: columns with bounds and types, the rows (row-wise), the objective."""
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = len(self.columns), len(self.constraints)
        lp.col_lower_, lp.col_upper_, integer = self._column_bounds(relax)
        if integer.any():  # else an LP
            lp.integrality_ = [INTEGER if i else CONTINUOUS for i in integer.tolist()]
        empty = (np.zeros(0, dtype=int), np.zeros(0, dtype=np.int32), np.zeros(0), np.zeros(0), np.zeros(0))
        parts = [np.concatenate(part) for part in zip(*rows, strict=True)] if rows else empty
        lengths, columns, coefs, lower, upper = parts
        lp.row_lower_, lp.row_upper_ = lower, upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum(lengths)])
        lp.a_matrix_.index_, lp.a_matrix_.value_ = columns, coefs
        cost, offset, sense = self._objective(model, len(self.columns))
        lp.col_cost_, lp.offset_ = cost, offset
        lp.sense_ = highspy.ObjSense.kMaximize if sense == pyo.maximize else highspy.ObjSense.kMinimize
        if self.highs.passModel(lp) == highspy.HighsStatus.kError:
            raise ValueError("HiGHS refused the model (see its checks of bounds and coefficients)")

    def _column_bounds(self, relax: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lower and upper bounds (a fixed variable at its value) and whether each column is integer."""
        n, cache = len(self.columns), {}
        lower, upper = np.empty(n), np.empty(n)
        integer = np.zeros(n, dtype=bool)
        for j, v in enumerate(self.columns):
            if v.fixed:
                lower[j] = upper[j] = v.value
            else:
                low, up = v.bounds
                lower[j] = -INF if low is None else low
                upper[j] = INF if up is None else up
            integer[j] = _integer(v.domain, cache)
        if relax is not None:
            integer[relax] = False
        return lower, upper, integer

    def _objective(self, model: pyo.ConcreteModel, n: int) -> tuple[np.ndarray, float, object]:
        objectives = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
        if len(objectives) > 1:
            raise ValueError(f"the model has {len(objectives)} active objectives; HiGHS takes one")
        cost = np.zeros(n)
        if not objectives:
            return cost, 0.0, pyo.minimize
        objective = objectives[0]
        arrays = getattr(model, "objective_arrays", None)
        if arrays is not None and objective is getattr(model, "objective", None):
            columns, coefs, constant = arrays
        else:
            columns, coefs, constant = self._repn(objective.expr)
        np.add.at(cost, columns, coefs)
        return cost, constant, objective.sense

    # changes between runs, the run, and what it found
    def set_columns(self, columns: np.ndarray, lower: np.ndarray, upper: np.ndarray, integer: bool) -> None:
        """New bounds and integrality of ``columns`` (as appsi sent a variable update: bounds, then type)."""
        self.highs.changeColsBounds(len(columns), columns, lower.astype(float), upper.astype(float))
        kind = INTEGER if integer else CONTINUOUS
        self.highs.changeColsIntegrality(len(columns), columns, np.full(len(columns), kind))

    def run(self) -> TerminationCondition:
        """Run HiGHS; its model status as a termination condition."""
        self.highs.run()
        return CONDITIONS.get(self.highs.getModelStatus(), TerminationCondition.unknown)

    @property
    def objective(self) -> float:
        return float(self.highs.getInfo().objective_function_value)

    def values(self, n: int | None = None) -> np.ndarray:
        """Primal values of the first ``n`` columns (all by default)."""
        return np.asarray(self.highs.getSolution().col_value)[:n]

    def duals(self, constraints: list) -> list[float]:
        """Row duals of ``constraints`` (HiGHS's sign convention, as appsi returned them)."""
        row = {id(c): r for r, c in enumerate(self.constraints)} if constraints else {}
        duals = np.asarray(self.highs.getSolution().row_dual)
        return [float(duals[row[id(c)]]) for c in constraints]

    def load(self) -> None:
        """The solution's values into the Pyomo variables."""
        for v, value in zip(self.columns, self.values().tolist(), strict=True):
            v.set_value(value, skip_validation=True)
