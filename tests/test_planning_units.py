"""The planner's pure pieces against hand-computed values: intervals, concave fits, shrinkage, CVaR, seeds,
scenario configs, and valuing a run against its no-care twin (degenerate cases give exact answers)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from caresim.config.loading import load_config, with_scenario
from caresim.optimize.evaluate import cvar
from caresim.planning.outcomes import Outcomes, policy_totals
from caresim.planning.responses import concave
from caresim.planning.seeds import derived_seed
from caresim.planning.shrinkage import random_effects, shrink_group
from caresim.planning.verify import Verifier
from caresim.results.intervals import t_interval as interval
from caresim.results.value import remaining_lifetime
from caresim.simulation import run_record
from tests.conftest import tiny_config, tiny_plan_config


def test_interval_is_the_t_interval_of_the_mean():
    mean, low, high = interval(pd.Series([1.0, 2.0, 6.0]))
    half = stats.t.ppf(0.975, 2) * np.std([1, 2, 6], ddof=1) / math.sqrt(3)
    assert mean == pytest.approx(3.0)
    assert (low, high) == pytest.approx((3.0 - half, 3.0 + half))
    assert all(math.isnan(x) for x in interval(pd.Series([4.0]))[1:])  # one replication: no interval


def test_concave_fit_keeps_concave_curves_and_pools_rising_slopes():
    coverage = np.array([0.0, 0.25, 0.5, 1.0])
    already = np.array([0.0, 10.0, 15.0, 20.0])  # slopes 40, 20, 10
    assert concave(coverage, already) == pytest.approx(already)
    bumpy = np.array([0.0, 5.0, 15.0, 20.0])  # slopes 20, 40, 10: the first two are pooled to 30
    assert concave(coverage, bumpy) == pytest.approx([0.0, 7.5, 15.0, 20.0])


def test_random_effects_without_spread_pools_to_the_weighted_mean():
    means, variances = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 4.0])
    mu, tau2 = random_effects(means, variances)
    w = 1 / variances
    assert mu == pytest.approx(np.sum(w * means) / w.sum())
    assert tau2 == 0.0  # Q = 1.33 < k - 1 = 2: the spread is what the noise alone explains


def test_random_effects_with_real_spread_matches_dersimonian_laird_by_hand():
    means, variances = np.array([0.0, 10.0, 20.0]), np.array([1.0, 1.0, 1.0])
    mu, tau2 = random_effects(means, variances)
    q = np.sum((means - 10.0) ** 2)  # 200, weights 1
    assert tau2 == pytest.approx((q - 2) / (3 - 3 / 3))  # (Q - (k-1)) / (Σw - Σw²/Σw) = 198 / 2
    assert mu == pytest.approx(10.0)


def test_shrinkage_pulls_noisy_segments_more_and_keeps_replication_spread():
    rows = []
    for segment, centre, noise in (("a", 10.0, 0.1), ("b", 0.0, 0.1), ("c", 30.0, 20.0)):
        for r, e in enumerate((-1.0, 0.0, 1.0)):
            rows.append({"segment": segment, "replication": r, "effect": centre + noise * e})
    table = pd.DataFrame(rows)
    shrunk = shrink_group(table, "effect")
    moved = (shrunk - table["effect"]).groupby(table["segment"]).mean()
    assert abs(moved["c"]) > 10 * max(abs(moved["a"]), abs(moved["b"]))  # the noisy estimate moves most
    spread = (shrunk - table["effect"]).groupby(table["segment"]).std()
    assert spread.max() == pytest.approx(0.0, abs=1e-12)  # every replication of a segment shifted alike


def test_cvar_is_the_mean_of_the_worst_share():
    values = np.array([5.0, 1.0, 3.0, 2.0])
    assert cvar(values, None, 0.25) == pytest.approx(1.0)
    assert cvar(values, None, 0.5) == pytest.approx(1.5)
    assert cvar(values, None, 0.375) == pytest.approx((1.0 + 0.5 * 2.0) / 1.5)
    assert cvar(values, None, 1.0) == pytest.approx(values.mean())


def test_pilot_and_verification_seeds_never_coincide():
    pilot = {derived_seed(7, "pilot", r, s) for r in range(50) for s in range(3)}
    verify = {derived_seed(7, "verify", r, s) for r in range(50) for s in range(3)}
    assert len(pilot) == 150 and len(verify) == 150 and not pilot & verify
    assert derived_seed(7, "pilot", 0) == derived_seed(7, "pilot", 0) != derived_seed(8, "pilot", 0)


def test_scenario_configs_keep_the_users_changes_over_each_scenario():
    mine = load_config("network_outage", ["market.competitor_pressure=0.5", "run.n_months=6"])
    war = with_scenario(mine, "price_war")
    assert war.scenario == "price_war" and war.run.n_months == 6
    assert war.market.competitor_pressure == 0.5  # the user's change is kept
    assert war.market.competitor_events == load_config("price_war").market.competitor_events
    assert war.market.outages == []  # no outage leaks from network_outage
    assert with_scenario(mine, "network_outage") == mine


def test_a_policy_that_gives_no_care_is_worth_exactly_nothing():
    config = tiny_config(n_subscribers=800, n_months=6)
    twin_record = run_record(config, {})
    lifetime = remaining_lifetime(twin_record, 24)
    twin = Outcomes.of(twin_record, lifetime)
    same = policy_totals(run_record(config, {}), twin, lifetime)
    assert same["value"] == 0 and same["retained"] == 0 and same["cost"] == 0 and same["net_value"] == 0
    covered = policy_totals(run_record(config, {"tariff_advice": 1.0}), twin, lifetime)
    assert covered["cost"] > 0 and covered["net_value"] == pytest.approx(covered["value"] - covered["cost"])


def test_remaining_lifetime_is_capped_without_churn_and_one_over_churn_otherwise():
    def no_churn(data):
        for segment in data["population"]["segments"].values():
            segment["rate_churn_base"] = 0.0

    calm = run_record(tiny_config(n_subscribers=600, n_months=12, edit=no_churn), {})
    assert remaining_lifetime(calm, 24) == pytest.approx(np.full(len(calm.segments.names), 24.0))
    model = run_record(tiny_config(n_subscribers=3000, n_months=12), {})
    churned = model.monthly.flow["churned"].sum(axis=0)
    exposed = model.monthly.stock["active_start"].sum(axis=0)
    expected = np.minimum(np.where(churned > 0, exposed / np.maximum(churned, 1), np.inf), 1e6)
    assert remaining_lifetime(model, 1e6) == pytest.approx(expected)


def test_verification_runs_every_scenario_on_shared_seeds():
    config = tiny_plan_config(n_subscribers=800, n_months=4, replications=2)
    configs = [config, with_scenario(config, "price_war")]
    totals = Verifier(configs).totals("no_care", {})
    assert sorted(set(totals["scenario"])) == ["baseline", "price_war"]
    assert len(totals) == 4 and (totals[["value", "retained", "cost"]] == 0).all(axis=None)


def test_loyal_subscribers_are_those_still_active_with_good_loyalty():
    model = run_record(tiny_config(n_subscribers=1500, n_months=8), {})
    outcomes = Outcomes.of(model, remaining_lifetime(model, 24))
    loyal = outcomes.columns()["loyal_active"]
    churned = outcomes.active_end == 0
    assert churned.any() and (loyal[churned] == 0).all()
    assert loyal.sum() == ((outcomes.active_end > 0) & (outcomes.loyalty_grade <= 1)).sum()


def test_contact_policy_of_the_planner_is_rounded_up_per_subscriber():
    from caresim.planning.plan import with_contact_policy

    half = with_contact_policy(tiny_plan_config(planner={"max_contacts_per_subscriber_month": 0.5}))
    assert half.service.n_max_care_contacts_per_month == 1  # a mean of 0.5 still lets a subscriber get one
    none = with_contact_policy(tiny_plan_config(planner={"max_contacts_per_subscriber_month": None}))
    assert none.service.n_max_care_contacts_per_month is None


def _verifier_with_runs(tables: list[pd.DataFrame], objective: str = "net_value") -> Verifier:
    """A verifier whose runs are the given programme tables (no simulation)."""
    config = tiny_plan_config(n_subscribers=800, n_months=4, replications=2, planner={"objective": objective})
    verifier = Verifier([config])
    verifier.runs = lambda coverage: [{"programmes": table} for table in tables]  # type: ignore[method-assign]
    return verifier


def _run_table(rows: list[tuple]) -> pd.DataFrame:
    columns = [
        "segment",
        "programme",
        "evaluable",
        "assigned",
        "control",
        "grade_shift",
        "grade_shift_se",
        "churn_reduction_by_end",
        "churn_reduction_by_end_se",
        "net_benefit",
        "net_benefit_se",
        "fixed_cost",
    ]
    return pd.DataFrame(rows, columns=columns)


def test_option_verdicts_pool_runs_and_drop_only_harm_no_effect_or_lost_money():
    # per run: (segment, programme, evaluable, assigned, control, shift, se, churn gap, se, net, se, fixed)
    run_a = _run_table(
        [
            ("s1", "good", True, 100, 100, 0.30, 0.05, 0.02, 0.01, 900.0, 100.0, 0.0),
            ("s1", "inert", True, 100, 100, 0.01, 0.05, 0.00, 0.01, -50.0, 100.0, 0.0),
            ("s1", "bad", True, 100, 100, -0.40, 0.05, -0.03, 0.01, -900.0, 100.0, 0.0),
            ("s1", "costly", True, 100, 100, 0.30, 0.05, 0.02, 0.01, -900.0, 100.0, 0.0),
            ("s1", "shared", True, 100, 100, 0.30, 0.05, 0.02, 0.01, -500.0, 100.0, 800.0),
            ("s1", "everyone", False, 100, 0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 0.0),
        ]
    )
    run_b = run_a.copy()
    run_b.loc[run_b.programme == "good", "grade_shift"] = 0.20  # pooled: the mean, 0.25
    verifier = _verifier_with_runs([run_a, run_b])
    coverage = {p: {"s1": 0.5} for p in run_a.programme}
    verdicts = verifier.option_verdicts(coverage).set_index("programme")
    assert verdicts.loc["good", "grade_shift"] == pytest.approx(0.25)
    assert verdicts.loc["good", "grade_shift_se"] == pytest.approx(np.sqrt(2 * 0.05**2) / 2)  # mean of two
    assert verdicts.loc["good", "verdict"] == "works and pays"
    assert verdicts.loc["inert", "verdict"] == "no measurable effect"
    assert verdicts.loc["bad", "verdict"] == "harms"
    assert verdicts.loc["everyone", "verdict"] == "not evaluable (no control group)"
    dropped = verifier.options_to_drop(coverage).set_index("programme")["reason"].to_dict()
    # "shared" loses 500 only because of its 800 share of a fixed cost that dropping it would not save
    assert dropped == {"inert": "no measurable effect", "bad": "harms", "costly": "loses money"}
    # under another objective, money is not a reason to drop
    other = _verifier_with_runs([run_a, run_b], objective="retained")
    assert set(other.options_to_drop(coverage)["programme"]) == {"inert", "bad"}
    # an option without a control group in one run is pooled over the runs that had one
    run_c = run_a.copy()
    run_c.loc[run_c.programme == "bad", ["evaluable", "control"]] = [False, 0]
    pooled = _verifier_with_runs([run_a, run_c]).option_verdicts(coverage).set_index("programme")
    assert pooled.loc["bad", "runs_evaluated"] == 1 and pooled.loc["bad", "verdict"] == "harms"
