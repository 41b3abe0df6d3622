"""The planning problem as plain data: what each care option (segment × programme) returns, and the limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Objective = Literal["net_value", "retained", "loyalty", "min_cost"]
OBJECTIVES = ("net_value", "retained", "loyalty", "min_cost")
Risk = Literal["mean", "cvar"]
CURVES = ("value", "retained", "loyal")  # the curves that may be given per sample
SAMPLED = tuple(f"{name}_samples" for name in CURVES)
QUANTITY = {"net_value": "value", "retained": "retained", "loyalty": "loyal", "min_cost": "retained"}


@dataclass(frozen=True)
class Option:
    """One programme in one segment, with its estimated response to coverage.

    ``coverage`` are breakpoints (0 first, increasing, at most 1); ``value``, ``retained``, ``loyal`` and
    ``poor_reduction`` are the response at each breakpoint (0 at coverage 0). Concave curves (each piece no
    steeper than the one before) fill in order by themselves; an option whose curve the model would rather
    fill out of order gets binaries that make its pieces fill in order (exact, but a MILP).

    ``value_samples`` / ``retained_samples`` / ``loyal_samples``: one curve per sample (scenario or pilot
    replication) over the same breakpoints. When given they replace ``value`` / ``retained`` / ``loyal``: the
    expected curve is their mean, weighted by ``PlanningProblem.sample_weights``, and the single curve is
    ignored. Each sample curve is evaluated on the pieces filled in order.

    ``spend_profile``: the share of the variable spend falling in each period of ``period_budget`` (sums to
    1; empty means even over the periods).
    """

    segment: str
    programme: str
    eligible: float  # real subscribers eligible over the horizon
    cost_per_treated: float  # variable cost per covered subscriber over the horizon
    coverage: tuple[float, ...]
    value: tuple[float, ...] = ()  # retained value (margin × remaining lifetime), money
    retained: tuple[float, ...] = ()  # retained subscribers
    loyal: tuple[float, ...] = ()  # subscribers whose loyalty ends Good or better, gained
    poor_reduction: tuple[float, ...] = ()  # points off the segment's share of Poor satisfaction
    channel: str = ""
    contacts_per_treated_month: float = 0.0
    value_samples: tuple[tuple[float, ...], ...] = ()
    retained_samples: tuple[tuple[float, ...], ...] = ()
    loyal_samples: tuple[tuple[float, ...], ...] = ()
    spend_profile: tuple[float, ...] = ()
    targets: tuple[str, ...] = ()  # how the simulator chooses whom to cover at each breakpoint (plain labels,
    # e.g. "random" or "uplift"; the optimiser only carries them)

    def __post_init__(self) -> None:
        name = f"option {self.segment}/{self.programme}"
        points = np.asarray(self.coverage, dtype=float)
        if len(points) < 2 or points[0] != 0 or np.any(np.diff(points) <= 0) or points[-1] > 1:
            raise ValueError(f"{name}: coverage must start at 0, rise, end <= 1")
        if self.eligible < 0 or self.cost_per_treated < 0 or self.contacts_per_treated_month < 0:
            raise ValueError(f"{name}: eligible, cost_per_treated and contacts_per_treated_month must be >= 0")
        for key in (*CURVES, "poor_reduction"):
            curve = getattr(self, key)
            if curve and len(curve) != len(points):
                raise ValueError(f"{key}: {name} needs one value per breakpoint ({len(points)}), got {len(curve)}")
        for key in SAMPLED:
            for s, curve in enumerate(getattr(self, key)):
                if len(curve) != len(points):
                    raise ValueError(
                        f"{key}: {name}, sample {s} needs one value per breakpoint ({len(points)}), got {len(curve)}"
                    )
        if self.targets and len(self.targets) != len(points):
            raise ValueError(f"targets: {name} needs one label per breakpoint ({len(points)}), got {len(self.targets)}")
        profile = np.asarray(self.spend_profile, dtype=float)
        if len(profile) and (np.any(profile < 0) or abs(profile.sum() - 1) > 1e-6):
            raise ValueError(f"spend_profile: {name} must be >= 0 and sum to 1, got {self.spend_profile}")

    def curve(self, name: str, weights: np.ndarray | None = None) -> np.ndarray:
        """Expected curve ``name`` at the breakpoints: the (weighted) sample mean when samples are given."""
        samples = getattr(self, f"{name}_samples", ())
        if samples:
            table = np.asarray(samples, dtype=float)
            w = np.full(len(table), 1 / len(table)) if weights is None else weights
            return w @ table
        given = getattr(self, name)
        return np.asarray(given, dtype=float) if given else np.zeros(len(self.coverage))

    def slopes(self, name: str, weights: np.ndarray | None = None) -> np.ndarray:
        """Slope of the expected curve ``name`` on each piece (zeros when the curve is not given)."""
        return np.diff(self.curve(name, weights)) / self.widths

    @property
    def widths(self) -> np.ndarray:
        return np.diff(np.asarray(self.coverage, dtype=float))


@dataclass
class PlanningProblem:
    """Options, costs and limits. Money over the planning horizon; contacts per month.

    ``risk="cvar"`` maximises the conditional value at risk of the objective across samples: the weighted
    mean of the worst ``cvar_alpha`` share of samples (Rockafellar–Uryasev). Only for objectives "net_value"
    (CVaR of value − cost), "retained" and "loyalty" (subscribers ending Good or better in loyalty, gained).
    ``sample_weights``: one per sample (default equal), normalised.
    ``period_budget``: a budget per period; an option's variable spend falls in the periods by its
    ``spend_profile``, fixed costs evenly.
    """

    options: list[Option]
    budget: float
    fixed_cost: dict[str, float] = field(default_factory=dict)  # per programme, over the horizon, if it runs
    objective: Objective = "net_value"
    retention_target: float = 0.0  # subscribers retained, for objective "min_cost"
    segment_min_spend: dict[str, float] = field(default_factory=dict)
    segment_max_spend: dict[str, float] = field(default_factory=dict)
    channel_capacity: dict[str, float] = field(default_factory=dict)  # contacts per month
    programme_capacity: dict[str, float] = field(default_factory=dict)  # contacts per month, per programme
    segment_size: dict[str, float] = field(default_factory=dict)  # subscribers, for the contact policy
    max_contacts_per_subscriber_month: float | None = None
    poor_share: dict[str, float] = field(default_factory=dict)  # today's share of Poor satisfaction
    max_poor_share: dict[str, float] = field(default_factory=dict)  # the service floor
    extra_constraints: list[Callable] = field(default_factory=list)  # f(model, problem) adds named constraints
    risk: Risk = "mean"
    cvar_alpha: float = 0.2
    sample_weights: tuple[float, ...] = ()
    period_budget: tuple[float, ...] = ()

    @property
    def segments(self) -> list[str]:
        return sorted({option.segment for option in self.options})

    @property
    def programmes(self) -> list[str]:
        return sorted({option.programme for option in self.options})

    @property
    def channels(self) -> list[str]:
        return sorted({option.channel for option in self.options if option.channel})

    @property
    def n_samples(self) -> int:
        """Number of samples (0 when no option has sample curves)."""
        counts = {len(getattr(o, key)) for o in self.options for key in SAMPLED} - {0}
        return max(counts, default=0)

    def weights(self) -> np.ndarray | None:
        """Normalised sample weights (None without samples)."""
        n = self.n_samples
        if n == 0:
            return None
        raw = np.asarray(self.sample_weights, dtype=float) if self.sample_weights else np.ones(n)
        return raw / raw.sum()

    def validate(self) -> None:
        """Raise ValueError starting with the offending key for bad numbers or names."""
        if self.budget < 0:
            raise ValueError(f"budget: must be >= 0, got {self.budget}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective: must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        segments, programmes, channels = set(self.segments), set(self.programmes), set(self.channels)
        for key, mapping, kind, known in (
            ("segment_min_spend", self.segment_min_spend, "segment", segments),
            ("segment_max_spend", self.segment_max_spend, "segment", segments),
            ("max_poor_share", self.max_poor_share, "segment", segments),
            ("fixed_cost", self.fixed_cost, "programme", programmes),
            ("channel_capacity", self.channel_capacity, "channel", channels),
            ("programme_capacity", self.programme_capacity, "programme", programmes),
        ):
            for name, number in mapping.items():
                if name not in known:
                    raise ValueError(f"{key}.{name}: unknown {kind}; known: {sorted(known)}")
                if number < 0:
                    raise ValueError(f"{key}.{name}: must be >= 0, got {number}")
        if self.max_contacts_per_subscriber_month is not None and self.max_contacts_per_subscriber_month < 0:
            limit = self.max_contacts_per_subscriber_month
            raise ValueError(f"max_contacts_per_subscriber_month: must be >= 0, got {limit}")
        self._validate_samples()
        self._validate_periods()

    def _validate_samples(self) -> None:
        if self.risk not in ("mean", "cvar"):
            raise ValueError(f"risk: must be mean or cvar, got {self.risk!r}")
        if not 0 < self.cvar_alpha <= 1:
            raise ValueError(f"cvar_alpha: must be in (0, 1], got {self.cvar_alpha}")
        n = self.n_samples
        for key in SAMPLED:
            for o in self.options:
                count = len(getattr(o, key))
                if count not in (0, n):
                    raise ValueError(f"{key}: option {o.segment}/{o.programme} has {count} samples, others {n}")
        if self.sample_weights:
            weights = np.asarray(self.sample_weights, dtype=float)
            if len(weights) != n or np.any(weights < 0) or weights.sum() <= 0:
                raise ValueError(
                    f"sample_weights: need {n} weights >= 0 with a positive sum, got {self.sample_weights}"
                )
        if self.risk == "cvar":
            if self.objective == "min_cost":
                raise ValueError("risk: cvar needs objective net_value, retained or loyalty, got min_cost")
            key = f"{QUANTITY[self.objective]}_samples"
            if not any(getattr(o, key) for o in self.options):
                raise ValueError(
                    f"risk: cvar needs sample curves ({key}) on the options for objective {self.objective}"
                )

    def _validate_periods(self) -> None:
        periods = len(self.period_budget)
        if any(b < 0 for b in self.period_budget):
            raise ValueError(f"period_budget: must be >= 0, got {self.period_budget}")
        for o in self.options:
            if periods and o.spend_profile and len(o.spend_profile) != periods:
                raise ValueError(
                    f"spend_profile: option {o.segment}/{o.programme} has {len(o.spend_profile)} periods, "
                    f"period_budget has {periods}"
                )
