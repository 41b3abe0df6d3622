"""Benchmark sweep throughput: the same sweep with Hydra's joblib launcher on one worker and on two.

Target (issue 4): two local workers give close to twice the throughput of one. The sweeps run one after
the other in this session, into fresh folders; the figures are wall times of the whole ``caresim
--multirun`` command and their ratio. The same sweeps with one-month runs measure what does not grow with
the work (starting the workers, importing, composing configs, collecting); the simulation work's own
throughput ratio is taken net of it. The collected tables of one and two workers must be identical.

    .venv/bin/python benchmarks/bench_sweep.py              # 8 points of 36 months (about 2.5 minutes)
    .venv/bin/python benchmarks/bench_sweep.py --points 2 --months 6
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def sweep(output: Path, seeds: str, months: int, workers: int) -> float:
    """Wall seconds of one sweep over ``seeds`` with ``workers`` joblib workers."""
    command = [
        sys.executable,
        "-m",
        "caresim",
        "--multirun",
        "hydra/launcher=joblib",
        f"hydra.launcher.n_jobs={workers}",
        f"run.seed={seeds}",
        f"run.n_months={months}",
        "run.progress=false",
        "run.report=false",
        f"run.output_dir={output}",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def table(output: Path) -> pd.DataFrame:
    (folder,) = (output / "sweeps").iterdir()
    return pd.read_parquet(folder / "sweep.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--months", type=int, default=36)
    args = parser.parse_args()
    seeds = ",".join(str(s) for s in range(1, args.points + 1))
    with tempfile.TemporaryDirectory() as scratch:
        one = sweep(Path(scratch) / "one", seeds, args.months, 1)
        two = sweep(Path(scratch) / "two", seeds, args.months, 2)
        same = table(Path(scratch) / "one").equals(table(Path(scratch) / "two"))
        fixed_one = sweep(Path(scratch) / "fixed_one", seeds, 1, 1)
        fixed_two = sweep(Path(scratch) / "fixed_two", seeds, 1, 2)
    print(f"sweep benchmark: {args.points} points x {args.months} months, default scenario, joblib launcher")
    print(f"  1 worker   {one:7.1f} s   {args.points / one * 60:6.1f} runs/min   (one-month runs: {fixed_one:.1f} s)")
    print(f"  2 workers  {two:7.1f} s   {args.points / two * 60:6.1f} runs/min   (one-month runs: {fixed_two:.1f} s)")
    print(f"  throughput 2 workers / 1 worker, whole command        = {one / two:.2f}x")
    work = (one - fixed_one) / (two - fixed_two)
    print(f"  throughput 2 workers / 1 worker, simulation work only = {work:.2f}x (2 cores)")
    print(f"  collected tables identical: {same}")


if __name__ == "__main__":
    main()
