"""What care does to the subscribers it reaches: the product side of a programme.

A contact's effect is the programme's effect sizes for the subscriber's segment scaled by a multiplier:
fatigue (each earlier contact of the same programme multiplies it by ``fatigue``), the preferred channel,
the moment (life moments surprise) and lateness; the boosts are further scaled by the subscriber's
receptivity (``caresim.engine.response``). Effects land as transient boosts per programme and subscriber,
which decay month by month, and as problems resolved on the spot. A contact may also move the subscriber to
a better-fitting plan or prompt a comparison of offers (``prompt_and_fit``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from caresim.engine.response import prompt_and_fit, receptivity

if TYPE_CHECKING:
    from caresim.engine.streams import SlotDraws
    from caresim.engine.world import World

#: Which product effect feeds which transient boost array (programmes × subscribers).
BOOST_EFFECTS = {
    "sat_boost": "d_satisfaction",
    "loy_boost": "d_loyalty",
    "log_hazard_boost": "log_rel_churn_hazard",
    "log_bill_shock_boost": "log_rel_bill_shock",
    "log_win_back_boost": "log_rel_win_back",
}


def effect_multiplier(
    world: World, code: int, served: np.ndarray, timely: np.ndarray, preferred: np.ndarray
) -> np.ndarray:
    """How strongly programme ``code`` acts on each of ``served``: fatigue × channel fit × moment × lateness."""
    product = world.programmes.product
    received = world.state.received[code][served]
    # fatigue ** received, from a table of the powers that occur (the same floats, one power per count)
    fatigue = product.fatigue[code] ** np.arange(int(received.max(initial=0)) + 1, dtype=received.dtype)
    return (
        fatigue[received]
        * np.where(preferred, world.config.behaviour.rel_effect_preferred_channel, 1.0)
        * product.rel_moment[code]
        * np.where(timely, 1.0, product.rel_effect_late[code])
    )


def apply_effects(
    world: World,
    code: int,
    served: np.ndarray,
    multiplier: np.ndarray,
    month: int,
    u_resolve: np.ndarray | SlotDraws | None,
    u_fix: np.ndarray | SlotDraws | None,
) -> None:
    """Add programme ``code``'s boosts to ``served``, resolve their open problems with its probability, and
    apply what the contact does to plan fit and comparison of offers.

    ``u_resolve`` and ``u_fix`` hold the programme's draws for every slot, drawn by the caller whatever the
    policy (common random numbers); complaint-triggered programmes resolve through the report (``desks``).
    Receptivity scales the boosts, not the chance of resolving a problem (a fix works whoever receives it).
    """
    state, product = world.state, world.programmes.product
    segment = state.segment[served]
    persuasion = multiplier * receptivity(world, code, served, month)
    for field, effect in BOOST_EFFECTS.items():
        sizes = getattr(product, effect)[code]
        if sizes.any():
            getattr(state, field)[code][served] += (sizes[segment] * persuasion).astype(np.float32)
    prompt_and_fit(world, code, served, month, u_fix)
    if u_resolve is not None and world.programmes.delivery.trigger[code] != "complaint":
        p_resolve = np.minimum(product.p_resolve_problem[code, segment] * multiplier, 1.0)
        fixed = served[(u_resolve[served] < p_resolve) & (state.n_open[served] > 0)]
        state.n_open[fixed] = 0
        state.shock[fixed] += world.config.behaviour.d_satisfaction_resolved
