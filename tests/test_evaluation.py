"""Per-programme evaluation: assigned (covered) vs control (uncovered) eligible subscribers."""

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_model, tiny_config


def test_evaluation_rows_and_rules(baseline_run):
    model, results = baseline_run
    table = results.programmes
    assert set(table.programme) == set(model.programmes.names)
    assert set(table.segment) == {*model.segments.names, "all"}
    delivered = table[table.treated > 0]
    assert delivered["reach"].between(0, 1).all()
    assert delivered["timeliness"].between(0, 1).all()
    good = delivered["grade"].isin(["excellent", "good"])
    assert (delivered["success"] == good).all()
    assert set(delivered["verdict"]) <= {"succeeded", "failed: adjust or replace"}
    overall = table[table.segment == "all"].set_index("programme")
    costs = results.programme_costs.groupby("programme")["total_spend"].sum()
    assert np.allclose(overall.loc[costs.index, "cost"], costs)


def test_a_harmful_programme_is_reported_as_harmful():
    def harmful(data):
        data["catalogue"]["loyalty_reward"]["effects"] = {"d_satisfaction": -0.3, "rel_churn_hazard": 2.0}
        data["catalogue"]["loyalty_reward"]["every_months"] = 1
        data["policy"] = {"loyalty_reward": 0.5}

    _, results = run_model(tiny_config(n_subscribers=3000, n_months=12, edit=harmful))
    row = results.programmes.query("programme == 'loyalty_reward' and segment == 'all'").iloc[0]
    assert row["satisfaction_uplift"] < -0.05
    assert row["churn_reduction"] < 0
    assert row["success"] is False or row["success"] == False  # noqa: E712
    assert not pd.isna(row["net_benefit"])


def test_overall_row_weights_segment_comparisons_not_pooled_groups(baseline_run):
    _, results = baseline_run
    for name, rows in results.programmes.groupby("programme"):
        segments = rows[(rows.segment != "all") & (rows.segments_compared != "")]
        overall = rows[rows.segment == "all"].iloc[0]
        assert overall["segments_compared"] == ",".join(segments["segment"]), name
        if segments.empty:
            assert np.isnan(overall["churn_reduction"])
            continue
        expected = np.average(segments["churn_reduction"], weights=segments["assigned"])
        assert overall["churn_reduction"] == pytest.approx(expected), name
        assert overall["margin_gain"] == pytest.approx(segments["margin_gain"].sum()), name
        assert overall["net_benefit"] == pytest.approx(segments["net_benefit"].sum()), name


def test_a_programme_with_no_effect_shows_no_effect_even_when_capacity_binds():
    """Intention to treat: waiting for a scarce programme must not make it look good (survivorship)."""

    def inert(data):
        offer = data["catalogue"]["retention_offer"]
        offer["effects"] = {}
        offer["capacity_per_month"] = 15
        data["policy"] = {"retention_offer": 0.5}
        data["population"]["ties"].update(mean_degree=0, n_ties_new_subscriber=0)

    _, results = run_model(tiny_config(n_subscribers=6000, n_months=24, edit=inert))
    row = results.programmes.query("programme == 'retention_offer' and segment == 'all'").iloc[0]
    assert row["delivered_share"] < 0.9  # capacity did bind
    assigned, control = row["assigned"], row["control"]
    p = (row["churned_share_assigned"] * assigned + row["churned_share_control"] * control) / (assigned + control)
    sigma = np.sqrt(p * (1 - p) * (1 / assigned + 1 / control))
    assert abs(row["churn_reduction"]) < 4 * sigma
