"""Where each new subscriber stands in their segment's targeting order, for programmes under a targeting rule.

A subscriber's *rank* for programme ``p`` is the share of the segment's reference sample (``attributes``)
scoring above them: 0 for the highest baseline churn risk, value or predicted uplift, near 1 for the lowest.
Under a rule other than random, the policy targets those with ``rank < share`` (``CarePolicy.assignment``).
Ranks are set once, when the subscriber joins, from what could be observed then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from caresim.engine.policy import RANDOM, RISK, TARGETS, UPLIFT, VALUE

if TYPE_CHECKING:
    from caresim.engine.world import World


def rank_against(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """1 − the share of the sorted ``reference`` strictly below each score (ties go to the front)."""
    if len(reference) == 0:
        return np.zeros(len(scores))
    return 1.0 - np.searchsorted(reference, scores, side="left") / len(reference)


def features_at_joining(world: World, slots: slice | np.ndarray) -> np.ndarray:
    """What an uplift model sees of ``slots``: their attributes at joining, then their segment code."""
    state = world.state
    return np.vstack([state.attributes_at_joining[:, slots], state.segment[slots][None, :].astype(np.float32)])


def rank_new_subscribers(world: World, slots: slice, code: int) -> None:
    """Set the targeting rank of new ``slots`` of segment ``code`` for every programme the policy targets."""
    policy, state, reference = world.policy, world.state, world.reference
    for p in policy.targeted_programmes:
        rule = int(policy.target_codes[code, p])
        if rule == RANDOM:
            continue
        if rule == RISK:
            ranks = rank_against(reference.risk[code], state.risk_score[slots])
        elif rule == VALUE:
            value = np.log(np.maximum(state.revenue[slots], 1e-9) / world.segments.revenue_mean[code])
            ranks = rank_against(reference.value[code], value)
        elif rule == UPLIFT:
            scorer = policy.scorers[world.programmes.names[p]]
            key = (p, code)
            if key not in world.uplift_reference:
                world.uplift_reference[key] = np.sort(scorer.predict_uplift(reference.features[code]))
            ranks = rank_against(world.uplift_reference[key], scorer.predict_uplift(features_at_joining(world, slots)))
        else:  # pragma: no cover - the policy validates its rules
            raise ValueError(f"unknown targeting rule {TARGETS[rule]}")
        state.target_rank[p, slots] = ranks
