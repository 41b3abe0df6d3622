"""``mode=uplift``: learn who a programme helps, from a simulated pilot or an operator's campaign table.

The customers are split at random into a training part and a test part (``uplift.share_test``). The model is
fitted on the first and judged on the second: its Qini curve against the random order and against ordering by
baseline churn risk where that is known (the simulated pilot), and the observed uplift per decile of the
predicted uplift. The run folder holds ``model.joblib``, which ``uplift.models`` can name so that a policy
targets by it (``{share: s, target: uplift}``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import yaml

from caresim.config.schema import CareConfig
from caresim.engine.policy import CarePolicy
from caresim.planning.campaign import read_campaign
from caresim.planning.uplift import Qini, UpliftModel, fit_uplift, qini, training_data
from caresim.results.costs import care_costs
from caresim.results.intervals import t_interval
from caresim.results.manifest import manifest
from caresim.results.run import write_folder
from caresim.simulation import run_record


@dataclass
class UpliftReport:
    """A trained uplift model and how well it orders customers it was not trained on."""

    config: CareConfig
    source: str
    model: UpliftModel
    n_train: int
    n_test: int
    qini: Qini
    risk_qini: Qini | None  # ordering by baseline churn risk, on the same test customers (simulated pilot only)
    deciles: pd.DataFrame
    targeting: pd.DataFrame  # the comparison of targeting rules by simulation (empty when not run)
    seconds: float

    def summary(self) -> str:
        q = self.qini
        lines = [
            f"uplift model for {self.model.programme} ({self.model.learner.upper()}-learner), trained on {self.source}",
            f"  {self.n_train:,} customers to train, {self.n_test:,} to test; took {self.seconds:.1f} s",
            f"  Qini coefficient on the test customers: {q.coefficient:+.4f} [{q.low:+.4f}, {q.high:+.4f}] "
            "(0 = no better than a random order)",
        ]
        if self.risk_qini is not None:
            r = self.risk_qini
            lines.append(
                f"  ordering by baseline churn risk instead: {r.coefficient:+.4f} [{r.low:+.4f}, {r.high:+.4f}]"
            )
        if not self.targeting.empty:
            lines.append(
                "  targeting by simulation on fresh seeds at equal spend (random covers share × (1 − holdout));"
                " mean of the seeds [95% interval]; kept and net value against no care on the same seeds:"
            )
            for row in self.targeting.itertuples():
                lines.append(
                    f"    share {row.share:.0%} by {row.target:<7} treated {row.treated:>9,.0f}"
                    f"  spend {row.spend:>12,.0f}  kept {row.kept:>8,.0f} "
                    f"[{row.kept_low:,.0f}, {row.kept_high:,.0f}]  net value {row.net_value:>13,.0f} "
                    f"[{row.net_value_low:,.0f}, {row.net_value_high:,.0f}]"
                )
        return "\n".join(lines)

    def write(self, folder: str | Path, overrides: list[str] | None = None) -> Path:
        """model.joblib, qini.csv, deciles.csv, summary.txt, config, manifest and (with run.report) qini.png."""
        curves = {"uplift model": self.qini}
        if self.risk_qini is not None:
            curves["baseline churn risk"] = self.risk_qini
        qini_table = pd.concat(
            [
                pd.DataFrame(
                    {"order": name, "fraction": q.fraction, "incremental_kept": q.curve, "random": q.random_line}
                )
                for name, q in curves.items()
            ],
            ignore_index=True,
        )
        files: dict[str, str | bytes] = {
            "model.joblib": _dumped(self.model),
            "summary.txt": self.summary() + "\n",
            "config.yaml": yaml.safe_dump(self.config.model_dump(mode="json"), sort_keys=False),
            "manifest.json": json.dumps(manifest(self.config, self.seconds, "uplift", overrides), indent=2),
        }
        if self.config.run.report:
            from caresim.report.figures import png_bytes, qini_curves  # matplotlib only when reporting

            figure = qini_curves(
                {name: (q.fraction, q.curve, q.random_line) for name, q in curves.items()},
                f"Qini: {self.model.programme}, test customers",
            )
            files["qini.png"] = png_bytes(figure)
        tables = {"qini": qini_table, "deciles": self.deciles}
        if not self.targeting.empty:
            tables["targeting"] = self.targeting
        return write_folder(folder, tables, files, self.config.run.formats)


def _dumped(model: UpliftModel) -> bytes:
    import io

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def train_uplift(config: CareConfig, progress: bool | None = None) -> UpliftReport:
    """Fit ``uplift.programme``'s uplift model and judge it on held-out customers."""
    started = time.perf_counter()
    settings = config.uplift
    programme = settings.programme
    risk = None
    if settings.campaign is not None:
        features, treated, retained = read_campaign(settings.campaign, config)
        source = f"the campaign table {settings.campaign}"
    else:
        policy = {programme: settings.pilot_share}
        record = run_record(config, policy, progress)
        features, treated, retained = training_data(record, programme)
        p = record.programmes.names.index(programme)
        risk = record.subscribers.risk_score[record.care.assigned[p] | record.care.control[p]]
        source = (
            f"a simulated pilot ({settings.pilot_share:.0%} of the eligible assigned at random, seed {config.run.seed},"
            f" {config.run.n_months} months)"
        )
    rng = np.random.default_rng(config.run.seed)
    test = rng.random(len(treated)) < settings.share_test
    model = fit_uplift(
        programme, features[:, ~test], treated[~test], retained[~test], settings.learner, config.run.seed
    )
    _enough_to_judge(treated[test], settings.share_test)
    predicted = model.predict_uplift(features[:, test])
    curve = qini(predicted, treated[test], retained[test], seed=config.run.seed)
    risk_curve = None if risk is None else qini(risk[test], treated[test], retained[test], seed=config.run.seed)
    targeting = compare_targeting(config, model, progress) if settings.verify_shares else pd.DataFrame()
    return UpliftReport(
        config=config,
        source=source,
        model=model,
        n_train=int((~test).sum()),
        n_test=int(test.sum()),
        qini=curve,
        risk_qini=risk_curve,
        deciles=uplift_by_decile(predicted, treated[test], retained[test], config.run.seed),
        targeting=targeting,
        seconds=time.perf_counter() - started,
    )


#: Fewest treated and control customers in the test set for its Qini curve to mean anything.
N_MIN_TEST_GROUP = 20


def _enough_to_judge(treated: np.ndarray, share_test: float) -> None:
    n_treated, n_control = int(treated.sum()), int((~treated).sum())
    if min(n_treated, n_control) < N_MIN_TEST_GROUP:
        raise ValueError(
            f"uplift.share_test: the test set holds {n_treated} treated and {n_control} control customers; at "
            f"least {N_MIN_TEST_GROUP} of each are needed to judge the model (raise share_test from {share_test} "
            "or give more customers)"
        )


def uplift_by_decile(predicted: np.ndarray, treated: np.ndarray, retained: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Per decile of predicted uplift (1 = highest): mean predicted, and observed retention treated − control.
    Equal predictions are split across deciles in a seeded random order, not in the order of the rows."""
    order = np.lexsort((np.random.default_rng(seed).random(len(predicted)), -predicted))
    rows = []
    for decile, part in enumerate(np.array_split(order, 10), start=1):
        t, y = treated[part], retained[part]
        observed = y[t].mean() - y[~t].mean() if t.any() and (~t).any() else np.nan
        rows.append(
            {
                "decile": decile,
                "customers": len(part),
                "predicted_uplift": float(predicted[part].mean()),
                "observed_uplift": float(observed),
                "treated": int(t.sum()),
                "control": int((~t).sum()),
            }
        )
    return pd.DataFrame(rows)


RULES = ("random", "risk", "uplift")


def compare_targeting(config: CareConfig, model: UpliftModel, progress: bool | None = None) -> pd.DataFrame:
    """Simulate the programme alone at each of ``uplift.verify_shares`` under random, risk and uplift targeting,
    and with no care, on fresh seeds (common random numbers within a seed): treated, spend, subscribers kept
    and net value (margin on revenue billed within the horizon, less spend) against no care, with t-intervals.
    Random coverage gets ``share · (1 − holdout)`` so that every rule treats as many (equal spend)."""
    settings = config.uplift
    programme = settings.programme
    segments, programmes = tuple(config.population.segments), tuple(config.catalogue)
    rows = []
    for k in range(settings.verify_replications):
        seed = config.run.seed + 10_000 + k  # apart from the pilot's seed and the planner's
        fresh = config.model_copy(update={"run": config.run.model_copy(update={"seed": seed})})
        none = run_record(fresh, CarePolicy.none(segments, programmes), progress)
        for share in settings.verify_shares:
            for rule in RULES:
                # a targeted rule holds out a control inside its target: random coverage treats as many
                given = share * (1 - config.evaluation.holdout_share) if rule == "random" else share
                policy = CarePolicy.from_mapping(
                    {programme: {"share": given, "target": rule}},
                    segments,
                    programmes,
                    holdout=config.evaluation.holdout_share,
                    scorers={programme: model},
                )
                record = run_record(fresh, policy, progress)
                spend = float(care_costs(record).total.sum())
                margin = record.segments.margin[record.subscribers.segment]
                gained = float((margin * (record.subscribers.revenue_total - none.subscribers.revenue_total)).sum())
                kept = float((none.subscribers.churned.sum() - record.subscribers.churned.sum()) * record.scale)
                p = programmes.index(programme)
                treated = float((record.care.assigned[p] & (record.care.received[p] > 0)).sum() * record.scale)
                rows.append(
                    {"seed": seed, "share": share, "target": rule, "treated": treated, "spend": spend,
                     "kept": kept, "net_value": gained * record.scale - spend}
                )  # fmt: skip
    runs = pd.DataFrame(rows)
    summary = []
    for (share, rule), group in runs.groupby(["share", "target"], sort=False):
        row = {
            "share": share,
            "target": rule,
            "n_seeds": len(group),
            "treated": group["treated"].mean(),
            "spend": group["spend"].mean(),
        }
        for measure in ("kept", "net_value"):
            mean, low, high = t_interval(group[measure], config.evaluation.confidence)
            row |= {measure: mean, f"{measure}_low": low, f"{measure}_high": high}
        summary.append(row)
    return pd.DataFrame(summary)
