"""Events of the usage stage at the start of a month: touchpoints, service problems, outages, bills, trips.

Every draw is one full-length vector over all slots from a named stream (see ``streams``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from caresim.engine.behaviour import care_sum, p_from_hazard
from caresim.engine.market import MonthConditions
from caresim.engine.steps.delivery import deliver
from caresim.lifecycle import TP

if TYPE_CHECKING:
    from caresim.engine.world import World

MAX_OPEN_PROBLEMS = 3


def usage_events(world: World, month: int, cond: MonthConditions) -> None:
    """Draw the month's usage touchpoints and problems, and deliver care at trips before roaming problems."""
    state, records, streams = world.state, world.records, world.streams
    market, service, behaviour = world.config.market, world.config.service, world.config.behaviour
    n = state.n
    active = state.active
    segment = state.segment
    layout = world.layout  # counts over every slot go block by block

    personalise = active & (streams.uniform("personalisation", n) < service.p_personalisation)
    records.add_touchpoint(month, TP["personalisation"], personalise, layout)
    information = active & (streams.uniform("service_information", n) < service.p_service_information)
    records.add_touchpoint(month, TP["service_information"], information, layout)
    state.contacts[information] += 1
    state.info_month[information] = month  # asked through the preferred channel (``desks``)
    records.add_flow(month, "contacts", information, layout)
    records.add_flow(month, "information_queries", information, layout)

    rate = market.rate_problems_per_month * world.segments.rel_problem_rate[segment] / market.network_quality
    network_problem = active & (streams.uniform("problems", n) < p_from_hazard(rate))
    outage = active & (streams.uniform("outage", n) < cond.outage_p_affected[segment])
    bill_boost = np.exp(care_sum(state.log_bill_shock_boost, world.boost_rows["log_bill_shock_boost"]))
    bill_shock = active & (streams.uniform("bill_shock", n) < np.minimum(market.p_bill_shock * bill_boost, 1.0))

    trip = active & (streams.uniform("trips", n) < np.minimum(world.segments.p_trip[segment] * cond.rel_trip, 1.0))
    state.trip_month[trip] = month
    records.add_flow(month, "trips", trip, layout)
    deliver(world, "trip", trip, month)  # roaming care lands on arrival, before any roaming problem
    roaming_boost = np.exp(care_sum(state.log_bill_shock_boost, world.boost_rows["log_bill_shock_boost"]))
    roaming_problem = trip & (streams.uniform("roaming", n) < np.minimum(market.p_roaming_problem * roaming_boost, 1.0))

    new_problems = (
        network_problem.astype(np.int8)
        + outage.astype(np.int8)
        + bill_shock.astype(np.int8)
        + roaming_problem.astype(np.int8)
    )
    has_new = new_problems > 0
    state.episode_failures[has_new & (state.n_open == 0)] = 0  # a new problem episode begins
    state.n_open[:] = np.minimum(state.n_open + new_problems, MAX_OPEN_PROBLEMS)
    state.problems += new_problems
    state.problem_month[has_new] = month
    state.bill_shock_month[bill_shock] = month
    state.outage_month[outage] = month
    state.shock += (
        behaviour.d_satisfaction_problem * (network_problem | roaming_problem)
        + (behaviour.d_satisfaction_problem + behaviour.d_satisfaction_outage) * outage
        + behaviour.d_satisfaction_bill_shock * bill_shock
    )
    records.add_touchpoint(month, TP["meets_problem"], has_new, layout)
    records.flow["problems"][month] += records.count(has_new, segment, new_problems.astype(float))
    records.add_flow(month, "bill_shocks", bill_shock, layout)
    records.add_flow(month, "outage_hits", outage, layout)
