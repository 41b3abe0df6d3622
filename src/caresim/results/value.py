"""What a subscriber is worth to the operator over a run: margin on revenue billed, and optionally beyond.

*Retained value* = margin × (revenue billed over the horizon + monthly revenue × expected remaining lifetime
if still a subscriber at the end). The remaining lifetime is 1 / the segment's monthly churn in the last
year of a reference run, capped; comparisons value every group with the same yardstick.
"""

from __future__ import annotations

import numpy as np

from caresim.engine.record import RunRecord


def remaining_lifetime(record: RunRecord, cap_months: float) -> np.ndarray:
    """Expected months a subscriber active at the end stays on, per segment (1 / last year's churn, capped)."""
    monthly = record.monthly
    last = slice(max(0, record.n_months - 12), None)
    churned = monthly.flow["churned"][last].sum(axis=0)
    exposed = monthly.stock["active_start"][last].sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(exposed > 0, churned / exposed, 0.0)
        months = np.where(rate > 0, 1.0 / rate, np.inf)
    return np.minimum(months, cap_months)


def revenue_kept(record: RunRecord, lifetime: np.ndarray | None) -> np.ndarray:
    """Per subscriber: revenue billed over the horizon, plus monthly revenue × ``lifetime`` of their segment
    if still a subscriber at the end (``lifetime`` None: the horizon only)."""
    subscribers = record.subscribers
    if lifetime is None:
        return subscribers.revenue_total.astype(float)
    beyond = subscribers.active_end * subscribers.revenue * lifetime[subscribers.segment]
    return subscribers.revenue_total + beyond


def retained_value(record: RunRecord, lifetime: np.ndarray | None) -> np.ndarray:
    """Per subscriber: margin × ``revenue_kept``."""
    return record.segments.margin[record.subscribers.segment] * revenue_kept(record, lifetime)
