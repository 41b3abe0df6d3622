"""The care catalogue compiled to arrays: delivery (who, when, where, how many) apart from product (effect).

``ProgrammeTable`` holds one entry per programme in catalogue order. Delivery fields say which key moment
triggers the programme, who is eligible, through which channel and with what capacity and delay; product
fields say what reaching one subscriber does and how the effect decays and tires.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caresim.config.response import ATTRIBUTES
from caresim.config.schema import CareConfig
from caresim.engine.behaviour import decay_factor
from caresim.lifecycle import CHANNELS, GRADES, LIFE_MOMENTS, STAGES, TRIGGERS


@dataclass(frozen=True)
class Delivery:
    """Who gets each programme and when: arrays over programmes (P) or programme × category."""

    trigger: tuple[str, ...]
    every_months: np.ndarray
    dur_lead_months: np.ndarray
    eligible_segment: np.ndarray  # P × S
    eligible_stage: np.ndarray  # P × len(STAGES)
    eligible_grade: np.ndarray  # P × 4
    channel: np.ndarray
    capacity_per_month: np.ndarray  # real contacts; inf = unlimited
    dur_delivery_days: np.ndarray
    dur_timely_days: np.ndarray
    dur_min_gap_months: np.ndarray
    queue_priority: np.ndarray


@dataclass(frozen=True)
class Product:
    """What each programme does to a subscriber it reaches, and what a contact costs.

    Effect sizes are programme × segment (``effects_by_segment`` over the programme-wide block).
    """

    d_satisfaction: np.ndarray  # P × S
    d_loyalty: np.ndarray  # P × S
    p_resolve_problem: np.ndarray  # P × S
    log_rel_churn_hazard: np.ndarray  # P × S
    log_rel_bill_shock: np.ndarray  # P × S
    log_rel_win_back: np.ndarray  # P × S
    decay: np.ndarray  # monthly multiplier of the transient effects
    fatigue: np.ndarray
    rel_effect_late: np.ndarray
    rel_moment: np.ndarray  # life-moment surprise multiplier (1 at business moments)
    cost_per_contact: np.ndarray
    cost_fixed_per_month: np.ndarray


@dataclass(frozen=True)
class ResponseTable:
    """Who responds to each programme (``caresim.engine.response``): arrays over programmes."""

    kinds: tuple[str, ...]  # the kinds of care, each with one latent receptivity per subscriber
    latent: tuple[tuple[str, float, float], ...]  # per programme: (kind, sd_receptivity, corr_risk)
    coef: np.ndarray  # P × len(ATTRIBUTES): log-receptivity per unit of each attribute
    prompts: np.ndarray  # P: prompts_comparison
    p_fix_fit: np.ndarray  # P


@dataclass(frozen=True)
class ProgrammeTable:
    """The compiled catalogue."""

    names: tuple[str, ...]
    delivery: Delivery
    product: Product
    response: ResponseTable

    @property
    def n(self) -> int:
        return len(self.names)

    def rows_with(self, effect: str) -> np.ndarray:
        """Programmes whose product changes ``effect`` (a ``Product`` field): the only boost rows to update."""
        return np.flatnonzero((getattr(self.product, effect) != 0).reshape(self.n, -1).any(axis=1))

    def with_trigger(self, trigger: str) -> list[int]:
        """Codes of the programmes fired by ``trigger``."""
        return [code for code, name in enumerate(self.delivery.trigger) if name == trigger]


def _log(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.maximum(np.asarray(values, dtype=float), 1e-12))


def compile_catalogue(config: CareConfig) -> ProgrammeTable:
    """Turn the validated catalogue into arrays for the engine."""
    segments = list(config.population.segments)
    programmes = list(config.catalogue.values())

    def mask(allowed: list[str] | None, universe: tuple[str, ...] | list[str]) -> list[bool]:
        return [allowed is None or item in allowed for item in universe]

    def field(name: str) -> np.ndarray:
        return np.array([getattr(programme, name) for programme in programmes], dtype=float)

    def effect(name: str) -> np.ndarray:
        """Programme × segment sizes of effect ``name``: a segment's own value where given, else the block's."""
        values = [
            [
                getattr(own, name)
                if (own := programme.effects_by_segment.get(segment)) is not None and name in own.model_fields_set
                else getattr(programme.effects, name)
                for segment in segments
            ]
            for programme in programmes
        ]
        return np.array(values, dtype=float).reshape(len(programmes), len(segments))

    delivery = Delivery(
        trigger=tuple(programme.trigger for programme in programmes),
        every_months=field("every_months").astype(int),
        dur_lead_months=field("dur_lead_months").astype(int),
        eligible_segment=np.array([mask(p.eligibility.segments, segments) for p in programmes], dtype=bool).reshape(
            len(programmes), len(segments)
        ),
        eligible_stage=np.array([mask(p.eligibility.stages, STAGES) for p in programmes], dtype=bool).reshape(
            len(programmes), len(STAGES)
        ),
        eligible_grade=np.array([mask(p.eligibility.grades, GRADES) for p in programmes], dtype=bool).reshape(
            len(programmes), len(GRADES)
        ),
        channel=np.array([CHANNELS.index(p.channel) for p in programmes], dtype=int),
        capacity_per_month=np.array(
            [np.inf if p.capacity_per_month is None else p.capacity_per_month for p in programmes], dtype=float
        ),
        dur_delivery_days=field("dur_delivery_days"),
        dur_timely_days=field("dur_timely_days"),
        dur_min_gap_months=field("dur_min_gap_months").astype(int),
        queue_priority=np.array([p.queue_priority for p in programmes], dtype=bool),
    )
    life = config.behaviour.rel_effect_life_moment
    product = Product(
        d_satisfaction=effect("d_satisfaction"),
        d_loyalty=effect("d_loyalty"),
        p_resolve_problem=effect("p_resolve_problem"),
        log_rel_churn_hazard=_log(effect("rel_churn_hazard")),
        log_rel_bill_shock=_log(effect("rel_bill_shock")),
        log_rel_win_back=_log(effect("rel_win_back")),
        decay=decay_factor(field("half_life_months")) if programmes else np.zeros(0),
        fatigue=field("fatigue"),
        rel_effect_late=field("rel_effect_late"),
        rel_moment=np.array([life if p.trigger in LIFE_MOMENTS else 1.0 for p in programmes]),
        cost_per_contact=field("cost_per_contact"),
        cost_fixed_per_month=field("cost_fixed_per_month"),
    )
    response = ResponseTable(
        kinds=tuple(dict.fromkeys(p.response.kind for p in programmes if p.response.sd_receptivity > 0)),
        latent=tuple((p.response.kind, p.response.sd_receptivity, p.response.corr_risk) for p in programmes),
        coef=np.array(
            [[getattr(p.response.coef, name) for name in ATTRIBUTES] for p in programmes], dtype=float
        ).reshape(len(programmes), len(ATTRIBUTES)),
        prompts=field("prompts_comparison"),
        p_fix_fit=field("p_fix_fit"),
    )
    assert all(trigger in TRIGGERS for trigger in delivery.trigger)
    return ProgrammeTable(names=tuple(config.catalogue), delivery=delivery, product=product, response=response)
