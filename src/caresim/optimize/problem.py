"""The planning problem as plain data: what each care option (segment × programme) returns, and the limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Objective = Literal["net_value", "retained", "min_cost"]


@dataclass(frozen=True)
class Option:
    """One programme in one segment, with its estimated response to coverage.

    ``coverage`` are breakpoints (0 first, increasing, at most 1); ``value``, ``retained`` and
    ``poor_reduction`` are the response at each breakpoint (0 at coverage 0). Curves must be concave (each
    piece no steeper than the one before) for the piecewise-linear model to be exact.
    """

    segment: str
    programme: str
    eligible: float  # real subscribers eligible over the horizon
    cost_per_treated: float  # variable cost per covered subscriber over the horizon
    coverage: tuple[float, ...]
    value: tuple[float, ...]  # retained value (margin × remaining lifetime), money
    retained: tuple[float, ...] = ()  # retained subscribers
    poor_reduction: tuple[float, ...] = ()  # points off the segment's share of Poor satisfaction
    channel: str = ""
    contacts_per_treated_month: float = 0.0

    def __post_init__(self) -> None:
        points = np.asarray(self.coverage, dtype=float)
        if len(points) < 2 or points[0] != 0 or np.any(np.diff(points) <= 0) or points[-1] > 1:
            raise ValueError(f"option {self.segment}/{self.programme}: coverage must start at 0, rise, end <= 1")
        for name in ("value", "retained", "poor_reduction"):
            curve = getattr(self, name)
            if curve and len(curve) != len(points):
                raise ValueError(f"option {self.segment}/{self.programme}: {name} needs one value per breakpoint")

    def slopes(self, name: str) -> np.ndarray:
        """Slope of curve ``name`` on each piece (zeros when the curve is not given)."""
        curve = getattr(self, name)
        widths = np.diff(self.coverage)
        if not curve:
            return np.zeros(len(widths))
        return np.diff(np.asarray(curve, dtype=float)) / widths

    @property
    def widths(self) -> np.ndarray:
        return np.diff(np.asarray(self.coverage, dtype=float))


@dataclass
class PlanningProblem:
    """Options, costs and limits. Money over the planning horizon; contacts per month."""

    options: list[Option]
    budget: float
    fixed_cost: dict[str, float] = field(default_factory=dict)  # per programme, over the horizon, if it runs
    objective: Objective = "net_value"
    retention_target: float = 0.0  # subscribers retained, for objective "min_cost"
    segment_min_spend: dict[str, float] = field(default_factory=dict)
    segment_max_spend: dict[str, float] = field(default_factory=dict)
    channel_capacity: dict[str, float] = field(default_factory=dict)  # contacts per month
    segment_size: dict[str, float] = field(default_factory=dict)  # subscribers, for the contact policy
    max_contacts_per_subscriber_month: float | None = None
    poor_share: dict[str, float] = field(default_factory=dict)  # today's share of Poor satisfaction
    max_poor_share: dict[str, float] = field(default_factory=dict)  # the service floor
    extra_constraints: list[Callable] = field(default_factory=list)  # f(model, problem) adds named constraints

    @property
    def segments(self) -> list[str]:
        return sorted({option.segment for option in self.options})

    @property
    def programmes(self) -> list[str]:
        return sorted({option.programme for option in self.options})

    def validate(self) -> None:
        """Raise ValueError with the offending key for bad numbers or names."""
        if self.budget < 0:
            raise ValueError(f"budget: must be >= 0, got {self.budget}")
        segments, programmes = set(self.segments), set(self.programmes)
        for key, mapping, known in (
            ("segment_min_spend", self.segment_min_spend, segments),
            ("segment_max_spend", self.segment_max_spend, segments),
            ("max_poor_share", self.max_poor_share, segments),
            ("fixed_cost", self.fixed_cost, programmes),
        ):
            for name, number in mapping.items():
                if name not in known:
                    raise ValueError(f"{key}.{name}: unknown; known: {sorted(known)}")
                if number < 0:
                    raise ValueError(f"{key}.{name}: must be >= 0, got {number}")
        for channel, capacity in self.channel_capacity.items():
            if capacity < 0:
                raise ValueError(f"channel_capacity.{channel}: must be >= 0, got {capacity}")
