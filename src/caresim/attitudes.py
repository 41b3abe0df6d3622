"""At month close: unresolved problems recur (moving subscribers into retention), then satisfaction and
loyalty take the month's shocks and care boosts, loyalty follows satisfaction, and care boosts decay."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from caresim.behaviour import care_sum, effective_score, follow_loyalty, revert_satisfaction
from caresim.lifecycle import RETENTION, TP, USAGE

if TYPE_CHECKING:
    from caresim.model import CareModel


def recur_problems(model: CareModel, month: int) -> None:
    """Open problems may go away by themselves; a problem still open a month after it arose recurs.

    A recurrence moves a subscriber from usage into the retention stage; a subscriber in retention with no
    open problem returns to usage.
    """
    state, records = model.state, model.records
    behaviour = model.config.behaviour
    n = state.n
    segment = state.segment
    active = state.active
    gone = (
        active & (state.n_open > 0) & (model.streams.uniform("self_resolve", n) < model.config.service.p_self_resolve)
    )
    state.n_open[gone] = 0
    recurs = active & (state.n_open > 0) & (state.carried_problem_month == month)
    state.shock[recurs] += behaviour.d_satisfaction_recur
    records.add_touchpoint(month, TP["problem_recurs"], recurs, segment)
    records.add_flow(month, "recurring", recurs, segment)
    into_retention = recurs & (state.stage == USAGE)
    records.add_stage_flow(month, USAGE, RETENTION, into_retention, segment)
    state.stage[into_retention] = RETENTION
    recovered = (state.stage == RETENTION) & (state.n_open == 0)
    records.add_stage_flow(month, RETENTION, USAGE, recovered, segment)
    state.stage[recovered] = USAGE


def update_attitudes(model: CareModel, month: int) -> None:
    """Apply the month's shocks to core satisfaction, add care boosts, move loyalty; bill revenue."""
    state = model.state
    behaviour = model.config.behaviour
    active = state.active
    noise = behaviour.sd_satisfaction_noise * model.streams.normal("satisfaction_noise", state.n)
    resting = model.segments.satisfaction_mean[state.segment]
    core = revert_satisfaction(state.sat_core, resting, behaviour.rate_satisfaction_reversion, state.shock, noise)
    state.sat_core[active] = core[active]
    satisfaction = effective_score(state.sat_core, care_sum(state.sat_boost, model.boost_rows["sat_boost"]))
    state.satisfaction[active] = satisfaction[active]
    loyalty_core = follow_loyalty(state.loy_core, state.satisfaction, behaviour.rate_loyalty_follow)
    state.loy_core[active] = loyalty_core[active]
    loyalty = effective_score(state.loy_core, care_sum(state.loy_boost, model.boost_rows["loy_boost"]))
    state.loyalty[active] = loyalty[active]
    state.shock = 0.0
    state.tenure[active] += 1
    state.revenue_total[active] += state.revenue[active]
    model.records.stock["revenue"][month] += model.records.count(active, state.segment, state.revenue)


def decay_boosts(model: CareModel) -> None:
    """Care effects fade: each programme's boosts shrink by its monthly decay (half-life)."""
    decay = model.programmes.product.decay.astype(np.float32)
    for field, rows in model.boost_rows.items():
        boost = getattr(model.state, field)
        for row in rows:  # programmes that never change this quantity keep a zero row: skip it
            boost[row] *= decay[row]
