"""Benchmark the planner: build and solve time of the Pyomo model, and of the same model through bare highspy.

Target (issue 3): 1,000 segments × 30 programmes × 5 response pieces builds and solves in 10 s or less.
Prints Pyomo build time, solve time, and, in the same run, the time to build and solve the identical MILP
passed straight to highspy, with the ratio.

    .venv/bin/python benchmarks/bench_optimize.py                 # 1000 x 30 x 5
    .venv/bin/python benchmarks/bench_optimize.py --segments 100  # smaller
"""

from __future__ import annotations

import argparse
import time

import highspy
import numpy as np

from caresim.optimize import Option, PlanningProblem, solve
from caresim.optimize.build import build

CHANNELS = ("sms", "hotline", "store", "wap")


def random_problem(n_segments: int, n_programmes: int, n_pieces: int, seed: int = 1) -> PlanningProblem:
    """Concave random responses, a binding budget, channel capacities and a contact policy."""
    rng = np.random.default_rng(seed)
    coverage = tuple(np.linspace(0, 1, n_pieces + 1))
    options = []
    for s in range(n_segments):
        for p in range(n_programmes):
            eligible = float(rng.uniform(100, 2000))
            slopes = np.sort(rng.uniform(0, 40, n_pieces))[::-1] * eligible
            value = tuple(np.concatenate([[0.0], np.cumsum(slopes / n_pieces)]))
            options.append(
                Option(
                    segment=f"s{s}",
                    programme=f"p{p}",
                    eligible=eligible,
                    cost_per_treated=float(rng.uniform(2, 30)),
                    coverage=coverage,
                    value=value,
                    channel=CHANNELS[p % len(CHANNELS)],
                    contacts_per_treated_month=float(rng.uniform(0.1, 1.0)),
                )
            )
    total = sum(o.cost_per_treated * o.eligible for o in options)
    contacts = {c: sum(o.eligible * o.contacts_per_treated_month for o in options if o.channel == c) for c in CHANNELS}
    return PlanningProblem(
        options=options,
        budget=0.25 * total,
        fixed_cost={f"p{p}": float(rng.uniform(0, 0.002 * total)) for p in range(n_programmes)},
        channel_capacity={c: 0.4 * v for c, v in contacts.items()},
        segment_size={f"s{s}": 20_000.0 for s in range(n_segments)},
        max_contacts_per_subscriber_month=0.5,
    )


def solve_with_highspy(problem: PlanningProblem) -> tuple[float, float, float]:
    """Build the same MILP as arrays and solve it with highspy. Returns (build s, solve s, objective)."""
    started = time.perf_counter()
    options, programmes = problem.options, problem.programmes
    n_pieces = [len(o.widths) for o in options]
    n_d = sum(n_pieces)
    n = n_d + len(programmes)
    first = np.concatenate([[0], np.cumsum(n_pieces)[:-1]])
    option_of = np.repeat(np.arange(len(options)), n_pieces)
    upper = np.concatenate([np.concatenate([o.widths for o in options]), np.ones(len(programmes))])
    value = np.concatenate([o.slopes("value") for o in options])
    spend = np.array([o.cost_per_treated * o.eligible for o in options])[option_of]
    contacts = np.array([o.eligible * o.contacts_per_treated_month for o in options])[option_of]
    fixed = np.array([problem.fixed_cost.get(p, 0.0) for p in programmes])
    cost = np.concatenate([value - spend, -fixed])  # maximise value - cost, as a minimisation of its negative
    run_column = n_d + np.array([programmes.index(o.programme) for o in options])
    rows, cols, vals, lower_rows, upper_rows = [], [], [], [], []

    def add_row(columns: np.ndarray, coefficients: np.ndarray, low: float, high: float) -> None:
        rows.append(np.full(len(columns), len(lower_rows)))
        cols.append(columns)
        vals.append(coefficients)
        lower_rows.append(low)
        upper_rows.append(high)

    for o in range(len(options)):  # coverage only if the programme runs
        pieces = np.arange(first[o], first[o] + n_pieces[o])
        add_row(np.append(pieces, run_column[o]), np.append(np.ones(len(pieces)), -1.0), -np.inf, 0.0)
    add_row(np.arange(n), np.concatenate([spend, fixed]), -np.inf, problem.budget)
    channel = np.array([o.channel for o in options])[option_of]
    for name, capacity in problem.channel_capacity.items():
        pick = np.flatnonzero(channel == name)
        add_row(pick, contacts[pick], -np.inf, capacity)
    segment = np.array([o.segment for o in options])[option_of]
    for name in problem.segments:
        pick = np.flatnonzero(segment == name)
        add_row(pick, contacts[pick], -np.inf, problem.max_contacts_per_subscriber_month * problem.segment_size[name])
    row, col, val = (np.concatenate(parts) for parts in (rows, cols, vals))
    order = np.lexsort((row, col))
    row, col, val = row[order], col[order], val[order]
    starts = np.searchsorted(col, np.arange(n + 1))

    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(lower_rows)
    lp.col_cost_ = -cost
    lp.col_lower_, lp.col_upper_ = np.zeros(n), upper
    lp.row_lower_, lp.row_upper_ = np.array(lower_rows), np.array(upper_rows)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = starts, row, val
    lp.integrality_ = [highspy.HighsVarType.kContinuous] * n_d + [highspy.HighsVarType.kInteger] * len(programmes)
    highs.passModel(lp)
    built = time.perf_counter()
    highs.run()
    solved = time.perf_counter()
    return built - started, solved - built, -highs.getInfo().objective_function_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1000)
    parser.add_argument("--programmes", type=int, default=30)
    parser.add_argument("--pieces", type=int, default=5)
    args = parser.parse_args()
    problem = random_problem(args.segments, args.programmes, args.pieces)
    size = f"{args.segments} segments x {args.programmes} programmes x {args.pieces} pieces"

    started = time.perf_counter()
    build(problem)
    pyomo_build = time.perf_counter() - started
    started = time.perf_counter()
    plan = solve(problem)  # builds again, solves, reads the plan and the binding limits' duals
    pyomo_total = time.perf_counter() - started
    bare_build, bare_solve, bare_objective = solve_with_highspy(problem)

    print(f"planner benchmark: {size} ({len(problem.options) * args.pieces:,} piece variables)")
    print(f"  Pyomo build                 {pyomo_build:7.2f} s")
    print(
        f"  Pyomo build + solve + plan + duals {pyomo_total:7.2f} s  (solve ~{pyomo_total - pyomo_build:.2f} s)"
    )
    print(f"  highspy build               {bare_build:7.2f} s")
    print(f"  highspy solve               {bare_solve:7.2f} s")
    print(f"  objective: Pyomo {plan.objective:,.1f}, highspy {bare_objective:,.1f}")
    print(f"  ratio Pyomo total / highspy total = {pyomo_total / (bare_build + bare_solve):.1f}x")
    verdict = "PASS" if pyomo_total <= 10 else "MISS"
    print(f"  build + solve {pyomo_total:.2f} s (target <= 10 s): {verdict}")


if __name__ == "__main__":
    main()
