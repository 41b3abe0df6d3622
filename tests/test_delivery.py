"""Delivery rules: contract timing, eligibility of held-back deliveries, activation care for returners."""

import numpy as np

from tests.conftest import run_model, tiny_config


def test_a_twelve_month_contract_is_billed_for_twelve_months():
    def fixed_contracts(data):
        for segment in data["population"]["segments"].values():
            segment["contract_mix"] = {12: 1.0}
            segment["rate_churn_base"] = 0.0
        data["behaviour"]["churn"].update(p_renew=0.0, coef_renew_loyalty=0.0)

    _, results = run_model(tiny_config(n_subscribers=1500, n_months=20, edit=fixed_contracts))
    newcomers = results.subscribers[results.subscribers.joined_month >= 0]
    assert len(newcomers) > 100
    assert (newcomers["in_contract"] == (newcomers["tenure_months"] < 12)).all()


def test_held_back_deliveries_still_respect_eligibility():
    def scarce(data):
        data["catalogue"]["win_back_offer"]["capacity_per_month"] = 3
        data["catalogue"]["account_manager"]["capacity_per_month"] = 20
        data["policy"] = {"win_back_offer": 1.0, "account_manager": 1.0}
        for segment in data["population"]["segments"].values():
            segment["rate_churn_base"] *= 3

    model, results = run_model(tiny_config(n_subscribers=3000, n_months=18, edit=scarce))
    subs = results.subscribers
    winback = subs["received_win_back_offer"] > 0
    assert winback.sum() > 10 and (subs.loc[winback, "times_churned"] >= 1).all()
    assert (results.programme_costs.query("programme == 'win_back_offer'")["contacts"] <= 3).all()
    manager = subs["received_account_manager"] > 0
    assert subs.loc[manager, "segment"].isin(["high_contract", "high_flex"]).all()
    p = model.programmes.names.index("win_back_offer")
    # nobody who is back with the operator is still waiting for a win-back offer
    assert not (model.state.pending[p] & model.state.active).any()


def test_won_back_subscribers_get_activation_care():
    def returns(data):
        data["behaviour"]["win_back"]["rate_return"] = 0.3
        data["policy"] = {"welcome_onboarding": 1.0}

    _, results = run_model(tiny_config(n_subscribers=2000, n_months=12, edit=returns))
    subs = results.subscribers
    returned = (subs["times_won_back"] > 0) & (subs["joined_month"] < 0) & (subs["stage"] != "churned")
    assert returned.sum() > 20
    welcomed = subs.loc[returned, "received_welcome_onboarding"] > 0
    # those who came back in the last month meet their activation moment after the run ends
    assert welcomed.mean() > 0.85
    assert np.all(
        subs.loc[subs["joined_month"] < 0, "received_welcome_onboarding"]
        <= subs.loc[subs["joined_month"] < 0, "times_won_back"]
    )


def _everything(limit):
    def edit(data):
        data["policy"] = dict.fromkeys(data["catalogue"], 1.0)
        data["service"]["n_max_care_contacts_per_month"] = limit

    return edit


def test_contact_policy_caps_each_subscribers_care_contacts_in_a_month():
    free, free_results = run_model(tiny_config(n_subscribers=1500, n_months=8, edit=_everything(None)))
    assert free.records.care_peak.max() >= 2  # without the policy some subscribers get several contacts a month
    capped, results = run_model(tiny_config(n_subscribers=1500, n_months=8, edit=_everything(1)))
    assert capped.records.care_peak.max() == 1
    assert results.care_spend["withheld_by_contact_policy"].sum() > 0
    assert free_results.care_spend["withheld_by_contact_policy"].sum() == 0
    assert results.care_spend["contacts"].sum() < free_results.care_spend["contacts"].sum()


def test_contact_policy_of_zero_withholds_all_care():
    _, results = run_model(tiny_config(n_subscribers=800, n_months=4, edit=_everything(0)))
    assert results.care_spend["contacts"].sum() == 0
    assert results.care_spend["withheld_by_contact_policy"].sum() > 0
