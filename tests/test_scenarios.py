"""Every scenario file loads and runs at tiny size, and scenario effects show."""

import pytest

import caresim
from caresim.simulation import simulate
from tests.conftest import tiny_config


@pytest.mark.parametrize("scenario", caresim.available_scenarios())
def test_every_scenario_runs_tiny(scenario):
    config = tiny_config(scenario, n_subscribers=400, n_months=8)
    results = simulate(config)
    assert config.scenario == scenario and config.description
    assert results.kpis["active"].iloc[-6:].sum() > 0


def test_outage_scenario_hits_subscribers_and_desks():
    base = simulate(tiny_config("baseline", n_subscribers=1500, n_months=8))
    outage = simulate(tiny_config("network_outage", n_subscribers=1500, n_months=8))
    hits = outage.kpis.groupby("month")["outage_hits"].sum()
    assert hits.loc[6] > 0.3 * outage.kpis.query("month == 6")["active_start"].sum()
    assert hits.drop(6).sum() == 0 and base.kpis["outage_hits"].sum() == 0
    assert outage.kpis.query("month == 6")["complaints"].sum() > 2 * base.kpis.query("month == 6")["complaints"].sum()
    assert outage.care_spend.query("programme == 'service_recovery'")["contacts"].sum() > 0
    desks = outage.desks.set_index(["desk", "month"])
    assert len(desks) == 2 * 8 and (desks["servers"] > 0).all()
    assert desks.loc["hotline", "arrivals"][6] > 2 * desks.loc["hotline", "arrivals"][5]
    arrivals = outage.kpis.groupby("month")[["hotline_contacts", "store_contacts"]].sum()
    assert arrivals.loc[6].sum() <= desks.xs(6, level="month")["arrivals"].sum()


def test_scale_multiplies_counts_and_money():
    one = tiny_config(n_subscribers=600, n_months=3)
    data = one.model_dump()
    data["run"]["scale"] = 3.0
    for segment in data["population"]["segments"].values():
        segment["size"] *= 3
        segment["rate_prospects_per_month"] *= 3
    tripled = caresim.validate(data)
    a, b = simulate(one), simulate(tripled)
    assert b.kpis["active_start"].iloc[:6].sum() == pytest.approx(3 * a.kpis["active_start"].iloc[:6].sum())
    assert b.kpis.query("month == 0")["revenue"].sum() == pytest.approx(
        3 * a.kpis.query("month == 0")["revenue"].sum(), rel=0.1
    )


def test_handset_launch_pulls_high_value_subscribers():
    base = simulate(tiny_config("baseline", n_subscribers=4000, n_months=9))
    launch = simulate(tiny_config("handset_launch", n_subscribers=4000, n_months=9))

    def churned(results, segments, months):
        kpis = results.kpis[results.kpis.segment.isin(segments) & results.kpis.month.isin(months)]
        return kpis["churned"].sum()

    high, low = ["high_contract", "high_flex"], ["low_contract", "low_flex"]
    during = range(3, 9)
    assert churned(launch, high, during) > 1.3 * churned(base, high, during)  # common random numbers: same people
    assert churned(launch, high, range(3)) == churned(base, high, range(3))  # nothing before the launch
    assert churned(launch, low, during) == pytest.approx(churned(base, low, during), rel=0.15)


def test_budget_cut_scenario_cuts_the_planners_budget_and_todays_coverage_by_30_percent():
    base, cut = caresim.load_config("baseline"), caresim.load_config("budget_cut")
    assert cut.planner.budget == pytest.approx(0.7 * base.planner.budget)
    segments, programmes = tuple(base.population.segments), tuple(base.catalogue)
    before = caresim.CarePolicy.from_mapping(base.policy, segments, programmes).shares
    after = caresim.CarePolicy.from_mapping(cut.policy, segments, programmes).shares
    assert after == pytest.approx(0.7 * before)
