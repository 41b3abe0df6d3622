"""Benchmark caresim's full model against two plain references of its core monthly rules, at two sizes.

Targets (issue 13):

* the engine, ``model.run()`` of the full model with the default care catalogue on one core, at
  >= 1,000,000 subscriber-months/s at 100,000 subscribers x 36 months and >= 800,000 at 1,000,000 x 12;
  these are judged on the run alone (wall-clock, median of the repeats; its CPU time is printed beside it,
  since a shared machine's load lengthens the wall-clock); building the base and collecting the tables are
  reported beside it;
* 100,000 x 36 in <= 10 s in all (build + run + collect) and under 1 GB (the earlier targets).

Prints subscriber-months per second for

* caresim: ``build_model`` (base, ties; Mesa agents are made only when read) + ``model.run()`` (the months
  on the SimPy clock) + ``collect`` (tables), each timed, run in a fresh subprocess so that its peak memory is
  its own;
* (a) a plain per-subscriber Mesa + SimPy model (one agent and one SimPy process per subscriber, scalar
  Python rules; slow, so run on fewer subscribers, at the first size only);
* (b) a plain NumPy loop over months with the same rules vectorised, at both sizes;

the ratios caresim/(a) and caresim/(b), and how caresim's cost grows from the first size to the second
(seconds per subscriber-month of ``model.run()`` at each, and their ratio: 1.0 is linear). The references
implement only the core of caresim's month (problems, reports, satisfaction, loyalty, tenure, revenue,
contracts, churn; see ``reference_models``). caresim does strictly more per subscriber-month: prospects,
touchpoints, care programmes with capacity, desk queues on the SimPy clock, ties and contagion, win-back and
records. The desks keep the default number of servers at both sizes, so at 1,000,000 subscribers they are
overloaded (long queues, many callers giving up and trying again): more desk events per subscriber-month.
The machine may be shared and noisy, so everything is measured in the same run, interleaved, and the median
of ``--repeats`` is reported.

    .venv/bin/python benchmarks/bench_simulation.py            # full: 100000 x 36 and 1000000 x 12, ~5 min
    .venv/bin/python benchmarks/bench_simulation.py --quick    # smoke run: 10000 x 12 and 100000 x 6
    .venv/bin/python benchmarks/bench_simulation.py --no-large # 100000 x 36 only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from typing import TypeVar

# One core: set before NumPy is first imported (here and in the caresim subprocess, which inherits them).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

from reference_models import MonthlyRules, RunResult, run_mesa_simpy, run_numpy  # noqa: E402

import caresim  # noqa: E402
from caresim.config.schema import CareConfig  # noqa: E402
from caresim.simulation import build_model, collect  # noqa: E402

TARGET_SUBSCRIBERS, TARGET_MONTHS = 100_000, 36
LARGE_SUBSCRIBERS, LARGE_MONTHS = 1_000_000, 12
TARGET_SECONDS = 10.0
TARGET_BYTES = 10**9  # 1 GB, decimal (stricter than 1 GiB)
#: The engine's targets: subscriber-months per second of ``model.run()`` (the full model, one core) by size.
TARGET_RUN_RATES = {(TARGET_SUBSCRIBERS, TARGET_MONTHS): 1_000_000, (LARGE_SUBSCRIBERS, LARGE_MONTHS): 800_000}


@dataclass(frozen=True)
class CaresimRun:
    """Timings and peak memory of one caresim run (in its own process)."""

    subscribers: int
    months: int
    programmes: int
    build_seconds: float
    run_seconds: float
    collect_seconds: float
    cpu_seconds: float
    run_cpu_seconds: float  # CPU time of model.run() alone: what the run costs one core, whatever the load
    peak_bytes: int
    churn_rate: float

    @property
    def seconds(self) -> float:
        return self.build_seconds + self.run_seconds + self.collect_seconds

    @property
    def run_rate(self) -> float:
        """Subscriber-months per second of ``model.run()`` alone (the engine's target)."""
        return rate(self.subscribers, self.months, self.run_seconds)


Run = TypeVar("Run", CaresimRun, RunResult)


def scaled_config(subscribers: int, months: int) -> CareConfig:
    """The baseline market scaled to ``subscribers`` real subscribers, simulated one-to-one."""
    base = caresim.load_config("baseline", ["run.progress=false"])
    data = base.model_dump()
    data["run"]["scale"] = 1.0
    data["run"]["n_months"] = months
    segments = data["population"]["segments"].values()
    factor = subscribers / sum(s["size"] for s in segments)
    for s in segments:
        s["size"] = round(s["size"] * factor)
        s["rate_prospects_per_month"] *= factor
    return caresim.validate(data)


def run_caresim_here(subscribers: int, months: int) -> CaresimRun:
    """Build, run and collect the full model in this process, timing each phase."""
    config = scaled_config(subscribers, months)
    initial = sum(round(s.size / config.run.scale) for s in config.population.segments.values())
    cpu = time.process_time()
    started = time.perf_counter()
    model = build_model(config)
    built = time.perf_counter()
    run_cpu = time.process_time()
    record = model.run()
    run_cpu = time.process_time() - run_cpu
    ran = time.perf_counter()
    results = collect(record, ran - started)
    collected = time.perf_counter()
    cpu = time.process_time() - cpu
    kpis = results.kpis
    return CaresimRun(
        subscribers=initial,
        months=months,
        programmes=len(config.catalogue),
        build_seconds=built - started,
        run_seconds=ran - built,
        collect_seconds=collected - ran,
        cpu_seconds=cpu,
        run_cpu_seconds=run_cpu,
        peak_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # Linux reports KiB
        churn_rate=float(kpis["churned"].sum() / kpis["active_start"].sum()),
    )


def run_caresim_subprocess(subscribers: int, months: int) -> CaresimRun:
    """One caresim run in a fresh interpreter, so its peak memory is not polluted by the references."""
    command = [sys.executable, __file__, "--caresim-only", "--subscribers", str(subscribers), "--months", str(months)]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"the caresim run failed ({' '.join(command)}):\n{finished.stderr[-3000:]}")
    return CaresimRun(**json.loads(finished.stdout.strip().splitlines()[-1]))


# ---------------------------------------------------------------- report
def rate(subscribers: int, months: int, seconds: float) -> float:
    """Subscriber-months per second (initial subscribers x months / total seconds)."""
    return subscribers * months / seconds


def median_run(runs: list[Run]) -> Run:
    """The run with the median total time (the upper one of an even count)."""
    return sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]


def row(what: str, run: Run, runs: list[Run]) -> str:
    """One table line: size, median seconds (range over repeats), CPU seconds, rate, churn."""
    times = [r.seconds for r in runs]
    spread = f"{min(times):.2f}-{max(times):.2f}"
    return (
        f"{what:<38} {run.subscribers:>11} {run.months:>6} {run.seconds:>9.2f} {spread:>13} "
        f"{run.cpu_seconds:>8.2f} {rate(run.subscribers, run.months, run.seconds):>19,.0f} "
        f"{100 * run.churn_rate:>10.2f}"
    )


def header() -> str:
    return (
        f"{'what':<38} {'subscribers':>11} {'months':>6} {'seconds':>9} {'min-max':>13} "
        f"{'cpu s':>8} {'subscriber-months/s':>19} {'churn %/mo':>10}"
    )


def report_size(caresim_runs: list[CaresimRun], numpy_runs: list[RunResult]) -> None:
    """The lines of one size: caresim (all and its engine alone) and (b), with caresim/(b)."""
    c, b = median_run(caresim_runs), median_run(numpy_runs)
    print(row(f"caresim (full model, {c.programmes} programmes)", c, caresim_runs))
    runs = sorted(run.run_seconds for run in caresim_runs)
    engine = median_by(caresim_runs, lambda run: run.run_seconds)
    print(
        f"{'  engine: model.run() alone':<38} {'':>11} {'':>6} {engine.run_seconds:>9.2f} "
        f"{f'{runs[0]:.2f}-{runs[-1]:.2f}':>13} {engine.run_cpu_seconds:>8.2f} {engine.run_rate:>19,.0f}"
    )
    print(
        f"{'  build / run / collect':<38} {'':>11} {'':>6}   "
        f"{c.build_seconds:.2f} / {c.run_seconds:.2f} / {c.collect_seconds:.2f}"
    )
    print(row("(b) plain NumPy, same monthly rules", b, numpy_runs))
    print(f"{'  build / run':<38} {'':>11} {'':>6}   {b.build_seconds:.2f} / {b.run_seconds:.2f}")
    rate_c = rate(c.subscribers, c.months, c.seconds)
    rate_b = rate(b.subscribers, b.months, b.seconds)
    rate_b_run = rate(b.subscribers, b.months, b.run_seconds)
    print(
        f"  caresim / (b) = {rate_c / rate_b:.3f}x in all; engine / (b)'s month loop = "
        f"{engine.run_rate / rate_b_run:.3f}x (medians of {len(caresim_runs)} interleaved repeats)"
    )


def report(
    caresim_runs: dict[tuple[int, int], list[CaresimRun]],
    mesa_runs: list[RunResult],
    numpy_runs: dict[tuple[int, int], list[RunResult]],
) -> None:
    """Print the tables, the ratios, the growth in cost and the PASS/MISS lines (never fails on a miss)."""
    sizes = list(caresim_runs)
    first = median_run(caresim_runs[sizes[0]])
    line = header()
    print(line)
    print("-" * len(line))
    for size in sizes:
        report_size(caresim_runs[size], numpy_runs[size])
    a = median_run(mesa_runs)
    print(row("(a) per-subscriber Mesa + SimPy", a, mesa_runs))
    print(f"{'  build / run':<38} {'':>11} {'':>6}   {a.build_seconds:.2f} / {a.run_seconds:.2f}")
    rate_a = rate(a.subscribers, a.months, a.seconds)
    print(f"caresim / (a) = {rate(first.subscribers, first.months, first.seconds) / rate_a:.1f}x at the first size")
    scope = (
        f"(a) and (b) apply only the core monthly rules; caresim also runs prospects, touchpoints, "
        f"{first.programmes} care programmes with capacity, desk queues with shadow contacts on the SimPy clock, "
        "ties and contagion, win-back and records: strictly more work per subscriber-month."
    )
    print(textwrap.fill(scope, width=len(line)))
    print(
        f"(a) would need at least {first.subscribers * first.months / rate_a:.1f} s for {first.subscribers} x "
        f"{first.months}\n  (linear extrapolation; its rate falls as agents are added, so caresim / (a) flatters (a))"
    )
    if len(sizes) > 1:
        small, large = (median_by(caresim_runs[size], lambda run: run.run_seconds) for size in sizes[:2])
        per_small, per_large = 1 / small.run_rate, 1 / large.run_rate
        print(
            f"growth of the engine's cost: {per_small * 1e6:.3f} us per subscriber-month at {small.subscribers} x "
            f"{small.months}, {per_large * 1e6:.3f} us at {large.subscribers} x {large.months}: "
            f"ratio {per_large / per_small:.2f} (1.00 = linear)"
        )
    print()
    for size in sizes:
        engine = median_by(caresim_runs[size], lambda run: run.run_seconds)
        what = f"engine (model.run(), full model) at {size[0]} x {size[1]}: {engine.run_rate:,.0f} subscriber-months/s"
        if size in TARGET_RUN_RATES:
            target = TARGET_RUN_RATES[size]
            print(f"{what} (target >= {target:,}): {'PASS' if engine.run_rate >= target else 'MISS'}")
        else:
            print(f"{what} (not judged: the targets are for {' and '.join(f'{n} x {m}' for n, m in TARGET_RUN_RATES)})")
        cpu_rate = rate(size[0], size[1], engine.run_cpu_seconds)
        print(f"  the same on its CPU time: {cpu_rate:,.0f} (wall above CPU time = the machine's other load)")
    main_runs = caresim_runs[sizes[0]]
    peak = max(run.peak_bytes for run in main_runs)
    verdict = "PASS" if peak < TARGET_BYTES else "MISS"
    where = f"{sizes[0][0]} x {sizes[0][1]}"
    print(f"peak memory of the caresim run at {where}: {peak / 1e6:,.0f} MB (target < 1 GB): {verdict}")
    for size in sizes[1:]:
        print(
            f"peak memory of the caresim run at {size[0]} x {size[1]}: "
            f"{max(run.peak_bytes for run in caresim_runs[size]) / 1e6:,.0f} MB (not judged)"
        )
    timed = f"time for {first.subscribers} x {first.months} (build + run + collect): {first.seconds:.1f} s"
    if (first.subscribers, first.months) == (TARGET_SUBSCRIBERS, TARGET_MONTHS):
        verdict = "PASS" if first.seconds <= TARGET_SECONDS else "MISS"
        print(f"{timed} (target <= {TARGET_SECONDS:.0f} s): {verdict}")
    else:
        print(f"{timed} (not judged: the target is for {TARGET_SUBSCRIBERS} x {TARGET_MONTHS})")


def median_by(runs: list[CaresimRun], key) -> CaresimRun:
    """The run with the median ``key`` (the upper one of an even count)."""
    return sorted(runs, key=key)[len(runs) // 2]


# ---------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, help="first size: subscribers (100000; 10000 quick)")
    parser.add_argument("--months", type=int, help="first size: months (default 36; 12 quick)")
    parser.add_argument("--large-subscribers", type=int, help="second size: subscribers (1000000; 100000 quick)")
    parser.add_argument("--large-months", type=int, help="second size: months (default 12; 6 quick)")
    parser.add_argument("--no-large", action="store_true", help="measure the first size only")
    parser.add_argument("--mesa-subscribers", type=int, help="(a) subscribers (default 5000; 2000 quick)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the median is reported")
    parser.add_argument("--seed", type=int, default=20261123, help="seed of the references")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10000 x 12 and 100000 x 6, (a) on 2000")
    parser.add_argument("--caresim-only", action="store_true", help="internal: one caresim run, print JSON")
    args = parser.parse_args(argv)
    args.subscribers = args.subscribers or (10_000 if args.quick else TARGET_SUBSCRIBERS)
    args.months = args.months or (12 if args.quick else TARGET_MONTHS)
    args.large_subscribers = args.large_subscribers or (100_000 if args.quick else LARGE_SUBSCRIBERS)
    args.large_months = args.large_months or (6 if args.quick else LARGE_MONTHS)
    args.mesa_subscribers = args.mesa_subscribers or (2_000 if args.quick else 5_000)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.caresim_only:
        print(json.dumps(run_caresim_here(args.subscribers, args.months).__dict__))
        return
    sizes = [(args.subscribers, args.months)]
    if not args.no_large:
        sizes.append((args.large_subscribers, args.large_months))
    rules = {size: MonthlyRules.from_config(scaled_config(*size)) for size in sizes}
    caresim_runs: dict[tuple[int, int], list[CaresimRun]] = {size: [] for size in sizes}
    numpy_runs: dict[tuple[int, int], list[RunResult]] = {size: [] for size in sizes}
    mesa_runs: list[RunResult] = []
    print(
        f"caresim and (b) at {' and '.join(f'{n} x {m}' for n, m in sizes)}, (a) {args.mesa_subscribers} x "
        f"{args.months}; {args.repeats} repeats; OMP/OPENBLAS/MKL_NUM_THREADS=1; python {sys.version.split()[0]}",
        flush=True,
    )
    for repeat in range(args.repeats):
        seconds = []
        for size in sizes:
            caresim_runs[size].append(run_caresim_subprocess(*size))
            numpy_runs[size].append(run_numpy(rules[size], *size, args.seed + repeat))
            seconds.append(
                f"caresim {size[0]} x {size[1]} {caresim_runs[size][-1].seconds:.2f} s "
                f"(run {caresim_runs[size][-1].run_seconds:.2f}), (b) {numpy_runs[size][-1].seconds:.2f} s"
            )
        mesa_runs.append(run_mesa_simpy(rules[sizes[0]], args.mesa_subscribers, args.months, args.seed + repeat))
        seconds.append(f"(a) {mesa_runs[-1].seconds:.2f} s")
        print(f"  repeat {repeat + 1}: " + "; ".join(seconds), flush=True)
    print()
    report(caresim_runs, mesa_runs, numpy_runs)


if __name__ == "__main__":
    main()
