"""Subscriber state as arrays (one slot per subscriber who ever existed) and how new subscribers are drawn.

A slot is never reused: a churned subscriber who is won back keeps the slot. Slots are allocated in an
order that depends only on the scenario (segment sizes and prospect arrivals), never on the care policy,
which is what keeps the random streams common across policies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caresim.config.response import ATTRIBUTES
from caresim.config.schema import Population, Segment
from caresim.lifecycle import CHANNELS, CHURNED, LOST, PRESALE

#: Per-subscriber fields: name -> (dtype, fill value). Fields with a programme axis are listed apart and are
#: stored programme-major (programmes × slots), so that one programme's row is contiguous.
FIELDS: dict[str, tuple[type, float]] = {
    "segment": (np.int16, 0),
    "region": (np.int16, 0),  # index into the run's regions (0 in a base without regions)
    "stage": (np.int8, PRESALE),
    "tenure": (np.int32, 0),
    "joined_month": (np.int32, 0),
    "contract_months": (np.int16, 0),
    "in_contract": (np.bool_, False),
    "contract_end": (np.int32, -1),
    "channel": (np.int8, 0),
    "revenue": (np.float64, 0.0),
    "sat_core": (np.float64, 0.0),
    "loy_core": (np.float64, 0.0),
    "satisfaction": (np.float64, 0.0),
    "loyalty": (np.float64, 0.0),
    "n_open": (np.int8, 0),
    "problems": (np.int32, 0),
    "complaints": (np.int32, 0),
    "contacts": (np.int32, 0),
    "care_month": (np.int32, -1),  # the month of the care contacts counted in care_this_month
    "care_this_month": (np.int16, 0),
    "churn_month": (np.int32, -1),
    "n_churns": (np.int16, 0),
    "n_returns": (np.int16, 0),
    "revenue_total": (np.float64, 0.0),
    "care_cost": (np.float64, 0.0),
    "shock": (np.float64, 0.0),
    # month in which each event last happened: "this month" is a comparison, no flags to reset
    "activated_month": (np.int32, -1),
    "problem_month": (np.int32, -1),
    "bill_shock_month": (np.int32, -1),
    "trip_month": (np.int32, -1),
    "outage_month": (np.int32, -1),
    "report_month": (np.int32, -1),
    "carried_problem_month": (np.int32, -1),
    # inbound contacts (caresim.engine.steps.desks)
    "info_month": (np.int32, -1),  # month of the last information query
    "episode_failures": (np.int16, 0),  # failed contacts about the open problem (meaningful while n_open > 0)
    "inbound_contacts": (np.int32, 0),  # information queries, problem reports, repeats and retrials
    "repeat_contacts": (np.int32, 0),  # contacts again about a problem a contact did not resolve
    "abandoned_contacts": (np.int32, 0),  # gave up waiting in a desk queue
    "resolved_contacts": (np.int32, 0),  # contacts that resolved the problem
    "unresolved_contacts": (np.int32, 0),  # contacts about a problem that left it open (abandoned ones included)
    # who responds to care (caresim.engine.response)
    "overpay": (np.float32, 0.0),  # share of the bill above the best-fitting plan
    "overpay_at_joining": (np.float32, 0.0),
    "risk_score": (np.float32, 0.0),  # standardised baseline churn risk at joining
    "prompt_month": (np.int32, -(10**6)),  # month of the last contact that prompted a comparison of offers
    "prompt_log_hazard": (np.float32, 0.0),  # its log churn-hazard multiplier
}
PROGRAMME_FIELDS: dict[str, tuple[type, float]] = {
    "cover_u": (np.float64, 1.0),
    "received": (np.int16, 0),
    "last_received": (np.int32, -(10**6)),
    "pending": (np.bool_, False),
    "pending_since": (np.int32, 0),
    "ever_eligible": (np.bool_, False),
    "sat_boost": (np.float32, 0.0),
    "loy_boost": (np.float32, 0.0),
    "log_hazard_boost": (np.float32, 0.0),
    "log_bill_shock_boost": (np.float32, 0.0),
    "log_win_back_boost": (np.float32, 0.0),
    "latent_receptivity": (np.float32, 1.0),  # drawn at joining; attributes scale it when care lands
    "target_score": (np.float32, 0.0),  # score at joining in the rule's order (higher first), for targeted policies
    "target_tie": (np.float32, 0.0),  # uniform that orders equal scores
    "ever_assigned": (np.bool_, False),  # covered by the policy at some eligible moment
    "ever_control": (np.bool_, False),  # in the control group at some eligible moment
}
#: Fields with an attribute axis (``caresim.config.response.ATTRIBUTES``), stored attributes × slots.
ATTRIBUTE_FIELDS: dict[str, tuple[type, float]] = {
    "attributes_at_joining": (np.float32, 0.0),  # what an operator could observe when the subscriber joined
}


class SubscriberState:
    """All subscriber state as NumPy arrays over slots ``0 .. n-1`` (capacity grows as needed)."""

    def __init__(self, n_programmes: int, capacity: int) -> None:
        self.n = 0
        self.n_programmes = n_programmes
        self._capacity = 0
        self._grow_to(max(capacity, 16))

    def _grow_to(self, capacity: int) -> None:
        for name, (dtype, fill) in FIELDS.items():
            self._resize(name, (capacity,), dtype, fill)
        for name, (dtype, fill) in PROGRAMME_FIELDS.items():
            self._resize(name, (self.n_programmes, capacity), dtype, fill)
        for name, (dtype, fill) in ATTRIBUTE_FIELDS.items():
            self._resize(name, (len(ATTRIBUTES), capacity), dtype, fill)
        self._capacity = capacity

    def _resize(self, name: str, shape: tuple[int, ...], dtype: type, fill: float) -> None:
        fresh = np.full(shape, fill, dtype=dtype)
        if self._capacity:
            fresh[..., : self.n] = getattr(self, "_" + name)[..., : self.n]
        setattr(self, "_" + name, fresh)

    def allocate(self, count: int) -> slice:
        """Reserve ``count`` new slots and return them as a slice."""
        if self.n + count > self._capacity:
            self._grow_to(max(2 * self._capacity, self.n + count))
        start = self.n
        self.n += count
        return slice(start, self.n)

    def __getattr__(self, name: str) -> np.ndarray:
        # Views over the live slots: state.satisfaction is the array of every subscriber's satisfaction.
        if name in FIELDS or name in PROGRAMME_FIELDS or name in ATTRIBUTE_FIELDS:
            return self.__dict__["_" + name][..., : self.__dict__["n"]]
        raise AttributeError(name)

    def __setattr__(self, name: str, value: object) -> None:
        # ``state.tenure += 1`` works in place on the view; copy anything else into the live slots.
        if name in FIELDS or name in PROGRAMME_FIELDS or name in ATTRIBUTE_FIELDS:
            target = self.__dict__["_" + name][..., : self.__dict__["n"]]
            if value is not target:
                target[...] = value
            return
        super().__setattr__(name, value)

    @property
    def ever_active(self) -> np.ndarray:
        """Slots of subscribers who ever bought (everyone but prospects in the funnel and lost prospects)."""
        return (self.stage != PRESALE) & (self.stage != LOST)

    @property
    def active(self) -> np.ndarray:
        """Slots of current subscribers (activation, usage or retention stage)."""
        stage = self.stage
        return (stage != PRESALE) & (stage != LOST) & (stage != CHURNED)


@dataclass(frozen=True)
class SegmentTable:
    """Segment parameters as arrays indexed by segment code, for vectorised lookups."""

    names: tuple[str, ...]
    rate_churn_base: np.ndarray
    satisfaction_mean: np.ndarray
    loyalty_mean: np.ndarray
    rel_problem_rate: np.ndarray
    p_trip: np.ndarray
    revenue_mean: np.ndarray
    margin: np.ndarray

    @classmethod
    def from_population(cls, population: Population) -> SegmentTable:
        segments = list(population.segments.values())

        def column(attribute: str) -> np.ndarray:
            return np.array([getattr(segment, attribute) for segment in segments], dtype=float)

        return cls(
            names=tuple(population.segments),
            rate_churn_base=column("rate_churn_base"),
            satisfaction_mean=column("satisfaction_mean"),
            loyalty_mean=column("loyalty_mean"),
            rel_problem_rate=column("rel_problem_rate"),
            p_trip=column("p_trip_per_month"),
            revenue_mean=column("revenue_per_month"),
            margin=column("margin"),
        )


def _categorical(uniform: np.ndarray, weights: list[float]) -> np.ndarray:
    cumulative = np.cumsum(np.asarray(weights, dtype=float))
    cumulative /= cumulative[-1]
    return np.minimum(np.searchsorted(cumulative, uniform, side="right"), len(weights) - 1)


def draw_contract(uniform: np.ndarray, contract_mix: dict[int, float]) -> np.ndarray:
    """Contract lengths (months, 0 = month-to-month) from the segment's mix, one per uniform draw."""
    lengths = np.array(sorted(contract_mix), dtype=np.int16)
    return lengths[_categorical(uniform, [contract_mix[length] for length in lengths])]


def draw_subscribers(
    state: SubscriberState,
    slots: slice,
    code: int,
    segment: Segment,
    rng: np.random.Generator,
    month: int,
    initial: bool,
) -> None:
    """Fill ``slots`` with new members of segment ``code``: contract, tenure, channel, value, attitudes.

    Initial members get a drawn tenure and are mid-contract; prospects start at tenure 0 in pre-sale.
    The number of draws depends only on the slot count, so the stream stays aligned across policies.
    """
    count = slots.stop - slots.start
    draws = rng.random((count, 3))
    normals = rng.standard_normal((count, 3))
    contract = draw_contract(draws[:, 0], segment.contract_mix)
    channel = _categorical(draws[:, 1], [segment.channel_preference.get(name, 0.0) for name in CHANNELS])
    if initial:
        shape = segment.tenure.shape
        tenure = rng.gamma(shape, segment.tenure.mean_months / shape, size=count)
        tenure = np.minimum(np.floor(tenure), segment.tenure.max_months).astype(np.int32)
    else:
        tenure = np.zeros(count, dtype=np.int32)
        rng.gamma(1.0, 1.0, size=count)  # keep the stream's consumption the same for both kinds of slot
    sigma2 = np.log1p(segment.revenue_cv**2)
    revenue = segment.revenue_per_month * np.exp(np.sqrt(sigma2) * normals[:, 0] - sigma2 / 2)

    state.segment[slots] = code
    state.channel[slots] = channel
    state.contract_months[slots] = contract
    state.tenure[slots] = tenure
    state.joined_month[slots] = month - tenure
    state.revenue[slots] = revenue
    sat = np.clip(segment.satisfaction_mean + segment.satisfaction_sd * normals[:, 1], 0.0, 1.0)
    loy = np.clip(segment.loyalty_mean + segment.loyalty_sd * normals[:, 2], 0.0, 1.0)
    state.sat_core[slots] = sat
    state.loy_core[slots] = loy
    state.satisfaction[slots] = sat
    state.loyalty[slots] = loy
    if initial:
        into_contract = np.where(contract > 0, tenure % np.maximum(contract, 1), 0)
        state.in_contract[slots] = contract > 0
        # months left to bill in the current contract, the last of them being contract_end
        state.contract_end[slots] = np.where(contract > 0, month + contract - into_contract - 1, -1)
