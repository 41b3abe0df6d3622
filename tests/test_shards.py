"""Regional shards: regions share no ties, desks or capacity, so shards run apart equal the whole run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import caresim
from caresim import ConfigError
from caresim.simulate import build_model
from tests.conftest import run_model, tiny_config

REGIONS = {
    "north": {"share": 0.5, "n_servers": {"hotline": 1, "store": 1}},
    "south": {"share": 0.3},
    "east": {"share": 0.2},
}
CAPACITY = {"complaint_fast_track": 40.0, "retention_offer": 60.0}  # per month, whole base: binds at this size


def regional(only: list[str] | None = None, regions: dict | None = None) -> caresim.CareConfig:
    """A small base in three regions (or ``only`` some of them), with programme capacities that bind."""

    def edit(data: dict) -> None:
        data["population"]["regions"] = regions if regions is not None else REGIONS
        data["run"]["regions"] = only
        for name, capacity in CAPACITY.items():
            data["catalogue"][name]["capacity_per_month"] = capacity
        data["policy"] = {name: 1.0 for name in data["catalogue"]}

    return tiny_config(n_subscribers=6000, n_months=10, edit=edit)


@pytest.fixture(scope="module")
def whole():
    """The whole base simulated at once (one model, one clock)."""
    return run_model(regional())


def test_parallel_shards_equal_the_whole_run(whole):
    _, one = whole
    config = regional()
    sharded = caresim.simulate(config.model_copy(update={"run": config.run.model_copy(update={"n_shard_workers": 2})}))
    for name, table in one.tables().items():
        other = sharded.tables()[name]
        pd.testing.assert_frame_equal(table, other, check_exact=False, rtol=1e-12, atol=1e-12, obj=name)
    # counts are equal exactly, not just closely
    counts = ["active", "churned", "complaints", "care_contacts", "won_back"]
    assert one.kpis[counts].equals(sharded.kpis[counts])
    assert one.subscribers.equals(sharded.subscribers)
    assert one.kpis["churned"].sum() > 0 and one.kpis["care_contacts"].sum() > 0


@pytest.mark.parametrize("region", list(REGIONS))
def test_a_region_alone_is_exactly_its_part_of_the_whole_run(whole, region):
    _, one = whole
    alone = caresim.simulate(regional(only=[region]))
    part = one.subscribers[one.subscribers["region"] == region].reset_index(drop=True)
    mine = alone.subscribers
    assert len(mine) > 100
    assert part.drop(columns="region").equals(mine.drop(columns="region"))
    assert (mine["region"] == region).all()


def test_ties_stay_inside_regions_and_each_region_has_its_desks(whole):
    model, results = whole
    region = model.state.region
    assert len(model.ties.source) > 1000
    assert (region[model.ties.source] == region[model.ties.target]).all()
    # north has 1 + 1 servers; south and east get share × 2, rounded, at least 1
    servers = results.desks.groupby("desk")["servers"].first()
    assert servers.to_dict() == {"hotline": 1 + 1 + 1, "store": 1 + 1 + 1}
    assert [len(desks) for desks in model.desks] == [2, 2, 2]


def test_each_region_gets_its_share_of_the_base_and_of_capacity():
    config = regional()
    model = build_model(config)
    segments = config.population.segments.values()
    for code, spec in enumerate(REGIONS.values()):
        expected = sum(round(s.size * spec["share"] / config.run.scale) for s in segments)
        assert int((model.state.region == code).sum()) == expected
    for region, spec in REGIONS.items():
        alone = caresim.simulate(regional(only=[region]))
        per_month = alone.programme_costs.pivot(index="month", columns="programme", values="contacts")
        for name, capacity in CAPACITY.items():
            limit = capacity * spec["share"]
            assert per_month[name].max() <= np.ceil(limit) + 1e-9  # whole contacts; the fraction carries over
            assert per_month[name].sum() <= limit * len(per_month) + 1e-9
            assert per_month[name].sum() >= 0.8 * limit * len(per_month)  # it binds: the limit is what holds it


def test_regions_are_validated():
    with pytest.raises(ConfigError, match=r"population.regions: .*add up to 1, they add up to 0.9"):
        regional(regions={"north": {"share": 0.5}, "south": {"share": 0.4}})
    with pytest.raises(ConfigError, match=r"run.regions: unknown region 'west'; known regions: \['east', 'north'"):
        regional(only=["west"])
    with pytest.raises(ConfigError, match=r"run.regions: name at least one region"):
        regional(only=[])
    with pytest.raises(ConfigError, match=r"n_servers.hotline: Input should be greater than or equal to 1"):
        regional(regions={"north": {"share": 1.0, "n_servers": {"hotline": 0}}})
