"""Checking plans by simulation: each policy is run at the scenario's own scale with fresh seeds (never the
pilot's), next to a no-care twin of the same seed, and valued against it subscriber by subscriber.

Seeds are drawn for a purpose: ``verify`` for the adjustment loop, which chooses on them, and ``final`` for
the comparison of the chosen plan with the baselines, which is therefore made on seeds nothing was selected
on. ``seeds()`` lists the seeds a verifier used.

With several scenarios every policy is run in each of them, on the same seeds; a replication's figure is
the mean over the scenarios (equal weight, as in the pilot), and CVaR is taken over every scenario ×
replication. Runs are cached by scenario, policy and replication, so the adjustment loop and the baseline
comparison never run the same policy on the same seed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future

import numpy as np
import pandas as pd

from caresim.config.schema import CareConfig
from caresim.engine.policy import CarePolicy
from caresim.engine.record import RunRecord
from caresim.executors import Pool
from caresim.optimize.evaluate import cvar
from caresim.planning.cache import RunCache, run_identity
from caresim.planning.outcomes import Outcomes, policy_totals
from caresim.planning.seeds import derived_seed
from caresim.results.evaluation import HARMS, NO_EFFECT, evaluate_programmes, judge
from caresim.results.intervals import t_interval
from caresim.results.value import remaining_lifetime
from caresim.simulation import run_record

Coverage = Mapping[str, Mapping[str, object]]  # {programme: {segment: share or {share, target}}}
METRICS = ("net_value", "value", "retained", "loyal", "cost", "poor_share", "good_or_better_share", "loyal_share")


def _entry(entry: object) -> tuple[float, str]:
    if isinstance(entry, Mapping):
        return float(entry["share"]), str(entry.get("target", "random"))
    return float(entry), "random"


def targets_by_uplift(coverage: Coverage) -> bool:
    """Whether any option of ``coverage`` is targeted by uplift: its runs score subscribers with a model, and
    take about twice as long as others."""
    entries = (_entry(entry) for shares in coverage.values() for entry in shares.values())
    return any(share > 0 and rule == "uplift" for share, rule in entries)


def _key(coverage: Coverage) -> tuple:
    rows = []
    for p, shares in coverage.items():
        for s, entry in shares.items():
            share, rule = _entry(entry)
            if share > 0:
                rows.append((p, s, round(share, 9)) if rule == "random" else (p, s, round(share, 9), rule))
    return tuple(sorted(rows))


def twin_run(config: CareConfig, cap_months: int) -> tuple[Outcomes, np.ndarray, RunRecord]:
    """The no-care run of ``config``'s seed: its outcomes, the remaining lifetimes it gives, and its record."""
    record = run_record(config, {})
    lifetime = remaining_lifetime(record, cap_months)
    return Outcomes.of(record, lifetime), lifetime, record


def policy_run(
    config: CareConfig,
    mapping: Mapping[str, Mapping[str, object]],
    scorers: Mapping[str, object],
    twin: tuple[Outcomes, np.ndarray, RunRecord],
) -> dict[str, object]:
    """A policy run on ``config``'s seed, valued against its no-care ``twin``: totals and programme evaluation."""
    outcomes, lifetime, reference = twin
    policy = CarePolicy.from_mapping(
        mapping,
        tuple(config.population.segments),
        tuple(config.catalogue),
        holdout=config.evaluation.holdout_share,
        scorers=dict(scorers),
    )
    record = run_record(config, policy)
    totals = policy_totals(record, outcomes, lifetime)
    return {"totals": totals, "programmes": evaluate_programmes(record, reference)}


class Verifier:
    """Simulates policies in each scenario config over ``verify.n_replications`` fresh seeds.

    Runs are tasks of ``pool``: ``submit`` queues a policy's runs and returns at once, ``runs`` waits for them.
    """

    def __init__(
        self,
        configs: list[CareConfig],
        tick: Callable[[], None] | None = None,
        cache: RunCache | None = None,
        purpose: str = "verify",
        scorers: Mapping[str, object] | None = None,
        scorers_key: str = "",
        pool: Pool | None = None,
    ) -> None:
        self.configs = configs
        self.purpose = purpose
        self.n_replications = configs[0].planner.verify.n_replications
        self.tick = tick
        self.cache = cache or RunCache(None)
        self.pool = pool or Pool()
        self.cap_months = configs[0].planner.pilot.months_after_horizon
        self.use_models(scorers or {}, scorers_key)
        self._twins: dict[tuple[int, int], Future] = {}
        self._runs: dict[tuple, list[tuple[dict[str, object], Future]]] = {}

    def use_models(self, scorers: Mapping[str, object], scorers_key: str) -> None:
        """The uplift models (programme -> model) of options targeted by uplift, and what identifies them."""
        self.scorers = dict(scorers)
        self.scorers_key = scorers_key

    def _config(self, scenario: int, replication: int) -> CareConfig:
        config = self.configs[scenario]
        seed = derived_seed(self.configs[0].run.seed, self.purpose, replication, scenario)
        run = config.run.model_copy(update={"seed": seed, "progress": False})
        # options are judged on the value the planner optimises: revenue kept beyond the horizon included
        evaluation = config.evaluation.model_copy(
            update={"value_beyond_horizon": True, "months_after_horizon": self.cap_months}
        )
        return config.model_copy(update={"run": run, "evaluation": evaluation})

    def _submit(self, parts: tuple, function: Callable[..., object], *args: object, when_idle: bool = False) -> Future:
        return self.cache.submit(self.pool, parts, function, *args, tick=self.tick, when_idle=when_idle)

    def _twin(self, scenario: int, replication: int, when_idle: bool = False) -> Future:
        """The no-care run of this seed (``twin_run``), submitted once."""
        if (scenario, replication) not in self._twins:
            config = self._config(scenario, replication)
            parts = ("twin-record", run_identity(config), self.cap_months)
            twin = self._submit(parts, twin_run, config, self.cap_months, when_idle=when_idle)
            self._twins[(scenario, replication)] = twin
        return self._twins[(scenario, replication)]

    def submit_twins(self, when_idle: bool = False) -> None:
        """Queue every no-care run now (they depend on no plan); ``when_idle``: only into idle workers."""
        for scenario in range(len(self.configs)):
            for replication in range(self.n_replications):
                self._twin(scenario, replication, when_idle)

    def twins_done(self) -> bool:
        """Whether every no-care run is submitted and finished (so a policy's runs can be queued at once)."""
        expected = len(self.configs) * self.n_replications
        return len(self._twins) == expected and all(twin.done() for twin in self._twins.values())

    def submit(self, coverage: Coverage, when_idle: bool = False) -> None:
        """Queue the runs of a policy in every scenario × replication (once per policy); ``when_idle``: only
        into idle workers."""
        key = _key(coverage)
        if key in self._runs:
            return
        mapping = {p: dict(shares) for p, shares in coverage.items()}
        uses_models = any(len(row) == 4 and row[3] == "uplift" for row in key)
        models = self.scorers_key if uses_models else ""
        scorers = self.scorers if uses_models else {}
        runs = []
        for scenario in range(len(self.configs)):
            for replication in range(self.n_replications):
                config = self._config(scenario, replication)
                sample = {"scenario": config.scenario, "replication": replication, "seed": config.run.seed}
                parts = ("policy", run_identity(config), key, self.cap_months, models)
                twin = self._twin(scenario, replication).result()
                run = self._submit(parts, policy_run, config, mapping, scorers, twin, when_idle=when_idle)
                runs.append((sample, run))
        self._runs[key] = runs

    def runs(self, coverage: Coverage) -> list[dict[str, object]]:
        """Per scenario × replication: the policy's totals against no care and its programme evaluation."""
        self.submit(coverage)
        return [{**future.result(), **sample} for sample, future in self._runs[_key(coverage)]]

    def totals(self, name: str, coverage: Coverage) -> pd.DataFrame:
        """One row per scenario × replication: the policy's simulated totals."""
        rows = [
            {
                "policy": name,
                "scenario": run["scenario"],
                "replication": run["replication"],
                "seed": run["seed"],
                **run["totals"],
            }
            for run in self.runs(coverage)
        ]
        return pd.DataFrame(rows)

    def seeds(self) -> pd.DataFrame:
        """The seeds this verifier simulates on: purpose, scenario, replication, seed."""
        rows = [
            {
                "purpose": self.purpose,
                "scenario": self.configs[s].scenario,
                "replication": r,
                "seed": self._config(s, r).run.seed,
            }
            for s in range(len(self.configs))
            for r in range(self.n_replications)
        ]
        return pd.DataFrame(rows)

    def option_verdicts(self, coverage: Coverage) -> pd.DataFrame:
        """Each option of ``coverage`` judged against its control group, pooled over every run (scenarios ×
        replications): the mean of the runs' intention-to-treat effects, its standard error, joint intervals
        over the plan's options and the evaluation's verdict (see ``caresim.results.evaluation``)."""
        frames = [run["programmes"] for run in self.runs(coverage)]
        table = pd.concat(frames, ignore_index=True)
        planned = {(s, p) for p, shares in coverage.items() for s, x in shares.items() if _entry(x)[0] > 0}
        table = table[[(s, p) in planned for s, p in zip(table.segment, table.programme, strict=True)]]
        table = table.assign(
            net_benefit_before_fixed=table["net_benefit"] + table["fixed_cost"],
            net_benefit_before_fixed_se=table["net_benefit_se"],
        )
        measures = ("grade_shift", "churn_reduction_by_end", "net_benefit", "net_benefit_before_fixed")
        rows = []
        for (segment, programme), group in table.groupby(["segment", "programme"], sort=True):
            usable = group[group["evaluable"].astype(bool)]
            row: dict[str, object] = {"segment": segment, "programme": programme, "runs": len(group)}
            row["runs_evaluated"] = len(usable)
            row["assigned"] = float(group["assigned"].mean())
            row["control"] = float(group["control"].mean())
            row["evaluable"] = len(usable) > 0  # pooled over the runs that had both groups
            for measure in measures:
                k = max(len(usable), 1)
                row[measure] = float(usable[measure].mean()) if len(usable) else np.nan
                row[f"{measure}_se"] = (
                    float(np.sqrt((usable[f"{measure}_se"] ** 2).sum()) / k) if len(usable) else np.nan
                )
            rows.append(row)
        if not rows:
            return pd.DataFrame(columns=["segment", "programme", "verdict"])
        confidence = self.configs[0].evaluation.confidence
        return judge(pd.DataFrame(rows), confidence)

    def options_to_drop(self, coverage: Coverage) -> pd.DataFrame:
        """Options of ``coverage`` the adjustment loop drops: those that harm or have no measurable effect
        against their control group, and, when the objective is net value, those that lose money: margin
        kept below their variable cost (``net_benefit_before_fixed`` < 0; a programme's fixed cost is not
        saved by dropping one segment's option, and the optimiser decides whether a programme runs at all).
        Options without a control group in any run (coverage 1) cannot be judged and stay."""
        verdicts = self.option_verdicts(coverage)
        if verdicts.empty:
            return verdicts.assign(reason=pd.Series(dtype=str))
        reason = np.where(verdicts["verdict"].isin([HARMS, NO_EFFECT]), verdicts["verdict"], "")
        if self.configs[0].planner.objective == "net_value":
            loses = verdicts["evaluable"].astype(bool) & (verdicts["net_benefit_before_fixed"] < 0) & (reason == "")
            reason = np.where(loses, "loses money", reason)
        verdicts["reason"] = reason
        return verdicts[verdicts["reason"] != ""].reset_index(drop=True)


def compare(simulated: pd.DataFrame, predicted: pd.DataFrame, reference: str, alpha: float) -> pd.DataFrame:
    """Per policy: simulated metrics with 95% intervals across replications (each the mean over scenarios),
    the CVaR of net value over scenario × replication runs, predicted metrics with their intervals, and the
    paired difference in net value against ``reference`` (same seeds) with its interval."""
    rows = []
    numeric = [c for c in simulated.columns if c not in ("policy", "scenario", "replication", "seed")]
    per_replication = simulated.groupby(["policy", "replication"], sort=False)[numeric].mean()
    reference_net = per_replication.loc[reference, "net_value"]
    for name, group in per_replication.groupby(level="policy", sort=False):
        group = group.droplevel("policy")
        row: dict[str, object] = {"policy": name}
        for metric in METRICS:
            row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = t_interval(group[metric])
        for metric in ("net_value", "retained", "loyal"):  # over every scenario × replication run
            row[f"{metric}_cvar"] = cvar(simulated.loc[simulated.policy == name, metric].to_numpy(), None, alpha)
        difference = group["net_value"] - reference_net
        row["net_value_vs_plan"], row["net_value_vs_plan_low"], row["net_value_vs_plan_high"] = t_interval(difference)
        prefixes = ("contacts_", "max_contacts_", "poor_share_", "most_contacts_", "withheld_")
        for column in (c for c in numeric if c.startswith(prefixes)):
            row[column] = float(simulated.loc[simulated.policy == name, column].max())  # the worst run
        if name in set(predicted.policy):
            forecast = predicted.set_index("policy").loc[name]
            for metric in ("net_value", "retained", "loyal", "cost"):
                for suffix in ("", "_low", "_high"):
                    row[f"predicted_{metric}{suffix}"] = float(forecast[f"{metric}{suffix}"])
        rows.append(row)
    return pd.DataFrame(rows)
