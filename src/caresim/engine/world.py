"""The world the monthly steps work on: the subscriber state, records, streams, catalogue, policy and desks.

Steps receive this narrow object, never the model, so they cannot reach the clock's process, Mesa's agent
registry or each other's internals; the model builds one world and hands it to every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import simpy

from caresim.config.schema import CareConfig, Segment
from caresim.engine.attributes import Reference
from caresim.engine.market import MonthConditions
from caresim.engine.policy import CarePolicy
from caresim.engine.population import SegmentTable, SubscriberState, draw_subscribers
from caresim.engine.programmes import ProgrammeTable
from caresim.engine.records import MonthlyRecords
from caresim.engine.regions import RegionTable
from caresim.engine.service_desks import DeskEvents, ServiceDesk
from caresim.engine.streams import SlotLayout, Streams
from caresim.engine.ties import SocialTies


@dataclass
class World:
    """Everything a monthly step may read or change (arrays in simulated units; ``scale`` real per slot)."""

    config: CareConfig
    policy: CarePolicy
    env: simpy.Environment  # the one clock: a SimPy time unit is one day
    month_days: float
    scale: float
    segments: SegmentTable
    regions: RegionTable
    programmes: ProgrammeTable
    layout: SlotLayout
    streams: Streams
    state: SubscriberState
    records: MonthlyRecords
    ties: SocialTies
    desks: list[dict[int, ServiceDesk]]  # per region: desk channel -> its desk
    desk_events: DeskEvents  # every desk's pending events, run on the SimPy clock (``steps.desks``)
    care_allowance: np.ndarray  # per region and programme: capacity carried to the next delivery
    grade_thresholds: dict[str, float]
    boost_rows: dict[str, np.ndarray]  # boost field -> programmes that ever change it
    reference: Reference  # a sample of the configured base: standardises baseline risk
    conditions: MonthConditions | None = field(default=None)
    pending_uplift: list[tuple[int, slice]] = field(default_factory=list)  # (programme, newcomers) to score

    def add_subscribers(
        self, code: int, segment: Segment, count: int, rng: np.random.Generator, month: int, initial: bool, region: int
    ) -> slice:
        """Allocate ``count`` slots for segment ``code`` in ``region`` and draw their attributes (plan fit and
        receptivity are drawn next by ``caresim.engine.response.draw_at_joining``)."""
        slots = self.state.allocate(count)
        self.layout.add(region * len(self.segments.names) + code, slots)
        draw_subscribers(self.state, slots, code, segment, rng, month, initial)
        self.state.region[slots] = region
        name = self.segments.names[code]
        for p, programme in enumerate(self.programmes.names):  # a stream per programme: adding one moves none
            stream = self.streams[self.regions.stream(f"coverage/{programme}/{name}", region)]
            self.state.cover_u[p, slots] = stream.random(count)
        return slots

    def ties_for_newcomers(self, slots: np.ndarray) -> None:
        """New subscribers tie to earlier subscribers of their region, mostly of their own segment."""
        spec = self.config.population.ties
        if len(slots) == 0 or spec.n_ties_new_subscriber == 0:
            return
        state = self.state
        for r in range(len(self.regions)):
            newcomers = slots[state.region[slots] == r] if len(self.regions) > 1 else slots
            if len(newcomers) == 0:
                continue
            first = newcomers.min()
            pool = np.flatnonzero(state.ever_active[:first] & (state.region[:first] == r))
            rng = self.streams[self.regions.stream("ties", r)]
            self.ties.connect(newcomers, pool, state.segment, spec.n_ties_new_subscriber, rng)
