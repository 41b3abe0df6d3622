"""Market conditions month by month, read from the scenario: seasons, competitor pressure, outages."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caresim.config.schema import Market


@dataclass(frozen=True)
class MonthConditions:
    """What the market is like in one simulated month."""

    calendar_month: int  # 1..12
    rel_trip: float
    rel_churn: float
    competitor_pressure: np.ndarray  # per segment
    outage_p_affected: np.ndarray  # per segment; 0 = no outage


def conditions(market: Market, segments: tuple[str, ...], month: int) -> MonthConditions:
    """Conditions of simulated ``month`` (0-based) for the given segments."""
    calendar = (market.start_calendar_month - 1 + month) % 12
    pressure = np.full(len(segments), market.competitor_pressure)
    for event in market.competitor_events:
        if event.start_month <= month < event.start_month + event.dur_months:
            pressure += event.intensity * _segment_mask(event.segments, segments)
    outage = np.zeros(len(segments))
    for event in market.outages:
        if event.month == month:
            hit = event.p_affected * _segment_mask(event.segments, segments)
            outage = 1 - (1 - outage) * (1 - hit)  # two outages in a month compound
    return MonthConditions(
        calendar_month=calendar + 1,
        rel_trip=market.rel_trip_by_calendar_month[calendar],
        rel_churn=market.rel_churn_by_calendar_month[calendar],
        competitor_pressure=pressure,
        outage_p_affected=outage,
    )


def _segment_mask(chosen: list[str] | None, segments: tuple[str, ...]) -> np.ndarray:
    return np.array([chosen is None or name in chosen for name in segments], dtype=float)
