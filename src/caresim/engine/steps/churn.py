"""At month close: contract ends are decision points, the churn hazard terminates service, and churned
subscribers may be won back."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from caresim.engine.behaviour import care_sum, churn_hazard, p_from_hazard, p_renew, win_back_hazard
from caresim.engine.market import MonthConditions
from caresim.engine.population import draw_contract
from caresim.engine.response import prompt_log_hazard
from caresim.engine.steps.arrivals import activate
from caresim.lifecycle import CHURNED, RETENTION, TP

if TYPE_CHECKING:
    from caresim.engine.world import World


def churn_and_renew(world: World, month: int, cond: MonthConditions) -> None:
    """Draw churn from each subscriber's hazard; at contract end the survivors renew or go month-to-month."""
    state, records, streams = world.state, world.records, world.streams
    churn = world.config.behaviour.churn
    n = state.n
    u_churn = streams.uniform("churn", n)
    u_renew = streams.uniform("renewal", n)
    active = state.active
    segment = state.segment
    ends_now = active & state.in_contract & (state.contract_end == month)
    window = world.config.population.ties.dur_contagion_months
    recently_churned = (state.stage == CHURNED) & (month - state.churn_month <= window)
    share_churned = world.ties.share_churned(recently_churned) if world.ties.enabled else 0.0
    hazard = churn_hazard(
        churn,
        rate_base=world.segments.rate_churn_base[segment],
        satisfaction=state.satisfaction,
        loyalty=state.loyalty,
        tenure_months=state.tenure,
        in_contract=state.in_contract,
        contract_ends_now=ends_now,
        in_retention=state.stage == RETENTION,
        competitor_pressure=cond.competitor_pressure[segment],
        share_ties_churned=share_churned,
        rel_season=cond.rel_churn,
        unresolved_contacts=np.where(state.n_open > 0, state.episode_failures, 0),
        rel_care=np.exp(
            care_sum(state.log_hazard_boost, world.boost_rows["log_hazard_boost"]) + prompt_log_hazard(world, month)
        ),
    )
    leaves = active & (u_churn < p_from_hazard(hazard))
    for stage in np.unique(state.stage[leaves]):
        records.add_stage_flow(month, int(stage), CHURNED, leaves & (state.stage == stage), world.layout)
    records.add_touchpoint(month, TP["service_terminated"], leaves, world.layout)
    records.add_flow(month, "churned", leaves, world.layout)
    state.stage[leaves] = CHURNED
    state.churn_month[leaves] = month
    state.n_churns[leaves] += 1
    state.in_contract[leaves] = False
    state.contract_end[leaves] = -1

    stays = ends_now & ~leaves
    deciding = np.flatnonzero(stays)
    renews = np.zeros(n, dtype=bool)
    renews[deciding] = u_renew[deciding] < p_renew(churn, state.loyalty[deciding])
    state.contract_end[renews] += state.contract_months[renews]
    lapses = stays & ~renews
    state.in_contract[lapses] = False
    state.contract_end[lapses] = -1


def win_back(world: World, month: int) -> None:
    """Churned subscribers (not those who left this month) return with a fading hazard, raised by win-back care."""
    state, records, streams = world.state, world.records, world.streams
    rule = world.config.behaviour.win_back
    n = state.n
    u_return = streams.uniform("win_back", n)
    u_contract = streams.uniform("win_back_contract", n)
    churned = (state.stage == CHURNED) & (state.churn_month < month)
    since = month - state.churn_month
    hazard = win_back_hazard(
        rule.rate_return,
        rule.dur_memory_months,
        since,
        np.exp(care_sum(state.log_win_back_boost, world.boost_rows["log_win_back_boost"])),
    )
    returns = np.flatnonzero(churned & (u_return < p_from_hazard(hazard)))
    if len(returns) == 0:
        return
    segments = world.config.population.segments
    names = list(segments)
    for code in np.unique(state.segment[returns]):
        members = returns[state.segment[returns] == code]
        state.contract_months[members] = draw_contract(u_contract[members], segments[names[code]].contract_mix)
    seg = state.segment[returns]
    sat = np.clip(world.segments.satisfaction_mean[seg] + rule.d_satisfaction_on_return, 0, 1)
    loy = np.clip(world.segments.loyalty_mean[seg] * rule.rel_loyalty_on_return, 0, 1)
    state.sat_core[returns] = state.satisfaction[returns] = sat
    state.loy_core[returns] = state.loyalty[returns] = loy
    for boost in (
        state.sat_boost,
        state.loy_boost,
        state.log_hazard_boost,
        state.log_bill_shock_boost,
        state.log_win_back_boost,
    ):
        boost[:, returns] = 0.0
    state.pending[:, returns] = False  # offers still held back for them are moot now
    state.n_returns[returns] += 1
    records.flow["won_back"][month] += records.count(np.ones(len(returns), dtype=bool), seg)
    activate(world, returns, month, np.zeros(len(returns), dtype=np.int8), new=False)
