"""Who responds to care, and how a contact can backfire.

*Receptivity* scales a programme's effects on one subscriber (0 = untouched, 1 = the catalogue's effect,
2 = twice it). It has a latent part, drawn once when the subscriber joins, and an observable part, computed
from the subscriber's attributes when the care lands:

    r = exp(Σ coef · attribute) × exp(sd · (ρ · risk + √(1 − ρ²) · z_kind) − sd² / 2)

``risk`` is the subscriber's baseline churn risk at joining, standardised against the configured base, so
``ρ`` is the latent part's correlation with risk; ``z_kind`` is shared by the programmes of one kind of care.

*Plan fit*: a share of subscribers join on a plan that does not fit their use and pay ``overpay`` of their
bill above the best-fitting plan. A proactive contact that prompts a comparison of offers raises a poorly
fitting or out-of-contract subscriber's churn hazard for a while (Ascarza, Iyengar & Schleicher 2016); a
contact that moves the subscriber to the best-fitting plan removes the poor fit, and the revenue with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from caresim.config.schema import Segment
from caresim.engine.attributes import attribute_rows, log_baseline_risk
from caresim.engine.targeting import score_new_subscribers

if TYPE_CHECKING:
    from caresim.engine.streams import SlotDraws
    from caresim.engine.world import World


def draw_at_joining(world: World, slots: slice, code: int, segment: Segment, region: int, month: int) -> None:
    """Draw plan fit and latent receptivity for new slots of segment ``code``, and their standardised risk.

    Each draw comes from a stream of its own per segment (and region), so the draws depend only on the
    slot count and never on the care policy.
    """
    state, streams, regions = world.state, world.streams, world.regions
    name = world.segments.names[code]
    count = slots.stop - slots.start
    fit = segment.plan_fit
    rng = streams[regions.stream(f"plan_fit/{name}", region)]
    poor = rng.random(count) < fit.p_poor_fit
    if fit.overpay_mean > 0:
        amount = rng.beta(2.0, 2.0 * (1.0 - fit.overpay_mean) / fit.overpay_mean, size=count)
    else:
        amount = np.zeros(count)
    state.overpay[slots] = state.overpay_at_joining[slots] = np.where(poor, amount, 0.0)
    reference = world.reference
    risk = log_baseline_risk(world.config, state, slots, world.segments.rate_churn_base) - reference.risk_mean
    risk /= reference.risk_sd
    state.risk_score[slots] = risk
    state.attributes_at_joining[:, slots] = attribute_rows(
        state, slots, month, world.segments.revenue_mean, world.config.behaviour.churn.satisfaction_ref, True
    )
    score_new_subscribers(world, slots, code, region)
    latent = {
        kind: streams[regions.stream(f"receptivity/{kind}/{name}", region)].standard_normal(count)
        for kind in world.programmes.response.kinds
    }
    for p, (kind, spread, rho) in enumerate(world.programmes.response.latent):
        if spread > 0:
            z = rho * risk + np.sqrt(1.0 - rho**2) * latent[kind]
            state.latent_receptivity[p, slots] = np.exp(spread * z - spread**2 / 2)


def attributes(world: World, slots: np.ndarray, month: int) -> np.ndarray:
    """The observable attributes of ``slots`` now, one row per name in ``ATTRIBUTES``."""
    return attribute_rows(
        world.state, slots, month, world.segments.revenue_mean, world.config.behaviour.churn.satisfaction_ref
    )


def receptivity(world: World, code: int, slots: np.ndarray, month: int) -> np.ndarray:
    """How strongly programme ``code``'s effects act on each of ``slots`` now (see the module docstring)."""
    latent = world.state.latent_receptivity[code][slots].astype(float)
    coef = world.programmes.response.coef[code]
    if not coef.any():
        return latent
    return latent * np.exp(coef @ attributes(world, slots, month))


def prompt_and_fit(
    world: World, code: int, served: np.ndarray, month: int, u_fix: np.ndarray | SlotDraws | None
) -> None:
    """What a contact of programme ``code`` does to plan fit and to the urge to compare offers.

    A subscriber on a poorly fitting plan is moved to the best-fitting one with the programme's ``p_fix_fit``
    (``u_fix`` holds the draws for every slot): overpay goes to 0 and monthly revenue falls by it. Any other
    contacted subscriber on a poor fit or out of contract is prompted: the churn hazard is multiplied by
    ``rel_churn_hazard ** strength`` for ``dur_months`` months, where strength = the programme's
    ``prompts_comparison`` × the larger of the fit gap (overpay / overpay_full, capped at 1) and
    ``rel_out_of_contract`` for a subscriber out of contract.
    """
    state = world.state
    rule = world.config.behaviour.prompting
    prompts, p_fix = world.programmes.response.prompts[code], world.programmes.response.p_fix_fit[code]
    overpay = state.overpay[served].astype(float)
    poor = overpay >= rule.overpay_poor_fit
    fixed = np.zeros(len(served), dtype=bool)
    if p_fix > 0 and u_fix is not None:
        fixed = poor & (u_fix[served] < p_fix)
        moved = served[fixed]
        state.revenue[moved] *= 1.0 - state.overpay[moved]
        state.overpay[moved] = 0.0
        world.records.flow["plan_moves"][month] += world.records.count(
            np.ones(len(moved), dtype=bool), state.segment[moved]
        )
    if prompts <= 0 or rule.rel_churn_hazard == 1.0:
        return
    gap = np.where(poor, np.minimum(overpay / rule.overpay_full, 1.0), 0.0)
    strength = prompts * np.maximum(gap, rule.rel_out_of_contract * ~state.in_contract[served])
    strength[fixed] = 0.0
    hit = strength > 0
    if not hit.any():
        return
    who = served[hit]
    log_rel = (strength[hit] * np.log(rule.rel_churn_hazard)).astype(np.float32)
    current = np.where(month - state.prompt_month[who] < rule.dur_months, state.prompt_log_hazard[who], 0.0)
    state.prompt_log_hazard[who] = np.maximum(current, log_rel)
    state.prompt_month[who] = month
    world.records.flow["prompted"][month] += world.records.count(np.ones(len(who), dtype=bool), state.segment[who])


def prompt_log_hazard(world: World, month: int) -> np.ndarray | float:
    """Each subscriber's log churn-hazard multiplier from prompted comparison this month (0 when none)."""
    state = world.state
    if not world.programmes.response.prompts.any():
        return 0.0
    live = month - state.prompt_month < world.config.behaviour.prompting.dur_months
    return np.where(live, state.prompt_log_hazard, 0.0)
