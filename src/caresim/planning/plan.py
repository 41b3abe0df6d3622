"""``plan(config)``: pilot → optimise → verify by simulation → adjust what fails → compare → frontier.

1. Pilot every planned programme in the scenario (or in each of ``planner.scenarios``).
2. Optimise the care mix on the pilot's response curves (``caresim.optimize``, plain data in and out).
3. Simulate the plan with fresh seeds. Options whose treated subscribers stay Fair or worse (domain.md's
   success rule) are dropped and the plan is optimised again, until no new option fails or
   ``planner.adjust.max_rounds`` is reached; every round is reported.
4. Simulate baselines that spend the same money on the same seeds; report predicted against simulated.
5. Re-optimise over a range of budgets (the frontier), predicted from the pilot.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm import tqdm

from caresim.loading import apply_scenario
from caresim.optimize import Plan, PlanningProblem, solve
from caresim.planning.baselines import baseline_plans, predict
from caresim.planning.cache import RunCache
from caresim.planning.pilot import PilotResult, run_pilot
from caresim.planning.report import PlanReport, allocation_table, frontier_budgets
from caresim.planning.responses import estimates, overlap_estimates, planning_problem
from caresim.planning.verify import Verifier, compare
from caresim.schema import CareConfig


def scenario_configs(config: CareConfig) -> list[CareConfig]:
    """The config itself, or, per scenario of ``planner.scenarios``, the config with that scenario's overrides."""
    if not config.planner.scenarios:
        return [config]
    return [apply_scenario(config, name) for name in config.planner.scenarios]


def cache_folder(config: CareConfig) -> Path:
    """Where finished simulation runs of planning jobs are kept: ``<run.output_dir>/.cache/planner``."""
    return Path(config.run.output_dir) / ".cache" / "planner"


def _n_runs(config: CareConfig, n_scenarios: int) -> int:
    planner = config.planner
    pilot = n_scenarios * planner.pilot.n_replications * (1 + len(planner.pilot.coverage_levels))
    verify = planner.verify.n_replications * (2 + len(planner.verify.baselines) + planner.adjust.max_rounds)
    return pilot + verify


def plan(config: CareConfig, progress: bool | None = None) -> PlanReport:
    """Plan the care mix for ``config`` and check it by simulation; see the module docstring."""
    configs = scenario_configs(config)
    cache = RunCache(cache_folder(config) if config.planner.resume else None)
    show = config.run.progress if progress is None else progress
    with tqdm(total=_n_runs(config, len(configs)), desc="planning", unit="run", disable=not show) as bar:
        tick = lambda: bar.update(1)  # noqa: E731
        bar.set_postfix_str("pilot")
        pilot = run_pilot(configs, tick, cache)
        bar.set_postfix_str("optimise and verify")
        verifier = Verifier(config, tick, cache)
        excluded: frozenset[tuple[str, str]] = frozenset()
        rounds = []
        for round_no in range(config.planner.adjust.max_rounds + 1):
            problem = planning_problem(pilot, config, excluded)
            result = solve(problem)
            record = {"round": round_no, "status": result.status, "excluded": sorted(excluded), "failed": []}
            rounds.append(record)
            if not result.ok:
                break
            record.update(objective=result.objective, cost=result.total_cost, plan=result)
            failed = verifier.failed_options(result.coverage())
            record["failed"] = sorted(zip(failed.segment, failed.programme, strict=True))
            new = set(record["failed"]) - excluded
            if not new:
                break
            excluded = excluded | new
        final = next((r for r in reversed(rounds) if r.get("plan") is not None), None)
        chosen: Plan = final["plan"] if final else result
        problem = planning_problem(pilot, config, frozenset(final["excluded"]) if final else excluded)
        comparison = predicted = simulated = None
        if chosen.ok:
            bar.set_postfix_str("baselines")
            coverage = {p: dict(s) for p, s in chosen.coverage().items()}
            money = predict(problem, coverage)["cost"]
            baselines = baseline_plans(problem, money, config.planner.verify.baselines, pilot.segments)
            policies = {"plan": coverage, **baselines}
            predicted = _predicted_table(problem, policies)
            simulated = pd.concat([verifier.totals(name, c) for name, c in policies.items()], ignore_index=True)
            comparison = compare(simulated, predicted, reference="plan")
        bar.set_postfix_str("frontier")
        frontier, frontier_plans = _frontier(pilot, config)
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
    )


def _predicted_table(problem: PlanningProblem, policies: dict[str, dict[str, dict[str, float]]]) -> pd.DataFrame:
    """Predicted totals of each policy, from the pilot's curves."""
    rows = []
    for name, coverage in policies.items():
        forecast = predict(problem, coverage)
        forecast.pop("poor_share_by_segment")
        rows.append({"policy": name, **forecast})
    return pd.DataFrame(rows)


def _frontier(pilot: PilotResult, config: CareConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan re-optimised at each budget: predicted value, subscribers kept and Poor share, with the plan."""
    rows, plans = [], []
    for budget in frontier_budgets(config):
        problem = planning_problem(pilot, config, budget=budget)
        result = solve(problem)
        row = {"budget": budget, "status": result.status}
        if result.ok:
            coverage = result.coverage()
            forecast = predict(problem, coverage)
            poor = forecast.pop("poor_share_by_segment")
            sizes = problem.segment_size
            total = sum(sizes.values())
            row.update(forecast)
            row["poor_share"] = sum(poor.get(s, 0.0) * n for s, n in sizes.items()) / total if total else 0.0
            plans.append(allocation_table(result).assign(budget=budget))
        rows.append(row)
    return pd.DataFrame(rows), (pd.concat(plans, ignore_index=True) if plans else pd.DataFrame())
