"""What a finished run means for the planner: per-subscriber outcomes, and a policy's totals against no care.

*Retained value* of a subscriber is margin × (revenue earned over the horizon + monthly revenue × expected
remaining lifetime if still active at the end). The remaining lifetime is 1 / the segment's monthly churn
under no care in the last year of the horizon, capped at ``months_after_horizon``; it is taken from the
reference (no-care) run so that every policy is valued with the same yardstick.

With common random numbers, subscriber slot *i* is the same person in every run of one seed; comparing a
run with its no-care *twin* slot by slot removes the differences between people from every comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caresim.engine.model import CareModel
from caresim.lifecycle import CHURNED, GOOD, GRADES, POOR, grade_of


def run_model(model: CareModel) -> CareModel:
    """Run a built model to the end of its horizon and return it."""
    model.run()
    return model


def remaining_lifetime(model: CareModel, cap_months: float) -> np.ndarray:
    """Expected months a subscriber active at the end stays on, per segment (1 / recent churn, capped)."""
    records = model.records
    last = slice(max(0, records.care_contacts.shape[0] - 12), None)
    churned = records.flow["churned"][last].sum(axis=0)
    exposed = records.stock["active_start"][last].sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(exposed > 0, churned / exposed, 0.0)
        months = np.where(rate > 0, 1.0 / rate, np.inf)
    return np.minimum(months, cap_months)


@dataclass(frozen=True)
class Outcomes:
    """Per-slot outcomes of one run (simulated units), over every slot that ever existed."""

    segment: np.ndarray
    ever_active: np.ndarray
    active_end: np.ndarray  # float 0/1
    value: np.ndarray  # retained value, money
    satisfaction_grade: np.ndarray
    loyalty_grade: np.ndarray
    satisfaction: np.ndarray
    loyalty: np.ndarray

    @classmethod
    def of(cls, model: CareModel, lifetime: np.ndarray) -> Outcomes:
        state, n = model.state, model.state.n
        segment = state.segment[:n].astype(np.int64)
        ever = state.ever_active[:n]
        active = (ever & (state.stage[:n] != CHURNED)).astype(float)
        margin = model.segments.margin[segment]
        value = margin * (state.revenue_total[:n] + active * state.revenue[:n] * lifetime[segment])
        thresholds = model.grade_thresholds
        return cls(
            segment=segment,
            ever_active=ever,
            active_end=active,
            value=np.where(ever, value, 0.0),
            satisfaction_grade=grade_of(state.satisfaction[:n], **thresholds),
            loyalty_grade=grade_of(state.loyalty[:n], **thresholds),
            satisfaction=state.satisfaction[:n].copy(),
            loyalty=state.loyalty[:n].copy(),
        )

    def columns(self) -> dict[str, np.ndarray]:
        """Outcome columns the pilot compares, per slot, as floats."""
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


def care_cost(model: CareModel) -> np.ndarray:
    """Real care spend per programme over the horizon: contacts × cost + fixed cost of running programmes."""
    product = model.programmes.product
    contacts = model.records.care_contacts.sum(axis=(0, 1)) * model.scale
    n_months = model.records.care_contacts.shape[0]
    fixed = np.where(model.policy.running, product.cost_fixed_per_month * n_months, 0.0)
    return contacts * product.cost_per_contact + fixed


def policy_totals(model: CareModel, twin: Outcomes, lifetime: np.ndarray) -> dict[str, float]:
    """A run's totals against its no-care twin: value and subscribers kept, cost, net value, grades, loads.

    Grade shares are over everyone who was a subscriber during the horizon, at their last state (churned
    subscribers as they left), overall and per segment (``poor_share_<segment>``): the basis on which the
    pilot measures effects on grades, so that the service floor is checked as it was planned.
    """
    own = Outcomes.of(model, lifetime)
    scale = model.scale
    ever = own.ever_active | twin.ever_active
    spend = care_cost(model)
    value = float((own.value - twin.value)[ever].sum() * scale)
    totals = {
        "value": value,
        "retained": float((own.active_end - twin.active_end)[ever].sum() * scale),
        "loyal": float((own.columns()["loyal_active"] - twin.columns()["loyal_active"])[ever].sum() * scale),
        "cost": float(spend.sum()),
        "net_value": value - float(spend.sum()),
        "active_end": float(own.active_end[own.ever_active].sum() * scale),
    }
    totals.update(grade_shares(own))
    totals.update(contact_load(model))
    for s, segment in enumerate(model.segments.names):
        mine = own.ever_active & (own.segment == s)
        totals[f"poor_share_{segment}"] = float((own.satisfaction_grade[mine] == POOR).mean()) if mine.any() else 0.0
    return totals


def grade_shares(outcomes: Outcomes) -> dict[str, float]:
    """Shares of Poor and of Good-or-better satisfaction, and of Good-or-better loyalty, among the ever active."""
    ever = outcomes.ever_active
    if not ever.any():
        return {"poor_share": 0.0, "good_or_better_share": 0.0, "loyal_share": 0.0}
    return {
        "poor_share": float((outcomes.satisfaction_grade[ever] == POOR).mean()),
        "good_or_better_share": float((outcomes.satisfaction_grade[ever] <= GOOD).mean()),
        "loyal_share": float((outcomes.loyalty_grade[ever] <= GOOD).mean()),
    }


def contact_load(model: CareModel) -> dict[str, float]:
    """Care contacts per subscriber-month (worst segment) and per channel-month (real contacts): the mean over
    the horizon, which is what the planner's limits bound, and the busiest month."""
    records = model.records
    contacts = records.care_contacts  # month × segment × programme, simulated
    active = records.stock["active_start"]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_subscriber = np.where(active > 0, contacts.sum(axis=2) / active, 0.0)
        mean_per_subscriber = np.where(active.sum(axis=0) > 0, contacts.sum(axis=(0, 2)) / active.sum(axis=0), 0.0)
    load = {
        "contacts_per_subscriber_month": float(mean_per_subscriber.max(initial=0.0)),
        "max_contacts_per_subscriber_month": float(per_subscriber.max(initial=0.0)),
        "most_contacts_one_subscriber_month": float(records.care_peak.max(initial=0.0)),
        "withheld_by_contact_policy": float(records.care_withheld.sum() * model.scale),
    }
    channels = [model.config.catalogue[name].channel for name in model.programmes.names]
    for channel in sorted(set(channels)):
        pick = [p for p, name in enumerate(channels) if name == channel]
        monthly = contacts[:, :, pick].sum(axis=(1, 2)) * model.scale
        load[f"contacts_{channel}_per_month"] = float(monthly.mean())
        load[f"max_contacts_{channel}_month"] = float(monthly.max(initial=0.0))
    return load
