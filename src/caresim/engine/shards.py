"""Regional shards: the regions of one base simulated as parallel tasks and joined into one run record.

Regions share no ties, desks or care capacity and draw from streams of their own (see ``regions``), so each
shard is exactly its region's part of the whole run. Each task sends back its region's record (monthly
records and the subscribers who ever bought); the parent joins them region by region. Tasks run on local
worker processes or, for bases beyond one machine, as Ray tasks (``caresim.executors``). Counts and subscribers
equal those of the whole base simulated at once exactly; sums of scores and money agree to about 1e-12
relative (the order of additions differs), which the programme evaluation's differences of large sums can
take to 1e-10.
"""

from __future__ import annotations

import os
import socket
import time
from concurrent.futures import as_completed
from dataclasses import dataclass

from tqdm import tqdm

from caresim.config.errors import ConfigError
from caresim.config.schema import CareConfig
from caresim.engine.model import CareModel
from caresim.engine.policy import CarePolicy
from caresim.engine.record import RunRecord, join
from caresim.engine.regions import RegionTable
from caresim.executors import ExecutorError, pool_of


@dataclass(frozen=True)
class ShardTiming:
    """When one shard task ran, as its worker's clock saw it (seconds since the epoch), and the CPU time its
    worker process had used when the task started (its start-up, imports and earlier tasks) and finished."""

    region: str
    worker: str  # host:process id
    started: float
    finished: float
    cpu_at_start: float
    cpu_at_finish: float

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_at_finish - self.cpu_at_start


def shard_config(config: CareConfig, region: str) -> CareConfig:
    """The config of the shard that simulates ``region`` alone (quietly: the parent shows the progress)."""
    run = config.run.model_copy(update={"regions": [region], "progress": False, "n_shard_workers": 1})
    return config.model_copy(update={"run": run})


def run_shard(config: CareConfig, policy: CarePolicy, region: str) -> RunRecord:
    """Simulate one region alone (a task of its own) and return its record."""
    return CareModel(shard_config(config, region), policy).run()


def timed_shard(config: CareConfig, policy: CarePolicy, region: str) -> tuple[RunRecord, ShardTiming]:
    """``run_shard``, and when and where it ran."""
    started, cpu = time.time(), time.process_time()
    record = run_shard(config, policy, region)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    return record, ShardTiming(region, worker, started, time.time(), cpu, time.process_time())


def run_shards(
    config: CareConfig, policy: CarePolicy, show: bool, timings: list[ShardTiming] | None = None
) -> RunRecord:
    """Simulate the run's regions as parallel tasks and join their records: ``run.n_shard_workers`` local
    worker processes, or, with ``run.executor=ray``, Ray tasks on ``run.ray_address``. When and where each
    task ran is added to ``timings`` (in region order), if given."""
    regions = RegionTable.from_config(config)
    workers = min(config.run.n_shard_workers, len(regions))
    try:
        with pool_of(config.run.executor, workers, config.run.ray_address) as pool:
            tasks = [pool.submit(timed_shard, config, policy, name) for name in regions.names]
            with tqdm(total=len(regions), desc="regional shards", unit="shard", disable=not show, leave=False) as bar:
                for task in as_completed(tasks):
                    task.result()
                    bar.update(1)
            parts, shard_timings = zip(*(task.result() for task in tasks), strict=True)
    except ExecutorError as error:
        raise ConfigError(f"run.executor: {error}") from None
    if timings is not None:
        timings.extend(shard_timings)
    return join(config, list(parts))
