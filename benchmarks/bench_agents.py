"""Benchmark the AgentRule extension point: what stepping every active subscriber as a Mesa agent costs.

Runs the baseline market scaled to ``--subscribers`` real subscribers (simulated one-to-one) for
``--months`` months twice, interleaved, ``--repeats`` times:

* plain: no agent rules (no Mesa agent is made);
* rule: one ``AgentRule`` over all active subscribers whose ``step`` reads the subscriber's satisfaction and
  calls ``shock_satisfaction(0.0)`` (about one agent step per active subscriber per month). A shock of 0
  changes nothing, so both runs must give the same results, which is checked.

It prints the median seconds of each (build excluded: it is the same for both), the cost ratio rule/plain,
the agent steps and the extra seconds per agent step, and, apart, the one-off cost of making one agent
for every subscriber of the initial base (``model.subscribers[slot]`` on a freshly built model: seconds,
agents/s and memory). The machine may be shared and noisy: read the ratios, not the seconds.

    .venv/bin/python benchmarks/bench_agents.py            # 100000 x 12, 3 repeats, about a minute
    .venv/bin/python benchmarks/bench_agents.py --quick    # smoke run: 10000 x 6, 1 repeat
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc

# One core: set before NumPy is first imported.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import numpy as np  # noqa: E402
from bench_simulation import scaled_config  # noqa: E402

import caresim  # noqa: E402
from caresim.config.schema import CareConfig  # noqa: E402
from caresim.engine.record import RunRecord  # noqa: E402
from caresim.simulation import build_model  # noqa: E402


class Touch(caresim.Subscriber):
    """A trivial agent: one read and one zero shock per step (the count is the benchmark's own)."""

    n_steps = 0

    def step(self) -> None:
        Touch.n_steps += 1
        if self.satisfaction >= 0.0:
            self.shock_satisfaction(0.0)


def timed_run(config: CareConfig, rules: tuple[caresim.AgentRule, ...]) -> tuple[float, int, int, RunRecord]:
    """Seconds of ``model.run()`` (build excluded), agent steps, agents made, and the run's record."""
    model = build_model(config, agent_rules=rules)
    Touch.n_steps = 0
    gc.collect()  # earlier runs' agents and models (reference cycles) are not collected on this run's time
    started = time.perf_counter()
    record = model.run()
    seconds = time.perf_counter() - started
    return seconds, Touch.n_steps, len(model.agents), record


def same_results(a: RunRecord, b: RunRecord) -> bool:
    """Every subscriber's outcome and every monthly stock equal (a zero shock must change nothing)."""
    subscribers = all(np.array_equal(getattr(a.subscribers, f), getattr(b.subscribers, f)) for f in vars(a.subscribers))
    stocks = all(np.array_equal(a.monthly.stock[k], b.monthly.stock[k]) for k in a.monthly.stock)
    return subscribers and stocks


def creation_cost(config: CareConfig) -> tuple[int, float, float]:
    """Agents made for the whole initial base of a freshly built model: count, seconds, bytes per agent."""
    model = build_model(config)
    slots = np.flatnonzero(model.world.state.ever_active).tolist()
    gc.collect()
    started = time.perf_counter()
    for slot in slots:
        model.subscribers[slot]
    seconds = time.perf_counter() - started
    model = build_model(config)  # again, for memory only (tracemalloc slows the loop down)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for slot in slots:
        model.subscribers[slot]
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return len(slots), seconds, used / len(slots)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, help="real subscribers, simulated one-to-one (100000; 10000 quick)")
    parser.add_argument("--months", type=int, help="months (default 12; 6 quick)")
    parser.add_argument("--repeats", type=int, help="interleaved repeats; medians are reported (3; 1 quick)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10000 x 6, 1 repeat")
    args = parser.parse_args(argv)
    args.subscribers = args.subscribers or (10_000 if args.quick else 100_000)
    args.months = args.months or (6 if args.quick else 12)
    args.repeats = args.repeats or (1 if args.quick else 3)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = scaled_config(args.subscribers, args.months)
    rules = (caresim.AgentRule(agent=Touch),)  # every active stage, every segment
    print(
        f"{args.subscribers} subscribers x {args.months} months, {args.repeats} interleaved repeats; "
        f"OMP/OPENBLAS/MKL_NUM_THREADS=1; python {sys.version.split()[0]}",
        flush=True,
    )
    plain: list[float] = []
    ruled: list[float] = []
    for repeat in range(args.repeats):
        seconds_plain, _, agents_plain, record_plain = timed_run(config, ())
        seconds_rule, steps, agents, record_rule = timed_run(config, rules)
        plain.append(seconds_plain)
        ruled.append(seconds_rule)
        same = same_results(record_plain, record_rule)
        print(
            f"  repeat {repeat + 1}: plain {seconds_plain:.2f} s ({agents_plain} agents), rule {seconds_rule:.2f} s "
            f"({steps:,} agent steps, {agents:,} agents); same results: {'yes' if same else 'NO'}",
            flush=True,
        )
        if not same:
            raise SystemExit("a zero shock changed the results: the rule is not neutral")
    t_plain, t_rule = statistics.median(plain), statistics.median(ruled)
    extra = t_rule - t_plain
    print()
    print(f"plain run (no rules)         {t_plain:8.2f} s   (median; min-max {min(plain):.2f}-{max(plain):.2f})")
    print(f"with the rule                {t_rule:8.2f} s   (median; min-max {min(ruled):.2f}-{max(ruled):.2f})")
    print(f"cost ratio rule / plain      {t_rule / t_plain:8.2f} x")
    print(f"agent steps                  {steps:>11,}   ({steps / args.months:,.0f} a month; {agents:,} agents made)")
    print(
        f"extra time per agent step    {1e6 * extra / steps:8.2f} us  "
        f"({steps / extra:,.0f} agent steps/s, agent creation included)"
    )
    n, seconds, per_agent = creation_cost(config)
    print(
        f"{f'making {n:,} agents (one-off)':<29}{seconds:8.2f} s   ({n / seconds:,.0f} agents/s, "
        f"{per_agent:,.0f} bytes each, {n * per_agent / 1e6:,.0f} MB in all)"
    )


if __name__ == "__main__":
    main()
