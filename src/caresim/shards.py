"""Regional shards: the regions of one base simulated as parallel tasks and combined into one set of results.

Regions share no ties, desks or care capacity and draw from streams of their own (see ``regions``), so each
shard is exactly its region's part of the whole run. Each task sends back its region's records and the
state of its subscribers who ever bought (the tables read no one else); the parent adds the records up,
puts the states side by side and builds the tables as for a single run. Counts and subscribers equal those
of the whole base simulated at once exactly; sums of scores and money agree to about 1e-12 relative (the
order of additions differs), which the programme evaluation's differences of large sums can take to 1e-10.
"""

from __future__ import annotations

from dataclasses import dataclass

import joblib
import numpy as np
from tqdm import tqdm

from caresim.model import CareModel, grade_thresholds
from caresim.policy import CarePolicy
from caresim.population import SegmentTable, SubscriberState
from caresim.programmes import ProgrammeTable, compile_catalogue
from caresim.records import MonthlyRecords, combine_records
from caresim.regions import RegionTable
from caresim.schema import CareConfig


@dataclass
class ShardOutcome:
    """What one shard task returns: its region's name, records and subscriber state."""

    region: str
    records: MonthlyRecords
    state: SubscriberState


@dataclass
class CombinedRun:
    """The regions of one base taken together: what the table builders read from a finished model."""

    config: CareConfig
    policy: CarePolicy
    scale: float
    segments: SegmentTable
    programmes: ProgrammeTable
    regions: RegionTable
    grade_thresholds: dict[str, float]
    records: MonthlyRecords
    state: SubscriberState


def shard_config(config: CareConfig, region: str) -> CareConfig:
    """The config of the shard that simulates ``region`` alone (quietly: the parent shows the progress)."""
    run = config.run.model_copy(update={"regions": [region], "progress": False, "n_shard_workers": 1})
    return config.model_copy(update={"run": run})


def run_shard(config: CareConfig, policy: CarePolicy, region: str) -> ShardOutcome:
    """Simulate one region alone (a task of its own); only subscribers who ever bought are sent back."""
    model = CareModel(shard_config(config, region), policy)
    model.run()
    return ShardOutcome(region, model.records, model.state.select(np.flatnonzero(model.state.ever_active)))


def run_shards(config: CareConfig, policy: CarePolicy, show: bool) -> CombinedRun:
    """Simulate the run's regions as ``run.n_shard_workers`` parallel tasks and combine them."""
    regions = RegionTable.from_config(config)
    workers = min(config.run.n_shard_workers, len(regions))
    tasks = (joblib.delayed(run_shard)(config, policy, name) for name in regions.names)
    outcomes: list[ShardOutcome] = []
    with tqdm(total=len(regions), desc="regional shards", unit="shard", disable=not show, leave=False) as bar:
        for outcome in joblib.Parallel(n_jobs=workers, return_as="generator")(tasks):
            outcomes.append(outcome)
            bar.update(1)
    return combine(config, policy, regions, outcomes)


def combine(config: CareConfig, policy: CarePolicy, regions: RegionTable, outcomes: list[ShardOutcome]) -> CombinedRun:
    """The shards' records added up and their subscribers side by side, region by region."""
    by_name = {outcome.region: outcome for outcome in outcomes}
    if sorted(by_name) != sorted(regions.names):
        raise ValueError(f"shards of regions {sorted(by_name)} do not make up the run's {sorted(regions.names)}")
    ordered = [by_name[name] for name in regions.names]
    for code, outcome in enumerate(ordered):
        outcome.state.region = np.full(outcome.state.n, code, dtype=np.int16)
    return CombinedRun(
        config=config,
        policy=policy,
        scale=config.run.scale,
        segments=SegmentTable.from_population(config.population),
        programmes=compile_catalogue(config),
        regions=regions,
        grade_thresholds=grade_thresholds(config),
        records=combine_records([outcome.records for outcome in ordered]),
        state=SubscriberState.concatenate([outcome.state for outcome in ordered]),
    )
