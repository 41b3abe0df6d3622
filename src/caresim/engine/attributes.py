"""What an operator can observe about a subscriber, baseline churn risk, and the reference sample.

The reference sample is drawn from streams of its own, so that standardised risk is the same for the whole
base and for any region simulated alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caresim.config.response import ATTRIBUTES
from caresim.config.schema import CareConfig
from caresim.engine.behaviour import churn_hazard
from caresim.engine.population import SegmentTable, SubscriberState, draw_subscribers
from caresim.lifecycle import CHANNELS

#: Channels counted as digital for the ``digital_channel`` attribute.
DIGITAL_CHANNELS = np.array([name in ("web", "sms", "wap", "terminal") for name in CHANNELS])
#: Subscribers drawn (over all segments) to standardise baseline risk.
N_RISK_REFERENCE = 20_000


def log_baseline_risk(config: CareConfig, state: SubscriberState, slots: slice, rate_base: np.ndarray) -> np.ndarray:
    """Log churn hazard of ``slots`` at joining, before care, season, competitors and ties."""
    contract = state.contract_months[slots] > 0
    hazard = churn_hazard(
        config.behaviour.churn,
        rate_base=rate_base[state.segment[slots]],
        satisfaction=state.satisfaction[slots],
        loyalty=state.loyalty[slots],
        tenure_months=state.tenure[slots],
        in_contract=contract,
        contract_ends_now=np.zeros(len(contract), dtype=bool),
        in_retention=np.zeros(len(contract), dtype=bool),
        competitor_pressure=0.0,
        share_ties_churned=0.0,
        rel_season=1.0,
    )
    return np.log(np.maximum(hazard, 1e-12))


def attribute_rows(
    state: SubscriberState,
    slots: np.ndarray | slice,
    month: int,
    revenue_mean: np.ndarray,
    satisfaction_ref: float,
    joining: bool = False,
) -> np.ndarray:
    """The observable attributes of ``slots``, one row per name in ``ATTRIBUTES``.

    ``joining``: as when the subscriber joins, before activation has set the contract (a prospect counts as in
    contract for its whole contract length if it signs one).
    """
    contract = state.contract_months[slots]
    in_contract = (contract > 0) if joining else state.in_contract[slots]
    left = state.contract_end[slots] - month
    if joining:  # a prospect signing in its joining month has contract − 1 months left at that month's end
        left = np.where(state.in_contract[slots], left, contract - 1)
    rows = {
        "tenure": np.log1p(state.tenure[slots] / 12.0),
        "out_of_contract": (~in_contract).astype(float),
        "months_to_contract_end": np.where(in_contract, np.maximum(left, 0), 0),
        "value": log_value(state.revenue[slots], revenue_mean[state.segment[slots]]),
        "overpay": state.overpay[slots].astype(float),
        "satisfaction": state.satisfaction[slots] - satisfaction_ref,
        "complaints": np.log1p(state.complaints[slots]),
        "digital_channel": DIGITAL_CHANNELS[state.channel[slots]].astype(float),
    }
    count = len(contract)
    return np.array([rows[name] for name in ATTRIBUTES], dtype=float).reshape(len(ATTRIBUTES), count)


def log_value(revenue: np.ndarray, segment_mean: np.ndarray | float) -> np.ndarray:
    """log(revenue / segment mean revenue); 0 in a segment whose mean revenue is 0."""
    mean = np.broadcast_to(np.asarray(segment_mean, dtype=float), np.shape(revenue))
    ratio = np.divide(np.maximum(revenue, 1e-9), mean, out=np.ones(np.shape(revenue)), where=mean > 0)
    return np.log(ratio)


@dataclass(frozen=True)
class Reference:
    """A sample of the configured initial base, drawn from streams of its own: what standardises baseline risk,
    the same for the whole base and any region alone."""

    risk_mean: float  # of log baseline risk, over the whole sample
    risk_sd: float


def draw_reference(config: CareConfig, streams, segments: SegmentTable) -> Reference:
    """Draw ``N_RISK_REFERENCE`` subscribers of the initial base (by segment size) from ``risk_reference/<segment>``."""
    population = config.population.segments
    total = sum(segment.size for segment in population.values())
    counts = [int(np.ceil(N_RISK_REFERENCE * s.size / total)) if total else 0 for s in population.values()]
    sample = SubscriberState(0, capacity=sum(counts) + 1)
    logs = []
    for code, ((name, segment), count) in enumerate(zip(population.items(), counts, strict=True)):
        slots = sample.allocate(count)
        if count:
            draw_subscribers(sample, slots, code, segment, streams[f"risk_reference/{name}"], 0, True)
        logs.append(log_baseline_risk(config, sample, slots, segments.rate_churn_base))
    pooled = np.concatenate(logs) if logs else np.zeros(0)
    mean = float(pooled.mean()) if len(pooled) else 0.0
    sd = float(max(pooled.std(), 1e-9)) if len(pooled) else 1.0
    return Reference(risk_mean=mean, risk_sd=sd)
