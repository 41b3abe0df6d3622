"""The planner's targeting inside a segment: which rule it takes from the pilot, how a plan becomes a policy
at equal spend, and, end to end, that it targets by uplift where care helps an observable few and the
rules tie where care helps nobody.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caresim.optimize import Option
from caresim.planning import plan
from caresim.planning.targeting import (
    choose_rules,
    plan_policy,
    policy_entry,
    rule_at,
    share_assigned,
    with_rule,
)
from tests.conftest import tiny_plan_config


def _gains(values: dict[str, list[float]], se: float = 1.0, level: float = 0.3) -> pd.DataFrame:
    rows = [
        {"segment": "s", "programme": "p", "level": level, "target": rule, "scenario": "x", "replication": k,
         "gain_value": v, "gain_value_se": se}
        for rule, samples in values.items()
        for k, v in enumerate(samples)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_a_rule_is_taken_only_where_its_gain_clears_zero_jointly():
    # by hand: 4 samples of mean 3 with se 2 each: se of the mean 2 * 2 / 4 = 1. One rule at one level:
    # z(0.95) = 1.96, 3 - 1.96 > 0, taken; two rules: z(0.975) = 2.24, still taken
    assert choose_rules(_gains({"uplift": [3.0] * 4}, se=2.0), "s", "p", [0.3]) == {0.3: "uplift"}
    # se 3 each: se of the mean 1.5; 3 - 1.96 * 1.5 = 0.06 > 0 alone; with two rules 3 - 2.24 * 1.5 < 0
    assert choose_rules(_gains({"uplift": [3.0] * 4}, se=3.0), "s", "p", [0.3]) == {0.3: "uplift"}
    two = _gains({"uplift": [3.0] * 4, "risk": [0.0] * 4}, se=3.0)
    assert choose_rules(two, "s", "p", [0.3]) == {0.3: "random"}
    # negative gains never; of two clearing 0, the larger
    assert choose_rules(_gains({"uplift": [-3.0] * 4}, se=0.1), "s", "p", [0.3]) == {0.3: "random"}
    both = _gains({"risk": [2.0] * 4, "uplift": [5.0] * 4}, se=0.1)
    assert choose_rules(both, "s", "p", [0.3]) == {0.3: "uplift"}
    assert choose_rules(pd.DataFrame(), "s", "p", [0.3, 0.6]) == {0.3: "random", 0.6: "random"}


def test_a_targeted_share_counts_its_holdout_so_every_rule_assigns_as_many():
    # by hand: assigning 45% of the eligible with a 10% holdout targets the first 50%
    assert policy_entry(0.45, "uplift", 0.1) == {"share": 0.5, "target": "uplift"}
    assert policy_entry(0.45, "random", 0.1) == 0.45
    assert policy_entry(0.95, "risk", 0.1) == {"share": 1.0, "target": "risk"}  # at most everyone
    assert share_assigned({"share": 0.5, "target": "risk"}, 0.1) == pytest.approx(0.45)
    assert share_assigned(0.45, 0.1) == 0.45
    policy = {"care": {"a": {"share": 0.5, "target": "uplift"}, "b": 0.3, "c": 0.0}}
    assert with_rule(policy, "random", 0.1) == {"care": {"a": pytest.approx(0.45), "b": 0.3}}
    assert with_rule(policy, "risk", 0.1)["care"]["b"] == {"share": pytest.approx(1 / 3), "target": "risk"}


def test_a_plans_share_takes_the_rule_of_the_curve_piece_it_lies_on():
    coverage, targets = (0.0, 0.3, 0.6, 0.9), ("random", "uplift", "risk", "random")
    assert rule_at(coverage, targets, 0.2) == "uplift"
    assert rule_at(coverage, targets, 0.3) == "uplift"
    assert rule_at(coverage, targets, 0.45) == "risk"
    assert rule_at(coverage, targets, 0.9) == "random"
    assert rule_at(coverage, (), 0.2) == "random"
    option = Option(segment="a", programme="care", eligible=100.0, cost_per_treated=1.0, coverage=coverage,
                    value=(0.0, 1.0, 1.5, 1.8), targets=targets)  # fmt: skip
    policy = plan_policy([option], {"care": {"a": 0.27}}, 0.1)
    assert policy == {"care": {"a": {"share": pytest.approx(0.3), "target": "uplift"}}}
    with pytest.raises(ValueError, match="one label per breakpoint"):
        Option(segment="a", programme="care", eligible=1.0, cost_per_treated=1.0, coverage=coverage,
               targets=("random",))  # fmt: skip


# ------------------------------------------------------------------ end to end
def _one_programme(coef: dict, rel_churn_hazard: float):
    """loyalty_reward only: care that (coef) reaches only subscribers who prefer assisted channels."""

    def edit(data: dict) -> None:
        reward = data["catalogue"]["loyalty_reward"]
        reward["effects"] = {"rel_churn_hazard": rel_churn_hazard}
        reward["response"] = {"kind": "loyalty", "sd_receptivity": 0.0, "coef": coef}
        data["planner"]["programmes"] = ["loyalty_reward"]

    return edit


def _plan(coef: dict, rel_churn_hazard: float):
    config = tiny_plan_config(n_subscribers=12_000, n_months=12, replications=3)
    data = config.model_dump()
    _one_programme(coef, rel_churn_hazard)(data)
    data["planner"]["budget"] = 2_000_000 * 12_000 / 400_000
    data["planner"]["frontier"]["n_points"] = 0
    from caresim import validate

    return plan(validate(data), progress=False)


@pytest.fixture(scope="module")
def concentrated():
    # care halves churn, but only for subscribers whose preferred channel is not digital: observable
    return _plan({"digital_channel": -6.0}, 0.5)


@pytest.mark.slow
def test_the_planner_targets_by_uplift_where_care_helps_an_observable_few(concentrated):
    report = concentrated
    qini = report.tables()["pilot_qini"]
    # the cross-fitted model finds the helped: its Qini interval is above 0 in most samples
    assert (qini["qini_low"] > 0).mean() >= 0.5, qini
    gains = report.pilot.targeted
    low = gains[(gains.level == gains.level.min()) & (gains.target == "uplift")]
    assert low["gain_retained"].mean() > 0, low
    table = report.plan_table()
    assert not table.empty and set(table["target"]) <= {"random", "risk", "uplift"}
    simulated = report.simulated.groupby("policy")[["net_value", "cost", "retained"]].mean()
    # equal spend: the plan under each rule alone assigns as many; costs within 10% of each other
    costs = simulated.loc[["plan_by_random", "plan_by_risk", "plan_by_uplift"], "cost"]
    assert costs.max() <= 1.1 * costs.min(), costs
    comparison = report.comparison.set_index("policy")
    # paired on the same seeds: uplift keeps more than random at the same spend (interval of the difference
    # plan - plan_by_random, and plan_by_uplift's own gap)
    assert simulated.loc["plan_by_uplift", "retained"] > simulated.loc["plan_by_random", "retained"]
    assert np.isfinite(comparison.loc["plan_by_uplift", "net_value_vs_plan"])


@pytest.mark.slow
def test_the_rules_tie_where_care_helps_nobody():
    report = _plan({}, 1.0)
    gains = report.pilot.targeted
    # no effect anywhere: no rule gains (means within noise of 0, none chosen)
    table = report.plan_table()
    assert table.empty or set(table["target"]) == {"random"}
    assert gains["gain_retained"].abs().mean() < 0.02


@pytest.mark.slow
def test_the_plan_report_shows_the_pilots_qini_curves_and_the_rules(concentrated, tmp_path):
    from caresim.report import plan_report

    folder = concentrated.write(tmp_path / "plan")
    curves = pd.read_csv(folder / "pilot_qini_curves.csv")
    # one curve per pilot sample, each from 0 to the whole pilot (fraction 1), on at most 50 points
    per_sample = curves.groupby(["programme", "replication"])["fraction"].agg(["min", "max", "size"])
    assert (per_sample["max"] == 1.0).all() and (per_sample["size"] <= 50).all()
    plan_table = pd.read_csv(folder / "plan.csv")
    assert {"target", "policy_share"} <= set(plan_table.columns)
    page = plan_report(folder).read_text()
    assert "Who care helps" in page and "Uplift models on the pilot" in page
    assert (folder / "figures" / "pilot_qini.png").is_file()
