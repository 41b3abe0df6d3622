"""Checking plans by simulation: each policy is run at the scenario's own scale with fresh seeds (never the
pilot's), next to a no-care twin of the same seed, and valued against it subscriber by subscriber.

Runs are cached by policy and replication, so the adjustment loop and the baseline comparison never run the
same policy on the same seed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from caresim.evaluation import evaluate_programmes
from caresim.planning.cache import RunCache, run_identity
from caresim.planning.outcomes import Outcomes, policy_totals, remaining_lifetime, run_model
from caresim.planning.responses import interval
from caresim.planning.seeds import derived_seed
from caresim.schema import CareConfig
from caresim.simulate import build_model

Coverage = Mapping[str, Mapping[str, float]]
METRICS = ("net_value", "value", "retained", "cost", "poor_share", "good_or_better_share", "loyal_share")


def _key(coverage: Coverage) -> tuple:
    return tuple(
        sorted((p, s, round(float(x), 9)) for p, shares in coverage.items() for s, x in shares.items() if x > 0)
    )


class Verifier:
    """Simulates policies over ``n_replications`` fresh seeds; one no-care twin per seed."""

    def __init__(
        self, config: CareConfig, tick: Callable[[], None] | None = None, cache: RunCache | None = None
    ) -> None:
        self.config = config
        self.n_replications = config.planner.verify.n_replications
        self.tick = tick
        self.cache = cache or RunCache(None)
        self.cap_months = config.planner.pilot.months_after_horizon
        self._twins: dict[int, tuple[Outcomes, np.ndarray]] = {}
        self._runs: dict[tuple, list[dict[str, object]]] = {}

    def _config(self, replication: int) -> CareConfig:
        seed = derived_seed(self.config.run.seed, "verify", replication)
        run = self.config.run.model_copy(update={"seed": seed, "progress": False})
        return self.config.model_copy(update={"run": run})

    def _twin(self, replication: int) -> tuple[Outcomes, np.ndarray]:
        if replication not in self._twins:
            config = self._config(replication)

            def compute() -> tuple[Outcomes, np.ndarray]:
                model = run_model(build_model(config, {}))
                lifetime = remaining_lifetime(model, self.cap_months)
                return Outcomes.of(model, lifetime), lifetime

            self._twins[replication] = self._cached(("twin", run_identity(config), self.cap_months), compute)
        return self._twins[replication]

    def _cached(self, parts: tuple, compute: Callable[[], object]):
        result = self.cache.get_or_run(self.cache.key(*parts), compute)
        if self.tick:
            self.tick()
        return result

    def runs(self, coverage: Coverage) -> list[dict[str, object]]:
        """Per replication: the policy's totals against no care, and its programme evaluation table."""
        key = _key(coverage)
        if key not in self._runs:
            results = []
            policy = {p: dict(shares) for p, shares in coverage.items()}
            for replication in range(self.n_replications):
                twin, lifetime = self._twin(replication)
                config = self._config(replication)

                def compute(config=config, twin=twin, lifetime=lifetime) -> dict[str, object]:
                    model = run_model(build_model(config, policy))
                    return {"totals": policy_totals(model, twin, lifetime), "programmes": evaluate_programmes(model)}

                parts = ("policy", run_identity(config), key, self.cap_months)
                results.append(self._cached(parts, compute))
            self._runs[key] = results
        return self._runs[key]

    def totals(self, name: str, coverage: Coverage) -> pd.DataFrame:
        """One row per replication: the policy's simulated totals."""
        rows = [{"policy": name, "replication": r, **run["totals"]} for r, run in enumerate(self.runs(coverage))]
        return pd.DataFrame(rows)

    def failed_options(self, coverage: Coverage) -> pd.DataFrame:
        """Segment × programme of the plan whose treated subscribers stayed Fair or worse (domain.md's success
        rule) in most replications, with the share of replications in which they failed."""
        frames = [run["programmes"].assign(replication=r) for r, run in enumerate(self.runs(coverage))]
        table = pd.concat(frames, ignore_index=True)
        planned = {(s, p) for p, shares in coverage.items() for s, x in shares.items() if x > 0}
        table = table[[(s, p) in planned for s, p in zip(table.segment, table.programme, strict=True)]]
        judged = table[table["success"].notna()].copy()
        judged["failed"] = ~judged["success"].astype(bool)
        summary = judged.groupby(["segment", "programme"], as_index=False).agg(
            failed_share=("failed", "mean"), satisfaction_treated=("satisfaction_assigned", "mean")
        )
        return summary[summary["failed_share"] > 0.5].reset_index(drop=True)


def compare(simulated: pd.DataFrame, predicted: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Per policy: simulated metrics with 95% intervals across replications, predicted ones with theirs, and
    the paired difference of net value against ``reference`` (same seeds) with its interval."""
    rows = []
    reference_net = simulated[simulated.policy == reference].set_index("replication")["net_value"]
    for name, group in simulated.groupby("policy", sort=False):
        row: dict[str, object] = {"policy": name}
        for metric in METRICS:
            row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = interval(group[metric])
        difference = group.set_index("replication")["net_value"] - reference_net
        row["net_value_vs_plan"], row["net_value_vs_plan_low"], row["net_value_vs_plan_high"] = interval(difference)
        for column in (c for c in group if c.startswith(("contacts_", "max_contacts_"))):
            row[column] = float(group[column].max())  # the worst replication
        if name in set(predicted.policy):
            forecast = predicted.set_index("policy").loc[name]
            for metric in ("net_value", "retained", "cost"):
                for suffix in ("", "_low", "_high"):
                    row[f"predicted_{metric}{suffix}"] = float(forecast[f"{metric}{suffix}"])
        rows.append(row)
    return pd.DataFrame(rows)
