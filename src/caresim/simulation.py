"""The Python entry point of the simulator: ``simulate(config, policy) -> Results``. No Hydra needed."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import joblib
from tqdm import tqdm

from caresim.config.errors import ConfigError
from caresim.config.schema import CareConfig
from caresim.engine.agents import AgentRule
from caresim.engine.model import CareModel
from caresim.engine.policy import CarePolicy
from caresim.engine.record import RunRecord
from caresim.engine.regions import RegionTable
from caresim.engine.shards import ShardTiming, run_shards
from caresim.results.evaluation import evaluate_programmes
from caresim.results.run import Results
from caresim.results.tables import (
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
    holdout = config.evaluation.holdout_share
    if isinstance(policy, CarePolicy):
        if policy.segments != segments or policy.programmes != programmes:
            raise ValueError("policy segments/programmes do not match the config's")
        return policy
    mapping = config.policy if policy is None else policy
    scorers = load_scorers(config.uplift.models, _targeted_by_uplift(mapping))
    return CarePolicy.from_mapping(mapping, segments, programmes, holdout=holdout, scorers=scorers)


def _targeted_by_uplift(mapping: object) -> set[str]:
    """Programmes a policy mapping targets by predicted uplift in some segment."""

    def uplift(entry: object) -> bool:
        entry = entry.model_dump() if hasattr(entry, "model_dump") else entry
        if not isinstance(entry, Mapping):
            return False
        if "share" in entry:
            return entry.get("target") == "uplift"
        return any(uplift(value) for value in entry.values())

    return {str(name) for name, entry in mapping.items() if uplift(entry)} if isinstance(mapping, Mapping) else set()


def load_scorers(models: Mapping[str, str], wanted: set[str] | None = None) -> dict[str, object]:
    """The trained uplift models named in ``uplift.models`` (a model.joblib, or the ``mode=uplift`` folder
    holding it), of the ``wanted`` programmes only (all when None). Each file is read once per process while
    it is unchanged. Only load files you trust: joblib files are pickles."""
    scorers = {}
    for programme, where in models.items():
        if wanted is not None and programme not in wanted:
            continue
        path = Path(where)
        path = path / "model.joblib" if path.is_dir() else path
        if not path.is_file():
            raise ConfigError(f"uplift.models.{programme}: no such model file: {path}")
        model = _load_model(str(path.resolve()), path.stat().st_mtime_ns, programme)
        trained_for = getattr(model, "programme", programme)
        if trained_for != programme:
            raise ConfigError(f"uplift.models.{programme}: {path} was trained for {trained_for!r}, not {programme!r}")
        scorers[programme] = model
    return scorers


@functools.lru_cache(maxsize=32)
def _load_model(path: str, mtime_ns: int, programme: str) -> object:
    try:
        model = joblib.load(path)
    except Exception as error:  # a truncated or foreign file
        raise ConfigError(f"uplift.models.{programme}: {path} is not a saved uplift model ({error})") from None
    if not hasattr(model, "predict_uplift"):
        raise ConfigError(f"uplift.models.{programme}: {path} is not a saved uplift model")
    return model


def build_model(
    config: CareConfig,
    policy: CarePolicy | Mapping[str, object] | None = None,
    agent_rules: tuple[AgentRule, ...] = (),
) -> CareModel:
    """A ready-to-run model (the initial base drawn, month 0 not yet opened)."""
    return CareModel(config, resolve_policy(config, policy), agent_rules)


def run_record(
    config: CareConfig, policy: CarePolicy | Mapping[str, object] | None = None, show: bool = False
) -> RunRecord:
    """Simulate and return the run's record only (no tables): what the planner and calibration read.

    With several regions and ``run.n_shard_workers`` > 1, the regions run as parallel shard tasks.
    """
    if config.run.n_shard_workers > 1 and len(RegionTable.from_config(config)) > 1:
        return run_shards(config, resolve_policy(config, policy), show)
    return build_model(config, policy).run()


def collect(record: RunRecord, wall_seconds: float = 0.0) -> Results:
    """The tables of a run's record."""
    return Results(
        config=record.config,
        policy=record.policy,
        kpis=kpi_table(record),
        subscribers=subscriber_table(record),
        programmes=evaluate_programmes(record),
        care_spend=care_spend_table(record),
        programme_costs=programme_cost_table(record),
        desks=desk_table(record),
        touchpoints=touchpoint_table(record),
        stage_flows=stage_flow_table(record),
        wall_seconds=wall_seconds,
        record=record,
    )


def simulate(
    config: CareConfig,
    policy: CarePolicy | Mapping[str, object] | None = None,
    progress: bool | None = None,
    on_month: Callable[[int], None] | None = None,
    agent_rules: tuple[AgentRule, ...] = (),
) -> Results:
    """Simulate the scenario under a care policy (default: the config's) and return its tables.

    With several regions and ``run.n_shard_workers`` > 1, the regions run as parallel shard tasks and are
    combined (same results as one run); ``on_month`` is then not called.
    """
    started = time.perf_counter()
    show = config.run.progress if progress is None else progress
    if config.run.n_shard_workers > 1 and len(RegionTable.from_config(config)) > 1:
        if agent_rules:
            raise ValueError("agent_rules: not with parallel shards; set run.n_shard_workers=1")
        return _sharded(config, resolve_policy(config, policy), show, started)
    model = build_model(config, policy, agent_rules)
    with tqdm(total=config.run.n_months, desc="simulating", unit="month", disable=not show, leave=False) as bar:

        def tick(month: int) -> None:
            bar.update(1)
            if on_month is not None:
                on_month(month)

        record = model.run(tick)
    return collect(record, time.perf_counter() - started)


def _sharded(config: CareConfig, policy: CarePolicy, show: bool, started: float) -> Results:
    """The tables of a run simulated as parallel regional shards; ``extra`` holds when each shard ran
    (``shard_timings``) and when their records were joined (``joined_at``, seconds since the epoch)."""
    timings: list[ShardTiming] = []
    record = run_shards(config, policy, show, timings)
    joined_at = time.time()
    results = collect(record, time.perf_counter() - started)
    results.extra.update(shard_timings=timings, joined_at=joined_at)
    return results
