"""Regional shards: regions share no ties, desks or capacity, so shards run apart equal the whole run."""

from __future__ import annotations

import pandas as pd
import pytest

import caresim
from caresim import ConfigError
from caresim.engine.records import MonthlyRecords, combine_records
from caresim.simulation import build_model
from tests.conftest import run_model, tiny_config
from tests.test_bad_input import _cli

REGIONS = {
    "north": {"share": 0.5, "n_servers": {"hotline": 1, "store": 1}},
    "south": {"share": 0.3},
    "east": {"share": 0.2},
}
CAPACITY = {"complaint_fast_track": 37.0, "retention_offer": 61.0}  # per month, whole base: binds at this size
SCALE = 1.7  # shadow reports at the desks, fractions carried in capacity allowances
TOLERANCE = {"rtol": 1e-9, "atol": 1e-6}  # sums in another order; counts are compared exactly below


def regional(only: list[str] | None = None, regions: dict | None = None) -> caresim.CareConfig:
    """A small base in three regions (or ``only`` some of them) where everything regions could share is used:
    programme capacities that bind and leave fractions, half coverage, desks with queues after an outage."""

    def edit(data: dict) -> None:
        data["population"]["regions"] = regions if regions is not None else REGIONS
        data["run"]["regions"] = only
        data["run"]["scale"] = SCALE
        for name, capacity in CAPACITY.items():
            data["catalogue"][name]["capacity_per_month"] = capacity
        data["policy"] = {name: 0.5 for name in data["catalogue"]}
        data["service"]["hotline"] = {"n_servers": 10, "dur_handle_minutes": 600}
        data["service"]["store"] = {"n_servers": 6, "dur_handle_minutes": 900}
        data["market"]["outages"] = [{"month": 2, "p_affected": 0.6}]

    return tiny_config(n_subscribers=10_000, n_months=10, edit=edit)


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
        pd.testing.assert_frame_equal(table, other, check_exact=False, obj=name, **TOLERANCE)
    # counts are equal exactly, not just closely
    counts = ["active", "churned", "complaints", "care_contacts", "won_back"]
    assert one.kpis[counts].equals(sharded.kpis[counts])
    assert one.subscribers.equals(sharded.subscribers)
    assert one.kpis["churned"].sum() > 0 and one.kpis["care_contacts"].sum() > 0
    assert one.kpis["max_wait_hotline_min"].max() == sharded.kpis["max_wait_hotline_min"].max() > 0
    # when each shard ran, for the benchmark's breakdown: one task per region, before the records were joined
    timings = sharded.extra["shard_timings"]
    assert [timing.region for timing in timings] == list(REGIONS)
    assert all(0 < timing.started <= timing.finished <= sharded.extra["joined_at"] for timing in timings)
    assert all(timing.cpu_seconds > 0 for timing in timings)


@pytest.mark.parametrize("region", list(REGIONS))
def test_a_region_alone_is_exactly_its_part_of_the_whole_run(whole, region):
    _, one = whole
    alone = caresim.simulate(regional(only=[region]))
    part = one.subscribers[one.subscribers["region"] == region].reset_index(drop=True)
    mine = alone.subscribers
    assert len(mine) > 100
    assert part.drop(columns="region").equals(mine.drop(columns="region"))
    assert (mine["region"] == region).all()
    assert alone.desks["mean_wait_min"].max() > 0.1  # the region's own desks had queues (measured 0.78 min)


def test_streams_of_a_base_without_regions_keep_their_names():
    model = build_model(tiny_config(n_subscribers=500, n_months=1))
    model.run()
    assert model.streams.names and not any("@" in name for name in model.streams.names)
    assert {"ties", "shadow_contacts", "population/low_flex"} <= set(model.streams.names)


def test_combined_records_add_counts_and_keep_maxima():
    parts = [MonthlyRecords(2, 3, 4) for _ in range(3)]
    for k, part in enumerate(parts):
        part.flow["churned"][1, 2] = k + 1
        part.wait_max[0, 1, 0] = [3.0, 7.0, 5.0][k]
        part.care_peak[1] = [2, 1, 4][k]
        part.desk_backlog[1, 0] = 10 * k
    whole = combine_records(parts)
    assert whole.flow["churned"][1, 2] == 6 and whole.desk_backlog[1, 0] == 30
    assert whole.wait_max[0, 1, 0] == 7.0 and whole.care_peak[1] == 4
    assert whole.n_segments == 3
    parts[0].ratio_note = "share"  # a record nobody said how to combine
    with pytest.raises(TypeError, match=r"records\.ratio_note: say in records\.py how parts"):
        combine_records(parts)


def test_ties_stay_inside_regions_and_each_region_has_its_desks(whole):
    model, results = whole
    region = model.state.region
    assert len(model.ties.source) > 1000
    assert (region[model.ties.source] == region[model.ties.target]).all()
    # north has 1 + 1 servers of its own; south and east split the base's 10 and 6 by largest remainder
    servers = results.desks.groupby("desk")["servers"].first()
    assert servers.to_dict() == {"hotline": 1 + 3 + 2, "store": 1 + 2 + 1}
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
            limit = capacity * spec["share"]  # real contacts a month; one simulated contact is SCALE real ones
            assert per_month[name].max() <= limit + SCALE + 1e-9  # whole contacts; the fraction carries over
            assert per_month[name].sum() <= limit * len(per_month) + 1e-9
            assert per_month[name].sum() >= 0.8 * limit * len(per_month)  # it binds: the limit is what holds it


def test_regions_are_validated():
    with pytest.raises(ConfigError, match=r"population.regions: .*add up to 1, they add up to 0.9"):
        regional(regions={"north": {"share": 0.5}, "south": {"share": 0.4}})
    with pytest.raises(ConfigError, match=r"run.regions: unknown region 'west'; known regions: \['east', 'north'"):
        regional(only=["west"])
    with pytest.raises(ConfigError, match=r"run.regions: name at least one region"):
        regional(only=[])
    with pytest.raises(ConfigError, match=r"run.regions: region 'west' named, but population.regions defines none"):
        caresim.load_config("baseline", ["run.regions=[west]"])
    with pytest.raises(ConfigError, match=r"population.regions.east.n_servers.store: the region's share of servi"):
        regional(regions={"north": {"share": 0.9}, "south": {"share": 0.08}, "east": {"share": 0.02}})
    with pytest.raises(ConfigError, match=r"n_servers.hotline: Input should be greater than or equal to 1"):
        regional(regions={"north": {"share": 1.0, "n_servers": {"hotline": 0}}})


def test_cli_refuses_a_region_without_desks_in_one_line(tmp_path):
    regions = "population.regions={a: {share: 0.25}, b: {share: 0.25}, c: {share: 0.25}, d: {share: 0.25}}"
    # 3 store servers, quotas of 0.75 each: the three largest remainders (ties: earlier regions) get one each
    done = _cli(tmp_path, regions, "run.n_shard_workers=2")
    assert done.returncode == 2 and "Traceback" not in done.stderr + done.stdout
    assert done.stderr.strip().splitlines() == [
        "caresim: population.regions.d.n_servers.store: the region's share of service.store.n_servers (3) comes "
        "to no server; give the region its own n_servers.store"
    ]
    assert list(tmp_path.iterdir()) == []


def test_joining_shards_refuses_a_missing_doubled_or_foreign_part():
    from caresim.engine.record import join
    from caresim.engine.shards import run_shard
    from caresim.simulation import resolve_policy

    config = regional()
    policy = resolve_policy(config, None)
    parts = {name: run_shard(config, policy, name) for name in ("north", "south", "east")}
    whole = join(config, list(parts.values()))
    assert whole.subscribers.n == sum(part.subscribers.n for part in parts.values())
    with pytest.raises(ValueError, match="do not make up"):
        join(config, [parts["north"], parts["south"]])
    with pytest.raises(ValueError, match="do not make up"):
        join(config, [parts["north"], parts["north"], parts["south"], parts["east"]])
    other = run_shard(config, policy.with_share("mid_flex", "loyalty_reward", 1.0), "east")
    with pytest.raises(ValueError, match="another scale, segments or policy"):
        join(config, [parts["north"], parts["south"], other])
