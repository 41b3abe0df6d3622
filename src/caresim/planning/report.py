"""What planning produced: the plan, why it is what it is, how it fared in simulation; written and printed.

Reporting only reads what ``plan`` computed; it never re-runs anything.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from caresim.config.schema import CareConfig
from caresim.optimize import Plan, PlanningProblem
from caresim.optimize.evaluate import OBJECTIVE_METRIC
from caresim.planning.pilot import PilotResult
from caresim.results.manifest import manifest
from caresim.results.run import write_folder


def frontier_budgets(config: CareConfig) -> list[float]:
    """The budgets of the frontier: the configured list, or ``n_points`` evenly from 0 to twice the budget."""
    frontier = config.planner.frontier
    if frontier.budgets:
        return [float(b) for b in frontier.budgets]
    if frontier.n_points == 0:
        return []
    return [float(b) for b in np.linspace(0.0, 2.0 * config.planner.budget, frontier.n_points)]


def allocation_table(plan: Plan) -> pd.DataFrame:
    """The plan's coverage and spend per segment × programme, options left at zero omitted."""
    table = plan.allocations
    if table.empty:
        return table
    return table[table["coverage"] > 1e-9].reset_index(drop=True)


@dataclass
class PlanReport:
    """Everything planning produced. ``plan.coverage()`` is the policy to give ``caresim.simulation``."""

    config: CareConfig
    plan: Plan
    problem: PlanningProblem
    pilot: PilotResult
    estimates: pd.DataFrame
    overlaps: pd.DataFrame
    rounds: list[dict[str, object]]
    predicted: pd.DataFrame | None
    simulated: pd.DataFrame | None
    comparison: pd.DataFrame | None
    frontier: pd.DataFrame
    frontier_plans: pd.DataFrame
    seeds: pd.DataFrame | None = None  # purpose (verify: adjustment, final: the comparison), scenario, seed
    wall_seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)  # pilot, adjust, final, frontier: wall time
    extra: dict[str, object] = field(default_factory=dict)
    policy: dict[str, dict[str, object]] = field(default_factory=dict)  # the plan with its targeting rules

    @property
    def coverage(self) -> dict[str, dict[str, float]]:
        """The plan's shares assigned, ``{programme: {segment: share}}`` (empty when there is no plan)."""
        return self.plan.coverage() if self.plan.ok else {}

    def plan_table(self) -> pd.DataFrame:
        """The plan's allocations, with the targeting rule and the policy share of each (a targeted share
        counts its holdout: it assigns ``coverage`` of the eligible)."""
        table = allocation_table(self.plan)
        if table.empty:
            return table
        entries = [self.policy.get(p, {}).get(s) for p, s in zip(table.programme, table.segment, strict=True)]
        target = [e["target"] if isinstance(e, dict) else "random" for e in entries]
        share = [e["share"] if isinstance(e, dict) else c for e, c in zip(entries, table.coverage, strict=True)]
        return table.assign(target=target, policy_share=share)

    def qini_table(self) -> pd.DataFrame:
        """Per programme and pilot sample: the cross-fitted uplift model's Qini coefficient and interval."""
        qini = self.pilot.qini
        if qini.empty:
            return qini
        return qini.drop(columns=["fraction", "curve", "random_line"], errors="ignore")

    def qini_curves_table(self) -> pd.DataFrame:
        """The pilot's Qini curves, one row per programme × sample × point (for the report's figure)."""
        qini = self.pilot.qini
        if qini.empty or "curve" not in qini:
            return pd.DataFrame()
        keys = [c for c in ("programme", "scenario", "replication") if c in qini]
        points = qini[[*keys, "fraction", "curve", "random_line"]].explode(["fraction", "curve", "random_line"])
        return points.astype({"fraction": float, "curve": float, "random_line": float}).reset_index(drop=True)

    def rounds_table(self) -> pd.DataFrame:
        """One row per adjustment round: status, objective, cost, options dropped before it and failed in it."""
        rows = []
        for r in self.rounds:
            rows.append(
                {
                    "round": r["round"],
                    "status": r["status"],
                    "objective": r.get("objective", math.nan),
                    "cost": r.get("cost", math.nan),
                    "excluded": "; ".join(f"{s}/{p}" for s, p in r["excluded"]),
                    "failed": "; ".join(
                        f"{s}/{p} ({r.get('reasons', {}).get((s, p), 'failed')})" for s, p in r["failed"]
                    ),
                }
            )
        return pd.DataFrame(rows)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by name (tables not produced, e.g. after an infeasible plan, are left out)."""
        tables = {
            "plan": self.plan_table(),
            "pilot_targeting": self.pilot.targeted if not self.pilot.targeted.empty else None,
            "pilot_qini": self.qini_table() if not self.pilot.qini.empty else None,
            "pilot_qini_curves": self.qini_curves_table() if not self.pilot.qini.empty else None,
            "binding": self.plan.binding,
            "rounds": self.rounds_table(),
            "pilot_responses": self.pilot.responses,
            "pilot_segments": self.pilot.segments,
            "pilot_estimates": self.estimates,
            "overlaps": self.overlaps,
            "predicted": self.predicted,
            "simulated": self.simulated,
            "comparison": self.comparison,
            "frontier": self.frontier,
            "frontier_plans": self.frontier_plans,
            "seeds": self.seeds,
        }
        return {name: table for name, table in tables.items() if table is not None}

    def status(self) -> dict[str, object]:
        """The plan's status, objective, cost, explanation and the policy, as plain data."""
        return {
            "status": self.plan.status,
            "objective": self.config.planner.objective,
            "objective_value": self.plan.objective,
            "total_cost": self.plan.total_cost,
            "budget": self.config.planner.budget,
            "running": self.plan.running,
            "explanation": self.plan.explanation,
            "policy": self.policy or self.coverage,
        }

    def write(self, folder: str | Path, overrides: list[str] | None = None) -> Path:
        """Tables (Parquet + CSV), the resolved config, ``plan.json``, the summary and the manifest, whole or not
        at all."""
        files = {
            "config.yaml": yaml.safe_dump(self.config.model_dump(mode="json"), sort_keys=False),
            "plan.json": json.dumps(self.status(), indent=2, default=str),
            "summary.txt": render(self),
            "manifest.json": json.dumps(manifest(self.config, self.wall_seconds, "plan", overrides), indent=2),
        }
        return write_folder(folder, self.tables(), files, self.config.run.formats)


def _money(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    for unit, size in (("bn", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.2f} {unit}"
    return f"{value:,.0f}"


def _range(row: pd.Series, metric: str, money: bool = True) -> str:
    show = _money if money else (lambda x: f"{x:,.0f}")
    low, high = row.get(f"{metric}_low", math.nan), row.get(f"{metric}_high", math.nan)
    middle = show(row[metric])
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return middle
    return f"{middle} [{show(low)}, {show(high)}]"


def render(report: PlanReport, folder: str | None = None) -> str:
    """The printed summary: the plan, what binds, predicted vs simulated, baselines, adjustment rounds."""
    planner, plan = report.config.planner, report.plan
    lines = [f"caresim plan: scenario {report.config.scenario}, objective {planner.objective} ({planner.risk})"]
    lines.append(f"  status: {plan.status}; budget {_money(planner.budget)}, plan spends {_money(plan.total_cost)}")
    for reason in plan.explanation:
        lines.append(f"  why: {reason}")
    allocations = report.plan_table()
    if not allocations.empty:
        lines.append("  the plan (share of eligible subscribers assigned, how chosen, spend over the horizon):")
        for programme, group in allocations.groupby("programme", sort=False):
            parts = ", ".join(
                f"{r.segment} {r.coverage:.0%}" + ("" if r.target == "random" else f" by {r.target}")
                for r in group.itertuples()
            )
            lines.append(f"    {programme:<22} {_money(group.spend.sum()):>10}  {parts}")
    if not plan.binding.empty:
        lines.append("  binding limits (shadow price = objective gained per unit more):")
        for row in plan.binding.itertuples():
            name = row.constraint + (f"[{row.index}]" if row.index else "")
            lines.append(f"    {name:<34} limit {row.limit:>14,.2f}  shadow price {row.shadow_price:,.3f}")
    if report.comparison is not None:
        metric = OBJECTIVE_METRIC.get(planner.objective, "net_value")
        money = metric == "net_value"
        verified = planner.verify.scenarios or planner.scenarios
        scenarios = ", ".join(verified) if verified else report.config.scenario
        lines.append(
            f"  predicted vs simulated (held-out seeds the adjustment never used, scenario {scenarios}; 95% intervals),"
            f" {metric} against no care:"
        )
        for _, row in report.comparison.iterrows():
            predicted = _range(row, f"predicted_{metric}", money) if f"predicted_{metric}" in row else "n/a"
            cvar = row[f"{metric}_cvar"]
            tail = f"  CVaR({planner.cvar_alpha:g}) {_money(cvar) if money else f'{cvar:,.0f}'}"
            lines.append(
                f"    {row.policy:<17} spends {_money(row.cost):>9}  simulated {_range(row, metric, money):<34}"
                f" predicted {predicted:<34} "
                + (f"kept {_range(row, 'retained', money=False)}" if metric != "retained" else "")
                + (tail if planner.risk == "cvar" else "")
            )
        own = report.comparison.set_index("policy").loc["plan"]
        if own[f"predicted_{metric}"]:
            ratio = own[metric] / own[f"predicted_{metric}"]
            lines.append(f"    the plan realised {ratio:.2f} x its predicted {metric} in simulation")
        others = report.comparison[report.comparison.policy != "plan"]
        for _, row in others.iterrows():
            gain = pd.Series(
                {
                    "gain": -row["net_value_vs_plan"],
                    "gain_low": -row["net_value_vs_plan_high"],
                    "gain_high": -row["net_value_vs_plan_low"],
                }
            )
            lines.append(f"    plan minus {row.policy:<17} {_range(gain, 'gain')} (paired, same seeds)")
    overlaps = report.overlaps
    if not overlaps.empty:
        measured = overlaps.groupby(["programme_a", "programme_b"])["verdict"].agg(
            lambda v: (v != "not measured").any()
        )
        apart = overlaps[overlaps.verdict.isin(["sub-additive", "super-additive"])]
        examples = ", ".join(
            f"{r.segment} {r.programme_a}+{r.programme_b} ({r.verdict})" for r in apart.head(3).itertuples()
        )
        lines.append(
            f"  overlaps: of {len(measured)} programme pairs sharing a trigger or channel, {int(measured.sum())} "
            f"were measured in some segment; {len(apart)} segment x pair cells are not additive"
            f"{': ' + examples if examples else ''}. The optimiser adds effects; the simulation above checks "
            "the whole plan, and is what the unmeasured pairs rely on"
        )
    rounds = report.rounds_table()
    if len(rounds) > 1 or (len(rounds) and rounds.failed.iloc[0]):
        lines.append(
            "  adjustment rounds (options dropped when, against their control group, they harm, show no"
            " measurable effect or, objective net value, lose money):"
        )
        for row in rounds.itertuples():
            failed = row.failed or "none failed"
            lines.append(f"    round {row.round}: {row.status}, objective {_money(row.objective)}; failed: {failed}")
    if folder:
        lines.append(f"  tables written to {folder}")
    return "\n".join(lines)
