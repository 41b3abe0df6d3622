"""Benchmark training an uplift model on the default pilot (target: 30 s or less on one core).

Simulates the default scenario's pilot of ``--programme`` (50% of the eligible assigned at random, the
default scale and horizon, as ``caresim mode=uplift`` does), then fits the T- and X-learners on all the
pilot's assigned and control subscribers and computes the Qini curve with its 200-resample bootstrap.
Fits are repeated ``--repeats`` times and the median is printed; the machine may be shared and noisy.

    .venv/bin/python benchmarks/bench_uplift.py                     # retention_offer, about a minute
    .venv/bin/python benchmarks/bench_uplift.py --programme loyalty_reward
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import caresim  # noqa: E402
from caresim.planning.uplift import fit_uplift, qini, training_data  # noqa: E402
from caresim.simulation import run_record  # noqa: E402

TARGET_SECONDS = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programme", default="retention_offer")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = caresim.load_config(None, ["run.progress=false"])
    started = time.perf_counter()
    record = run_record(config, {args.programme: 0.5}, False)
    simulated = time.perf_counter() - started
    features, treated, retained = training_data(record, args.programme)
    print(f"pilot of {args.programme}: {len(treated):,} subscribers (assigned {treated.sum():,}), simulated in "
          f"{simulated:.1f} s")  # fmt: skip
    for learner in ("t", "x"):
        fits, judged = [], []
        for _ in range(args.repeats):
            began = time.perf_counter()
            model = fit_uplift(args.programme, features, treated, retained, learner)
            fits.append(time.perf_counter() - began)
            began = time.perf_counter()
            qini(model.predict_uplift(features), treated, retained)
            judged.append(time.perf_counter() - began)
        fit, judge = statistics.median(fits), statistics.median(judged)
        verdict = "PASS" if fit <= TARGET_SECONDS else "FAIL"
        print(f"{learner.upper()}-learner: fit {fit:.2f} s, Qini with bootstrap {judge:.2f} s "
              f"(median of {args.repeats}); target fit <= {TARGET_SECONDS:g} s: {verdict}")  # fmt: skip
    print(f"whole job without the targeting simulations: about {simulated + fit + judge:.0f} s")


if __name__ == "__main__":
    main()
