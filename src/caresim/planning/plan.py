"""``plan(config)``: pilot → optimise → verify by simulation → adjust what fails → compare → frontier.

1. Pilot every planned programme in the scenario (or in each of ``planner.scenarios``).
2. Optimise the care mix on the pilot's response curves (``caresim.optimize``, plain data in and out).
3. Simulate the plan with fresh seeds (in every scenario) and judge each option against its control group
   (``caresim.results.evaluation``, pooled over the runs). Options that harm, have no measurable effect, or
   (objective net value) lose money are dropped and the plan is optimised again, until no new option fails
   or ``planner.adjust.max_rounds`` is reached; every round is reported.
4. Simulate the chosen plan, today's practice (the config's own ``policy``) and baselines that spend the
   plan's money on held-out seeds that the adjustment never used; report predicted against simulated.
5. Re-optimise over a range of budgets (the frontier), with the options the adjustment loop dropped left out.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from caresim.config.errors import ConfigError
from caresim.config.loading import with_scenario
from caresim.config.schema import CareConfig
from caresim.engine.policy import CarePolicy
from caresim.executors import ExecutorError, Pool, pool_of
from caresim.optimize import Plan, PlanningProblem, solve
from caresim.planning.baselines import baseline_plans, predict
from caresim.planning.cache import RunCache
from caresim.planning.pilot import PilotResult, run_pilot
from caresim.planning.report import PlanReport, allocation_table, frontier_budgets
from caresim.planning.responses import estimates, overlap_estimates, planning_problem, unplannable
from caresim.planning.targeting import final_models, plan_policy, share_assigned, with_rule
from caresim.planning.verify import Verifier, compare, targets_by_uplift

MIN_SIMULATED_PER_SEGMENT = 10
Excluded = frozenset[tuple[str, str]]


def scenario_configs(config: CareConfig) -> list[CareConfig]:
    """The config itself, or, per scenario of ``planner.scenarios``, the config that names that scenario
    (defaults, that scenario's file, then this config's own changes on top)."""
    return [with_scenario(config, name) for name in config.planner.scenarios] or [config]


def with_contact_policy(config: CareConfig) -> CareConfig:
    """The planner's contact policy (at most k care contacts per subscriber per month) enforced per subscriber
    in the verifying simulation (k rounded up: the optimiser holds the segment's mean within k), on top of
    any limit the service already has."""
    k = config.planner.max_contacts_per_subscriber_month
    if k is None:
        return config
    current = config.service.n_max_care_contacts_per_month
    cap = math.ceil(k)
    limit = cap if current is None else min(cap, current)
    service = config.service.model_copy(update={"n_max_care_contacts_per_month": limit})
    return config.model_copy(update={"service": service})


def cache_folder(config: CareConfig) -> Path:
    """Where finished simulation runs of planning jobs are kept: ``<run.output_dir>/.cache/planner``."""
    return Path(config.run.output_dir) / ".cache" / "planner"


def check_scales(configs: list[CareConfig]) -> None:
    """Refuse a pilot or run scale that leaves a segment with too few simulated subscribers to measure."""
    for config in configs:
        for key, scale in (("planner.pilot.scale", config.planner.pilot.scale), ("run.scale", config.run.scale)):
            scale = scale or config.run.scale
            for name, segment in config.population.segments.items():
                if segment.size / scale < MIN_SIMULATED_PER_SEGMENT:
                    raise ConfigError(
                        f"{key}: {scale:g} leaves segment {name} with {segment.size / scale:.1f} simulated "
                        f"subscribers; at most {segment.size / MIN_SIMULATED_PER_SEGMENT:g} keeps "
                        f"{MIN_SIMULATED_PER_SEGMENT}"
                    )


TODAYS_PRACTICE = "todays_practice"


def _n_runs(config: CareConfig, n_scenarios: int, n_verified: int) -> int:
    planner = config.planner
    pilot = n_scenarios * planner.pilot.n_replications * (1 + len(planner.pilot.coverage_levels))
    adjust = 1 + 1 + planner.adjust.max_rounds  # twin, then a plan per round
    variants = 1 + len(planner.targeting) if planner.targeting else 0  # the plan under each rule alone
    final = 1 + 1 + 1 + len(planner.verify.baselines) + variants  # twin, plan, today's practice, baselines
    return pilot + n_verified * planner.verify.n_replications * (adjust + final)


@contextmanager
def planning_pool(config: CareConfig) -> Iterator[Pool]:
    """The pool the planner's simulations run on (``planner.executor``, ``planner.n_workers``)."""
    planner = config.planner
    try:
        with pool_of(planner.executor, planner.n_workers, config.run.ray_address) as pool:
            yield pool
    except ExecutorError as error:
        raise ConfigError(f"planner.executor: {error}") from None


def todays_practice(config: CareConfig) -> dict[str, dict[str, object]]:
    """The config's own policy ``{programme: {segment: share or {share, target}}}`` (only what it covers),
    its targeting rules kept. Targeting by uplift needs a model the plan cannot vouch for: refused."""
    policy = CarePolicy.from_mapping(
        config.policy,
        tuple(config.population.segments),
        tuple(config.catalogue),
        scorers=dict.fromkeys(config.catalogue, None),  # checked here; the rule is refused below
    )
    practice = {
        programme: {segment: entry for segment, entry in shares.items() if share_assigned(entry, 0.0) > 0}
        for programme, shares in policy.to_mapping().items()
    }
    for programme, shares in practice.items():
        for segment, entry in shares.items():
            if isinstance(entry, dict) and entry.get("target") == "uplift":
                raise ConfigError(
                    f"policy.{programme}: today's practice targets {segment} by uplift, which mode=plan cannot "
                    "compare fairly (its model is not the pilot's); give it as random, risk or value"
                )
    return {programme: shares for programme, shares in practice.items() if shares}


def plan(
    config: CareConfig,
    progress: bool | None = None,
    extra_constraints: Sequence[Callable] = (),
    on_run: Callable[[int, int], None] | None = None,
) -> PlanReport:
    """Plan the care mix for ``config`` and check it by simulation; see the module docstring.

    ``extra_constraints`` are functions ``f(model, problem)`` adding named Pyomo constraints to the model
    (see ``caresim.optimize.build``); they apply to every plan made here, the frontier's included.
    ``on_run(finished, total)`` is called as each simulation run is in (from the thread that collects it).
    """
    started = time.perf_counter()
    configs = scenario_configs(config)
    check_scales(configs)
    practice = todays_practice(config)  # a policy the plan cannot be compared with fails before any run
    n_verified = len(config.planner.verify.scenarios) or len(configs)
    cache = RunCache(cache_folder(config) if config.planner.resume else None)
    show = config.run.progress if progress is None else progress
    extras = tuple(extra_constraints)
    total = _n_runs(config, len(configs), n_verified)
    phases: dict[str, float] = {}
    with (
        tqdm(total=total, desc="planning", unit="run", disable=not show) as bar,
        planning_pool(config) as pool,
    ):
        lock = threading.Lock()

        def tick() -> None:  # called from the threads that collect finished tasks
            with lock:
                bar.update(1)
                if on_run is not None:
                    on_run(min(bar.n, total), total)

        checked = [with_scenario(config, n) for n in config.planner.verify.scenarios] or configs
        verified = [with_contact_policy(c) for c in checked]
        verifier = Verifier(verified, tick, cache, purpose="verify", pool=pool)
        final = Verifier(verified, tick, cache, purpose="final", pool=pool)

        def meanwhile() -> None:  # runs that depend on no plan: the adjustment's twins queued behind the pilot,
            verifier.submit_twins()  # the final comparison's into workers the adjustment rounds leave idle
            final.submit_twins(when_idle=True)

        bar.set_postfix_str(f"pilot, {pool.kind} ×{pool.n_workers}")
        pilot = run_pilot(configs, tick, cache, pool, meanwhile)
        phases["pilot"] = time.perf_counter() - started
        bar.set_postfix_str("optimise and verify")
        models = final_models(pilot.training, config.run.seed, config.uplift.learner, pool)
        models_key = hashlib.sha256(pickle.dumps(models)).hexdigest()[:16] if models else ""
        verifier.use_models(models, models_key)
        final.use_models(models, models_key)

        def practice_meanwhile() -> None:  # today's practice and no care depend on no plan: into workers the
            if final.twins_done():  # rounds leave idle, once the no-care twins are in (runs are queued with them)
                final.submit(practice, when_idle=True)
                if "no_care" in config.planner.verify.baselines:
                    final.submit({}, when_idle=True)

        rounds, chosen, excluded = _adjust(pilot, config, verifier, extras, practice_meanwhile)
        phases["adjust"] = time.perf_counter() - started - sum(phases.values())
        problem = planning_problem(pilot, config, excluded, extra_constraints=extras)
        comparison = predicted = simulated = None
        policies: dict[str, dict] = {}
        if chosen.ok:
            bar.set_postfix_str("final comparison, held-out seeds")
            coverage = {p: dict(s) for p, s in chosen.coverage().items()}
            money = chosen.total_cost if config.planner.objective == "min_cost" else config.planner.budget
            baselines = baseline_plans(problem, money, config.planner.verify.baselines, pilot.segments)
            shares_only = {"plan": coverage, **baselines}
            policies = {
                "plan": plan_policy(problem.options, coverage, config.evaluation.holdout_share),
                TODAYS_PRACTICE: practice,
                **baselines,
                **_rule_variants(config, problem.options, coverage, models),
            }
            predicted = _predicted_table(problem, shares_only)
            # all queued first, so that every worker has work; the longest runs first, so that none is left
            # running alone at the end
            for policy in sorted(policies.values(), key=targets_by_uplift, reverse=True):
                final.submit(policy)
            simulated = pd.concat([final.totals(name, c) for name, c in policies.items()], ignore_index=True)
            comparison = compare(simulated, predicted, reference="plan", alpha=config.planner.cvar_alpha)
        phases["final"] = time.perf_counter() - started - sum(phases.values())
        bar.set_postfix_str("frontier")
        frontier, frontier_plans = _frontier(pilot, config, excluded, extras)
        phases["frontier"] = time.perf_counter() - started - sum(phases.values())
    return PlanReport(
        config=config,
        plan=chosen,
        problem=problem,
        pilot=pilot,
        estimates=estimates(pilot, config),
        overlaps=overlap_estimates(pilot),
        rounds=rounds,
        predicted=predicted,
        simulated=simulated,
        comparison=comparison,
        frontier=frontier,
        frontier_plans=frontier_plans,
        seeds=pd.concat([verifier.seeds(), final.seeds()], ignore_index=True),
        wall_seconds=time.perf_counter() - started,
        phase_seconds=phases,
        policy=policies["plan"] if chosen.ok else {},
    )


def _rule_variants(config: CareConfig, options: list, coverage: dict, models: dict) -> dict[str, dict]:
    """The plan's coverage with every covered option under one rule, assigning as many as the plan (equal
    spend): ``plan_by_random``, ``plan_by_risk`` and ``plan_by_uplift`` (programmes without a model stay
    random). Only when the planner may target."""
    rules = config.planner.targeting
    if not rules:
        return {}
    holdout = config.evaluation.holdout_share
    variants = {}
    for rule in ("random", *rules):
        if rule == "uplift":
            kept = {p: shares for p, shares in coverage.items() if p in models}
            rest = {p: shares for p, shares in coverage.items() if p not in models}
            variants[f"plan_by_{rule}"] = with_rule(kept, rule, holdout) | with_rule(rest, "random", holdout)
        else:
            variants[f"plan_by_{rule}"] = with_rule(coverage, rule, holdout)
    return variants


def _solve(
    pilot: PilotResult, config: CareConfig, excluded: Excluded, budget: float | None, extras: tuple
) -> tuple[Plan, PlanningProblem]:
    """Solve the planning problem, or say in words why no plan can meet limits where nothing can be offered."""
    problem = planning_problem(pilot, config, excluded, budget=budget, extra_constraints=extras)
    reasons = unplannable(pilot, config, problem)
    if reasons:
        return Plan(status="infeasible" if problem.options else "no_options", explanation=reasons), problem
    return solve(problem), problem


def _adjust(
    pilot: PilotResult, config: CareConfig, verifier: Verifier, extras: tuple, meanwhile: Callable[[], None]
) -> tuple[list[dict[str, object]], Plan, Excluded]:
    """The adjustment loop: plan, simulate, drop the options that failed, plan again. Returns the rounds, the
    last plan that could be made, and the options excluded for it. ``meanwhile`` is called as each round
    starts (to queue independent work)."""
    excluded: Excluded = frozenset()
    rounds: list[dict[str, object]] = []
    chosen, chosen_excluded = None, excluded
    for round_no in range(config.planner.adjust.max_rounds + 1):
        meanwhile()
        result, problem = _solve(pilot, config, excluded, None, extras)
        record: dict[str, object] = {"round": round_no, "status": result.status, "excluded": sorted(excluded)}
        record["failed"] = []
        rounds.append(record)
        if not result.ok:
            chosen = chosen or result
            break
        chosen, chosen_excluded = result, excluded
        record.update(objective=result.objective, cost=result.total_cost)
        failed = verifier.options_to_drop(
            plan_policy(problem.options, result.coverage(), config.evaluation.holdout_share)
        )
        record["failed"] = sorted(zip(failed.segment, failed.programme, strict=True))
        record["reasons"] = {(s, p): r for s, p, r in zip(failed.segment, failed.programme, failed.reason, strict=True)}
        new = set(record["failed"]) - excluded
        if not new:
            break
        excluded = excluded | new
    return rounds, chosen, chosen_excluded


def _predicted_table(problem: PlanningProblem, policies: dict[str, dict[str, dict[str, float]]]) -> pd.DataFrame:
    """Predicted totals of each policy, from the pilot's curves (a policy outside what was piloted, e.g.
    today's practice covering more than the highest pilot level, has no prediction)."""
    rows = []
    for name, coverage in policies.items():
        try:
            forecast = predict(problem, coverage)
        except ValueError:
            continue
        forecast.pop("poor_share_by_segment")
        rows.append({"policy": name, **forecast})
    return pd.DataFrame(rows)


def _frontier(
    pilot: PilotResult, config: CareConfig, excluded: Excluded, extras: tuple
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan re-optimised at each budget: predicted value, subscribers kept and Poor share, with the plan."""
    weights = pilot.segments.groupby("segment")["ever_active"].mean()
    rows, plans = [], []
    for budget in frontier_budgets(config):
        result, problem = _solve(pilot, config, excluded, budget, extras)
        row: dict[str, object] = {"budget": budget, "status": result.status}
        if result.ok:
            forecast = predict(problem, result.coverage())
            poor = forecast.pop("poor_share_by_segment")
            row.update(forecast)
            row["poor_share"] = sum(poor.get(s, 0.0) * n for s, n in weights.items()) / weights.sum()
            plans.append(allocation_table(result).assign(budget=budget))
        rows.append(row)
    return pd.DataFrame(rows), (pd.concat(plans, ignore_index=True) if plans else pd.DataFrame())
