"""The Mesa model of a subscriber base under one SimPy clock.

Time: one SimPy time unit is one **day**; a month is 365.25 / 12 days. A single SimPy process walks the
months; hotline and store reports are SimPy events that queue at SimPy resources inside the month.
Mesa keeps no clock of its own: ``CareModel.step`` is called by the SimPy month process once per month,
so ``model.steps`` always equals the number of months closed.

Order of work within month m (opened at t = m·M, closed at t = (m+1)·M):

open (t = m·M)
  1. market conditions for the month (season, competitor pressure, outages)
  2. prospects arrive and pass the pre-sale touchpoints; buyers activate and reach first use
  3. usage touchpoints (personalisation, service information); service problems, outage hits and bill
     shocks; trips abroad, with trip-triggered care delivered on arrival, then roaming problems
  4. subscribers with open problems report them or stay silent; complaint-triggered care is delivered at
     the report; self-service reports are resolved or not at once, hotline and store reports are released
     into their queues at their times within the month
during the month: queued reports wait, are handled, and resolve the problem or not
close (t = (m+1)·M, Mesa ``step``)
  5. care delivered at the other key moments (bill, bill shock, reported problem, outage, activation,
     contract end, retention stage, schedule, churned)
  6. open problems self-resolve or recur; recurrence moves usage -> retention, recovery moves back
  7. satisfaction takes the month's shocks and care boosts and reverts; loyalty follows; revenue billed
  8. churn drawn from the hazard; at contract end, stayers renew or lapse to month-to-month
  9. churned subscribers (from earlier months) may be won back
 10. the month's stocks, grades and spend are recorded
 11. care boosts decay (so care acts in full in the month it is delivered)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import mesa
import numpy as np
import simpy
from mesa.space import NetworkGrid

from caresim.arrivals import admit_prospects
from caresim.attitudes import decay_boosts, recur_problems, update_attitudes
from caresim.care import BOOST_EFFECTS, deliver, deliver_at_close
from caresim.churn import churn_and_renew, win_back
from caresim.desks import ServiceDesk, report_problems
from caresim.lifecycle import ACTIVE_STAGES, CHANNELS, GRADES, HOTLINE, RETENTION, STAGES, STORE, grade_of
from caresim.market import MonthConditions, conditions
from caresim.policy import CarePolicy
from caresim.population import SegmentTable, SubscriberState, draw_subscribers
from caresim.programmes import compile_catalogue
from caresim.records import MonthlyRecords
from caresim.regions import RegionTable
from caresim.schema import CareConfig, Segment
from caresim.streams import SlotLayout, Streams
from caresim.ties import SocialTies
from caresim.usage import usage_events

DAYS_PER_MONTH = 365.25 / 12


def grade_thresholds(config: CareConfig) -> dict[str, float]:
    """The lower bounds of the Excellent, Good and Fair grades, as ``grade_of`` takes them."""
    grades = config.behaviour.grades
    return {"excellent": grades.excellent, "good": grades.good, "fair": grades.fair}


class Subscriber(mesa.Agent):
    """A subscriber: a Mesa agent whose state lives in the model's arrays at ``slot``."""

    def __init__(self, model: CareModel, slot: int) -> None:
        super().__init__(model)
        self.slot = slot

    def _get(self, name: str):
        return getattr(self.model.state, name)[self.slot]

    @property
    def segment(self) -> str:
        return self.model.segments.names[int(self._get("segment"))]

    @property
    def stage(self) -> str:
        return STAGES[int(self._get("stage"))]

    @property
    def satisfaction(self) -> float:
        return float(self._get("satisfaction"))

    @property
    def loyalty(self) -> float:
        return float(self._get("loyalty"))

    @property
    def satisfaction_grade(self) -> str:
        return GRADES[int(grade_of(np.array([self.satisfaction]), **self.model.grade_thresholds)[0])]

    @property
    def preferred_channel(self) -> str:
        return CHANNELS[int(self._get("channel"))]

    def ties(self) -> list[Subscriber]:
        """The subscribers this one is tied to, from the Mesa network."""
        return self.model.network.get_neighbors(self.slot)


class CareModel(mesa.Model):
    """A subscriber base moving through the care lifecycle under a care policy."""

    def __init__(self, config: CareConfig, policy: CarePolicy) -> None:
        super().__init__(rng=config.run.seed)
        self.config = config
        self.policy = policy
        self.env = simpy.Environment()
        self.month_days = DAYS_PER_MONTH
        self.scale = config.run.scale
        self.segments = SegmentTable.from_population(config.population)
        self.regions = RegionTable.from_config(config)
        self.layout = SlotLayout(
            tuple(self.regions.stream(segment, r) for r in range(len(self.regions)) for segment in self.segments.names)
        )
        self.streams = Streams(config.run.seed, self.layout)
        self.programmes = compile_catalogue(config)
        self.boost_rows = {field: self.programmes.rows_with(effect) for field, effect in BOOST_EFFECTS.items()}
        self.grade_thresholds = grade_thresholds(config)
        n_months = config.run.n_months
        segments = config.population.segments.values()
        share = float(self.regions.shares.sum())
        initial = sum(round(s.size * share / self.scale) for s in segments)
        arrivals = sum(s.rate_prospects_per_month for s in segments) * share / self.scale * n_months
        self.state = SubscriberState(self.programmes.n, capacity=int(initial + 1.1 * arrivals + 64))
        self.records = MonthlyRecords(n_months, len(self.segments.names), self.programmes.n)
        self.ties = SocialTies(config.population.ties)
        self.desks = [  # per region: desk channel -> its desk
            {
                STORE: ServiceDesk.build(self.env, config.service.store, servers["store"]),
                HOTLINE: ServiceDesk.build(self.env, config.service.hotline, servers["hotline"]),
            }
            for servers in self.regions.servers
        ]
        self.care_allowance = np.zeros((len(self.regions), self.programmes.n))  # per region and programme
        self.subscribers: dict[int, Subscriber] = {}
        self.conditions: MonthConditions | None = None
        self.month = 0
        self._spawn_initial_base()

    # ------------------------------------------------------------ population
    def add_subscribers(
        self,
        code: int,
        segment: Segment,
        count: int,
        rng: np.random.Generator,
        month: int,
        initial: bool,
        region: int = 0,
    ) -> slice:
        """Allocate ``count`` slots for segment ``code`` in ``region`` and draw their attributes (no agents yet)."""
        slots = self.state.allocate(count)
        self.layout.add(region * len(self.segments.names) + code, slots)
        draw_subscribers(self.state, slots, code, segment, rng, month, initial)
        self.state.region[slots] = region
        name = self.segments.names[code]
        for p, programme in enumerate(self.programmes.names):  # a stream per programme: adding one moves none
            stream = self.streams[self.regions.stream(f"coverage/{programme}/{name}", region)]
            self.state.cover_u[p, slots] = stream.random(count)
        return slots

    def enrol(self, slots: np.ndarray) -> None:
        """Make subscribers of these slots: a Mesa agent each."""
        for slot in slots.tolist():
            self.subscribers[slot] = Subscriber(self, slot)

    @property
    def network(self) -> NetworkGrid:
        """The Mesa network of ties, every subscriber agent on its node (built from the tie arrays)."""
        return self.ties.network(self.subscribers)

    def _spawn_initial_base(self) -> None:
        regions = self.regions
        for r, share in enumerate(regions.shares):
            for code, (name, segment) in enumerate(self.config.population.segments.items()):
                count = round(segment.size * share / self.scale)
                if count:
                    rng = self.streams[regions.stream(f"population/{name}", r)]
                    slots = self.add_subscribers(code, segment, count, rng, 0, True, r)
                    self.state.stage[slots] = ACTIVE_STAGES[1]
                    self.enrol(np.arange(slots.start, slots.stop))
        spec = self.config.population.ties
        for r in range(len(regions)):  # ties stay inside a region
            everyone = np.flatnonzero(self.state.region == r)
            rng = self.streams[regions.stream("ties", r)]
            self.ties.connect(everyone, everyone, self.state.segment, spec.mean_degree / 2, rng)

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

    def deliver_care(self, trigger: str, triggered: np.ndarray, month: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Deliver the programmes fired by ``trigger`` to the triggered slots (see ``care.deliver``)."""
        return list(deliver(self, trigger, triggered, month))

    # ------------------------------------------------------------ the clock
    def _months(self, on_month: Callable[[int], None] | None) -> Iterator[simpy.Event]:
        for month in range(self.config.run.n_months):
            self.month = month
            self._open_month(month)
            yield self.env.timeout(self.month_days)
            self.step()
            if on_month is not None:
                on_month(month)

    def _open_month(self, month: int) -> None:
        state = self.state
        self.records.stock["active_start"][month] = self.records.count(state.active, state.segment)
        self.conditions = conditions(self.config.market, self.segments.names, month)
        state.carried_problem_month[state.active & (state.n_open > 0)] = month  # open since an earlier month
        admit_prospects(self, month)
        usage_events(self, month, self.conditions)
        report_problems(self, month)

    def step(self) -> None:
        """Close the current month (called by the SimPy month process; Mesa counts the steps)."""
        month = self.month
        deliver_at_close(self, month)
        recur_problems(self, month)
        update_attitudes(self, month)
        churn_and_renew(self, month, self.conditions)
        win_back(self, month)
        self._record_month_end(month)
        decay_boosts(self)

    def run(self, on_month: Callable[[int], None] | None = None) -> None:
        """Run every month of the scenario on the SimPy clock."""
        months = self.env.process(self._months(on_month))
        self.env.run(until=months)

    # ------------------------------------------------------------ records
    def _record_month_end(self, month: int) -> None:
        state, records = self.state, self.records
        active = state.active
        segment = state.segment
        records.stock["active"][month] = records.count(active, segment)
        records.stock["in_retention"][month] = records.count(state.stage == RETENTION, segment)
        records.stock["in_contract"][month] = records.count(active & state.in_contract, segment)
        for desks in self.desks:
            for desk_code, desk in desks.items():
                records.desk_backlog[month, desk_code] += len(desk.resource.queue) + desk.resource.count
        records.stock["satisfaction_sum"][month] = records.count(active, segment, state.satisfaction)
        records.stock["loyalty_sum"][month] = records.count(active, segment, state.loyalty)
        n_grades = len(GRADES)
        for target, score in ((records.sat_grades, state.satisfaction), (records.loy_grades, state.loyalty)):
            grade = grade_of(score[active], **self.grade_thresholds)
            counts = np.bincount(segment[active] * n_grades + grade, minlength=records.n_segments * n_grades)
            target[month] = counts.reshape(records.n_segments, n_grades)
