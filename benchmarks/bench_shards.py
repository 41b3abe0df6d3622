"""Benchmark regional shards: one large base in four regions, as one model and as parallel shard tasks on local
workers and on Ray; and one very large base (2,000,000 subscribers one-to-one) on this machine, with its peak
memory.

Targets (issues 4 and 13): shards give the same tables as one run of the whole base; 2 Ray workers on a local
Ray instance give at least 1.6× the throughput of one model on 400,000 subscribers one-to-one; a 2,000,000-
subscriber one-to-one run completes on one 24 GB machine. This script times, in the same session, the whole
base as one model, the same four shards one after another, on two local workers (``run.n_shard_workers=2``)
and as Ray tasks on a local Ray instance of two CPUs (``run.executor=ray``, started before the clock runs, as
a cluster would be), checks that every table is the same each way, and prints the throughput ratios. Every
variant includes building the tables; the sharded ones also pay for sending the shards' records back.
It then shows where the sharded runs' time went (from when and where each task ran) and each variant's CPU
time on its critical path: about its time on a machine with nothing else running (a machine shared with
other work gives each session its share of the cores, whatever its number of processes: wall-clock ratios
then say little). ``--big`` then runs the large base in a fresh process (one model, and its four shards on
two local workers) and reports its time and peak resident memory (the kernel's ``ru_maxrss`` of the process
and of its workers).

    .venv/bin/python benchmarks/bench_shards.py                 # 400k one-to-one, 36 months: a few minutes
    .venv/bin/python benchmarks/bench_shards.py --scale 10 --months 6      # a smoke run
    .venv/bin/python benchmarks/bench_shards.py --big 2000000 --months 12  # the large base alone
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import pandas as pd

import caresim
from caresim.engine.shards import run_shards
from caresim.simulation import collect, resolve_policy

REGIONS = "population.regions={north: {share: 0.25}, south: {share: 0.25}, east: {share: 0.25}, west: {share: 0.25}}"
DESKS = ["service.hotline.n_servers=4", "service.store.n_servers=4"]  # one server per desk and region
TARGET_RAY = 1.6


def timed(config: caresim.CareConfig) -> tuple[float, caresim.Results]:
    """Seconds ``simulate`` took, and its results; ``extra`` notes when the clock started and the CPU time
    this process used (``parent_cpu_seconds``)."""
    started, cpu = time.perf_counter(), time.process_time()
    results = caresim.simulate(config)
    seconds = time.perf_counter() - started
    results.extra.update(clock_started_at=time.time() - seconds, parent_cpu_seconds=time.process_time() - cpu)
    return seconds, results


def breakdown(seconds: float, results: caresim.Results) -> str:
    """Where a sharded run's time went, from when its tasks ran (the workers' clocks: one machine here)."""
    timings, started = results.extra["shard_timings"], results.extra["clock_started_at"]
    first, last = min(t.started for t in timings), max(t.finished for t in timings)
    joined, ended = results.extra["joined_at"], started + seconds
    busy: dict[str, float] = {}
    for timing in timings:
        busy[timing.worker] = busy.get(timing.worker, 0.0) + timing.seconds
    start_up = [min(t.cpu_at_start for t in timings if t.worker == worker) for worker in busy]
    cpu_share = sum(t.cpu_seconds for t in timings) / sum(t.seconds for t in timings)
    return (
        f"{first - started:4.1f} s to the first task (pool, workers starting: "
        f"{' + '.join(f'{c:.1f}' for c in start_up)} CPU-s) | tasks {last - first:4.1f} s: workers busy "
        f"{' + '.join(f'{b:.1f}' for b in busy.values())} s, on a core {cpu_share:.0%} of it | "
        f"{joined - last:3.1f} s results back, pool closed, joined | {ended - joined:3.1f} s tables"
    )


def critical_cpu(results: caresim.Results) -> tuple[float, float]:
    """CPU seconds on a run's critical path, this process's and the busier worker's (start-up included): about
    the run's time on a machine with no other work. An upper bound for Ray, whose workers start before the
    clock."""
    timings = results.extra.get("shard_timings")
    return results.extra["parent_cpu_seconds"], max(t.cpu_at_finish for t in timings) if timings else 0.0


def big_config(subscribers: int, months: int, workers: int) -> caresim.CareConfig:
    """The default base grown to ``subscribers`` real subscribers, simulated one-to-one, in four regions."""
    factor = subscribers / 400_000
    overrides = [REGIONS, *DESKS, "run.scale=1", f"run.n_months={months}", "run.progress=false", "run.report=false"]
    config = caresim.load_config("baseline", [*overrides, f"run.n_shard_workers={workers}"])
    data = config.model_dump()
    for segment in data["population"]["segments"].values():
        segment["size"] = round(segment["size"] * factor)
        segment["rate_prospects_per_month"] *= factor
    for programme in data["catalogue"].values():
        if programme["capacity_per_month"] is not None:
            programme["capacity_per_month"] *= factor
    for desk in ("hotline", "store"):
        data["service"][desk]["n_servers"] = max(4, round(data["service"][desk]["n_servers"] * factor))
    return caresim.validate(data)


def big_one(subscribers: int, months: int, workers: int) -> None:
    """Run the large base in this process and print its figures as JSON (run by the parent)."""
    config = big_config(subscribers, months, workers)
    seconds, results = timed(config)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "ever_active": len(results.subscribers),
                "self_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "workers_peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
            }
        )
    )


def big(subscribers: int, months: int) -> None:
    print(f"\nlarge base: {subscribers:,} subscribers one-to-one, 4 regions, {months} months, fresh process each")
    for workers, label in ((1, "one model"), (2, "4 shards on 2 local workers")):
        command = [sys.executable, __file__, "--big-one", str(subscribers), "--months", str(months)]
        output = subprocess.run([*command, "--workers", str(workers)], check=True, capture_output=True, text=True)
        figures = json.loads(output.stdout.strip().splitlines()[-1])
        rate = figures["ever_active"] * months / figures["seconds"]
        print(
            f"{label:28s}{figures['seconds']:7.1f} s  {rate:12,.0f} subscriber-months/s  peak "
            f"{figures['self_peak'] / 1e9:.2f} GB (process) + {figures['workers_peak'] / 1e9:.2f} GB (largest worker)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="real subscribers per simulated one")
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--big", type=int, default=0, help="then (or only, with --big-only) this many one-to-one")
    parser.add_argument("--big-only", action="store_true")
    parser.add_argument("--no-ray", action="store_true", help="skip Ray (not installed)")
    parser.add_argument("--big-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.big_one:
        big_one(args.big_one, args.months, args.workers)
        return
    if not args.big_only:
        compare(args.scale, args.months, ray=not args.no_ray)
    if args.big:
        big(args.big, args.months)


def compare(scale: float, months: int, ray: bool) -> None:
    overrides = [REGIONS, *DESKS, f"run.scale={scale}", f"run.n_months={months}", "run.progress=false"]
    whole = caresim.load_config("baseline", overrides)
    local = caresim.load_config("baseline", [*overrides, "run.n_shard_workers=2"])
    on_ray = caresim.load_config("baseline", [*overrides, "run.n_shard_workers=2", "run.executor=ray"])

    load_before = os.getloadavg()[0]
    one_seconds, one = timed(whole)
    started = time.perf_counter()  # the same four shards one after another in this process, then combined
    collect(run_shards(whole, resolve_policy(whole, None), show=False))
    serial_seconds = time.perf_counter() - started
    two_seconds, two = timed(local)
    timings = [
        ("one model, one process", one_seconds),
        ("4 shards one after another", serial_seconds),
        ("4 shards on 2 local workers", two_seconds),
    ]
    variants = {"local": two}
    if ray:
        import ray as ray_module

        folder = tempfile.mkdtemp(prefix="ray")
        ray_module.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=folder)
        try:
            ray_seconds, variants["ray"] = timed(on_ray)
        finally:
            ray_module.shutdown()
        timings.append(("4 shards as 2 Ray workers", ray_seconds))
    for results in variants.values():
        for table_name, table in one.tables().items():
            other = results.tables()[table_name]
            pd.testing.assert_frame_equal(table, other, check_exact=False, rtol=1e-9, atol=1e-6, obj=table_name)
        assert one.subscribers.equals(results.subscribers) and one.kpis["churned"].equals(results.kpis["churned"])
    subscriber_months = len(one.subscribers) * months
    print(f"base: {len(one.subscribers):,} simulated subscribers ever active, 4 regions, {months} months")
    for label, seconds in timings:
        print(f"{label:28s}{seconds:7.1f} s  {subscriber_months / seconds:12,.0f} subscriber-months/s")
    print(f"speed-up, 2 local workers: {one_seconds / two_seconds:.2f}× over one model")
    if ray:
        print(f"speed-up, 2 Ray workers:   {one_seconds / ray_seconds:.2f}× over one model (target ≥ {TARGET_RAY}×)")
    print(f"  {serial_seconds / two_seconds:.2f}× over the same shards on one worker (parallelism alone, local)")
    print("where the sharded time went (seconds; CPU share below 100%: tasks waited for a core):")
    for name, results in variants.items():
        seconds = two_seconds if name == "local" else ray_seconds
        print(f"  {name:6s}{breakdown(seconds, results)}")
    print("CPU on the critical path (about the time with no other work here), this process + the busier worker:")
    one_cpu = sum(critical_cpu(one))
    for name, results in {"one model": one, **variants}.items():
        parent, worker = critical_cpu(results)
        total = parent + worker
        print(f"  {name:10s}{parent:5.1f} + {worker:4.1f} = {total:4.1f} s  {one_cpu / total:.2f}×")
    print(f"machine load (1-minute average) before and after: {load_before:.1f}, {os.getloadavg()[0]:.1f}")
    print("tables equal (sums to 1e-9 relative) and subscribers and churn identical, every variant: yes")


if __name__ == "__main__":
    main()
