"""Benchmark regional shards: one large base in four regions, as one model and as parallel shard tasks.

Target (issue 4): a single very large population split into independent regional shards, run as parallel
tasks and combined, gives the same results as one run of the whole base. This script times the whole base
simulated as one model (one process), then the same shards one after another, then as shards on two
workers (``run.n_shard_workers=2``), in the same session, checks that every table is the same, and prints
the throughput ratios. Both runs include
building the tables; the sharded one also pays for starting the workers and sending the shards' state back.

    .venv/bin/python benchmarks/bench_shards.py                 # 400k subscribers one-to-one, 36 months
    .venv/bin/python benchmarks/bench_shards.py --scale 10 --months 6
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

import caresim
from caresim.engine.shards import run_shards
from caresim.simulation import collect, resolve_policy

REGIONS = "population.regions={north: {share: 0.25}, south: {share: 0.25}, east: {share: 0.25}, west: {share: 0.25}}"
DESKS = ["service.hotline.n_servers=4", "service.store.n_servers=4"]  # one server per desk and region


def timed(config: caresim.CareConfig) -> tuple[float, caresim.Results]:
    started = time.perf_counter()
    results = caresim.simulate(config)
    return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="real subscribers per simulated one")
    parser.add_argument("--months", type=int, default=36)
    args = parser.parse_args()
    overrides = [REGIONS, *DESKS, f"run.scale={args.scale}", f"run.n_months={args.months}", "run.progress=false"]
    whole = caresim.load_config("baseline", overrides)
    sharded = caresim.load_config("baseline", [*overrides, "run.n_shard_workers=2"])

    one_seconds, one = timed(whole)
    started = time.perf_counter()  # the same four shards one after another in this process, then combined
    collect(run_shards(whole, resolve_policy(whole, None), show=False))
    serial_seconds = time.perf_counter() - started
    two_seconds, two = timed(sharded)
    for name, table in one.tables().items():
        pd.testing.assert_frame_equal(table, two.tables()[name], check_exact=False, rtol=1e-9, atol=1e-6, obj=name)
    identical = one.subscribers.equals(two.subscribers) and one.kpis["churned"].equals(two.kpis["churned"])
    subscriber_months = len(one.subscribers) * args.months
    print(f"base: {len(one.subscribers):,} simulated subscribers ever active, 4 regions, {args.months} months")
    timings = (
        ("one model, one process", one_seconds),
        ("4 shards one after another", serial_seconds),
        ("4 shards on 2 workers", two_seconds),
    )
    for label, seconds in timings:
        print(f"{label:28s}{seconds:7.1f} s  {subscriber_months / seconds:12,.0f} subscriber-months/s")
    print(f"speed-up with 2 workers: {one_seconds / two_seconds:.2f}x over one model (target: close to 2x),")
    print(f"  {serial_seconds / two_seconds:.2f}x over the same shards on one worker (parallelism alone)")
    print(f"tables equal (sums to 1e-9 relative): yes; subscribers and churn identical: {'yes' if identical else 'NO'}")


if __name__ == "__main__":
    main()
