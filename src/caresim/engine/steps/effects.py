"""What care does to the subscribers it reaches: the product side of a programme.

A contact's effect is the programme's effect sizes scaled by a multiplier: fatigue (each earlier contact of
the same programme multiplies it by ``fatigue``), the preferred channel, the moment (life moments surprise)
and lateness. Effects land as transient boosts per programme and subscriber, which decay month by month,
and as problems resolved on the spot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
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
    return (
        product.fatigue[code] ** world.state.received[code, served]
        * np.where(preferred, world.config.behaviour.rel_effect_preferred_channel, 1.0)
        * product.rel_moment[code]
        * np.where(timely, 1.0, product.rel_effect_late[code])
    )


def apply_effects(
    world: World, code: int, served: np.ndarray, multiplier: np.ndarray, u_resolve: np.ndarray | None
) -> None:
    """Add programme ``code``'s boosts to ``served`` and resolve their open problems with its probability.

    ``u_resolve`` holds the programme's resolution draws for every slot, drawn by the caller whatever the
    policy (common random numbers); complaint-triggered programmes resolve through the report (``desks``).
    """
    state, product = world.state, world.programmes.product
    for field, effect in BOOST_EFFECTS.items():
        size = getattr(product, effect)[code]
        if size != 0:
            getattr(state, field)[code, served] += (size * multiplier).astype(np.float32)
    if u_resolve is not None and world.programmes.delivery.trigger[code] != "complaint":
        p_resolve = np.minimum(product.p_resolve_problem[code] * multiplier, 1.0)
        fixed = served[(u_resolve[served] < p_resolve) & (state.n_open[served] > 0)]
        state.n_open[fixed] = 0
        state.shock[fixed] += world.config.behaviour.d_satisfaction_resolved
