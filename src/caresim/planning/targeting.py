"""Targeting inside a segment, as the planner learns and chooses it from the pilot.

The pilot assigns every programme at random, so inside any group defined by what was known at joining its
assigned and control subscribers are still a randomised comparison. A targeting rule orders a segment's
eligible subscribers by a score (baseline churn risk, or the uplift predicted by a model trained on the
pilot's own arms) and targets the first share ``q`` of them; its effect per assigned subscriber is the
assigned − control contrast among those first ``q``. The planner compares rules at equal spend: a rule
holds out ``holdout`` of its target as the control group, so assigning a share ``c`` of the eligible takes
the first ``q = c / (1 − holdout)``.

Uplift scores are *cross-fitted*: the pilot's subscribers are split in two folds at random; a model trained
on one fold scores the other, so no subscriber's score was learned from their own outcome (a model scoring
its own training rows would find its own noise and promise too much).

For each option and piloted level, a rule replaces random coverage only where its gain over random (the
difference of the two contrasts, in value) has its whole interval above 0, the option's intervals holding
jointly: the planner does not chase a lucky order. The option's curve then
carries that gain, and the optimiser chooses coverage on it; so coverage and rule are chosen together.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from caresim.engine.policy import RANDOM, TARGETS, in_target
from caresim.engine.record import RunRecord
from caresim.executors import Pool
from caresim.planning.uplift import UpliftModel, fit_uplift, qini
from caresim.results.contrast import contrast
from caresim.results.intervals import joint_level, z_value

#: The outcomes whose targeting gain the planner's curves take in (as ``effect_<outcome>``).
GAINED = ("value", "retained", "loyal_active", "satisfaction_poor")
#: Rules the planner can choose besides random coverage.
PLANNER_RULES = ("risk", "uplift")


def features_of(record: RunRecord) -> np.ndarray:
    """Every subscriber's features at joining (rows ``FEATURES``), as uplift models read them."""
    subscribers = record.subscribers
    return np.vstack([subscribers.attributes_at_joining.T, subscribers.segment[None, :].astype(float)])


def cross_fitted_uplift(
    record: RunRecord, programme: str, seed: int, learner: str = "x"
) -> tuple[np.ndarray, dict[str, float]] | None:
    """Each subscriber's predicted uplift of ``programme`` from a model that never saw them (two folds), and
    the Qini curve and coefficient of that order on the pilot's arms (with its interval); None when a fold is
    too small to learn from."""
    p = record.programmes.names.index(programme)
    rows = record.care.assigned[p] | record.care.control[p]
    features = features_of(record)
    treated, retained = record.care.assigned[p], ~record.subscribers.churned
    fold = np.random.default_rng(seed).random(len(rows)) < 0.5
    scores = np.zeros(len(rows))
    for part in (fold, ~fold):
        train = rows & ~part
        try:
            model = fit_uplift(programme, features[:, train], treated[train], retained[train], learner, seed)
        except ValueError:
            return None
        scores[part] = model.predict_uplift(features[:, part])
    curve = qini(scores[rows], treated[rows], retained[rows], n_bootstrap=100, seed=seed)
    measured = {
        "qini": curve.coefficient,
        "qini_low": curve.low,
        "qini_high": curve.high,
        "fraction": curve.fraction.tolist(),
        "curve": curve.curve.tolist(),
        "random_line": curve.random_line.tolist(),
    }
    return scores, measured


def gains(
    record: RunRecord,
    delta: Mapping[str, np.ndarray],
    programme: str,
    scores: Mapping[str, np.ndarray],
    level: float,
    holdout: float,
    seed: int,
) -> list[dict[str, object]]:
    """Per segment and rule: the effect per assigned subscriber among the first ``level / (1 − holdout)`` of
    the rule's order, minus the effect among all the eligible (the random rule), for each outcome in
    ``GAINED`` (``delta``: each subscriber's outcome against their no-care twin)."""
    p = record.programmes.names.index(programme)
    care, segment = record.care, record.subscribers.segment
    eligible = care.assigned[p] | care.control[p]
    first = min(level / (1.0 - holdout), 1.0)
    tie = np.random.default_rng(seed).random(len(segment))
    rows = []
    for rule, score in scores.items():
        where = np.flatnonzero(eligible)
        shares = np.full(len(record.segments.names), first)
        chosen = np.zeros(len(segment), dtype=bool)
        chosen[where] = in_target(segment[where], score[where], tie[where], shares)
        for s, name in enumerate(record.segments.names):
            here = segment == s
            row: dict[str, object] = {"segment": name, "programme": programme, "level": level, "target": rule}
            in_top = float((eligible & here & chosen).sum()) / max(float((eligible & here).sum()), 1.0)
            for outcome in GAINED:
                top = contrast(delta[outcome], care.assigned[p] & here & chosen, care.control[p] & here & chosen)
                rest = contrast(delta[outcome], care.assigned[p] & here & ~chosen, care.control[p] & here & ~chosen)
                everyone = contrast(delta[outcome], care.assigned[p] & here, care.control[p] & here)
                row[f"gain_{outcome}"] = top.difference - everyone.difference
                # the effect among all is about the mix w·top + (1 − w)·rest of two disjoint groups, so the gain
                # is about (1 − w)(top − rest), whose standard error the two independent contrasts give
                rest_se = rest.se if in_top < 1.0 else 0.0
                row[f"gain_{outcome}_se"] = (1.0 - in_top) * float(np.hypot(top.se, rest_se))
            rows.append(row)
    return rows


def choose_rules(
    targeted: pd.DataFrame, segment: str, programme: str, levels: list[float], confidence: float = 0.95
) -> dict[float, str]:
    """Per piloted level, the rule for ``segment``'s option of ``programme`` whose gain in value over random
    has its interval above 0 (the largest such gain), else random.

    The gain is the mean over the pilot's samples, its standard error from each sample's (bounded) standard
    error; the intervals of the option's rules × levels hold jointly at ``confidence`` (Bonferroni), so a
    plan picks up few orders that only got lucky.
    """
    chosen = dict.fromkeys(levels, TARGETS[RANDOM])
    if targeted.empty:
        return chosen
    rows = targeted[(targeted.segment == segment) & (targeted.programme == programme)]
    z = z_value(joint_level(confidence, max(rows["target"].nunique(), 1) * len(levels)))
    for level in levels:
        best = 0.0
        for rule, group in rows[rows.level == level].groupby("target"):
            usable = group.dropna(subset=["gain_value", "gain_value_se"])
            if usable.empty:
                continue
            mean = float(usable["gain_value"].mean())
            se = float(np.sqrt((usable["gain_value_se"] ** 2).sum()) / len(usable))
            if mean - z * se > 0 and mean > best:
                chosen[level], best = str(rule), mean
    return chosen


def gain_samples(targeted: pd.DataFrame, segment: str, programme: str, rules: dict[float, str], name: str) -> dict:
    """``{(scenario, replication, level): gain}`` of ``effect_<name>`` under the rule chosen at each level."""
    rows = targeted[(targeted.segment == segment) & (targeted.programme == programme)]
    out = {}
    for (scenario, replication, level, rule), value in rows.set_index(["scenario", "replication", "level", "target"])[
        f"gain_{name}"
    ].items():
        if rules.get(level) == rule:
            out[(scenario, replication, level)] = float(value)
    return out


def rule_at(coverage: tuple[float, ...], targets: tuple[str, ...], share: float) -> str:
    """The rule of the curve's piece that ``share`` lies on (the breakpoint at or above it)."""
    if not targets or share <= 0:
        return TARGETS[RANDOM]
    k = int(np.searchsorted(np.asarray(coverage), share - 1e-12, side="left"))
    return targets[min(k, len(targets) - 1)]


def policy_entry(share: float, rule: str, holdout: float) -> float | dict[str, object]:
    """A policy entry that assigns ``share`` of the eligible under ``rule`` (a targeted rule's share takes its
    holdout into account, so every rule assigns as many)."""
    if rule == TARGETS[RANDOM]:
        return share
    return {"share": min(round(share / (1.0 - holdout), 9), 1.0), "target": rule}


def plan_policy(options: list, coverage: Mapping[str, Mapping[str, float]], holdout: float) -> dict[str, dict]:
    """A plan's coverage ``{programme: {segment: share}}`` as a policy mapping, each share under the rule of
    its option's curve at that share (``options``: the planning problem's)."""
    by_key = {(o.programme, o.segment): o for o in options}
    policy: dict[str, dict] = {}
    for programme, shares in coverage.items():
        for segment, share in shares.items():
            option = by_key.get((programme, segment))
            rule = rule_at(option.coverage, option.targets, share) if option is not None else TARGETS[RANDOM]
            policy.setdefault(programme, {})[segment] = policy_entry(float(share), rule, holdout)
    return policy


def with_rule(policy: Mapping[str, Mapping[str, object]], rule: str, holdout: float) -> dict[str, dict]:
    """The same policy with every covered option under ``rule``, each assigning as many as before (equal spend)."""
    changed: dict[str, dict] = {}
    for programme, shares in policy.items():
        for segment, entry in shares.items():
            assigned = share_assigned(entry, holdout)
            if assigned > 0:
                changed.setdefault(programme, {})[segment] = policy_entry(assigned, rule, holdout)
    return changed


def share_assigned(entry: object, holdout: float) -> float:
    """The share of the eligible a policy entry assigns (a targeted share less its holdout)."""
    if isinstance(entry, Mapping):
        share = float(entry["share"])
        return share if entry.get("target", TARGETS[RANDOM]) == TARGETS[RANDOM] else share * (1.0 - holdout)
    return float(entry)


def final_models(
    records: Mapping[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]],
    seed: int,
    learner: str = "x",
    pool: Pool | None = None,
) -> dict[str, UpliftModel]:
    """One uplift model per programme, trained on all the pilot's randomised arms of it (for verification
    runs, which use seeds the pilot never saw); each fitted as a task of ``pool`` (default: here, in turn)."""
    pool = pool or Pool()
    fits = {}
    for programme, parts in records.items():
        features = np.hstack([part[0] for part in parts])
        treated = np.concatenate([part[1] for part in parts])
        retained = np.concatenate([part[2] for part in parts])
        fits[programme] = pool.submit(fitted_or_none, programme, features, treated, retained, learner, seed)
    models = {programme: fit.result() for programme, fit in fits.items()}
    return {programme: model for programme, model in models.items() if model is not None}


def fitted_or_none(
    programme: str, features: np.ndarray, treated: np.ndarray, retained: np.ndarray, learner: str, seed: int
) -> UpliftModel | None:
    """``fit_uplift`` on one thread (the same model on any worker), or None when the arms are too small."""
    try:
        with threadpool_limits(limits=1):
            return fit_uplift(programme, features, treated, retained, learner, seed)
    except ValueError:
        return None


__all__ = [
    "GAINED",
    "PLANNER_RULES",
    "choose_rules",
    "cross_fitted_uplift",
    "features_of",
    "final_models",
    "gain_samples",
    "gains",
    "plan_policy",
    "policy_entry",
    "rule_at",
    "share_assigned",
    "with_rule",
]
