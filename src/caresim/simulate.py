"""The Python entry point of the simulator: ``simulate(config, policy) -> Results``. No Hydra needed."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from tqdm import tqdm

from caresim.evaluation import evaluate_programmes
from caresim.model import CareModel
from caresim.policy import CarePolicy
from caresim.regions import RegionTable
from caresim.results import Results
from caresim.schema import CareConfig
from caresim.shards import CombinedRun, run_shards
from caresim.tables import (
    care_spend_table,
    desk_table,
    kpi_table,
    programme_cost_table,
    stage_flow_table,
    subscriber_table,
    touchpoint_table,
)


def resolve_policy(config: CareConfig, policy: CarePolicy | Mapping[str, object] | None) -> CarePolicy:
    """The policy to run: the given one, a mapping in config form, or the config's own ``policy``."""
    segments, programmes = tuple(config.population.segments), tuple(config.catalogue)
    if policy is None:
        return CarePolicy.from_mapping(config.policy, segments, programmes)
    if isinstance(policy, CarePolicy):
        if policy.segments != segments or policy.programmes != programmes:
            raise ValueError("policy segments/programmes do not match the config's")
        return policy
    return CarePolicy.from_mapping(policy, segments, programmes)


def build_model(config: CareConfig, policy: CarePolicy | Mapping[str, object] | None = None) -> CareModel:
    """A ready-to-run model (the initial base drawn, month 0 not yet opened)."""
    return CareModel(config, resolve_policy(config, policy))


def collect(model: CareModel | CombinedRun, wall_seconds: float = 0.0) -> Results:
    """Tables from a finished model (or from regional shards combined)."""
    return Results(
        config=model.config,
        policy=model.policy,
        kpis=kpi_table(model),
        subscribers=subscriber_table(model),
        programmes=evaluate_programmes(model),
        care_spend=care_spend_table(model),
        programme_costs=programme_cost_table(model),
        desks=desk_table(model),
        touchpoints=touchpoint_table(model),
        stage_flows=stage_flow_table(model),
        wall_seconds=wall_seconds,
    )


def simulate(
    config: CareConfig,
    policy: CarePolicy | Mapping[str, object] | None = None,
    progress: bool | None = None,
    on_month: Callable[[int], None] | None = None,
) -> Results:
    """Simulate the scenario under a care policy (default: the config's) and return its tables.

    With several regions and ``run.n_shard_workers`` > 1, the regions run as parallel shard tasks and are
    combined (same results as one run); ``on_month`` is then not called.
    """
    started = time.perf_counter()
    show = config.run.progress if progress is None else progress
    if config.run.n_shard_workers > 1 and len(RegionTable.from_config(config)) > 1:
        combined = run_shards(config, resolve_policy(config, policy), show)
        return collect(combined, time.perf_counter() - started)
    model = build_model(config, policy)
    with tqdm(total=config.run.n_months, desc="simulating", unit="month", disable=not show, leave=False) as bar:

        def tick(month: int) -> None:
            bar.update(1)
            if on_month is not None:
                on_month(month)

        model.run(tick)
    return collect(model, time.perf_counter() - started)
