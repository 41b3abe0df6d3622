"""Targeting scores of new subscribers, and who is first in a targeting order.

Under a rule other than random, each subscriber gets a *score* for the programme when they join, from what
could be observed then: standardised baseline churn risk (``risk``), log revenue against the segment mean
(``value``) or the predicted uplift of a trained model (``uplift``), and a uniform *tie* from a stream of its
own. At each key moment the programme's eligible subscribers of a segment are put in order, highest score
first with ties in the order of their uniforms, and the first ``share`` of them are targeted
(``caresim.engine.policy.in_target``): a share of the eligible, as under random coverage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from caresim.config.errors import ConfigError
from caresim.config.response import ATTRIBUTES
from caresim.engine.policy import RANDOM, RISK, TARGETS, UPLIFT, VALUE

if TYPE_CHECKING:
    from caresim.engine.world import World

VALUE_ROW = ATTRIBUTES.index("value")


def features_at_joining(world: World, slots: slice | np.ndarray) -> np.ndarray:
    """What an uplift model sees of ``slots``: their attributes at joining, then their segment code."""
    state = world.state
    return np.vstack([state.attributes_at_joining[:, slots], state.segment[slots][None, :].astype(np.float32)])


def score_new_subscribers(world: World, slots: slice, code: int, region: int) -> None:
    """Set the targeting score and tie of new ``slots`` of segment ``code`` for every programme the policy
    targets (ties from ``target_ties/<programme>/<segment>``, drawn only under a targeted policy)."""
    policy, state = world.policy, world.state
    segment = world.segments.names[code]
    for p in policy.targeted_programmes:
        rule = int(policy.target_codes[code, p])
        if rule == RANDOM:
            continue
        if rule == RISK:
            scores = state.risk_score[slots]
        elif rule == VALUE:
            scores = state.attributes_at_joining[VALUE_ROW, slots]
        elif rule == UPLIFT:  # predicted with the other newcomers of the month (``score_pending``)
            world.pending_uplift.append((p, slots))
            scores = np.zeros(slots.stop - slots.start)
        else:  # pragma: no cover - the policy validates its rules
            raise ValueError(f"unknown targeting rule {TARGETS[rule]}")
        state.target_score[p, slots] = scores
        name = world.programmes.names[p]
        stream = world.streams[world.regions.stream(f"target_ties/{name}/{segment}", region)]
        state.target_tie[p, slots] = stream.random(slots.stop - slots.start)


def score_pending(world: World) -> None:
    """Predict the uplift scores of the newcomers waiting for them, one prediction per programme: a model's
    prediction of a subscriber does not depend on who else is in the batch, and each call has a fixed cost."""
    pending, world.pending_uplift = world.pending_uplift, []
    for p in sorted({p for p, _ in pending}):
        slots = np.concatenate([np.arange(s.start, s.stop) for q, s in pending if q == p])
        world.state.target_score[p, slots] = _predicted_uplift(world, p, slots)


def _predicted_uplift(world: World, p: int, slots: np.ndarray) -> np.ndarray:
    """Predicted uplift of programme ``p`` for ``slots``, checked to be one finite number per subscriber."""
    name = world.programmes.names[p]
    features = features_at_joining(world, slots)
    if features.shape[1] == 0:
        return np.zeros(0)
    scores = np.asarray(world.policy.scorers[name].predict_uplift(features), dtype=float)
    if scores.shape != (features.shape[1],) or not np.isfinite(scores).all():
        raise ConfigError(
            f"uplift.models.{name}: the model must give one finite predicted uplift per subscriber "
            f"(got shape {scores.shape})"
        )
    return scores
