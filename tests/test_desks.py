"""Hotline and store queues: capacity sets waiting, and waiting costs satisfaction (callers who never give up)."""

from tests.conftest import run_model, tiny_config


def _desks(minutes: float):
    def edit(data):
        for desk in ("hotline", "store"):
            data["service"][desk] = {"n_servers": 1, "dur_handle_minutes": minutes, "dur_patience_minutes": 1e7}

    return edit


def test_scarce_desks_make_subscribers_wait_and_cost_satisfaction():
    _, fast = run_model(tiny_config(n_subscribers=3000, n_months=6, edit=_desks(5)))
    _, slow = run_model(tiny_config(n_subscribers=3000, n_months=6, edit=_desks(1800)))
    fast_wait = fast.desks.groupby("desk")["mean_wait_min"].mean()
    slow_wait = slow.desks.groupby("desk")["mean_wait_min"].mean()
    assert (fast_wait < 5).all()
    assert (slow_wait > 10 * fast_wait + 30).all()
    assert slow.desks["backlog_at_close"].max() > 0
    # same random numbers, only the desks differ: waiting lowers satisfaction
    assert slow.kpis["satisfaction_mean"].mean() < fast.kpis["satisfaction_mean"].mean()
    assert (slow.desks["arrivals"] > 0).all()


def test_a_simulated_report_brings_its_shadows_to_the_desk():
    def scaled(data):
        data["run"]["scale"] = 4.0
        for segment in data["population"]["segments"].values():
            segment["size"] *= 4
            segment["rate_prospects_per_month"] *= 4

    _, results = run_model(tiny_config(n_subscribers=1000, n_months=6, edit=scaled))
    simulated = results.kpis[["hotline_contacts", "store_contacts"]].sum().sum() / 4
    real = results.desks["arrivals"].sum()
    assert 3.0 * simulated < real < 5.0 * simulated  # about 4 real reports per simulated one
