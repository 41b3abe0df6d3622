"""At month close: unresolved problems recur (moving subscribers into retention), then satisfaction and
loyalty take the month's shocks and care boosts, loyalty follows satisfaction, and care boosts decay."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from caresim.engine.behaviour import care_sum, effective_score, follow_loyalty, revert_satisfaction
from caresim.lifecycle import RETENTION, TP, USAGE

if TYPE_CHECKING:
    from caresim.engine.world import World


def recur_problems(world: World, month: int) -> None:
    """Open problems may go away by themselves; a problem still open a month after it arose recurs.

    A recurrence moves a subscriber from usage into the retention stage; a subscriber in retention with no
    open problem returns to usage.
    """
    state, records = world.state, world.records
    behaviour = world.config.behaviour
    n = state.n
    layout = world.layout  # counts over every slot go block by block
    active = state.active
    gone = (
        active & (state.n_open > 0) & (world.streams.uniform("self_resolve", n) < world.config.service.p_self_resolve)
    )
    state.n_open[gone] = 0
    recurs = active & (state.n_open > 0) & (state.carried_problem_month == month)
    state.shock[recurs] += behaviour.d_satisfaction_recur
    records.add_touchpoint(month, TP["problem_recurs"], recurs, layout)
    records.add_flow(month, "recurring", recurs, layout)
    into_retention = recurs & (state.stage == USAGE)
    records.add_stage_flow(month, USAGE, RETENTION, into_retention, layout)
    state.stage[into_retention] = RETENTION
    recovered = (state.stage == RETENTION) & (state.n_open == 0)
    records.add_stage_flow(month, RETENTION, USAGE, recovered, layout)
    state.stage[recovered] = USAGE


def update_attitudes(world: World, month: int) -> None:
    """Apply the month's shocks to core satisfaction, add care boosts, move loyalty; bill revenue."""
    state = world.state
    behaviour = world.config.behaviour
    active = state.active
    noise = behaviour.sd_satisfaction_noise * world.streams.normal("satisfaction_noise", state.n)
    resting = world.segments.satisfaction_mean[state.segment]
    # only active subscribers move: each new value is copied (or added) where active, in one pass
    core = revert_satisfaction(state.sat_core, resting, behaviour.rate_satisfaction_reversion, state.shock, noise)
    np.copyto(state.sat_core, core, where=active)
    satisfaction = effective_score(state.sat_core, care_sum(state.sat_boost, world.boost_rows["sat_boost"]))
    np.copyto(state.satisfaction, satisfaction, where=active)
    loyalty_core = follow_loyalty(state.loy_core, state.satisfaction, behaviour.rate_loyalty_follow)
    np.copyto(state.loy_core, loyalty_core, where=active)
    loyalty = effective_score(state.loy_core, care_sum(state.loy_boost, world.boost_rows["loy_boost"]))
    np.copyto(state.loyalty, loyalty, where=active)
    state.shock = 0.0
    np.add(state.tenure, 1, out=state.tenure, where=active)
    np.add(state.revenue_total, state.revenue, out=state.revenue_total, where=active)
    world.records.stock["revenue"][month] += world.records.count(active, state.segment, state.revenue)


def decay_boosts(world: World) -> None:
    """Care effects fade: each programme's boosts shrink by its monthly decay (half-life)."""
    decay = world.programmes.product.decay.astype(np.float32)
    for field, rows in world.boost_rows.items():
        boost = getattr(world.state, field)
        for row in rows:  # programmes that never change this quantity keep a zero row: skip it
            boost[row] *= decay[row]
