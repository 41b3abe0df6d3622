"""Baseline plans that spend the same money as the optimised plan, and their predicted outcomes.

- ``no_care``: nothing.
- ``even_spread``: every option at the same coverage (programmes dropped, dearest fixed cost first, while
  their fixed costs alone exceed the money).
- ``churn_risk_first``: segments in order of churn under no care, each one's options covered fully
  (catalogue order) before the next segment gets anything.
- ``value_first``: the same, in order of margin per subscriber-month.

Predictions evaluate the same response curves the optimiser used, linearly between breakpoints.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from caresim.optimize import Option, PlanningProblem
from caresim.optimize.evaluate import Outcome, coverage_vector
from caresim.optimize.layout import Layout
from caresim.results.intervals import t_interval

Coverage = dict[str, dict[str, float]]


def _cost(option: Option, share: float) -> float:
    return option.cost_per_treated * option.eligible * share


def even_spread(problem: PlanningProblem, money: float) -> Coverage:
    """One coverage share for every option, spending ``money`` (fixed costs included)."""
    programmes = sorted({o.programme for o in problem.options}, key=lambda p: problem.fixed_cost.get(p, 0.0))
    while programmes and sum(problem.fixed_cost.get(p, 0.0) for p in programmes) > money:
        programmes.pop()
    chosen = [o for o in problem.options if o.programme in programmes]
    variable = sum(_cost(o, 1.0) for o in chosen)
    left = money - sum(problem.fixed_cost.get(p, 0.0) for p in programmes)
    share = min(left / variable, 1.0) if variable > 0 else 0.0
    coverage: Coverage = {}
    for o in chosen:
        coverage.setdefault(o.programme, {})[o.segment] = min(share, o.coverage[-1])
    return coverage


def segments_first(problem: PlanningProblem, money: float, order: list[str]) -> Coverage:
    """Options of the segments in ``order`` covered fully, one segment after another, until ``money`` is spent."""
    coverage: Coverage = {}
    left, running = money, set()
    for segment in order:
        for o in (o for o in problem.options if o.segment == segment):
            fixed = 0.0 if o.programme in running else problem.fixed_cost.get(o.programme, 0.0)
            if fixed >= left:
                continue
            full = _cost(o, o.coverage[-1])
            share = o.coverage[-1] if full <= left - fixed else (left - fixed) / _cost(o, 1.0)
            if share <= 0:
                continue
            coverage.setdefault(o.programme, {})[segment] = share
            left -= fixed + _cost(o, share)
            running.add(o.programme)
        if left <= 0:
            break
    return coverage


def baseline_plans(
    problem: PlanningProblem, money: float, names: list[str], segment_facts: pd.DataFrame
) -> dict[str, Coverage]:
    """The named baselines, each spending ``money``."""
    facts = segment_facts.groupby("segment")[["churn_rate", "value_per_subscriber_month"]].mean()
    plans: dict[str, Coverage] = {}
    for name in names:
        if name == "no_care":
            plans[name] = {}
        elif name == "even_spread":
            plans[name] = even_spread(problem, money)
        elif name == "churn_risk_first":
            plans[name] = segments_first(problem, money, list(facts["churn_rate"].sort_values(ascending=False).index))
        elif name == "value_first":
            order = facts["value_per_subscriber_month"].sort_values(ascending=False).index
            plans[name] = segments_first(problem, money, list(order))
    return plans


def predict(problem: PlanningProblem, coverage: Coverage) -> dict[str, object]:
    """Predicted totals of a coverage under the problem's curves: the mean over samples with its 95% t-interval
    (the uncertainty of the expected outcome, comparable with the simulated means' intervals), and the Poor
    share each segment is predicted to end with."""
    outcome = Outcome(Layout(problem), coverage_vector(problem, coverage), running=_running(problem, coverage))
    result: dict[str, object] = {"cost": outcome.cost, "cost_low": outcome.cost, "cost_high": outcome.cost}
    value = outcome.value_samples.sum(axis=1)
    retained = outcome.retained_samples.sum(axis=1)
    loyal = outcome.loyal_samples.sum(axis=1)
    totals = (("value", value), ("retained", retained), ("loyal", loyal), ("net_value", value - outcome.cost))
    for name, samples in totals:
        mean, low, high = t_interval(samples)
        result.update({name: mean, f"{name}_low": low, f"{name}_high": high})
    poor = dict(problem.poor_share)
    for option, reduction in zip(problem.options, outcome.poor_reduction, strict=True):
        poor[option.segment] = poor.get(option.segment, 0.0) - float(reduction)
    result["poor_share_by_segment"] = poor
    return result


def _running(problem: PlanningProblem, coverage: Coverage) -> np.ndarray:
    """Programmes (in the problem's order) that cover anyone and so pay their fixed cost."""
    return np.array([any(x > 1e-9 for x in coverage.get(p, {}).values()) for p in problem.programmes], dtype=bool)
