"""The one cost function: care spend per month × segment × programme, variable and fixed, in real money.

Variable spend is contacts × cost per contact (× scale: real contacts). A programme that runs (covers anyone
in any segment) pays its fixed cost every month of the horizon; that fixed cost is shared among segments by
their share of the programme's contacts over the horizon (equally among the segments the policy covers when
it made none). Every table, the evaluation, the summary, the sweep table and the planner's totals read their
spend from here, so fixed costs are everywhere or nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caresim.engine.record import RunRecord


@dataclass(frozen=True)
class CareCosts:
    """Real contacts and spend as arrays ``[month, segment, programme]``."""

    contacts: np.ndarray
    variable: np.ndarray
    fixed: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.variable + self.fixed


def care_costs(record: RunRecord) -> CareCosts:
    """The run's care spend, variable and fixed, per month, segment and programme."""
    contacts = record.monthly.care_contacts * record.scale
    product = record.programmes.product
    variable = contacts * product.cost_per_contact
    n_months, n_segments, _ = contacts.shape
    by_segment = contacts.sum(axis=0)  # segment × programme
    covered = (record.policy.shares > 0).astype(float)  # segment × programme
    weights = np.where(by_segment.sum(axis=0) > 0, by_segment, covered)
    totals = weights.sum(axis=0)
    weights = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    fixed_per_month = np.where(record.policy.running, product.cost_fixed_per_month, 0.0)
    fixed = np.broadcast_to(weights * fixed_per_month, (n_months, n_segments, len(fixed_per_month))).copy()
    return CareCosts(contacts=contacts, variable=variable, fixed=fixed)
