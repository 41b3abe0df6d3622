"""The problem as arrays in model units: response pieces, the units money and counts are measured in, columns.

Money, contacts and subscribers each get a unit (a power of ten near the median coefficient) so that the
numbers HiGHS sees are O(1)-O(1e4) whatever the currency: money spanning 1e2-1e8 made HiGHS return a wrong
"optimal" plan. Everything is unscaled on the way out.

Pieces that cannot improve the objective nor help meet a lower limit are left out of the model (an exact
reduction: with nonnegative duals their reduced cost is never positive); only a suffix of each option's
pieces is dropped, so the kept pieces are still a prefix of the curve.

Pieces fill in order by themselves when every curve the model would raise is concave on the kept pieces:
the objective's expected curve (under CVaR, each of its sample curves too) and, in a segment with a
service floor, the Poor-share reduction. Any other option gets ordering binaries ``y[k]`` between its
consecutive kept pieces (``d[k] >= w[k] y[k]``, ``d[k+1] <= w[k+1] y[k]``), so the model's outcome is the
chosen coverage's outcome evaluated in order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from caresim.optimize.problem import CURVES, QUANTITY, PlanningProblem


def unit_of(numbers: np.ndarray) -> float:
    """A power of ten near the median of the nonzero magnitudes (1 when there are none)."""
    magnitudes = np.abs(np.asarray(numbers, dtype=float))
    magnitudes = magnitudes[magnitudes > 0]
    if not len(magnitudes):
        return 1.0
    return float(10.0 ** np.floor(np.log10(np.median(magnitudes))))


@dataclass(frozen=True)
class Units:
    """Natural units per model unit."""

    money: float = 1.0
    contacts: float = 1.0
    subscribers: float = 1.0


@dataclass
class Row:
    """One linear row ``lower <= constant + coefs · x[columns] <= upper`` in model units."""

    family: str
    index: object
    columns: np.ndarray
    coefs: np.ndarray
    lower: float | None = None
    upper: float | None = None
    unit: float = 1.0  # natural units per model unit of the row
    constant: float = 0.0
    definitional: bool = False  # part of the formulation, not a limit: never reported, never relaxed
    constraint: object = None  # the Pyomo constraint, once built

    @property
    def limit(self) -> float:
        return float(self.upper if self.upper is not None else self.lower)


class Layout:
    """Per-option and per-piece arrays (natural units), kept pieces as columns, and the units."""

    def __init__(self, problem: PlanningProblem) -> None:
        self.problem = problem
        options = problem.options
        self.n_options = len(options)
        self.weights = problem.weights()
        self.n_samples = problem.n_samples
        self.segments, self.programmes = problem.segments, problem.programmes
        seg_index = {s: i for i, s in enumerate(self.segments)}
        prog_index = {p: i for i, p in enumerate(self.programmes)}
        self.segment = np.fromiter((seg_index[o.segment] for o in options), int, self.n_options)
        self.programme = np.fromiter((prog_index[o.programme] for o in options), int, self.n_options)
        self.channel = np.array([o.channel for o in options], dtype=object)
        self.eligible = np.fromiter((o.eligible for o in options), float, self.n_options)
        self.spend = self.eligible * np.fromiter((o.cost_per_treated for o in options), float, self.n_options)
        per_month = np.fromiter((o.contacts_per_treated_month for o in options), float, self.n_options)
        self.contacts = self.eligible * per_month
        self._pieces(problem)
        self.fixed = np.array([problem.fixed_cost.get(p, 0.0) for p in self.programmes])
        money = np.concatenate([self.spend, np.abs(self.value_slope * self.width), self.fixed])
        self.units = Units(
            money=unit_of(money),
            contacts=unit_of(self.contacts),
            subscribers=unit_of(np.concatenate([self.retained_slope, self.loyal_slope]) * np.tile(self.width, 2)),
        )
        self._columns(problem)
        self._order(problem)

    def _pieces(self, problem: PlanningProblem) -> None:
        options = problem.options
        lengths = np.fromiter((len(o.coverage) for o in options), int, self.n_options)
        points = np.fromiter(itertools.chain.from_iterable(o.coverage for o in options), float, lengths.sum())
        first = np.cumsum(lengths) - lengths
        inside = np.ones(len(points) - 1, dtype=bool) if len(points) else np.zeros(0, dtype=bool)
        inside[first[1:] - 1] = False  # the step from one option's last point to the next option's first
        self.piece_option = np.repeat(np.arange(self.n_options), lengths - 1)
        self.start = points[:-1][inside]
        self.width = np.diff(points)[inside]
        self.piece_k = np.arange(len(self.width)) - (first - np.arange(self.n_options))[self.piece_option]

        def slopes(curves: list[np.ndarray]) -> np.ndarray:
            flat = np.concatenate(curves) if curves else np.zeros(0)
            return np.diff(flat)[inside] / self.width if len(flat) else np.zeros(0)

        w = self.weights
        self.slope = {name: slopes([o.curve(name, w) for o in options]) for name in CURVES}
        self.slope["poor_reduction"] = slopes([o.curve("poor_reduction") for o in options])
        self.samples = {name: self._sample_slopes(problem, name, slopes) for name in CURVES}

    # per-piece slopes of the expected curves, and samples × pieces (None without samples)
    @property
    def value_slope(self) -> np.ndarray:
        return self.slope["value"]

    @property
    def retained_slope(self) -> np.ndarray:
        return self.slope["retained"]

    @property
    def loyal_slope(self) -> np.ndarray:
        return self.slope["loyal"]

    @property
    def poor_slope(self) -> np.ndarray:
        return self.slope["poor_reduction"]

    @property
    def value_samples(self) -> np.ndarray | None:
        return self.samples["value"]

    @property
    def retained_samples(self) -> np.ndarray | None:
        return self.samples["retained"]

    @property
    def loyal_samples(self) -> np.ndarray | None:
        return self.samples["loyal"]

    @property
    def quantity(self) -> str:
        """The curve the objective is about: value, retained (also for min_cost's target) or loyal."""
        return QUANTITY[self.problem.objective]

    def _sample_slopes(self, problem: PlanningProblem, name: str, slopes) -> np.ndarray | None:
        """Samples × pieces; options without samples repeat their single curve. None without samples."""
        if not any(getattr(o, f"{name}_samples") for o in problem.options):
            return None
        rows = []
        for s in range(self.n_samples):
            curves = [
                np.asarray(getattr(o, f"{name}_samples")[s], dtype=float)
                if getattr(o, f"{name}_samples")
                else o.curve(name)
                for o in problem.options
            ]
            rows.append(slopes(curves))
        return np.vstack(rows)

    def _columns(self, problem: PlanningProblem) -> None:
        """Kept pieces (a prefix of each option's) and the binaries for programmes with a fixed cost."""
        spend = self.spend[self.piece_option] if problem.objective == "net_value" else 0.0
        gain = self.slope[self.quantity] - spend
        if self.samples[self.quantity] is not None:
            gain = np.maximum(gain, (self.samples[self.quantity] - spend).max(axis=0))
        useful = gain > 0
        forced = [self.segments.index(s) for s, v in problem.segment_min_spend.items() if v > 0]
        useful |= np.isin(self.segment[self.piece_option], forced)
        floors = [self.segments.index(s) for s in problem.max_poor_share]
        useful |= np.isin(self.segment[self.piece_option], floors) & (self.poor_slope > 0)
        if problem.extra_constraints:
            useful[:] = True
        if not useful.any():  # nothing can pay: keep each option's first piece, so HiGHS sees a model (of zeros)
            useful[self.piece_k == 0] = True
        last = np.zeros(self.n_options, dtype=int)  # pieces kept per option
        np.maximum.at(last, self.piece_option[useful], self.piece_k[useful] + 1)
        self.kept = np.flatnonzero(self.piece_k < last[self.piece_option])
        self.n_d = len(self.kept)
        self.run_programmes = [p for p, f in zip(self.programmes, self.fixed, strict=True) if f > 0]
        self.run_column = {p: self.n_d + i for i, p in enumerate(self.run_programmes)}
        self.n_columns = self.n_d + len(self.run_programmes)

    def _order(self, problem: PlanningProblem) -> None:
        """Ordering binaries for options whose kept pieces would not fill in order by themselves (after the
        run binaries), then the CVaR columns."""
        kept = self.kept
        curves = [self.slope[self.quantity][kept]]
        if problem.risk == "cvar" and self.samples[self.quantity] is not None:
            curves += list(self.samples[self.quantity][:, kept])
        if problem.max_poor_share:
            floors = np.isin(self.segment[self.col_option], [self.segments.index(s) for s in problem.max_poor_share])
            curves.append(np.where(floors, self.poor_slope[kept], 0.0))
        same = self.col_option[1:] == self.col_option[:-1]  # d columns j and j + 1 are pieces of one option
        rising = np.zeros(len(same), dtype=bool)
        for slope in curves:
            scale = np.maximum(1.0, np.maximum(np.abs(slope[1:]), np.abs(slope[:-1])))
            rising |= slope[1:] - slope[:-1] > 1e-9 * scale
        ordered = np.unique(self.col_option[1:][same & rising])
        self.order_options = ordered
        self.order_pieces = np.flatnonzero(same & np.isin(self.col_option[:-1], ordered))  # y[i] sits between
        self.order_columns = self.n_columns + np.arange(len(self.order_pieces))  # d[order_pieces[i]] and next
        self.n_columns += len(self.order_pieces)
        self.n_binaries = len(self.run_programmes) + len(self.order_pieces)  # columns n_d .. n_d + n_binaries
        self.cvar = problem.risk == "cvar"
        if self.cvar:
            self.eta_column = self.n_columns
            self.z_columns = self.n_columns + 1 + np.arange(self.n_samples)
            self.n_columns += 1 + self.n_samples

    @property
    def objective_unit(self) -> float:
        """Natural units per model unit of the objective: money, or subscribers."""
        return self.units.money if self.problem.objective in ("net_value", "min_cost") else self.units.subscribers

    # helpers over the kept pieces (the d columns)
    @property
    def col_option(self) -> np.ndarray:
        return self.piece_option[self.kept]

    def groups(self, keys: np.ndarray) -> dict[object, np.ndarray]:
        """d columns grouped by a per-option key (segment index, channel name, ...)."""
        per_column = keys[self.col_option]
        if not len(per_column):
            return {}
        order = np.argsort(per_column, kind="stable")
        values, starts = np.unique(per_column[order], return_index=True)
        return dict(zip(values.tolist(), np.split(order, starts[1:]), strict=True))

    def run_terms(self, per_programme: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Columns and coefficients of the binaries, from a per-programme array."""
        index = [self.programmes.index(p) for p in self.run_programmes]
        return np.array([self.run_column[p] for p in self.run_programmes], dtype=int), per_programme[index]

    def option_columns(self, o: int) -> np.ndarray:
        """The d columns of option ``o`` (kept pieces are in option order)."""
        col_option = self.col_option
        return np.arange(np.searchsorted(col_option, o), np.searchsorted(col_option, o, side="right"))
