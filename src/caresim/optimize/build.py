"""Building the Pyomo model: variables, then each family of constraints from a small named function.

Coverage of each option is the sum of its piece variables ``d[j]`` (each at most the piece's width); with
concave response curves, filling pieces in order is optimal, so no binaries are needed for them; an option
whose curves are not concave gets ordering binaries ``order[i]`` (see ``layout``) and the rows
``fill_in_order`` that make its pieces fill in order. One binary ``run[p]`` per programme with a fixed
cost pays it; each piece of such a programme is at most its width times ``run[p]`` (a variable upper bound
per piece: the tight formulation, whose LP relaxation is usually integral, where one coverage ≤ run row per
option left a gap that HiGHS spent seconds closing).

The model is in model units (``layout.units``): every row is built from numpy arrays (``layout.Row``) and
turned into a Pyomo ``LinearExpression`` directly; each family's arrays stay on the model (``model.blocks``,
``model.objective_arrays``) for ``handover``, which sends them to HiGHS in bulk. Extra constraints
``f(model, problem)`` may use ``model.cover[o]``, ``model.spend[o]``, ``model.value[o]``, ``model.retained[o]``,
``model.loyal[o]``, ``model.contacts[o]`` and ``model.poor_reduction[o]`` (option ``o``'s quantity in natural
units: money, subscribers, contacts); to change a built-in limit, deactivate it and add your own.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression
from pyomo.core.expr.relational_expr import InequalityExpression

from caresim.optimize.handover import Block
from caresim.optimize.layout import Layout, Row
from caresim.optimize.problem import PlanningProblem

RowFamily = Callable[[Layout, PlanningProblem], list[Row]]


def linear(variables: list, columns: np.ndarray, coefs: np.ndarray, constant: float = 0.0) -> LinearExpression:
    """``constant + coefs · variables[columns]`` as one LinearExpression (zero coefficients dropped)."""
    keep = coefs != 0
    terms: list = [
        MonomialTermExpression((c, variables[i]))
        for c, i in zip(coefs[keep].tolist(), columns[keep].tolist(), strict=True)
    ]
    if constant:
        terms.append(float(constant))
    return LinearExpression(terms)


class OptionTerms:
    """``model.<quantity>[o]``: option ``o``'s quantity as a linear expression in natural units."""

    def __init__(self, model: pyo.ConcreteModel, per_column: np.ndarray) -> None:
        self._model, self._per_column = model, per_column

    def __getitem__(self, o: int) -> LinearExpression:
        columns = self._model.layout.option_columns(o)
        return linear(self._model.columns, columns, self._per_column[columns])


def _variables(model: pyo.ConcreteModel, layout: Layout) -> None:
    widths = layout.width[layout.kept].tolist()
    model.d = pyo.Var(range(layout.n_d), bounds=lambda m, j: (0.0, widths[j]))
    model.run = pyo.Var(layout.run_programmes, within=pyo.Binary)
    model.order = pyo.Var(range(len(layout.order_pieces)), within=pyo.Binary)
    columns = [*model.d.values(), *model.run.values(), *model.order.values()]
    if layout.cvar:
        model.eta = pyo.Var()
        model.z = pyo.Var(range(layout.n_samples), within=pyo.NonNegativeReals)
        columns += [model.eta, *model.z.values()]
    model.columns = columns
    kept, option = layout.kept, layout.col_option
    model.cover = OptionTerms(model, np.ones(layout.n_d))
    model.spend = OptionTerms(model, layout.spend[option])
    model.contacts = OptionTerms(model, layout.contacts[option])
    model.value = OptionTerms(model, layout.value_slope[kept])
    model.retained = OptionTerms(model, layout.retained_slope[kept])
    model.loyal = OptionTerms(model, layout.loyal_slope[kept])
    model.poor_reduction = OptionTerms(model, layout.poor_slope[kept])


def add_rows(model: pyo.ConcreteModel, family: str, rows: list[Row]) -> None:
    """Rows as the Pyomo constraint ``model.<family>`` (indexed by the rows' indices, scalar for one row
    with index None). A row without variables is only checked: if it fails, the model is infeasible."""
    model.families.add(family)
    live = []
    for row in rows:
        if len(row.columns) and np.any(row.coefs != 0):
            live.append(row)
        elif not _holds(row):
            model.failed_rows.append(row)
    if not live:
        return
    model.rows.extend(live)
    variables = model.columns

    def body(row: Row) -> tuple:
        return (row.lower, linear(variables, row.columns, row.coefs, row.constant), row.upper)

    if len(live) == 1 and live[0].index is None:
        model.add_component(family, pyo.Constraint(expr=body(live[0])))
        component = live[0].constraint = getattr(model, family)
    else:
        by_index = {row.index: row for row in live}
        component = pyo.Constraint(list(by_index), rule=lambda m, i: body(by_index[i]))
        model.add_component(family, component)
        live = list(by_index.values())
        for row in live:
            row.constraint = component[row.index]
    model.blocks.append(
        Block.from_rows(
            component,
            [row.constraint for row in live],
            [row.columns for row in live],
            [row.coefs for row in live],
            [None if row.lower is None else row.lower - row.constant for row in live],
            [None if row.upper is None else row.upper - row.constant for row in live],
        )
    )


def _holds(row: Row) -> bool:
    tolerance = 1e-9 * max(1.0, abs(row.limit))
    low_ok = row.lower is None or row.constant >= row.lower - tolerance
    return low_ok and (row.upper is None or row.constant <= row.upper + tolerance)


def _money_row(layout: Layout, columns: np.ndarray, per_column: np.ndarray, fixed: np.ndarray | None) -> tuple:
    """Columns and model-unit coefficients of a money row: variable spend, plus fixed costs if given."""
    coefs = per_column / layout.units.money
    if fixed is None or not layout.run_programmes:
        return columns, coefs
    run_columns, run_coefs = layout.run_terms(fixed / layout.units.money)
    return np.concatenate([columns, run_columns]), np.concatenate([coefs, run_coefs])


def run_bounds(layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-piece run bounds d[j] - width[j] * run[p] <= 0: piece columns, run columns, widths."""
    if not layout.run_programmes:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0)
    names = np.array(layout.programmes, dtype=object)[layout.programme[layout.col_option]]
    pieces = np.flatnonzero(np.isin(names, layout.run_programmes))
    runs = np.array([layout.run_column[p] for p in names[pieces]], dtype=int)
    return pieces, runs, layout.width[layout.kept][pieces]


def runs_only_if_on(model: pyo.ConcreteModel, problem: PlanningProblem) -> None:
    """A piece is covered only if its programme runs (and pays its fixed cost): d[j] <= width[j] * run[p]."""
    pieces, runs, widths = run_bounds(model.layout)
    if not len(pieces):
        return
    x = model.columns
    bodies = [
        InequalityExpression(
            (LinearExpression([MonomialTermExpression((1.0, x[j])), MonomialTermExpression((-w, x[r]))]), 0.0),
            False,
        )
        for j, r, w in zip(pieces.tolist(), runs.tolist(), widths.tolist(), strict=True)
    ]
    model.families.add("runs_only_if_on")
    model.runs_only_if_on = pyo.Constraint(range(len(bodies)), rule=lambda m, i: bodies[i])
    n = len(pieces)
    columns = np.column_stack([pieces, runs]).astype(np.int32).ravel()
    model.blocks.append(
        Block(
            model.runs_only_if_on,
            list(model.runs_only_if_on.values()),
            np.arange(0, 2 * n + 1, 2),
            columns,
            np.column_stack([np.ones(n), -widths]).ravel(),
            np.full(n, -np.inf),
            np.zeros(n),
        )
    )


def fill_in_order(layout: Layout, problem: PlanningProblem) -> list[Row]:
    """Pieces of an option with ordering binaries fill in order: ``d[k] >= w[k] y[k]`` (row 2i) and
    ``d[k+1] <= w[k+1] y[k]`` (row 2i + 1), so a piece is used only once the one before it is full."""
    widths = layout.width[layout.kept]
    rows = []
    for i, (j, y) in enumerate(zip(layout.order_pieces.tolist(), layout.order_columns.tolist(), strict=True)):
        full = np.array([j, y])
        rows.append(Row("fill_in_order", 2 * i, full, np.array([1.0, -widths[j]]), lower=0.0, definitional=True))
        after = np.array([j + 1, y])
        rows.append(
            Row("fill_in_order", 2 * i + 1, after, np.array([1.0, -widths[j + 1]]), upper=0.0, definitional=True)
        )
    return rows


def budget(layout: Layout, problem: PlanningProblem) -> list[Row]:
    """Total spend, variable and fixed, within the budget."""
    columns, coefs = _money_row(layout, np.arange(layout.n_d), layout.spend[layout.col_option], layout.fixed)
    row = Row("budget", None, columns, coefs, upper=problem.budget / layout.units.money, unit=layout.units.money)
    return [row]


def spend_shares(problem: PlanningProblem) -> np.ndarray:
    """Options × periods: each option's share of variable spend per period (even when not given)."""
    periods = len(problem.period_budget)
    even = np.full(periods, 1 / periods) if periods else np.zeros(0)
    return np.array([o.spend_profile if o.spend_profile else even for o in problem.options], dtype=float)


def period_budget(layout: Layout, problem: PlanningProblem) -> list[Row]:
    """Spend in each period within its budget: variable spend by the spend profile, fixed cost evenly."""
    periods = len(problem.period_budget)
    if not periods:
        return []
    shares, unit = spend_shares(problem), layout.units.money
    rows = []
    for t, limit in enumerate(problem.period_budget):
        per_column = layout.spend[layout.col_option] * shares[layout.col_option, t]
        columns, coefs = _money_row(layout, np.arange(layout.n_d), per_column, layout.fixed / periods)
        rows.append(Row("period_budget", t, columns, coefs, upper=limit / unit, unit=unit))
    return rows


def segment_spend(layout: Layout, problem: PlanningProblem) -> list[Row]:
    """Minimum and maximum variable spend per segment."""
    groups, unit = layout.groups(layout.segment), layout.units.money
    rows = []
    for family, limits, side in (
        ("segment_min_spend", problem.segment_min_spend, "lower"),
        ("segment_max_spend", problem.segment_max_spend, "upper"),
    ):
        for segment, limit in limits.items():
            columns = groups.get(layout.segments.index(segment), np.zeros(0, dtype=int))
            coefs = layout.spend[layout.col_option[columns]] / unit
            rows.append(Row(family, segment, columns, coefs, unit=unit, **{side: limit / unit}))
    return rows


def channel_capacity(layout: Layout, problem: PlanningProblem) -> list[Row]:
    """Care contacts per month through each channel within its capacity (hotline hours, store staff, SMS)."""
    groups, unit = layout.groups(layout.channel), layout.units.contacts
    rows = []
    for channel, capacity in problem.channel_capacity.items():
        columns = groups.get(channel, np.zeros(0, dtype=int))
        coefs = layout.contacts[layout.col_option[columns]] / unit
        rows.append(Row("channel_capacity", channel, columns, coefs, upper=capacity / unit, unit=unit))
    return rows


def programme_capacity(layout: Layout, problem: PlanningProblem) -> list[Row]:
    """Care contacts per month of each programme, over its segments, within the programme's own capacity."""
    groups, unit = layout.groups(layout.programme), layout.units.contacts
    rows = []
    for programme, capacity in problem.programme_capacity.items():
        columns = groups.get(layout.programmes.index(programme), np.zeros(0, dtype=int))
        coefs = layout.contacts[layout.col_option[columns]] / unit
        rows.append(Row("programme_capacity", programme, columns, coefs, upper=capacity / unit, unit=unit))
    return rows


def contact_policy(layout: Layout, problem: PlanningProblem) -> list[Row]:
    """At most k care contacts per subscriber per month, on average over each segment."""
    limit = problem.max_contacts_per_subscriber_month
    if limit is None:
        return []
    groups, unit = layout.groups(layout.segment), layout.units.contacts
    rows = []
    for s, segment in enumerate(layout.segments):
        size = problem.segment_size.get(segment, 0)
        if size > 0:
            columns = groups.get(s, np.zeros(0, dtype=int))
            coefs = layout.contacts[layout.col_option[columns]] / unit
            rows.append(Row("contact_policy", segment, columns, coefs, upper=limit * size / unit, unit=unit))
    return rows


def service_floor(layout: Layout, problem: PlanningProblem) -> list[Row]:
    """The share of Poor satisfaction in a segment at most its floor (domain.md's success rule)."""
    groups = layout.groups(layout.segment)
    rows = []
    for segment, floor in problem.max_poor_share.items():
        columns = groups.get(layout.segments.index(segment), np.zeros(0, dtype=int))
        coefs = -layout.poor_slope[layout.kept[columns]]
        today = problem.poor_share.get(segment, 0.0)
        rows.append(Row("service_floor", segment, columns, coefs, upper=floor, constant=today))
    return rows


def retention_target(layout: Layout, problem: PlanningProblem) -> list[Row]:
    """For "min_cost": retain at least the target number of subscribers."""
    if problem.objective != "min_cost":
        return []
    unit = layout.units.subscribers
    coefs = layout.retained_slope[layout.kept] / unit
    target = problem.retention_target / unit
    row = Row("retention_target", "all", np.arange(layout.n_d), coefs, lower=target, unit=unit)
    return [row]


LIMITS: tuple[RowFamily, ...] = (
    budget,
    period_budget,
    segment_spend,
    channel_capacity,
    programme_capacity,
    contact_policy,
    service_floor,
    retention_target,
)


def limit_rows(layout: Layout, problem: PlanningProblem) -> list[Row]:
    """Every limit's row, the rows that fill pieces in order, and the CVaR rows when the risk measure is
    CVaR (numpy only, no Pyomo)."""
    rows = [row for family in LIMITS for row in family(layout, problem)]
    return rows + fill_in_order(layout, problem) + (cvar_tail(layout, problem) if layout.cvar else [])


def _outcome_terms(layout: Layout, problem: PlanningProblem, slopes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns and model-unit coefficients of the objective's quantity with per-piece ``slopes`` (natural)."""
    columns = np.arange(layout.n_d)
    if problem.objective != "net_value":
        return columns, slopes[layout.kept] / layout.units.subscribers
    gain = slopes[layout.kept] - layout.spend[layout.col_option]
    return _money_row(layout, columns, gain, -layout.fixed)


def cvar_tail(layout: Layout, problem: PlanningProblem) -> list[Row]:
    """z[s] >= eta - outcome[s]: the shortfall of each sample below the threshold eta (Rockafellar–Uryasev)."""
    samples = layout.samples[layout.quantity]
    if samples is None:  # the objective's curve has no samples: every sample repeats the expected curve
        samples = np.repeat(layout.slope[layout.quantity][None, :], layout.n_samples, axis=0)
    rows = []
    for s in range(layout.n_samples):
        columns, coefs = _outcome_terms(layout, problem, samples[s])
        columns = np.concatenate([columns, [layout.eta_column, layout.z_columns[s]]])
        coefs = np.concatenate([coefs, [-1.0, 1.0]])
        rows.append(Row("cvar_tail", s, columns, coefs, lower=0.0, definitional=True))
    return rows


def objective_terms(layout: Layout, problem: PlanningProblem) -> tuple[np.ndarray, np.ndarray, int]:
    """Columns, model-unit coefficients and sense of the objective: net value (value − cost), retained
    subscribers, loyal subscribers gained, or cost to reach the retention target; for ``risk="cvar"``
    eta − Σ w_s z_s / alpha."""
    if problem.objective == "min_cost":
        columns, coefs = _money_row(layout, np.arange(layout.n_d), layout.spend[layout.col_option], layout.fixed)
        return columns, coefs, pyo.minimize
    if layout.cvar:
        columns = np.concatenate([[layout.eta_column], layout.z_columns])
        return columns, np.concatenate([[1.0], -layout.weights / problem.cvar_alpha]), pyo.maximize
    return (*_outcome_terms(layout, problem, layout.slope[layout.quantity]), pyo.maximize)


def build(problem: PlanningProblem) -> pyo.ConcreteModel:
    """The Pyomo model of ``problem``: variables, every constraint family, user extras, objective."""
    problem.validate()
    layout = Layout(problem)
    model = pyo.ConcreteModel(name="care_plan")
    model.layout = layout
    model.rows, model.failed_rows, model.families, model.blocks = [], [], set(), []
    _variables(model, layout)
    runs_only_if_on(model, problem)
    families: dict[str, list[Row]] = {}
    for row in limit_rows(layout, problem):
        families.setdefault(row.family, []).append(row)
    for family, rows in families.items():
        add_rows(model, family, rows)
    for extra in problem.extra_constraints:
        extra(model, problem)
    columns, coefs, sense = objective_terms(layout, problem)
    model.objective_unit = layout.objective_unit
    model.objective = pyo.Objective(expr=linear(model.columns, columns, coefs), sense=sense)
    model.objective_arrays = (columns, coefs, 0.0)
    return model
