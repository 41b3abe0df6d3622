"""The Mesa model of a subscriber base under one SimPy clock.

Time: one SimPy time unit is one **day**; a month is 365.25 / 12 days. A single SimPy process walks the
months; hotline and store contacts queue at the desks inside the month, their events run in SimPy's order by
one SimPy timeout per month (``steps.desks.serve_desks``).
Mesa keeps no clock of its own: ``CareModel.step`` is called by the SimPy month process once per month,
so ``model.steps`` always equals the number of months closed. The steps work on a ``World`` (state,
records, streams, catalogue, policy, desks), never on the model; agents are views made on access
(``agents``).

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
  6. open problems self-resolve or recur; recurrence moves usage -> retention, recovery moves back;
     agent rules (``AgentRule``) step their selected subscribers
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

from caresim.config.schema import CareConfig
from caresim.engine.agents import AgentRule, SubscriberViews, apply_rules, check_rules
from caresim.engine.attributes import draw_reference
from caresim.engine.market import conditions
from caresim.engine.policy import CarePolicy
from caresim.engine.population import SegmentTable, SubscriberState
from caresim.engine.programmes import compile_catalogue
from caresim.engine.record import RunRecord, record_of
from caresim.engine.records import MonthlyRecords
from caresim.engine.regions import RegionTable
from caresim.engine.response import draw_at_joining
from caresim.engine.service_desks import DeskEvents, ServiceDesk, aggregate_desks
from caresim.engine.steps.arrivals import admit_prospects
from caresim.engine.steps.attitudes import decay_boosts, recur_problems, update_attitudes
from caresim.engine.steps.churn import churn_and_renew, win_back
from caresim.engine.steps.delivery import deliver_at_close
from caresim.engine.steps.desks import report_problems
from caresim.engine.steps.effects import BOOST_EFFECTS
from caresim.engine.steps.usage import usage_events
from caresim.engine.streams import SlotLayout, Streams
from caresim.engine.targeting import score_pending
from caresim.engine.ties import SocialTies
from caresim.engine.world import World
from caresim.lifecycle import ACTIVE_STAGES, GRADES, HOTLINE, RETENTION, STORE, grade_of

DAYS_PER_MONTH = 365.25 / 12


def grade_thresholds(config: CareConfig) -> dict[str, float]:
    """The lower bounds of the Excellent, Good and Fair grades, as ``grade_of`` takes them."""
    grades = config.behaviour.grades
    return {"excellent": grades.excellent, "good": grades.good, "fair": grades.fair}


def build_world(config: CareConfig, policy: CarePolicy, env: simpy.Environment) -> World:
    """A world with nobody in it yet: tables, streams, empty state and records, desks and capacity."""
    scale = config.run.scale
    segments = SegmentTable.from_population(config.population)
    regions = RegionTable.from_config(config)
    layout = SlotLayout(tuple(regions.stream(s, r) for r in range(len(regions)) for s in segments.names))
    programmes = compile_catalogue(config)
    n_months = config.run.n_months
    share = float(regions.shares.sum())
    spec = config.population.segments.values()
    initial = sum(round(s.size * share / scale) for s in spec)
    arrivals = sum(s.rate_prospects_per_month for s in spec) * share / scale * n_months
    streams = Streams(config.run.seed, layout)
    aggregate = aggregate_desks(config.service, scale)
    return World(
        config=config,
        policy=policy,
        env=env,
        month_days=DAYS_PER_MONTH,
        scale=scale,
        segments=segments,
        regions=regions,
        programmes=programmes,
        layout=layout,
        streams=streams,
        state=SubscriberState(programmes.n, capacity=int(initial + 1.1 * arrivals + 64)),
        records=MonthlyRecords(n_months, len(segments.names), programmes.n),
        ties=SocialTies(config.population.ties),
        desks=[
            {
                STORE: ServiceDesk.build(config.service.store, servers["store"], aggregate),
                HOTLINE: ServiceDesk.build(config.service.hotline, servers["hotline"], aggregate),
            }
            for servers in regions.servers
        ],
        desk_events=DeskEvents(),
        care_allowance=np.zeros((len(regions), programmes.n)),
        grade_thresholds=grade_thresholds(config),
        boost_rows={field: programmes.rows_with(effect) for field, effect in BOOST_EFFECTS.items()},
        reference=draw_reference(config, streams, segments),
    )


class CareModel(mesa.Model):
    """A subscriber base moving through the care lifecycle under a care policy.

    ``agent_rules`` give selected subscribers behaviour of their own (see ``caresim.engine.agents``).

    ``run()`` runs every month; ``advance(n)`` closes ``n`` more months and returns the number closed so far,
    for interactive stepping. Both drive the same SimPy month process (started on first use) one SimPy event
    at a time in SimPy's order, so advancing month by month to the end leaves exactly the record ``run()``
    does, and ``run()`` after ``advance`` finishes the same run. After ``advance`` returns k < ``n_months``,
    month k is already open (its arrivals, usage events and reports drawn: the month process opens the next
    month as soon as it closes one); what a close changes (stages, grades, churn) is as of month k - 1's close.
    """

    def __init__(self, config: CareConfig, policy: CarePolicy, agent_rules: tuple[AgentRule, ...] = ()) -> None:
        super().__init__(rng=config.run.seed)
        self.config = config
        self.policy = policy
        self.env = simpy.Environment()
        self.world = build_world(config, policy, self.env)
        self.agent_rules = (agent_rules,) if isinstance(agent_rules, AgentRule) else tuple(agent_rules)
        check_rules(self.agent_rules, self.world.segments.names)  # when built, not at the first close
        self.subscribers = SubscriberViews(self)
        self.month = 0
        self._clock: simpy.Process | None = None  # the month process, once run or advance starts it
        self._spawn_initial_base()

    # the world's parts, read-only from outside the engine's steps
    state = property(lambda self: self.world.state)
    records = property(lambda self: self.world.records)
    streams = property(lambda self: self.world.streams)
    segments = property(lambda self: self.world.segments)
    regions = property(lambda self: self.world.regions)
    programmes = property(lambda self: self.world.programmes)
    desks = property(lambda self: self.world.desks)
    ties = property(lambda self: self.world.ties)
    scale = property(lambda self: self.world.scale)
    grade_thresholds = property(lambda self: self.world.grade_thresholds)

    @property
    def network(self) -> NetworkGrid:
        """The Mesa network of ties, every subscriber agent on its node (agents made now if not yet)."""
        return self.world.ties.network(self.subscribers)

    def _spawn_initial_base(self) -> None:
        world = self.world
        regions = world.regions
        for r, share in enumerate(regions.shares):
            for code, (name, segment) in enumerate(self.config.population.segments.items()):
                count = round(segment.size * share / world.scale)
                if count:
                    rng = world.streams[regions.stream(f"population/{name}", r)]
                    slots = world.add_subscribers(code, segment, count, rng, 0, True, r)
                    draw_at_joining(world, slots, code, segment, r, 0)
                    world.state.stage[slots] = ACTIVE_STAGES[1]
        score_pending(world)
        spec = self.config.population.ties
        for r in range(len(regions)):  # ties stay inside a region
            everyone = np.flatnonzero(world.state.region == r)
            rng = world.streams[regions.stream("ties", r)]
            world.ties.connect(everyone, everyone, world.state.segment, spec.mean_degree / 2, rng)

    # ------------------------------------------------------------ the clock
    def _months(self, on_month: Callable[[int], None] | None) -> Iterator[simpy.Event]:
        for month in range(self.config.run.n_months):
            self.month = month
            self._open_month(month)
            yield self.env.timeout(self.world.month_days)
            self.step()
            if on_month is not None:
                on_month(month)

    def _open_month(self, month: int) -> None:
        world = self.world
        state = world.state
        world.records.stock["active_start"][month] = world.records.count(state.active, world.layout)
        world.conditions = conditions(self.config.market, world.segments.names, month)
        state.carried_problem_month[state.active & (state.n_open > 0)] = month  # open since an earlier month
        admit_prospects(world, month)
        usage_events(world, month, world.conditions)
        report_problems(world, month)

    def step(self) -> None:
        """Close the current month (called by the SimPy month process; Mesa counts the steps)."""
        month, world = self.month, self.world
        deliver_at_close(world, month)
        recur_problems(world, month)
        apply_rules(self, self.agent_rules)
        update_attitudes(world, month)
        churn_and_renew(world, month, world.conditions)
        win_back(world, month)
        self._record_month_end(month)
        decay_boosts(world)

    def _month_process(self, on_month: Callable[[int], None] | None = None) -> simpy.Process:
        """The SimPy process that walks the months, started on first use (``on_month`` is that first use's)."""
        if self._clock is None:
            self._clock = self.env.process(self._months(on_month))
        return self._clock

    def run(self, on_month: Callable[[int], None] | None = None) -> RunRecord:
        """Run every month of the scenario (the rest of them after ``advance``) on the SimPy clock and return
        the run's record."""
        self.env.run(until=self._month_process(on_month))
        return self.record()

    def advance(self, n_months: int = 1) -> int:
        """Close ``n_months`` more months (fewer at the end of the run) on the SimPy clock; the months closed.

        Steps the SimPy environment one event at a time (``env.step``, as ``env.run`` does) until Mesa has
        counted that many more closes; ``run.n_months`` is the most. ``advance(0)`` changes nothing.
        """
        if n_months < 0:
            raise ValueError(f"advance: n_months must be >= 0, got {n_months}")
        target = min(self.steps + n_months, self.config.run.n_months)
        if self.steps < target:
            self._month_process()
            while self.steps < target:  # the month process always has an event pending until it ends
                self.env.step()
        return self.steps

    def record(self) -> RunRecord:
        """The read-only record of the run so far (what tables, evaluation and planner read)."""
        return record_of(self.world)

    # ------------------------------------------------------------ records
    def _record_month_end(self, month: int) -> None:
        world = self.world
        state, records = world.state, world.records
        active = state.active
        segment = state.segment
        records.stock["active"][month] = records.count(active, world.layout)
        records.stock["in_retention"][month] = records.count(state.stage == RETENTION, world.layout)
        records.stock["in_contract"][month] = records.count(active & state.in_contract, world.layout)
        for desks in world.desks:
            for desk_code, desk in desks.items():
                records.desk_backlog[month, desk_code] += desk.backlog
        records.stock["satisfaction_sum"][month] = records.count(active, segment, state.satisfaction)
        records.stock["loyalty_sum"][month] = records.count(active, segment, state.loyalty)
        n_grades = len(GRADES)
        first_cell = segment[active] * n_grades  # each active subscriber's segment row of grade cells
        for target, score in ((records.sat_grades, state.satisfaction), (records.loy_grades, state.loyalty)):
            grade = grade_of(score[active], **world.grade_thresholds)
            counts = np.bincount(first_cell + grade, minlength=records.n_segments * n_grades)
            target[month] = counts.reshape(records.n_segments, n_grades)
