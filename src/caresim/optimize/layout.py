"""The problem as arrays in model units: response pieces, the units money and counts are measured in, columns.

Money, contacts and subscribers each get a unit (a power of ten near the median coefficient) so that the
numbers HiGHS sees are O(1)-O(1e4) whatever the currency: money spanning 1e2-1e8 made HiGHS return a wrong
"optimal" plan. Everything is unscaled on the way out.

Pieces that cannot improve the objective nor help meet a lower limit are left out of the model (an exact
reduction: with nonnegative duals their reduced cost is never positive); only a suffix of each option's
pieces is dropped, so the kept pieces still fill in order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from caresim.optimize.problem import PlanningProblem


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
            subscribers=unit_of(self.retained_slope * self.width),
        )
        self._columns(problem)

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
        self.value_slope = slopes([o.curve("value", w) for o in options])
        self.retained_slope = slopes([o.curve("retained", w) for o in options])
        self.poor_slope = slopes([o.curve("poor_reduction") for o in options])
        self.value_samples = self._sample_slopes(problem, "value", slopes)
        self.retained_samples = self._sample_slopes(problem, "retained", slopes)

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
        """Kept pieces, binaries for programmes with a fixed cost, and the CVaR columns."""
        spend = self.spend[self.piece_option]
        if problem.objective == "net_value":
            gain = self.value_slope - spend
            if self.value_samples is not None:
                gain = np.maximum(gain, (self.value_samples - spend).max(axis=0))
        else:
            gain = self.retained_slope.copy()
            if self.retained_samples is not None:
                gain = np.maximum(gain, self.retained_samples.max(axis=0))
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
        self.cvar = problem.risk == "cvar"
        if self.cvar:
            self.eta_column = self.n_columns
            self.z_columns = self.n_columns + 1 + np.arange(self.n_samples)
            self.n_columns += 1 + self.n_samples

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
