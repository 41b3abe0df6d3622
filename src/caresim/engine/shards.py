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

from concurrent.futures import as_completed

from tqdm import tqdm

from caresim.config.errors import ConfigError
from caresim.config.schema import CareConfig
from caresim.engine.model import CareModel
from caresim.engine.policy import CarePolicy
from caresim.engine.record import RunRecord, join
from caresim.engine.regions import RegionTable
from caresim.executors import ExecutorError, pool_of


def shard_config(config: CareConfig, region: str) -> CareConfig:
    """The config of the shard that simulates ``region`` alone (quietly: the parent shows the progress)."""
    run = config.run.model_copy(update={"regions": [region], "progress": False, "n_shard_workers": 1})
    return config.model_copy(update={"run": run})


def run_shard(config: CareConfig, policy: CarePolicy, region: str) -> RunRecord:
    """Simulate one region alone (a task of its own) and return its record."""
    return CareModel(shard_config(config, region), policy).run()


def run_shards(config: CareConfig, policy: CarePolicy, show: bool) -> RunRecord:
    """Simulate the run's regions as parallel tasks and join their records: ``run.n_shard_workers`` local
    worker processes, or, with ``run.executor=ray``, Ray tasks on ``run.ray_address``."""
    regions = RegionTable.from_config(config)
    workers = min(config.run.n_shard_workers, len(regions))
    try:
        with pool_of(config.run.executor, workers, config.run.ray_address) as pool:
            tasks = [pool.submit(run_shard, config, policy, name) for name in regions.names]
            with tqdm(total=len(regions), desc="regional shards", unit="shard", disable=not show, leave=False) as bar:
                for task in as_completed(tasks):
                    task.result()
                    bar.update(1)
            parts = [task.result() for task in tasks]
    except ExecutorError as error:
        raise ConfigError(f"run.executor: {error}") from None
    return join(config, parts)
