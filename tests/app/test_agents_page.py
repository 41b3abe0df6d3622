"""The Agents page's sample, network and KPI figures on a small model, and its store of live models (no browser)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caresim.app import agent_figures as figures
from caresim.app.pages.agents import LiveModels, build_live, check_sample_size
from caresim.config.loading import load_config
from caresim.lifecycle import GRADES
from caresim.results.tables import kpi_table
from caresim.simulation import build_model

SIZE = 120
SEED = 77


@pytest.fixture(scope="module")
def config():
    return load_config("baseline", ["run.scale=200", "run.n_months=3", f"run.seed={SEED}", "run.progress=false"])


@pytest.fixture(scope="module")
def stepped(config):
    """A model two months in and its sample (drawn at month 0, as the page does)."""
    model = build_model(config)
    sample = figures.draw_sample(model, SIZE, config.run.seed)
    model.advance(2)
    return model, sample


def node_traces(figure):
    return [trace for trace in figure.data if trace.mode == "markers"]


def test_the_sample_has_the_size_asked_for_and_active_subscribers_only(config):
    model = build_model(config)
    sample = figures.draw_sample(model, SIZE, config.run.seed)
    assert sample.size == SIZE == len(np.unique(sample.slots))
    assert sample.positions.shape == (SIZE, 2) and np.isfinite(sample.positions).all()
    assert all(model.subscribers[slot].stage == "usage" for slot in sample.slots.tolist())
    everyone = figures.sample_subscribers(model, 10 * model.state.n, config.run.seed)  # more than there are: all
    np.testing.assert_array_equal(everyone, np.flatnonzero(model.state.active))


def test_drawn_edges_are_exactly_the_ties_among_the_sample(stepped):
    model, sample = stepped
    chosen = set(sample.slots.tolist())
    assert len(sample.edges) >= SIZE - 1  # BFS clusters: the sample is connected-ish, its ties are visible
    for a, b in sample.edges.tolist():
        assert a < b and a in chosen and b in chosen
        assert b in {agent.slot for agent in model.subscribers[a].ties()}
    induced = model.network.G.subgraph(sample.slots.tolist())  # Mesa's NetworkGrid of the same ties
    assert {tuple(sorted(edge)) for edge in induced.edges} == {tuple(edge) for edge in sample.edges.tolist()}


def test_the_network_figure_draws_every_sampled_subscriber_once_coloured_by_stage(stepped):
    model, sample = stepped
    figure = figures.network_figure(sample, figures.node_table(model, sample.slots), "stage")
    traces = node_traces(figure)
    drawn = np.concatenate([np.asarray(trace.customdata) for trace in traces])
    assert len(drawn) == SIZE and set(drawn.tolist()) == set(sample.slots.tolist())
    for trace in traces:
        assert trace.marker.color == figures.STAGE_COLOURS[trace.meta]
        assert {model.subscribers[int(slot)].stage for slot in trace.customdata} == {trace.meta}
        row = np.searchsorted(sample.slots, np.asarray(trace.customdata))
        np.testing.assert_array_equal(np.column_stack([trace.x, trace.y]), sample.positions[row])
    edges = figure.data[0]
    assert edges.mode == "lines" and len(edges.x) == 3 * len(sample.edges)
    first = np.searchsorted(sample.slots, sample.edges[0])
    np.testing.assert_array_equal(edges.x[:2], sample.positions[first, 0])


def test_colouring_by_grade_follows_each_subscribers_satisfaction_grade(config):
    model = build_model(config)
    sample = figures.draw_sample(model, SIZE, config.run.seed)
    model.advance(3)
    figure = figures.network_figure(sample, figures.node_table(model, sample.slots), "grade")
    names = {trace.meta for trace in node_traces(figure)}
    assert names <= {*GRADES, "churned"} and len(names) >= 2
    for trace in node_traces(figure):
        for slot in trace.customdata:
            agent = model.subscribers[int(slot)]
            assert trace.meta == ("churned" if agent.stage == "churned" else agent.satisfaction_grade)
        assert trace.marker.symbol == ("x" if trace.meta == "churned" else "circle")
    with pytest.raises(ValueError, match="colour_by"):
        figures.colour_labels(figures.node_table(model, sample.slots), "segment")


def test_churned_subscribers_are_drawn_as_crosses():
    nodes = pd.DataFrame(
        {"slot": [1, 2], "segment": ["a", "a"], "stage": ["usage", "churned"], "satisfaction": [0.9, 0.2]}
    ).assign(grade=["excellent", "poor"])
    sample = figures.AgentSample(np.array([1, 2]), np.array([[1, 2]]), np.array([[0.0, 0.0], [1.0, 1.0]]))
    for colour_by in figures.COLOUR_BY:
        traces = {trace.meta: trace for trace in node_traces(figures.network_figure(sample, nodes, colour_by))}
        assert traces["churned"].marker.symbol == "x" and list(traces["churned"].customdata) == [2]
        assert traces["churned"].marker.color == figures.STAGE_COLOURS["churned"]


def test_the_same_seed_draws_the_same_sample_and_layout_another_seed_another(config):
    one = figures.draw_sample(build_model(config), SIZE, SEED)
    again = figures.draw_sample(build_model(config), SIZE, SEED)
    other = figures.draw_sample(build_model(config), SIZE, SEED + 1)
    np.testing.assert_array_equal(one.slots, again.slots)
    np.testing.assert_array_equal(one.edges, again.edges)
    np.testing.assert_array_equal(one.positions, again.positions)
    assert not np.array_equal(one.slots, other.slots)


def test_sampling_leaves_the_run_unchanged(config):
    """The sample's generator is its own: drawing one does not move the model's streams."""
    plain = build_model(config).run()
    model = build_model(config)
    figures.draw_sample(model, SIZE, SEED)
    np.testing.assert_array_equal(model.run().monthly.flow["churned"], plain.monthly.flow["churned"])


def test_the_kpi_summary_covers_the_closed_months_only(config):
    model = build_model(config)
    assert figures.kpi_summary(model.record(), 0).empty
    model.advance(2)
    summary = figures.kpi_summary(model.record(), model.steps)
    assert summary["month"].tolist() == [1, 2]
    table = kpi_table(model.record())
    for month in (0, 1):
        rows = table[table["month"] == month]
        assert summary.loc[month, "active"] == rows["active"].sum()
        assert summary.loc[month, "churned"] == rows["churned"].sum()
    shares = summary[[f"satisfaction_{grade}" for grade in GRADES]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0)
    figure = figures.kpi_figure(summary, model.config.run.n_months)
    assert list(figure.data[0].y) == summary["churned"].tolist()
    assert [trace.name for trace in figure.data[1:]] == list(GRADES)
    lines = dict(figures.latest_kpis(summary, model.scale))
    assert lines["month"] == "2" and lines["active"] == f"{summary.loc[1, 'active']:,.0f}"


def test_live_models_keep_a_few_per_session_oldest_dropped_first(config):
    live = build_live(config, 60)
    assert live.sample.size == 60
    models = LiveModels(per_session=2, sessions=2)
    first, second, third = (models.add("s1", live) for _ in range(3))
    assert models.get("s1", first) is None and models.get("s1", third) is live and models.count("s1") == 2
    assert models.get("s2", third) is None and models.get("s1", None) is None
    models.add("s2", live)
    models.get("s1", second)  # s1 used last: s2 is the least recently used session
    models.add("s3", live)
    assert models.count("s2") == 0 and models.count("s1") == 2 and models.count("s3") == 1


@pytest.mark.parametrize("value", [49, 1001, 12.5, None, "300", True])
def test_a_bad_sample_size_gets_one_line(value):
    message = check_sample_size(value)
    assert message is not None and message.startswith("sample size: a whole number from 50 to 1000")


def test_a_good_sample_size_passes():
    assert check_sample_size(300) is None and check_sample_size(50.0) is None and check_sample_size(1000) is None


def test_a_model_too_large_to_keep_in_memory_is_refused_by_its_scale() -> None:
    """The default base has 400,000 real subscribers: at most 100,000 simulated ones means scale 4 or more."""
    import caresim
    from caresim.app.pages.agents import check_model_size

    message = check_model_size(caresim.load_config("baseline", ["run.scale=1"]))
    assert message is not None and message.startswith("run.scale: ") and "at least 4 " in message
    assert check_model_size(caresim.load_config("baseline", ["run.scale=4"])) is None
