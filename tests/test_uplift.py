"""Uplift models and targeting inside a segment.

Generated data with a known effect checks the learners and the Qini curve against theory; simulations check
that targeting by a learned uplift finds the subscribers care helps when that is not the riskiest, and the
targeting rules' mechanics (order, holdout as control) against hand calculations.
"""

from __future__ import annotations

import numpy as np
import pytest

from caresim.config.errors import ConfigError
from caresim.engine.policy import CarePolicy, in_target
from caresim.planning.uplift import FEATURES, fit_uplift, qini, training_data
from caresim.results.evaluation import evaluate_programmes
from caresim.simulation import build_model
from tests.conftest import HANG_GUARD_SECONDS, tiny_config


def _generated(n: int, heterogeneous: bool, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(FEATURES), n))
    x[-1] = rng.integers(0, 3, n)
    tau = np.where(x[0] > 0, 0.15, 0.0) if heterogeneous else np.full(n, 0.075)
    p_control = 1 / (1 + np.exp(-(0.8 + 0.5 * x[1])))
    treated = rng.random(n) < 0.5
    retained = rng.random(n) < np.clip(p_control + treated * tau, 0, 1)
    return x, tau, treated, retained


@pytest.mark.parametrize("learner", ["t", "x"])
def test_the_learner_recovers_a_known_heterogeneous_effect(learner):
    x, tau, treated, retained = _generated(20_000, heterogeneous=True)
    half = 10_000
    model = fit_uplift("care", x[:, :half], treated[:half], retained[:half], learner)
    predicted = model.predict_uplift(x[:, half:])
    assert np.corrcoef(predicted, tau[half:])[0, 1] > 0.5
    # the helped half is predicted higher, by about the true gap of 0.15 (within a third of it)
    gap = predicted[tau[half:] > 0].mean() - predicted[tau[half:] == 0].mean()
    assert 0.1 < gap < 0.2, gap
    curve = qini(predicted, treated[half:], retained[half:])
    assert curve.low > 0, curve  # Qini above random, with its 95% interval
    # theory: ordering perfectly by the true effect gives the largest coefficient; the model's is below it
    best = qini(tau[half:] + 1e-9 * np.arange(half), treated[half:], retained[half:], n_bootstrap=20)
    assert curve.coefficient <= best.coefficient + 0.002


def test_a_uniform_effect_gives_no_order_better_than_random():
    x, _, treated, retained = _generated(20_000, heterogeneous=False)
    model = fit_uplift("care", x[:, :10_000], treated[:10_000], retained[:10_000])
    curve = qini(model.predict_uplift(x[:, 10_000:]), treated[10_000:], retained[10_000:])
    assert curve.low < 0 < curve.high or abs(curve.coefficient) < 0.002, curve


def test_qini_curve_by_hand():
    # four subscribers in score order: treated retained, control lost, treated lost, control retained
    scores = np.array([4.0, 3.0, 2.0, 1.0])
    treated = np.array([True, False, True, False])
    retained = np.array([1, 0, 0, 1])
    curve = qini(scores, treated, retained, n_points=4, n_bootstrap=10)
    # gain(k) = R_t - R_c * N_t / N_c: k=1: 1 - 0 (no control yet); k=2: 1 - 0*1/1 = 1; k=3: 1 - 0*2/1 = 1;
    # k=4: 1 - 1*2/2 = 0. Random line: gain(4) * k/4 = 0. Coefficient: mean(1, 1, 1, 0) / 4 = 0.1875
    assert np.allclose(curve.curve, [1, 1, 1, 0])
    assert curve.coefficient == pytest.approx(0.1875)


def test_the_qini_curve_does_not_depend_on_the_order_of_rows_with_equal_scores():
    rng = np.random.default_rng(5)
    n = 4000
    scores = rng.integers(0, 3, n).astype(float)  # three blocks of ties, as a coarse model gives
    treated = rng.random(n) < 0.5
    retained = (rng.random(n) < 0.7 + 0.1 * treated * (scores == 2)).astype(float)
    curves = []
    for first in (treated, ~treated):  # rows sorted treated first, then control first
        order = np.argsort(~first, kind="stable")
        curves.append(qini(scores[order], treated[order], retained[order], n_bootstrap=50))
    assert curves[0].coefficient == pytest.approx(curves[1].coefficient, abs=1e-12)
    assert np.allclose(curves[0].curve, curves[1].curve)
    # theory: a constant score is no order at all, its curve is the random line (coefficient 0)
    flat = qini(np.zeros(n), treated, retained, n_bootstrap=20)
    assert flat.coefficient == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(flat.curve, flat.random_line)


def test_a_test_set_too_small_to_judge_the_model_is_refused(tmp_path):
    import caresim
    from caresim.planning.uplift_job import train_uplift

    _campaign_csv(tmp_path / "campaign.csv", n=600)
    config = caresim.load_config(
        None,
        ["mode=uplift", "run.progress=false", f"uplift.campaign={tmp_path / 'campaign.csv'}", *CAMPAIGN_KEYS,
         "uplift.share_test=0.02"],
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"uplift.share_test: the test set holds \d+ treated and \d+ control"):
        train_uplift(config)


def test_bad_features_and_tiny_groups_are_refused():
    x, _, treated, retained = _generated(200, heterogeneous=True)
    with pytest.raises(ValueError, match="expected 9 rows"):
        fit_uplift("care", x[:5], treated, retained)
    with pytest.raises(ValueError, match="too few treated"):
        fit_uplift("care", x, np.zeros(200, dtype=bool), retained)


# ------------------------------------------------------------------ targeting in the simulation
def _call(coef: dict, rel_churn_hazard: float):
    def edit(data: dict) -> None:
        data["catalogue"] = {
            "call": {
                "trigger": "schedule",
                "every_months": 3,
                "eligibility": {"stages": ["usage", "retention"]},
                "channel": "hotline",
                "cost_per_contact": 1.0,
                "dur_delivery_days": 0,
                "effects": {"rel_churn_hazard": rel_churn_hazard},
                "response": {"coef": coef},
            }
        }
        data["policy"] = {"call": 0.5}
        data["planner"]["programmes"] = None

    return edit


def _saved_by_each_rule(coef: dict, rel_churn_hazard: float) -> dict[str, int]:
    """Train on a randomised pilot; then, on a fresh seed, subscribers kept by each rule at the same share."""
    config = tiny_config(n_subscribers=40_000, n_months=12, edit=_call(coef, rel_churn_hazard))
    pilot = build_model(config).run()
    model = fit_uplift("call", *training_data(pilot, "call"))
    fresh = config.model_copy(update={"run": config.run.model_copy(update={"seed": config.run.seed + 7})})
    segments, programmes = tuple(fresh.population.segments), tuple(fresh.catalogue)
    lost_without = build_model(fresh, CarePolicy.none(segments, programmes)).run().subscribers.churned.sum()
    saved = {}
    for rule in ("random", "risk", "uplift"):
        share = 0.3 * (1 - fresh.evaluation.holdout_share) if rule == "random" else 0.3  # as many treated
        policy = CarePolicy.from_mapping(
            {"call": {"share": share, "target": rule}},
            segments,
            programmes,
            holdout=fresh.evaluation.holdout_share,
            scorers={"call": model},
        )
        saved[rule] = int(lost_without - build_model(fresh, policy).run().subscribers.churned.sum())
    return saved


@pytest.mark.slow
def test_uplift_targeting_beats_risk_and_random_when_response_is_not_risk():
    # subscribers who prefer digital channels do not respond: observable, and unrelated to churn risk
    saved = _saved_by_each_rule({"digital_channel": -5.0}, 0.3)
    # measured 1,853 / 1,239 / 907 kept (uplift, risk, random at equal spend); the noise of a difference on
    # common random numbers is ~50
    assert saved["uplift"] > 1.2 * saved["risk"], saved
    assert saved["uplift"] > 1.2 * saved["random"], saved
    assert saved["risk"] > saved["random"] > 0, saved  # a multiplicative effect saves more where risk is higher


def test_targeting_rules_tie_when_nobody_responds():
    saved = _saved_by_each_rule({}, 1.0)
    assert saved == {"random": 0, "risk": 0, "uplift": 0}


def test_risk_targeting_serves_the_riskiest_and_holds_out_a_random_control():
    config = tiny_config(n_subscribers=20_000, n_months=3, edit=_call({}, 0.5))
    segments, programmes = tuple(config.population.segments), tuple(config.catalogue)
    policy = CarePolicy.from_mapping({"call": {"share": 0.3, "target": "risk"}}, segments, programmes, holdout=0.2)
    record = build_model(config, policy).run()
    care, subs = record.care, record.subscribers
    assigned, control, eligible = care.assigned[0], care.control[0], care.eligible[0]
    for s in range(len(segments)):
        here = eligible & (subs.segment == s)
        targeted = here & (assigned | control)
        # hand calculation: the targeted are the top 30% by risk, of whom 20% are held out at random
        assert abs(targeted.sum() / here.sum() - 0.3) < 0.05
        assert abs(control[here].sum() / targeted.sum() - 0.2) < 0.05
        outside = here & ~targeted
        assert subs.risk_score[targeted].min() >= np.quantile(subs.risk_score[here], 0.6)
        assert subs.risk_score[outside].max() <= subs.risk_score[targeted].min() + 0.05
        # the holdout is random inside the target: its risk matches the assigned's
        assert abs(subs.risk_score[control & here].mean() - subs.risk_score[assigned & here].mean()) < 0.15


def test_the_targeted_are_the_first_share_of_each_segment_with_ties_in_random_order():
    segment = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
    score = np.array([5.0, 1.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0, 9.0])
    tie = np.array([0.1, 0.2, 0.9, 0.3, 0.8, 0.1, 0.5, 0.2, 0.7])
    # by hand, segment 0 at share 0.5: ceil(2) = 2 -> 5.0, then the tied 3.0 with the smaller tie (index 3)
    # segment 1 at share 0.4: ceil(2) = 2 -> 9.0, then of the four tied 2.0 the smallest tie (index 5)
    chosen = in_target(segment, score, tie, np.array([0.5, 0.4]))
    assert np.flatnonzero(chosen).tolist() == [0, 3, 5, 8]
    assert in_target(segment, score, tie, np.array([1.0, 1.0])).all()
    assert not in_target(segment, score, tie, np.array([0.0, 0.0])).any()
    assert in_target(np.zeros(0, dtype=int), np.zeros(0), np.zeros(0), np.array([0.5])).shape == (0,)


def test_a_constant_score_targets_a_random_share():
    rng = np.random.default_rng(4)
    n = 10_000
    segment = rng.integers(0, 2, n)
    chosen = in_target(segment, np.zeros(n), rng.random(n), np.array([0.3, 0.7]))
    for s, share in enumerate((0.3, 0.7)):
        here = segment == s
        assert chosen[here].sum() == np.ceil(share * here.sum())  # exactly, by construction
    # the chosen are a random subset: their index (unrelated to the ties) averages n/2 within 3 se
    index = np.arange(n)[chosen & (segment == 0)]
    assert abs(index.mean() - n / 2) < 3 * n / np.sqrt(12 * len(index))


def _targeted_share(record, p: int, segment: int | None = None, arrivals: bool | None = None) -> float:
    care, subs = record.care, record.subscribers
    here = care.eligible[p].copy()
    if segment is not None:
        here &= subs.segment == segment
    if arrivals is not None:
        here &= (subs.joined_month >= 0) == arrivals
    return float((here & (care.assigned[p] | care.control[p])).sum() / here.sum())


def test_a_targeted_share_is_a_share_of_the_eligible_for_arrivals_and_any_key_moment():
    config = tiny_config(n_subscribers=20_000, n_months=12)
    segments, programmes = tuple(config.population.segments), tuple(config.catalogue)
    mapping = {name: {"share": 0.3, "target": "risk"} for name in ("loyalty_reward", "retention_offer")}
    record = build_model(config, CarePolicy.from_mapping(mapping, segments, programmes)).run()
    loyalty, retention = programmes.index("loyalty_reward"), programmes.index("retention_offer")
    # everyone is eligible for loyalty_reward: at each schedule 30% of the eligible, arrivals included, are
    # targeted; one targeted at any schedule counts, and the order moves little between schedules (measured
    # 0.32). Arrivals join with tenure 0, riskier than the base, so more of them are in the target (0.52 vs 0.30)
    assert 0.29 < _targeted_share(record, loyalty) < 0.36
    assert _targeted_share(record, loyalty, arrivals=True) > _targeted_share(record, loyalty, arrivals=False) + 0.1
    # retention_offer is triggered by contract end: in every segment with in-contract subscribers the target
    # is 30% of those at the moment (before, ranking against the whole segment gave 0.00-0.31)
    for s in range(len(segments)):
        if record.care.eligible[retention][record.subscribers.segment == s].sum() >= 50:
            assert 0.27 < _targeted_share(record, retention, segment=s) < 0.4, segments[s]


def test_the_evaluation_of_a_targeted_programme_compares_with_its_holdout():
    config = tiny_config(n_subscribers=20_000, n_months=6)
    segments, programmes = tuple(config.population.segments), tuple(config.catalogue)
    policy = CarePolicy.from_mapping({"retention_offer": {"share": 0.3, "target": "risk"}}, segments, programmes)
    record = build_model(config, policy).run()
    table = evaluate_programmes(record).set_index(["programme", "segment"]).loc["retention_offer"]
    p = programmes.index("retention_offer")
    care = record.care
    assert table.loc["all", "control"] == care.control[p].sum()
    # the control group is the random tenth held out of the target, not the untargeted eligible
    targeted = table.loc["all", "control"] + table.loc["all", "assigned"]
    assert 0.07 < table.loc["all", "control"] / targeted < 0.13
    assert table.loc["all", "control"] < 0.2 * (table.loc["all", "eligible"] - table.loc["all", "assigned"])
    assert 0.25 < table.loc["all", "assigned_share"] < 0.35


def test_a_policy_asking_for_uplift_without_a_model_is_refused():
    config = tiny_config(n_subscribers=1000, n_months=1)
    segments, programmes = tuple(config.population.segments), tuple(config.catalogue)
    with pytest.raises(ConfigError, match="target 'uplift' needs a trained uplift model"):
        CarePolicy.from_mapping({"retention_offer": {"share": 0.3, "target": "uplift"}}, segments, programmes)
    with pytest.raises(ConfigError, match=r"policy.retention_offer.mid_flex.target: unknown targeting rule"):
        bad = {"retention_offer": {"mid_flex": {"share": 0.3, "target": "age"}}}
        CarePolicy.from_mapping(bad, segments, programmes)


# ------------------------------------------------------------------ an operator's own campaign
def _campaign_csv(path, n: int = 8000, seed: int = 3) -> None:
    """A randomised campaign in which the treatment keeps 15 points more of the out-of-contract customers only."""
    rng = np.random.default_rng(seed)
    out = rng.random(n) < 0.5
    tenure = rng.integers(0, 72, n)
    treated = rng.random(n) < 0.5
    p_churn = np.where(out, 0.3, 0.1) - treated * out * 0.15
    churned = rng.random(n) < p_churn
    segment = np.array(["mid_flex", "low_flex"])[rng.integers(0, 2, n)]
    rows = ["group,left,months,flexible,seg"] + [
        f"{'T' if t else 'C'},{'Y' if c else 'N'},{m},{int(o)},{s}"
        for t, c, m, o, s in zip(treated, churned, tenure, out, segment, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")


CAMPAIGN_KEYS = [
    "uplift.programme=retention_offer",
    "uplift.verify_shares=[]",
    "uplift.columns={treated: group, churned: left, segment: seg,"
    " attributes: {tenure: months, out_of_contract: flexible}}",
    "uplift.treated_labels={yes: [T], no: [C]}",
    "uplift.churned_labels={yes: [Y], no: [N]}",
]


def test_a_campaign_table_trains_a_model_that_finds_the_helped(tmp_path):
    import caresim
    from caresim.planning.uplift_job import train_uplift

    _campaign_csv(tmp_path / "campaign.csv")
    config = caresim.load_config(
        None, ["mode=uplift", "run.progress=false", f"uplift.campaign={tmp_path / 'campaign.csv'}", *CAMPAIGN_KEYS]
    )
    report = train_uplift(config)
    assert report.qini.low > 0, report.summary()
    deciles = report.deciles
    # theory: the top half by predicted uplift is the out-of-contract half (uplift 0.15), the rest 0
    assert deciles["observed_uplift"].head(4).mean() > 0.08
    assert abs(deciles["observed_uplift"].tail(4).mean()) < 0.05
    assert report.n_train + report.n_test == 8000


def _cli(tmp_path, *args: str):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "caresim", f"run.output_dir={tmp_path / 'out'}", "run.progress=false", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=HANG_GUARD_SECONDS)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("X,N,12,1,mid_flex", "column 'group', data row 2 (file line 3): 'X' is neither yes ['T'] nor no ['C']"),
        ("T,N,-4,1,mid_flex", "column 'months', data row 2 (file line 3): tenure '-4' is not months from 0 to 1200"),
        ("T,N,12,1,vip", "column 'seg', data row 2 (file line 3): unknown segment 'vip'"),
        ("T,N,12", "data row 2 (file line 3) has 3 fields, the header 5"),
    ],
)
def test_a_bad_campaign_table_is_refused_in_one_line_naming_column_and_row(tmp_path, row, expected):
    (tmp_path / "bad.csv").write_text("group,left,months,flexible,seg\nT,N,5,0,mid_flex\n" + row + "\n")
    done = _cli(tmp_path, "mode=uplift", f"uplift.campaign={tmp_path / 'bad.csv'}", *CAMPAIGN_KEYS)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_trained_model_is_used_by_a_policy_in_config(tmp_path):
    _campaign_csv(tmp_path / "campaign.csv", n=4000)
    campaign = f"uplift.campaign={tmp_path / 'campaign.csv'}"
    trained = _cli(tmp_path, "mode=uplift", campaign, *CAMPAIGN_KEYS, "uplift.programme=loyalty_reward")
    assert trained.returncode == 0, trained.stderr
    (folder,) = (tmp_path / "out" / "baseline").iterdir()
    # a model trained for one programme is refused for another, in one line
    wrong = _cli(
        tmp_path, "policy.tariff_advice={share: 0.5, target: uplift}", f"uplift.models={{tariff_advice: {folder}}}"
    )
    assert wrong.returncode == 2 and "was trained for 'loyalty_reward', not 'tariff_advice'" in wrong.stderr
    # a model no policy entry targets by uplift is not even read
    unused = _cli(tmp_path, "run.n_months=1", "run.scale=400", "uplift.models={tariff_advice: nowhere}")
    assert unused.returncode == 0, unused.stderr
    assert (folder / "model.joblib").is_file() and (folder / "qini.csv").is_file()
    run = _cli(
        tmp_path,
        "run.n_months=2",
        "run.scale=400",
        "policy.loyalty_reward={share: 0.5, target: uplift}",
        f"uplift.models={{loyalty_reward: {folder}}}",
    )
    assert run.returncode == 0, run.stderr
    missing = _cli(
        tmp_path, "policy.loyalty_reward={share: 0.5, target: uplift}", "uplift.models={loyalty_reward: nowhere}"
    )
    assert missing.returncode == 2 and "uplift.models.loyalty_reward: no such model file" in missing.stderr


@pytest.mark.slow
def test_the_uplift_job_compares_targeting_rules_by_simulation():
    from caresim import validate
    from caresim.planning.uplift_job import train_uplift

    config = tiny_config(n_subscribers=30_000, n_months=12, edit=_call({"digital_channel": -5.0}, 0.3))
    data = config.model_dump()
    data["mode"] = "uplift"
    data["uplift"] |= {"programme": "call", "verify_shares": [0.3], "verify_replications": 2}
    report = train_uplift(validate(data))
    assert report.qini.low > 0, report.summary()  # the digital half does not respond: learnable
    rules = report.targeting.set_index("target")
    assert list(rules.index) == ["random", "risk", "uplift"] and (rules["n_seeds"] == 2).all()
    assert rules.loc["uplift", "kept"] > 1.2 * rules.loc["random", "kept"]
    # equal shares give spends within 15% of each other (the targeted churn or stay at different rates)
    assert rules["spend"].max() < 1.15 * rules["spend"].min()
    assert "targeting by simulation" in report.summary()
