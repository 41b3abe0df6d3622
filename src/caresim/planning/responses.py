"""From pilot measurements to the optimiser's plain data: estimates with intervals, response curves, limits.

An option (segment × programme) responds to coverage *c* with total value ``c × eligible × effect(c)``,
where ``effect(c)`` is the pilot's per-assigned effect at level *c*; curves start at (0, 0) and end at the
highest piloted level (the planner never promises what was not piloted). The mean curve is made concave
(diminishing returns) by the closest non-increasing sequence of slopes (isotonic regression, weighted by
piece width); each sample curve (one per pilot replication and scenario) is shifted by the same correction,
so samples keep their spread and their mean is the fitted curve.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression

from caresim.config.schema import CareConfig
from caresim.engine.policy import RANDOM, TARGETS
from caresim.optimize import Option, PlanningProblem
from caresim.planning.pilot import OUTCOMES, PilotResult
from caresim.planning.shrinkage import shrink
from caresim.planning.targeting import GAINED, choose_rules, gain_samples
from caresim.results.intervals import t_interval

EFFECTS = tuple(f"effect_{name}" for name in OUTCOMES)
#: the effects the planner's curves are built from (and shrunk)
PLANNED = ("effect_value", "effect_retained", "effect_satisfaction_poor", "effect_loyal_active")
ESTIMATED = (
    *EFFECTS,
    "cost_per_assigned",
    "cost_per_treated",
    "contacts_per_assigned_month",
    "eligible",
    "treated_good_or_better",
)


def estimates(pilot: PilotResult, config: CareConfig) -> pd.DataFrame:
    """Per level × segment × programme: each measured quantity's mean and 95% interval across samples, and
    the effects as the planner uses them (``*_planned``: shrunk across segments when shrinkage is on)."""
    keys = ["level", "segment", "programme"]
    planned = shrunk_responses(pilot, config).groupby(keys, sort=False)[list(PLANNED)].mean()
    rows = []
    for key, group in pilot.responses.groupby(keys, sort=False):
        row: dict[str, object] = dict(zip(keys, key, strict=True), samples=len(group))
        for column in ESTIMATED:
            row[column], row[f"{column}_low"], row[f"{column}_high"] = t_interval(group[column])
        for column in PLANNED:
            row[f"{column}_planned"] = float(planned.loc[key, column])
        rows.append(row)
    return pd.DataFrame(rows)


def overlap_estimates(pilot: PilotResult) -> pd.DataFrame:
    """Per segment × pair sharing a trigger or channel: the interaction of their effects on value, per
    subscriber eligible for both, averaged over levels within each replication (a replication's levels share
    its seed and twin, so they are not independent), with its interval across replications; 'additive'
    when 0 is inside the interval."""
    overlaps = pilot.overlaps
    keys = ["segment", "programme_a", "programme_b", "shared"]
    if overlaps.empty:
        return pd.DataFrame(columns=[*keys, "interaction_value", "verdict"])
    per_replication = overlaps.groupby([*keys, "scenario", "replication"], sort=False)[
        ["interaction_value", "both_eligible"]
    ].mean()
    rows = []
    for key, group in per_replication.groupby(level=keys, sort=False):
        mean, low, high = t_interval(group["interaction_value"])
        if math.isnan(low):
            verdict = "not measured"
        elif low <= 0 <= high:
            verdict = "additive"
        else:
            verdict = "sub-additive" if high < 0 else "super-additive"
        rows.append(
            dict(
                zip(keys, key, strict=True),
                both_eligible=float(group["both_eligible"].mean()),
                interaction_value=mean,
                interaction_low=low,
                interaction_high=high,
                verdict=verdict,
            )
        )
    return pd.DataFrame(rows)


def shrunk_responses(pilot: PilotResult, config: CareConfig) -> pd.DataFrame:
    """The pilot's responses, the planned effects shrunk across segments when ``planner.pilot.shrinkage`` is on."""
    if not config.planner.pilot.shrinkage:
        return pilot.responses
    if "shrunk" not in pilot.derived:  # the same for every plan made from this pilot
        pilot.derived["shrunk"] = shrink(pilot.responses, PLANNED)
    return pilot.derived["shrunk"]


def concave(coverage: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """The concave curve through (0, 0) closest to ``curve`` in its slopes (weighted by piece width)."""
    widths = np.diff(coverage)
    slopes = np.diff(curve) / widths
    fitted = isotonic_regression(slopes, weights=widths, increasing=False).x
    return np.concatenate([[0.0], np.cumsum(fitted * widths)])


def _curves(samples: np.ndarray, coverage: np.ndarray) -> tuple[tuple[float, ...], tuple[tuple[float, ...], ...]]:
    """The concave fit of the mean curve, and the sample curves shifted by the same correction (so that they
    keep their spread and their mean is the fit); ``samples`` is samples × levels (coverage 0 left out).

    Only the mean is fitted: fitting each noisy sample raises the points between the ends of every one of
    them (a fit to a concave shape never lowers them), which inflated predictions about twofold.
    """
    raw = np.hstack([np.zeros((len(samples), 1)), samples])
    mean = raw.mean(axis=0)
    fitted = concave(coverage, mean)
    shifted = raw + (fitted - mean)
    return tuple(float(x) for x in fitted), tuple(tuple(float(x) for x in row) for row in shifted)


def options(pilot: PilotResult, config: CareConfig, excluded: frozenset[tuple[str, str]] = frozenset()) -> list[Option]:
    """The options the pilot measured in every sample and level, minus ``excluded`` (segment, programme).

    Built once per pilot and config (each option depends only on its own pilot rows), then filtered: the
    adjustment rounds and the frontier ask again with other exclusions and budgets."""
    key = f"options:{config.model_dump_json()}"
    if key not in pilot.derived:
        pilot.derived[key] = _measured_options(pilot, config)
    return [option for option in pilot.derived[key] if (option.segment, option.programme) not in excluded]


def _measured_options(pilot: PilotResult, config: CareConfig) -> list[Option]:
    """Every option the pilot measured in every sample and level, in the order of the pilot's responses."""
    responses = shrunk_responses(pilot, config)
    levels = sorted(responses["level"].unique())
    coverage = np.array([0.0, *levels])
    ever = pilot.segments.groupby("segment")["ever_active"].mean()
    n_samples = len(responses[["scenario", "replication"]].drop_duplicates())
    built = []
    for (segment, programme), group in responses.groupby(["segment", "programme"], sort=False):
        measured = group[["effect_value", "effect_retained", "effect_satisfaction_poor"]].notna().all(axis=None)
        if not measured or len(group) != n_samples * len(levels) or group["eligible"].min() <= 0:
            continue
        # care changes who meets a key moment (fewer complaints, more subscribers staying for a reward); the
        # larger of the counts under no care and under any piloted level keeps the plan's spend an upper bound
        eligible = max(float(group["eligible_no_care"].mean()), float(group.groupby("level")["eligible"].mean().max()))
        scale = coverage[1:] * eligible

        rules = choose_rules(pilot.targeted, segment, programme, levels, config.evaluation.confidence)

        def effect(name: str, group=group, rules=rules, segment=segment, programme=programme) -> np.ndarray:
            """Samples × levels of ``name``, plus the gain of the rule chosen at each level (0 for random)."""
            table = group.pivot_table(index=["scenario", "replication"], columns="level", values=name)[levels]
            outcome = name.removeprefix("effect_")
            if outcome in GAINED and any(rule != TARGETS[RANDOM] for rule in rules.values()):
                gained = gain_samples(pilot.targeted, segment, programme, rules, outcome)
                for (scenario, replication), row in table.iterrows():
                    for level in levels:
                        table.loc[(scenario, replication), level] = row[level] + gained.get(
                            (scenario, replication, level), 0.0
                        )
            return table.to_numpy()

        value, value_samples = _curves(effect("effect_value") * scale, coverage)
        retained, retained_samples = _curves(effect("effect_retained") * scale, coverage)
        loyal, loyal_samples = _curves(effect("effect_loyal_active") * scale, coverage)
        poor, _ = _curves(-effect("effect_satisfaction_poor") * scale / max(ever[segment], 1.0), coverage)
        by_level = group.groupby("level")
        built.append(
            Option(
                segment=segment,
                programme=programme,
                eligible=eligible,
                cost_per_treated=float(by_level["cost_per_assigned"].mean().max()),
                coverage=tuple(float(c) for c in coverage),
                value=value,
                retained=retained,
                loyal=loyal,
                poor_reduction=poor,
                channel=config.catalogue[programme].channel,
                contacts_per_treated_month=float(by_level["contacts_per_assigned_month"].mean().max()),
                value_samples=value_samples,
                retained_samples=retained_samples,
                loyal_samples=loyal_samples,
                spend_profile=_spend_profile(pilot, config, segment, programme),
                targets=(TARGETS[RANDOM], *(rules[level] for level in levels)),
            )
        )
    return built


def _spend_profile(pilot: PilotResult, config: CareConfig, segment: str, programme: str) -> tuple[float, ...]:
    """Share of the option's variable spend in each budget period (empty when there are no periods)."""
    months = config.planner.period_months
    if months <= 0:
        return ()
    rows = pilot.spend_profile[(pilot.spend_profile.segment == segment) & (pilot.spend_profile.programme == programme)]
    period = rows["month"].to_numpy() // months
    shares = np.bincount(period, weights=rows["share"].to_numpy(), minlength=n_periods(config))
    return tuple(float(x) for x in shares / shares.sum()) if shares.sum() else ()


def n_periods(config: CareConfig) -> int:
    """Budget periods in the horizon (0 when the budget has no periods)."""
    months = config.planner.period_months
    return math.ceil(config.run.n_months / months) if months > 0 else 0


def planning_problem(
    pilot: PilotResult,
    config: CareConfig,
    excluded: frozenset[tuple[str, str]] = frozenset(),
    budget: float | None = None,
    extra_constraints: tuple = (),
) -> PlanningProblem:
    """The optimiser's problem: the pilot's options and the config's objective and limits.

    Limits on segments where no option can be offered are left out here (they hold, or cannot be met
    whatever the plan: ``unplannable`` says which).
    """
    planner = config.planner
    facts = pilot.segments.groupby("segment")[["active_mean", "poor_share"]].mean()
    periods = n_periods(config)
    period_budget = (
        tuple([planner.budget_per_period] * periods) if periods and planner.budget_per_period is not None else ()
    )
    offered = options(pilot, config, excluded)
    running = {option.programme for option in offered}
    channels = {option.channel for option in offered}
    segments = {option.segment for option in offered}
    months = config.run.n_months
    fixed = {p: config.catalogue[p].cost_fixed_per_month * months for p in pilot.programmes if p in running}
    return PlanningProblem(
        options=offered,
        budget=planner.budget if budget is None else budget,
        fixed_cost=fixed,
        objective=planner.objective,
        retention_target=planner.retention_target,
        segment_min_spend={s: x for s, x in planner.segment_min_spend.items() if s in segments},
        segment_max_spend={s: x for s, x in planner.segment_max_spend.items() if s in segments},
        channel_capacity={c: x for c, x in planner.channel_capacity.items() if c in channels},
        programme_capacity={
            p: config.catalogue[p].capacity_per_month
            for p in running
            if config.catalogue[p].capacity_per_month is not None
        },
        segment_size=facts["active_mean"].to_dict(),
        max_contacts_per_subscriber_month=planner.max_contacts_per_subscriber_month,
        poor_share=facts["poor_share"].to_dict(),
        max_poor_share={s: x for s, x in planner.max_poor_share.items() if s in segments},
        risk=planner.risk,
        cvar_alpha=planner.cvar_alpha,
        period_budget=period_budget,
        extra_constraints=list(extra_constraints),
    )


def unplannable(pilot: PilotResult, config: CareConfig, problem: PlanningProblem) -> list[str]:
    """Limits no plan can meet because no option can be offered where they apply, in plain words."""
    planner = config.planner
    segments = {option.segment for option in problem.options}
    poor = pilot.segments.groupby("segment")["poor_share"].mean()
    reasons = []
    if not problem.options:
        unmeasured = sorted(set(pilot.programmes) - set(pilot.responses.dropna(subset=["effect_value"]).programme))
        reasons.append(
            "no care option can be offered: no planned programme was measured in the pilot with an assigned and a "
            f"control group in every sample and level (never measured: {', '.join(unmeasured) or 'none'}; "
            f"dropped by the adjustment loop or never eligible: the rest)"
        )
    for segment, low in planner.segment_min_spend.items():
        if low > 0 and segment not in segments:
            reasons.append(f"segment {segment}: minimum spend {low:,.2f}, but no planned programme can be offered")
    for segment, floor in planner.max_poor_share.items():
        if segment not in segments and poor.get(segment, 0.0) > floor:
            reasons.append(
                f"segment {segment}: the share of Poor satisfaction is {poor[segment]:.1%} without care, above the "
                f"floor of {floor:.1%}, and no planned programme can be offered there"
            )
    return reasons
