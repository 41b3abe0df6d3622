"""Two plain reference implementations of the core of caresim's month, for ``bench_simulation.py``.

(a) ``run_mesa_simpy``: one ``mesa.Agent`` per subscriber, each with its own SimPy process that wakes
    once a month and applies the rules to itself in scalar Python (the way one first writes it). Draws
    come from the agent's ``self.random``, the ``random.Random`` that ``mesa.Model(rng=seed)`` seeds:
    the natural choice for scalar draws (a NumPy Generator costs ~0.5 µs per scalar draw, 10x more).
(b) ``run_numpy``: the same rules vectorised over arrays of all subscribers in a plain loop over months,
    no Mesa and no SimPy.

Per subscriber and month: a service problem and a bill shock may open problems; a subscriber with an open
problem reports it (resolved at the preferred channel's first-contact rate) or it may self-resolve;
satisfaction reverts with shocks and noise, loyalty follows; tenure +1 and revenue billed; churn from the
hazard; at contract end the stayers renew or go month-to-month. Parameters come from a ``CareConfig``.

Neither reference has prospects, touchpoints, care programmes and their capacity, desk queues, ties and
contagion, win-back or monthly records: caresim does strictly more work per subscriber-month.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import mesa
import numpy as np
import simpy

from caresim.config.schema import CareConfig, Churn
from caresim.engine.behaviour import churn_hazard, follow_loyalty, p_from_hazard, p_renew, revert_satisfaction

MONTH_DAYS = 365.25 / 12  # one SimPy time unit is a day, as in caresim


# ---------------------------------------------------------------- the rules' parameters
@dataclass(frozen=True)
class SegmentRules:
    """One segment's parameters, as plain Python values."""

    size: int
    revenue_per_month: float
    revenue_cv: float
    contract_lengths: tuple[int, ...]
    contract_weights: tuple[float, ...]
    tenure_mean: float
    tenure_shape: float
    tenure_max: int
    channel_weights: tuple[float, ...]  # in the order of ``MonthlyRules.channels``
    rate_churn_base: float
    satisfaction_mean: float
    satisfaction_sd: float
    loyalty_mean: float
    loyalty_sd: float
    p_problem: float


@dataclass(frozen=True)
class MonthlyRules:
    """Everything the references need from a ``CareConfig``."""

    segments: tuple[SegmentRules, ...]
    channels: tuple[str, ...]
    p_first_contact_resolution: tuple[float, ...]
    p_bill_shock: float
    p_complain: float
    p_self_resolve: float
    d_problem: float
    d_bill_shock: float
    d_resolved: float
    d_unresolved: float
    rate_reversion: float
    sd_noise: float
    rate_loyalty_follow: float
    competitor_pressure: float
    churn: Churn

    @classmethod
    def from_config(cls, config: CareConfig) -> MonthlyRules:
        market, service, behaviour = config.market, config.service, config.behaviour
        rate_problems = market.rate_problems_per_month / market.network_quality
        channels = tuple(service.p_first_contact_resolution)
        segments = tuple(
            SegmentRules(
                size=s.size,
                revenue_per_month=s.revenue_per_month,
                revenue_cv=s.revenue_cv,
                contract_lengths=tuple(sorted(s.contract_mix)),
                contract_weights=tuple(s.contract_mix[length] for length in sorted(s.contract_mix)),
                tenure_mean=s.tenure.mean_months,
                tenure_shape=s.tenure.shape,
                tenure_max=s.tenure.max_months,
                channel_weights=tuple(s.channel_preference.get(name, 0.0) for name in channels),
                rate_churn_base=s.rate_churn_base,
                satisfaction_mean=s.satisfaction_mean,
                satisfaction_sd=s.satisfaction_sd,
                loyalty_mean=s.loyalty_mean,
                loyalty_sd=s.loyalty_sd,
                p_problem=-math.expm1(-rate_problems * s.rel_problem_rate),
            )
            for s in config.population.segments.values()
        )
        return cls(
            segments=segments,
            channels=channels,
            p_first_contact_resolution=tuple(service.p_first_contact_resolution[name] for name in channels),
            p_bill_shock=market.p_bill_shock,
            p_complain=service.p_complain,
            p_self_resolve=service.p_self_resolve,
            d_problem=behaviour.d_satisfaction_problem,
            d_bill_shock=behaviour.d_satisfaction_bill_shock,
            d_resolved=behaviour.d_satisfaction_resolved,
            d_unresolved=behaviour.d_satisfaction_unresolved,
            rate_reversion=behaviour.rate_satisfaction_reversion,
            sd_noise=behaviour.sd_satisfaction_noise,
            rate_loyalty_follow=behaviour.rate_loyalty_follow,
            competitor_pressure=market.competitor_pressure,
            churn=behaviour.churn,
        )

    def segment_counts(self, n: int) -> list[int]:
        """``n`` subscribers shared among the segments in proportion to their sizes (summing to ``n``)."""
        total = sum(s.size for s in self.segments)
        counts = [round(n * s.size / total) for s in self.segments]
        counts[-1] = n - sum(counts[:-1])
        return counts


@dataclass
class RunResult:
    """Timings and a little output of one reference run."""

    subscribers: int
    months: int
    build_seconds: float
    run_seconds: float
    cpu_seconds: float
    churned: int
    subscriber_months_at_risk: int

    @property
    def seconds(self) -> float:
        return self.build_seconds + self.run_seconds

    @property
    def churn_rate(self) -> float:
        return self.churned / max(self.subscriber_months_at_risk, 1)


# ---------------------------------------------------------------- scalar versions of caresim.engine.behaviour
# Reference (a) writes caresim.engine.behaviour's formulas inline with ``math``: those functions accept scalars,
# but NumPy on scalars costs about a microsecond per call, which would make (a) look slower than a first
# honest version is. ``check_scalar_rules`` confirms these agree with caresim's functions.
def scalar_churn_hazard(
    churn: Churn,
    rate_base: float,
    satisfaction: float,
    loyalty: float,
    tenure: int,
    in_contract: bool,
    ends_now: bool,
    competitor_pressure: float,
) -> float:
    """``churn_hazard`` for one subscriber, not in retention, no churned ties, season 1, no care."""
    predictor = (
        churn.coef_satisfaction * (satisfaction - churn.satisfaction_ref)
        + churn.coef_loyalty * (loyalty - churn.loyalty_ref)
        + churn.coef_tenure * math.log1p(tenure / 12.0)
        + churn.coef_competitor * competitor_pressure
    )
    rel_contract = churn.rel_contract_end if ends_now else churn.rel_in_contract if in_contract else 1.0
    return rate_base * rel_contract * math.exp(predictor)


def scalar_p_renew(churn: Churn, loyalty: float) -> float:
    """``p_renew`` for one subscriber."""
    p0 = min(max(churn.p_renew, 1e-9), 1 - 1e-9)
    logit = math.log(p0 / (1 - p0)) + churn.coef_renew_loyalty * (loyalty - churn.loyalty_ref)
    return 1.0 / (1.0 + math.exp(-logit))


def check_scalar_rules(rules: MonthlyRules) -> None:
    """Raise ``ValueError`` if the scalar formulas of (a) disagree with ``caresim.engine.behaviour``."""
    churn, pressure, base = rules.churn, rules.competitor_pressure, 0.015
    for sat, loy, tenure, in_contract, ends_now in [
        (0.7, 0.6, 0, False, False),
        (0.4, 0.8, 30, True, False),
        (0.9, 0.3, 200, True, True),
    ]:
        vector = churn_hazard(churn, base, sat, loy, tenure, in_contract, ends_now, False, pressure, 0.0, 1.0)
        scalar = scalar_churn_hazard(churn, base, sat, loy, tenure, in_contract, ends_now, pressure)
        if not (
            math.isclose(float(vector), scalar, rel_tol=1e-12)
            and math.isclose(float(p_renew(churn, loy)), scalar_p_renew(churn, loy), rel_tol=1e-12)
        ):
            raise ValueError(f"scalar rules disagree with caresim.engine.behaviour at {(sat, loy, tenure)}")


# ---------------------------------------------------------------- (a) per-subscriber Mesa + SimPy
class Subscriber(mesa.Agent):
    """A subscriber holding its own state, living one SimPy process of monthly wake-ups."""

    model: MesaSimPyBase

    def __init__(self, model: MesaSimPyBase, segment: SegmentRules) -> None:
        super().__init__(model)
        rules, r = model.rules, self.random
        self.segment = segment
        self.p_resolve = r.choices(rules.p_first_contact_resolution, weights=segment.channel_weights)[0]
        self.contract_months = r.choices(segment.contract_lengths, weights=segment.contract_weights)[0]
        shape = segment.tenure_shape
        self.tenure = min(math.floor(r.gammavariate(shape, segment.tenure_mean / shape)), segment.tenure_max)
        self.in_contract = self.contract_months > 0
        length = self.contract_months
        self.contract_end = length - self.tenure % length if self.in_contract else -1
        sigma2 = math.log1p(segment.revenue_cv**2)
        self.revenue = segment.revenue_per_month * math.exp(r.gauss(0.0, math.sqrt(sigma2)) - sigma2 / 2)
        self.satisfaction = min(max(r.gauss(segment.satisfaction_mean, segment.satisfaction_sd), 0.0), 1.0)
        self.loyalty = min(max(r.gauss(segment.loyalty_mean, segment.loyalty_sd), 0.0), 1.0)
        self.n_open = 0
        self.revenue_total = 0.0
        model.env.process(self.live())

    def live(self) -> Iterator[simpy.Event]:
        """Wake once a month and apply the month's rules; stop on churning."""
        for month in range(self.model.n_months):
            yield self.model.env.timeout(MONTH_DAYS)
            self.model.at_risk += 1
            if self.month_passes(month):
                self.model.churned += 1
                self.remove()
                return

    def month_passes(self, month: int) -> bool:
        """One month of this subscriber; True if it churns."""
        shock = self.problems_and_reports()
        self.update_attitudes(shock)
        return self.churn_or_renew(month)

    def problems_and_reports(self) -> float:
        """Problems and bill shocks open; open problems are reported (and resolved or not) or self-resolve."""
        rules, r = self.model.rules, self.random
        shock = 0.0
        if r.random() < self.segment.p_problem:
            self.n_open += 1
            shock += rules.d_problem
        if r.random() < rules.p_bill_shock:
            self.n_open += 1
            shock += rules.d_bill_shock
        if self.n_open > 0:
            if r.random() < rules.p_complain:
                if r.random() < self.p_resolve:
                    self.n_open = 0
                    shock += rules.d_resolved
                else:
                    shock += rules.d_unresolved
            elif r.random() < rules.p_self_resolve:
                self.n_open = 0
        return shock

    def update_attitudes(self, shock: float) -> None:
        """``revert_satisfaction`` and ``follow_loyalty`` inline; tenure and revenue."""
        rules, satisfaction = self.model.rules, self.satisfaction
        noise = self.random.gauss(0.0, rules.sd_noise)
        satisfaction += rules.rate_reversion * (self.segment.satisfaction_mean - satisfaction) + shock + noise
        self.satisfaction = min(max(satisfaction, 0.0), 1.0)
        loyalty = self.loyalty + rules.rate_loyalty_follow * (self.satisfaction - self.loyalty)
        self.loyalty = min(max(loyalty, 0.0), 1.0)
        self.tenure += 1
        self.revenue_total += self.revenue

    def churn_or_renew(self, month: int) -> bool:
        """Churn from the hazard; at contract end a stayer renews or goes month-to-month. True: churns."""
        rules, r = self.model.rules, self.random
        ends_now = self.in_contract and self.contract_end == month
        hazard = scalar_churn_hazard(
            rules.churn,
            self.segment.rate_churn_base,
            self.satisfaction,
            self.loyalty,
            self.tenure,
            self.in_contract,
            ends_now,
            rules.competitor_pressure,
        )
        if r.random() < -math.expm1(-hazard):
            return True
        if ends_now:
            if r.random() < scalar_p_renew(rules.churn, self.loyalty):
                self.contract_end += self.contract_months
            else:
                self.in_contract = False
        return False


class MesaSimPyBase(mesa.Model):
    """A Mesa model of ``n`` subscriber agents on one SimPy environment."""

    def __init__(self, rules: MonthlyRules, n: int, n_months: int, seed: int) -> None:
        super().__init__(rng=seed)
        self.rules = rules
        self.n_months = n_months
        self.env = simpy.Environment()
        self.churned = 0
        self.at_risk = 0
        for segment, count in zip(rules.segments, rules.segment_counts(n), strict=True):
            for _ in range(count):
                Subscriber(self, segment)

    def run(self) -> None:
        """Run until every subscriber's process has ended (all months done or churned)."""
        self.env.run()


def run_mesa_simpy(rules: MonthlyRules, n: int, n_months: int, seed: int) -> RunResult:
    """Reference (a): build and run the per-subscriber Mesa + SimPy model, timed."""
    check_scalar_rules(rules)
    wall, cpu = time.perf_counter(), time.process_time()
    model = MesaSimPyBase(rules, n, n_months, seed)
    built = time.perf_counter()
    model.run()
    done = time.perf_counter()
    return RunResult(n, n_months, built - wall, done - built, time.process_time() - cpu, model.churned, model.at_risk)


# ---------------------------------------------------------------- (b) plain NumPy
def _categorical(rng: np.random.Generator, weights: tuple[float, ...], count: int) -> np.ndarray:
    """``count`` draws of category indices with these weights."""
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=count, p=p / p.sum())


@dataclass
class ArrayBase:
    """All subscribers as arrays: per-subscriber constants, then state."""

    rate_base: np.ndarray
    resting: np.ndarray
    p_problem: np.ndarray
    p_resolve: np.ndarray
    revenue: np.ndarray
    contract_months: np.ndarray
    tenure: np.ndarray
    in_contract: np.ndarray
    contract_end: np.ndarray
    satisfaction: np.ndarray
    loyalty: np.ndarray
    n_open: np.ndarray
    revenue_total: np.ndarray
    active: np.ndarray

    @classmethod
    def draw(cls, rules: MonthlyRules, n: int, rng: np.random.Generator) -> ArrayBase:
        """The initial base, segment after segment."""
        parts: list[dict[str, np.ndarray]] = []
        fcr = np.asarray(rules.p_first_contact_resolution)
        for s, count in zip(rules.segments, rules.segment_counts(n), strict=True):
            lengths = np.asarray(s.contract_lengths)[_categorical(rng, s.contract_weights, count)]
            tenure = np.minimum(
                np.floor(rng.gamma(s.tenure_shape, s.tenure_mean / s.tenure_shape, count)), s.tenure_max
            ).astype(np.int64)
            sigma2 = math.log1p(s.revenue_cv**2)
            parts.append(
                {
                    "rate_base": np.full(count, s.rate_churn_base),
                    "resting": np.full(count, s.satisfaction_mean),
                    "p_problem": np.full(count, s.p_problem),
                    "p_resolve": fcr[_categorical(rng, s.channel_weights, count)],
                    "revenue": s.revenue_per_month * np.exp(rng.normal(-sigma2 / 2, math.sqrt(sigma2), count)),
                    "contract_months": lengths,
                    "tenure": tenure,
                    "in_contract": lengths > 0,
                    "contract_end": np.where(lengths > 0, lengths - tenure % np.maximum(lengths, 1), -1),
                    "satisfaction": np.clip(rng.normal(s.satisfaction_mean, s.satisfaction_sd, count), 0.0, 1.0),
                    "loyalty": np.clip(rng.normal(s.loyalty_mean, s.loyalty_sd, count), 0.0, 1.0),
                }
            )
        columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
        return cls(
            **columns, n_open=np.zeros(n, dtype=np.int16), revenue_total=np.zeros(n), active=np.ones(n, dtype=bool)
        )

    def month(self, rules: MonthlyRules, month: int, rng: np.random.Generator) -> int:
        """One month of every active subscriber; returns how many churned."""
        n, active = len(self.active), self.active
        u = rng.random((7, n))
        noise = rules.sd_noise * rng.standard_normal(n)
        # problems and bill shocks open; open problems are reported (resolved or not) or self-resolve
        problem = active & (u[0] < self.p_problem)
        bill_shock = active & (u[1] < rules.p_bill_shock)
        self.n_open += problem
        self.n_open += bill_shock
        has_open = active & (self.n_open > 0)
        reports = has_open & (u[2] < rules.p_complain)
        resolved = reports & (u[3] < self.p_resolve)
        self_resolved = has_open & ~reports & (u[4] < rules.p_self_resolve)
        self.n_open[resolved | self_resolved] = 0
        shock = (
            rules.d_problem * problem
            + rules.d_bill_shock * bill_shock
            + np.where(resolved, rules.d_resolved, np.where(reports, rules.d_unresolved, 0.0))
        )
        # attitudes, tenure, revenue
        core = revert_satisfaction(self.satisfaction, self.resting, rules.rate_reversion, shock, noise)
        self.satisfaction = np.where(active, core, self.satisfaction)
        loyalty = follow_loyalty(self.loyalty, self.satisfaction, rules.rate_loyalty_follow)
        self.loyalty = np.where(active, loyalty, self.loyalty)
        self.tenure += active
        self.revenue_total += np.where(active, self.revenue, 0.0)
        # churn, then renewal at contract end
        ends_now = active & self.in_contract & (self.contract_end == month)
        hazard = churn_hazard(
            rules.churn,
            self.rate_base,
            self.satisfaction,
            self.loyalty,
            self.tenure,
            self.in_contract,
            ends_now,
            False,
            rules.competitor_pressure,
            0.0,
            1.0,
        )
        leaves = active & (u[5] < p_from_hazard(hazard))
        self.active &= ~leaves
        self.in_contract &= ~leaves
        stays = ends_now & ~leaves
        renews = stays & (u[6] < p_renew(rules.churn, self.loyalty))
        self.contract_end[renews] += self.contract_months[renews]
        self.in_contract[stays & ~renews] = False
        return int(leaves.sum())


def run_numpy(rules: MonthlyRules, n: int, n_months: int, seed: int) -> RunResult:
    """Reference (b): draw the base and loop over months with whole-array NumPy, timed."""
    wall, cpu = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(seed)
    base = ArrayBase.draw(rules, n, rng)
    built = time.perf_counter()
    churned = at_risk = 0
    for month in range(n_months):
        at_risk += int(base.active.sum())
        churned += base.month(rules, month, rng)
    done = time.perf_counter()
    return RunResult(n, n_months, built - wall, done - built, time.process_time() - cpu, churned, at_risk)
