"""What a finished run means for the planner: per-subscriber outcomes, and a policy's totals against no care.

*Retained value* is ``caresim.results.value.retained_value`` with the remaining lifetime taken from the
reference (no-care) run, so that every policy is valued with the same yardstick.

With common random numbers, position *i* of a run's record is the same person in every run of one seed;
comparing a run with its no-care *twin* person by person removes the differences between people from
every comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caresim.engine.record import RunRecord
from caresim.lifecycle import GOOD, GRADES, POOR, grade_of
from caresim.results.costs import care_costs
from caresim.results.value import retained_value


@dataclass(frozen=True)
class Outcomes:
    """Per-subscriber outcomes of one run (subscribers who ever bought, in the record's order)."""

    segment: np.ndarray
    active_end: np.ndarray  # float 0/1
    value: np.ndarray  # retained value, money
    satisfaction_grade: np.ndarray
    loyalty_grade: np.ndarray
    satisfaction: np.ndarray
    loyalty: np.ndarray

    @classmethod
    def of(cls, record: RunRecord, lifetime: np.ndarray) -> Outcomes:
        subscribers, thresholds = record.subscribers, record.grade_thresholds
        return cls(
            segment=subscribers.segment.astype(np.int64),
            active_end=subscribers.active_end.astype(float),
            value=retained_value(record, lifetime),
            satisfaction_grade=grade_of(subscribers.satisfaction, **thresholds),
            loyalty_grade=grade_of(subscribers.loyalty, **thresholds),
            satisfaction=subscribers.satisfaction,
            loyalty=subscribers.loyalty,
        )

    def check_twin(self, twin: Outcomes) -> None:
        """Refuse to compare runs whose subscribers are not the same people (another seed or scenario)."""
        if len(self.segment) != len(twin.segment) or not np.array_equal(self.segment, twin.segment):
            raise ValueError("runs compared person by person must share seed and scenario (their bases differ)")

    def columns(self) -> dict[str, np.ndarray]:
        """Outcome columns the pilot compares, per subscriber, as floats."""
        columns = {
            "value": self.value,
            "retained": self.active_end,
            "satisfaction": self.satisfaction,
            "loyalty": self.loyalty,
        }
        for g, grade in enumerate(GRADES):
            columns[f"satisfaction_{grade}"] = (self.satisfaction_grade == g).astype(float)
            columns[f"loyalty_{grade}"] = (self.loyalty_grade == g).astype(float)
        columns["satisfaction_good_or_better"] = (self.satisfaction_grade <= GOOD).astype(float)
        columns["loyalty_good_or_better"] = (self.loyalty_grade <= GOOD).astype(float)
        columns["loyal_active"] = self.active_end * (self.loyalty_grade <= GOOD)  # still here, and loyal
        return columns


def policy_totals(record: RunRecord, twin: Outcomes, lifetime: np.ndarray) -> dict[str, float]:
    """A run's totals against its no-care twin: value and subscribers kept, cost, net value, grades, loads.

    Grade shares are over everyone who was a subscriber during the horizon, at their last state (churned
    subscribers as they left), overall and per segment (``poor_share_<segment>``): the basis on which the
    pilot measures effects on grades, so that the service floor is checked as it was planned.
    """
    own = Outcomes.of(record, lifetime)
    own.check_twin(twin)
    scale = record.scale
    spend = float(care_costs(record).total.sum())
    value = float((own.value - twin.value).sum() * scale)
    totals = {
        "value": value,
        "retained": float((own.active_end - twin.active_end).sum() * scale),
        "loyal": float((own.columns()["loyal_active"] - twin.columns()["loyal_active"]).sum() * scale),
        "cost": spend,
        "net_value": value - spend,
        "active_end": float(own.active_end.sum() * scale),
    }
    totals.update(grade_shares(own))
    totals.update(contact_load(record))
    for s, segment in enumerate(record.segments.names):
        mine = own.segment == s
        totals[f"poor_share_{segment}"] = float((own.satisfaction_grade[mine] == POOR).mean()) if mine.any() else 0.0
    return totals


def grade_shares(outcomes: Outcomes) -> dict[str, float]:
    """Shares of Poor and of Good-or-better satisfaction, and of Good-or-better loyalty, among the ever active."""
    if len(outcomes.segment) == 0:
        return {"poor_share": 0.0, "good_or_better_share": 0.0, "loyal_share": 0.0}
    return {
        "poor_share": float((outcomes.satisfaction_grade == POOR).mean()),
        "good_or_better_share": float((outcomes.satisfaction_grade <= GOOD).mean()),
        "loyal_share": float((outcomes.loyalty_grade <= GOOD).mean()),
    }


def contact_load(record: RunRecord) -> dict[str, float]:
    """Care contacts per subscriber-month (worst segment) and per channel-month (real contacts): the mean over
    the horizon, which is what the planner's limits bound, and the busiest month."""
    monthly = record.monthly
    contacts = monthly.care_contacts  # month × segment × programme, simulated
    active = monthly.stock["active_start"]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_subscriber = np.where(active > 0, contacts.sum(axis=2) / active, 0.0)
        mean_per_subscriber = np.where(active.sum(axis=0) > 0, contacts.sum(axis=(0, 2)) / active.sum(axis=0), 0.0)
    load = {
        "contacts_per_subscriber_month": float(mean_per_subscriber.max(initial=0.0)),
        "max_contacts_per_subscriber_month": float(per_subscriber.max(initial=0.0)),
        "most_contacts_one_subscriber_month": float(monthly.care_peak.max(initial=0.0)),
        "withheld_by_contact_policy": float(monthly.care_withheld.sum() * record.scale),
    }
    channels = [record.config.catalogue[name].channel for name in record.programmes.names]
    for channel in sorted(set(channels)):
        pick = [p for p, name in enumerate(channels) if name == channel]
        monthly_contacts = contacts[:, :, pick].sum(axis=(1, 2)) * record.scale
        load[f"contacts_{channel}_per_month"] = float(monthly_contacts.mean())
        load[f"max_contacts_{channel}_month"] = float(monthly_contacts.max(initial=0.0))
    return load
