"""Per-programme evaluation against the eligible-but-uncovered control group."""

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
    assert row["satisfaction_uplift"] < -0.1
    assert row["churn_reduction"] < 0
    assert row["success"] is False or row["success"] == False  # noqa: E712
    assert not pd.isna(row["net_benefit"])


def test_overall_row_weights_segment_comparisons_not_pooled_groups(baseline_run):
    _, results = baseline_run
    table = results.programmes
    for name, rows in table.groupby("programme"):
        segments = rows[(rows.segment != "all") & (rows.treated > 0) & (rows.control > 0)]
        overall = rows[rows.segment == "all"].iloc[0]
        if segments.empty:
            assert np.isnan(overall["churn_reduction"])
            continue
        expected = np.average(segments["churn_reduction"], weights=segments["treated"])
        assert overall["churn_reduction"] == pytest.approx(expected), name
        assert overall["margin_gain"] == pytest.approx(segments["margin_gain"].sum()), name
        assert overall["net_benefit"] == pytest.approx(overall["margin_gain"] - overall["cost"]), name
