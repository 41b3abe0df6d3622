"""Prospects arrive, pass the four pre-sale touchpoints, and the buyers go through activation into usage."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from caresim.engine.response import draw_at_joining
from caresim.engine.targeting import score_pending
from caresim.lifecycle import ACTIVATION, LOST, PRESALE, TP, USAGE

if TYPE_CHECKING:
    from caresim.config.schema import Segment
    from caresim.engine.world import World

PRESALE_STEPS = ("learn_about_service", "first_experience", "needs_fit_assessment", "purchase_decision")
ACTIVATION_STEPS = ("service_request", "acquire_download", "activation", "configuration")


def admit_prospects(world: World, month: int) -> None:
    """Draw this month's prospects per segment; each passes or drops out at each pre-sale touchpoint.

    Prospect counts are Poisson with mean ``rate_prospects_per_month × region share / scale``, from a stream
    per segment (and region).
    Buyers sign a contract from the segment's mix, pass the four activation touchpoints (each may leave
    them with an open problem) and reach first use in the same month.
    """
    buyers_all: list[np.ndarray] = []
    problems_all: list[np.ndarray] = []
    regions = world.regions
    for code, (name, segment) in enumerate(world.config.population.segments.items()):
        for r, share in enumerate(regions.shares):
            _admit(world, month, code, name, segment, r, float(share), buyers_all, problems_all)
    score_pending(world)
    if buyers_all:  # one batch for the whole month: agents, ties and activation at once
        activate(world, np.concatenate(buyers_all), month, np.concatenate(problems_all), new=True)


def _admit(
    world: World,
    month: int,
    code: int,
    name: str,
    segment: Segment,
    region: int,
    share: float,
    buyers_all: list[np.ndarray],
    problems_all: list[np.ndarray],
) -> None:
    """This month's prospects of one segment in one region, through the pre-sale funnel."""
    state, records = world.state, world.records
    presale = world.config.population.presale
    rng = world.streams[world.regions.stream(f"arrivals/{name}", region)]
    count = int(rng.poisson(segment.rate_prospects_per_month * share / world.scale))
    if count == 0:
        return
    slots = world.add_subscribers(code, segment, count, rng, month, False, region)
    draw_at_joining(world, slots, code, segment, region, month)
    draws = rng.random((count, 4 + len(ACTIVATION_STEPS)))
    index = np.arange(slots.start, slots.stop)
    # visits: all prospects learn; triers have the first experience and assess the fit; those whose
    # needs fit reach the purchase decision; buyers pass it
    tried = draws[:, 1] < presale.p_first_experience
    fits = tried & (draws[:, 2] < presale.p_needs_fit)
    reached = fits & (draws[:, 3] < presale.p_purchase)
    visits = (count, tried.sum(), tried.sum(), fits.sum())
    for touchpoint, visitors in zip(PRESALE_STEPS, visits, strict=True):
        records.touchpoints[month, code, TP[touchpoint]] += visitors
    buyers, dropped = index[reached], index[~reached]
    records.flow["prospects"][month, code] += count
    records.flow["lost_prospects"][month, code] += len(dropped)
    records.stage_flows[month, code, PRESALE, LOST] += len(dropped)
    state.stage[dropped] = LOST
    buyers_all.append(buyers)
    problems_all.append((draws[reached, 4:] < presale.p_activation_problem).sum(axis=1))
    for touchpoint in ACTIVATION_STEPS:
        records.touchpoints[month, code, TP[touchpoint]] += len(buyers)


def activate(world: World, slots: np.ndarray, month: int, open_problems: np.ndarray, new: bool) -> None:
    """Bring ``slots`` through activation into usage: contract starts now, first use this month."""
    state, records = world.state, world.records
    contract = state.contract_months[slots]
    state.in_contract[slots] = contract > 0
    # contract_end is the month at whose close the contract ends. A 12-month contract signed when a prospect
    # activates in month m is billed for months m .. m + 11; a subscriber won back at the close of month m
    # is first billed in month m + 1, so the contract runs to m + 12.
    first_billed = month if new else month + 1
    state.contract_end[slots] = np.where(contract > 0, first_billed + contract - 1, -1)
    state.tenure[slots] = 0
    state.n_open[slots] = np.minimum(open_problems, 3)
    state.problems[slots] += open_problems.astype(np.int32)
    source = PRESALE if new else state.stage[slots]
    segment = state.segment[slots]
    ones = np.ones(len(slots), dtype=bool)
    if new:
        state.joined_month[slots] = month
        records.add_stage_flow(month, PRESALE, ACTIVATION, ones, segment)
    else:
        records.add_stage_flow(month, int(source[0]) if len(slots) else 0, ACTIVATION, ones, segment)
    records.add_stage_flow(month, ACTIVATION, USAGE, ones, segment)
    state.stage[slots] = USAGE
    # winners-back return after this month's care was delivered: their activation moment is next close
    state.activated_month[slots] = month if new else month + 1
    records.add_touchpoint(month, TP["first_use"], ones, segment)
    with_problem = open_problems > 0
    records.add_touchpoint(month, TP["meets_problem"], with_problem, segment)
    records.flow["problems"][month] += records.count(ones, segment, open_problems.astype(float))
    if new:
        records.flow["new"][month] += records.count(ones, segment)
        world.ties_for_newcomers(slots)
