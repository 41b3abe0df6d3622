"""Benchmark caresim's full model against two plain references of its core monthly rules.

Target: 100,000 subscribers x 36 months, full model, default care catalogue, in <= 10 s on one core and
under 1 GB. Prints subscriber-months per second for

* caresim: ``build_model`` (base, ties; Mesa agents are made only when read) + ``model.run()`` (36 months
  on the SimPy clock) +
  ``collect`` (tables), run in a fresh subprocess so that its peak memory is its own;
* (a) a plain per-subscriber Mesa + SimPy model (one agent and one SimPy process per subscriber, scalar
  Python rules; slow, so run on fewer subscribers);
* (b) a plain NumPy loop over months with the same rules vectorised;

and the ratios caresim/(a) and caresim/(b). The references implement only the core of caresim's month
(problems, reports, satisfaction, loyalty, tenure, revenue, contracts, churn; see ``reference_models``).
caresim does strictly more per subscriber-month: prospects, touchpoints, care programmes with capacity,
SimPy desk queues, ties and contagion, win-back and records. The machine may be shared and noisy, so all
three are measured in the same run, interleaved, and the median of ``--repeats`` is reported.

    .venv/bin/python benchmarks/bench_simulation.py            # full: 100000 x 36, about a minute
    .venv/bin/python benchmarks/bench_simulation.py --quick    # smoke run: 10000 x 12
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
TARGET_SECONDS = 10.0
TARGET_BYTES = 10**9  # 1 GB, decimal (stricter than 1 GiB)


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
    peak_bytes: int
    churn_rate: float

    @property
    def seconds(self) -> float:
        return self.build_seconds + self.run_seconds + self.collect_seconds


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
    record = model.run()
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


def report(caresim_runs: list[CaresimRun], mesa_runs: list[RunResult], numpy_runs: list[RunResult]) -> None:
    """Print the table, the ratios and the PASS/MISS lines (never fails on a miss)."""
    c, a, b = median_run(caresim_runs), median_run(mesa_runs), median_run(numpy_runs)
    header = (
        f"{'what':<38} {'subscribers':>11} {'months':>6} {'seconds':>9} {'min-max':>13} "
        f"{'cpu s':>8} {'subscriber-months/s':>19} {'churn %/mo':>10}"
    )
    print(header)
    print("-" * len(header))
    print(row(f"caresim (full model, {c.programmes} programmes)", c, caresim_runs))
    print(
        f"{'  build / run / collect':<38} {'':>11} {'':>6}   "
        f"{c.build_seconds:.2f} / {c.run_seconds:.2f} / {c.collect_seconds:.2f}"
    )
    print(row("(a) per-subscriber Mesa + SimPy", a, mesa_runs))
    print(f"{'  build / run':<38} {'':>11} {'':>6}   {a.build_seconds:.2f} / {a.run_seconds:.2f}")
    print(row("(b) plain NumPy, same monthly rules", b, numpy_runs))
    print(f"{'  build / run':<38} {'':>11} {'':>6}   {b.build_seconds:.2f} / {b.run_seconds:.2f}")
    rate_c = rate(c.subscribers, c.months, c.seconds)
    rate_a = rate(a.subscribers, a.months, a.seconds)
    rate_b = rate(b.subscribers, b.months, b.seconds)
    print(
        f"caresim / (a) = {rate_c / rate_a:.1f}x ; caresim / (b) = {rate_c / rate_b:.2f}x "
        f"(median of {len(caresim_runs)} interleaved repeats; seconds include building the base)"
    )
    scope = (
        f"(a) and (b) apply only the core monthly rules; caresim also runs prospects, touchpoints, "
        f"{c.programmes} care programmes with capacity, SimPy desk queues with shadow contacts, ties "
        "and contagion, win-back and records: strictly more work per subscriber-month."
    )
    print(textwrap.fill(scope, width=len(header)))
    print(
        f"(a) would need at least {c.subscribers * c.months / rate_a:.1f} s for {c.subscribers} x {c.months}"
        "\n  (linear extrapolation; its rate falls as agents are added, so caresim / (a) flatters (a))"
    )
    peak = max(run.peak_bytes for run in caresim_runs)
    verdict = "PASS" if peak < TARGET_BYTES else "MISS"
    print(f"peak memory of the caresim run: {peak / 1e6:,.0f} MB (target < 1 GB = 1000 MB): {verdict}")
    timed = f"time for {c.subscribers} x {c.months}: {c.seconds:.1f} s"
    if (c.subscribers, c.months) == (TARGET_SUBSCRIBERS, TARGET_MONTHS):
        verdict = "PASS" if c.seconds <= TARGET_SECONDS else "MISS"
        print(f"{timed} (target <= {TARGET_SECONDS:.0f} s): {verdict}")
    else:
        print(f"{timed} (not judged: the target is for {TARGET_SUBSCRIBERS} x {TARGET_MONTHS})")


# ---------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, help="caresim and (b) subscribers (100000; 10000 quick)")
    parser.add_argument("--months", type=int, help="months (default 36; 12 quick)")
    parser.add_argument("--mesa-subscribers", type=int, help="(a) subscribers (default 5000; 2000 quick)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the median is reported")
    parser.add_argument("--seed", type=int, default=20261123, help="seed of the references")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10000 x 12, (a) on 2000")
    parser.add_argument("--caresim-only", action="store_true", help="internal: one caresim run, print JSON")
    args = parser.parse_args(argv)
    args.subscribers = args.subscribers or (10_000 if args.quick else TARGET_SUBSCRIBERS)
    args.months = args.months or (12 if args.quick else TARGET_MONTHS)
    args.mesa_subscribers = args.mesa_subscribers or (2_000 if args.quick else 5_000)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.caresim_only:
        print(json.dumps(run_caresim_here(args.subscribers, args.months).__dict__))
        return
    rules = MonthlyRules.from_config(scaled_config(args.subscribers, args.months))
    caresim_runs: list[CaresimRun] = []
    mesa_runs: list[RunResult] = []
    numpy_runs: list[RunResult] = []
    print(
        f"caresim {args.subscribers} x {args.months}, (a) {args.mesa_subscribers} x {args.months}, "
        f"(b) {args.subscribers} x {args.months}; {args.repeats} repeats; "
        f"OMP/OPENBLAS/MKL_NUM_THREADS=1; python {sys.version.split()[0]}",
        flush=True,
    )
    for repeat in range(args.repeats):
        caresim_runs.append(run_caresim_subprocess(args.subscribers, args.months))
        mesa_runs.append(run_mesa_simpy(rules, args.mesa_subscribers, args.months, args.seed + repeat))
        numpy_runs.append(run_numpy(rules, args.subscribers, args.months, args.seed + repeat))
        seconds = (caresim_runs[-1].seconds, mesa_runs[-1].seconds, numpy_runs[-1].seconds)
        print("  repeat {}: caresim {:.2f} s, (a) {:.2f} s, (b) {:.2f} s".format(repeat + 1, *seconds), flush=True)
    print()
    report(caresim_runs, mesa_runs, numpy_runs)


if __name__ == "__main__":
    main()
