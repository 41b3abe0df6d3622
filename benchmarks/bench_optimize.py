"""Benchmark the planner: build and solve time of the Pyomo model, and of the same model through bare highspy.

Target (issue 13): on 1,000 segments × 30 programmes × 5 response pieces, ``solve()`` (Pyomo build, hand-over
to HiGHS, HiGHS, reading the plan and duals) takes at most 1.5× the time to build and solve the identical
model (built from the same numpy rows) straight through highspy. Prints the parts of both, the ratio and
whether the two objectives agree: medians of ``--repeats`` runs, the two interleaved. The machine is
shared and noisy: compare ratios, not seconds.

    .venv/bin/python benchmarks/bench_optimize.py                 # 1000 x 30 x 5
    .venv/bin/python benchmarks/bench_optimize.py --segments 100  # smaller
    .venv/bin/python benchmarks/bench_optimize.py --repeats 5     # more repeats
"""

from __future__ import annotations

import argparse
import time

import highspy
import numpy as np
import pyomo.environ as pyo

from caresim.optimize import Option, PlanningProblem, solve
from caresim.optimize.build import limit_rows, objective_terms, run_bounds
from caresim.optimize.layout import Layout
from caresim.optimize.solve import HIGHS_OPTIONS, INTEGRAL, LARGE, LARGE_OPTIONS

CHANNELS = ("sms", "hotline", "store", "wap")
TARGET_RATIO = 1.5  # issue 13: Pyomo build + solve within 1.5x of bare highspy's


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
    """The model ``build`` makes (same layout, rows, run bounds, ordering rows, objective, units, HiGHS options
    and strategy: LP relaxation first, the MILP only if a binary is fractional) straight through highspy.
    Returns (build s, solve s, objective in natural units)."""
    started = time.perf_counter()
    layout = Layout(problem)
    rows = limit_rows(layout, problem)
    pieces, runs, widths = run_bounds(layout)
    n = layout.n_columns
    count = len(rows) + len(pieces)
    row_of = np.concatenate(
        [np.full(len(r.columns), i) for i, r in enumerate(rows)] + [len(rows) + np.arange(count - len(rows))] * 2
    )
    col = np.concatenate([r.columns for r in rows] + [pieces, runs])
    val = np.concatenate([r.coefs for r in rows] + [np.ones(len(pieces)), -widths])
    constant = np.array([r.constant for r in rows] + [0.0] * len(pieces))
    lower = np.array([-np.inf if r.lower is None else r.lower for r in rows] + [-np.inf] * len(pieces)) - constant
    upper = np.array([np.inf if r.upper is None else r.upper for r in rows] + [0.0] * len(pieces)) - constant
    order = np.lexsort((row_of, col))
    columns, coefs, sense = objective_terms(layout, problem)
    cost = np.zeros(n)
    np.add.at(cost, columns, coefs)
    col_lower, col_upper = np.zeros(n), np.ones(n)
    col_upper[: layout.n_d] = layout.width[layout.kept]
    if layout.cvar:
        col_lower[layout.eta_column], col_upper[layout.eta_column] = -np.inf, np.inf
        col_upper[layout.z_columns] = np.inf

    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    for key, value in {**HIGHS_OPTIONS, **(LARGE_OPTIONS if n > LARGE else {})}.items():
        highs.setOptionValue(key, value)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, count
    lp.col_cost_ = cost
    lp.sense_ = highspy.ObjSense.kMaximize if sense == pyo.maximize else highspy.ObjSense.kMinimize
    lp.col_lower_, lp.col_upper_ = col_lower, col_upper
    lp.row_lower_, lp.row_upper_ = lower, upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(col[order], np.arange(n + 1))
    lp.a_matrix_.index_, lp.a_matrix_.value_ = row_of[order], val[order]
    highs.passModel(lp)
    built = time.perf_counter()
    highs.run()
    binary = np.arange(layout.n_d, layout.n_d + layout.n_binaries)  # run[p], then the ordering binaries
    on = np.asarray(highs.getSolution().col_value)[binary]
    if np.any(np.abs(on - np.round(on)) > INTEGRAL):
        highs.changeColsIntegrality(len(binary), binary, np.full(len(binary), highspy.HighsVarType.kInteger))
        highs.run()
    solved = time.perf_counter()
    return built - started, solved - built, highs.getInfo().objective_function_value * layout.objective_unit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1000)
    parser.add_argument("--programmes", type=int, default=30)
    parser.add_argument("--pieces", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved Pyomo / highspy runs; medians printed")
    args = parser.parse_args()
    problem = random_problem(args.segments, args.programmes, args.pieces)
    size = f"{args.segments} segments x {args.programmes} programmes x {args.pieces} pieces"
    solve(random_problem(3, 4, 2))  # warm-up: first-call imports and caches stay out of the timings
    solve_with_highspy(random_problem(3, 4, 2))

    runs: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        started = time.perf_counter()
        plan = solve(problem)  # builds, solves, reads the plan and the binding limits' duals
        pyomo_total = time.perf_counter() - started  # wall time of the whole call, whatever the parts miss
        bare_build, bare_solve, bare_objective = solve_with_highspy(problem)
        for key, seconds in (
            ("pyomo build", plan.timings["build"]),
            ("pyomo solve", plan.timings["solve"]),
            ("pyomo handover", plan.timings.get("handover", np.nan)),
            ("pyomo highs", plan.timings.get("highs", np.nan)),
            ("pyomo read", plan.timings["read"]),
            ("pyomo total", pyomo_total),
            ("highspy build", bare_build),
            ("highspy solve", bare_solve),
            ("highspy total", bare_build + bare_solve),
            ("ratio", pyomo_total / (bare_build + bare_solve)),
        ):
            runs.setdefault(key, []).append(seconds)
    median = {key: float(np.median(values)) for key, values in runs.items()}

    layout = Layout(problem)
    kept, n_runs, ordering = layout.n_d, len(layout.run_programmes), len(layout.order_pieces)
    pieces = len(problem.options) * args.pieces
    print(
        f"planner benchmark: {size} ({pieces:,} pieces, {kept:,} kept as columns; binaries: {n_runs} run, "
        f"{ordering} ordering); medians of {args.repeats} interleaved repeats"
    )
    print(f"  Pyomo build                  {median['pyomo build']:7.2f} s")
    print(f"  Pyomo solve                  {median['pyomo solve']:7.2f} s")
    print(f"    of which hand-over         {median['pyomo handover']:7.2f} s")
    print(f"    of which HiGHS             {median['pyomo highs']:7.2f} s")
    print(f"  Pyomo read (plan + duals)    {median['pyomo read']:7.2f} s")
    print(f"  Pyomo total (solve() wall)   {median['pyomo total']:7.2f} s")
    print(f"  highspy build                {median['highspy build']:7.2f} s")
    print(f"  highspy solve                {median['highspy solve']:7.2f} s")
    print(f"  highspy total                {median['highspy total']:7.2f} s")
    ratio = median["ratio"]
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    print(
        f"  ratio Pyomo total / highspy total {ratio:.2f}x (median of per-repeat ratios; "
        f"target <= {TARGET_RATIO}x): {verdict}"
    )
    difference = abs(plan.objective - bare_objective) / max(1.0, abs(bare_objective))
    agree = "agree" if difference <= 1e-6 else "DIFFER"
    print(
        f"  objective: Pyomo {plan.objective:,.1f}, highspy {bare_objective:,.1f} "
        f"(relative difference {difference:.1e}: {agree})"
    )


if __name__ == "__main__":
    main()
