"""Benchmark the planning job (``caresim mode=plan``) one run after another, on 2 local workers and on local Ray.

Targets (issue 13): the default ``mode=plan`` in 90 s or less on 2 cores, and its simulation part (pilot,
adjustment, final comparison) at least 1.8× faster on 2 workers than on 1. Each variant plans the default
scenario from scratch (no run cache) in a fresh process, so that worker start-up (and Ray's) is paid as a
user pays it; the script then checks that every variant wrote the same tables and prints the times by phase
and the ratios. The machine may be shared and noisy: compare the ratios of one run.

    .venv/bin/python benchmarks/bench_plan.py                 # the default scenario: about 4 minutes
    .venv/bin/python benchmarks/bench_plan.py --quick         # a smoke run: 12 months at scale 80
    .venv/bin/python benchmarks/bench_plan.py --variants sequential local
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

TARGET_SECONDS = 90.0
TARGET_SPEEDUP = 1.8
QUICK = ["run.n_months=12", "run.scale=80"]
VARIANTS = {
    "sequential": ["planner.executor=sequential"],
    "local": ["planner.executor=local", "planner.n_workers=2"],
    "ray": ["planner.executor=ray", "planner.n_workers=2"],
}
TABLES = ("plan", "comparison", "pilot_estimates", "pilot_targeting", "pilot_qini", "rounds", "simulated", "frontier")
SIMULATION_PHASES = ("pilot", "adjust", "final")


def one(variant: str, overrides: list[str], folder: Path) -> None:
    """Plan in this process and leave the timings and tables in ``folder`` (run by the parent)."""
    import caresim

    config = caresim.load_config(
        "baseline", [*overrides, *VARIANTS[variant], "run.progress=false", "planner.resume=false"]
    )
    started = time.perf_counter()
    report = caresim.plan(config, progress=False)
    seconds = time.perf_counter() - started
    tables = report.tables()
    for name in TABLES:  # a table the plan did not make (no targeting) is written empty
        (tables[name] if tables[name] is not None else pd.DataFrame()).to_parquet(folder / f"{name}.parquet")
    timings = {"total": seconds, **report.phase_seconds}
    (folder / "timings.json").write_text(json.dumps(timings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 12 months at scale 80")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--one", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    overrides = QUICK if args.quick else []
    if args.one:
        one(args.one, overrides, args.folder)
        return
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for variant in args.variants:
            folder = Path(scratch) / variant
            folder.mkdir()
            command = [sys.executable, __file__, "--one", variant, "--folder", str(folder)]
            subprocess.run([*command, *(["--quick"] if args.quick else [])], check=True)
            results[variant] = json.loads((folder / "timings.json").read_text())
            print(f"{variant:11s} done in {results[variant]['total']:.1f} s", flush=True)
        first = args.variants[0]
        for variant in args.variants[1:]:
            for name in TABLES:
                pd.testing.assert_frame_equal(
                    pd.read_parquet(Path(scratch) / variant / f"{name}.parquet"),
                    pd.read_parquet(Path(scratch) / first / f"{name}.parquet"),
                    check_exact=True,
                    obj=f"{variant}: {name}",
                )
    print(f"\nmode=plan on the default scenario{' (quick)' if args.quick else ''}: seconds by phase")
    phases = ("total", *SIMULATION_PHASES, "frontier")
    print(f"{'':12s}" + "".join(f"{phase:>10s}" for phase in phases) + f"{'simulation':>12s}")
    for variant, timings in results.items():
        simulation = sum(timings[phase] for phase in SIMULATION_PHASES)
        print(f"{variant:12s}" + "".join(f"{timings[phase]:10.1f}" for phase in phases) + f"{simulation:12.1f}")
    print(f"tables identical across {', '.join(args.variants)}: {', '.join(TABLES)}")
    if "sequential" in results:
        base = sum(results["sequential"][phase] for phase in SIMULATION_PHASES)
        for variant in results.keys() - {"sequential"}:
            parallel = sum(results[variant][phase] for phase in SIMULATION_PHASES)
            print(f"simulation part, {variant} ×2 vs one by one: {base / parallel:.2f}× (target ≥ {TARGET_SPEEDUP}×)")
    fastest = min(timings["total"] for timings in results.values())
    print(f"fastest total: {fastest:.1f} s (target ≤ {TARGET_SECONDS:.0f} s on 2 cores, full size)")


if __name__ == "__main__":
    main()
