"""Monthly accumulators, in simulated units (one count per simulated subscriber), indexed by month and segment.

The engine only adds to these arrays; ``results`` turns them into tidy tables and applies the scale.
"""

from __future__ import annotations

import numpy as np

from caresim.engine.streams import SlotLayout
from caresim.lifecycle import DESKS, GRADES, STAGES, TOUCHPOINT_NAMES

#: Monthly flow counters per segment.
FLOWS = (
    "prospects",
    "lost_prospects",
    "new",
    "churned",
    "won_back",
    "problems",
    "bill_shocks",
    "outage_hits",
    "trips",
    "complaints",
    "contacts",
    "care_contacts",
    "resolved_first_contact",
    "recurring",
    "information_queries",  # inbound information queries (every channel)
    "inbound_contacts",  # information queries, problem reports, repeat contacts and retrials after abandoning
    "repeat_contacts",  # contacts again about a problem an earlier contact did not resolve
    "abandoned_contacts",  # simulated callers who gave up waiting at a desk
    "prompted",  # contacts that prompted a comparison of offers (caresim.engine.response)
    "plan_moves",  # subscribers moved to a better-fitting, cheaper plan by a contact
    "over_contacts",  # care contacts beyond what the subscriber tolerates in the month
)
#: End-of-month stocks and sums per segment.
STOCKS = ("active", "active_start", "in_retention", "in_contract", "satisfaction_sum", "loyalty_sum", "revenue")
MAXIMA = ("wait_max", "care_peak")  # records that keep a maximum, not a count
SIZES = ("n_segments",)  # the shape, the same in every part


class MonthlyRecords:
    """Everything the engine counts, as arrays ``[month, segment, ...]``."""

    def __init__(self, n_months: int, n_segments: int, n_programmes: int) -> None:
        shape = (n_months, n_segments)
        self.n_segments = n_segments
        self.flow = {name: np.zeros(shape) for name in FLOWS}
        self.stock = {name: np.zeros(shape) for name in STOCKS}
        self.sat_grades = np.zeros((*shape, len(GRADES)))
        self.loy_grades = np.zeros((*shape, len(GRADES)))
        self.wait_sum = np.zeros((*shape, len(DESKS)))  # days
        self.wait_max = np.zeros((*shape, len(DESKS)))
        self.desk_contacts = np.zeros((*shape, len(DESKS)))
        self.desk_arrivals = np.zeros((n_months, len(DESKS)))  # real reports, shadows included
        self.desk_backlog = np.zeros((n_months, len(DESKS)))  # real reports waiting or in service at close
        self.desk_abandoned = np.zeros((n_months, len(DESKS)))  # real contacts that gave up waiting, shadows too
        self.care_contacts = np.zeros((*shape, n_programmes))
        self.care_timely = np.zeros((*shape, n_programmes))
        self.care_preferred = np.zeros((*shape, n_programmes))
        self.care_eligible = np.zeros((*shape, n_programmes))
        self.care_withheld = np.zeros((*shape, n_programmes))  # deliveries the contact policy held back
        self.care_peak = np.zeros(n_months)  # most care contacts any one subscriber had in the month
        self.touchpoints = np.zeros((*shape, len(TOUCHPOINT_NAMES)))
        self.stage_flows = np.zeros((*shape, len(STAGES), len(STAGES)))

    def count(
        self, values: np.ndarray, segment: np.ndarray | SlotLayout, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """Per-segment sum of ``weights`` (or count) over the slots selected by boolean ``values``.

        ``segment`` is each slot's segment, or (for a count over every slot) the layout of the slots by
        segment and region, which counts them block by block.
        """
        if isinstance(segment, SlotLayout):
            if weights is not None:
                raise TypeError("records.count: weights need each slot's segment, not the layout")
            return segment.count(values).reshape(-1, self.n_segments).sum(axis=0)
        if weights is None:
            return np.bincount(segment[values], minlength=self.n_segments).astype(float)
        # slots not selected weigh +0.0, which leaves a sum (never -0.0) as it is: the same floats, in the same
        # order, without picking the selected slots out of both arrays first
        return np.bincount(segment, weights=np.where(values, weights, 0.0), minlength=self.n_segments)

    def add_flow(self, month: int, name: str, mask: np.ndarray, segment: np.ndarray | SlotLayout) -> None:
        self.flow[name][month] += self.count(mask, segment)

    def add_touchpoint(self, month: int, touchpoint: int, mask: np.ndarray, segment: np.ndarray | SlotLayout) -> None:
        self.touchpoints[month, :, touchpoint] += self.count(mask, segment)

    def add_stage_flow(
        self, month: int, source: int, target: int, mask: np.ndarray, segment: np.ndarray | SlotLayout
    ) -> None:
        self.stage_flows[month, :, source, target] += self.count(mask, segment)


def combine_records(parts: list[MonthlyRecords]) -> MonthlyRecords:
    """The records of independent parts of one base (regions) taken together: counts add, maxima take the max."""
    whole = MonthlyRecords.__new__(MonthlyRecords)
    for name, first in vars(parts[0]).items():
        if name in SIZES:
            value = first
        elif name in MAXIMA:
            value = np.maximum.reduce([vars(part)[name] for part in parts])
        elif isinstance(first, dict):
            value = {key: sum(vars(part)[name][key] for part in parts) for key in first}
        elif isinstance(first, np.ndarray):
            value = sum(vars(part)[name] for part in parts)
        else:
            raise TypeError(f"records.{name}: say in records.py how parts of a base combine (a sum, a maximum)")
        setattr(whole, name, value)
    return whole
