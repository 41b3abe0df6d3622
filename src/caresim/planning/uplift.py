"""Uplift models: who a programme helps, learned from a randomised pilot (or a campaign's own data).

A T-learner or an X-learner (Künzel et al. 2019, PNAS 116(10)) built from scikit-learn's histogram
gradient boosting. The outcome is *retention* (not churned by the end of the window), so the uplift of a
subscriber is the retention the care adds: P(retained | care) − P(retained | no care). Features are what an
operator could observe when the subscriber joined (``caresim.config.response.ATTRIBUTES``) and the segment;
never the latent receptivity the simulator draws. The Qini curve (Radcliffe 2007) measures how well the
model's order finds those helped.

Why scikit-learn (docs/planner.md): it is already the most widely kept ML library in the stack's reach; the
meta-learners need only a classifier and a regressor, a few lines each; causalml would bring a far heavier
install for the same learners, and scikit-uplift has had no release since 2022.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import ThreadpoolController

from caresim.config.response import ATTRIBUTES

#: Feature rows an uplift model reads: the attributes at joining, then the segment code (categorical).
FEATURES: tuple[str, ...] = (*ATTRIBUTES, "segment")
Learner = Literal["t", "x"]


@dataclass
class UpliftModel:
    """A fitted uplift model for one programme (``predict_uplift`` makes it a ``CarePolicy`` scorer)."""

    programme: str
    learner: Learner
    treated: HistGradientBoostingClassifier  # P(retained | care, x)
    control: HistGradientBoostingClassifier  # P(retained | no care, x)
    tau_treated: HistGradientBoostingRegressor | None = None  # X-learner: effect imputed on the treated
    tau_control: HistGradientBoostingRegressor | None = None  # X-learner: effect imputed on the control
    p_treated: float = 0.5  # share treated in the training data (the X-learner's weight)

    def predict_uplift(self, features: np.ndarray) -> np.ndarray:
        """Predicted retention added by the care for subscribers with ``features`` (rows ``FEATURES``).

        On one OpenMP thread: a simulation scores each month's few newcomers, and waking a thread pool for
        every tree of such small batches costs several times the prediction (the same numbers either way)."""
        x = _rows_to_matrix(features)
        with _openmp().limit(limits=1, user_api="openmp"):
            if self.learner == "t" or self.tau_treated is None or self.tau_control is None:
                return self.treated.predict_proba(x)[:, 1] - self.control.predict_proba(x)[:, 1]
            return self.p_treated * self.tau_control.predict(x) + (1 - self.p_treated) * self.tau_treated.predict(x)


def fit_uplift(
    programme: str,
    features: np.ndarray,
    treated: np.ndarray,
    retained: np.ndarray,
    learner: Learner = "x",
    seed: int = 0,
) -> UpliftModel:
    """Fit an uplift model on subscribers with ``features`` (rows ``FEATURES``), a randomised treatment flag
    and the outcome (retained = 1). Raises ``ValueError`` when either group is too small to learn from."""
    x = _rows_to_matrix(features)
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(retained, dtype=int)
    for name, group in (("treated", treated), ("control", ~treated)):
        if group.sum() < 20 or len(np.unique(y[group])) < 2:
            raise ValueError(f"{programme}: too few {name} subscribers, or all with one outcome, to learn an uplift")
    on_treated = _classifier(seed).fit(x[treated], y[treated])
    on_control = _classifier(seed).fit(x[~treated], y[~treated])
    model = UpliftModel(programme, learner, on_treated, on_control, p_treated=float(treated.mean()))
    if learner == "x":
        imputed_treated = y[treated] - on_control.predict_proba(x[treated])[:, 1]
        imputed_control = on_treated.predict_proba(x[~treated])[:, 1] - y[~treated]
        model.tau_treated = _regressor(seed).fit(x[treated], imputed_treated)
        model.tau_control = _regressor(seed).fit(x[~treated], imputed_control)
    return model


@functools.cache
def _openmp() -> ThreadpoolController:
    """The process's thread pools, found once (looking them up costs more than a small prediction)."""
    return ThreadpoolController()


def _classifier(seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=50,
        categorical_features=[len(FEATURES) - 1], random_state=seed,
    )  # fmt: skip


def _regressor(seed: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=50,
        categorical_features=[len(FEATURES) - 1], random_state=seed,
    )  # fmt: skip


def _rows_to_matrix(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=float)
    if features.ndim != 2 or features.shape[0] != len(FEATURES):
        raise ValueError(f"features: expected {len(FEATURES)} rows ({', '.join(FEATURES)}), got shape {features.shape}")
    return features.T


# ------------------------------------------------------------------ Qini
@dataclass(frozen=True)
class Qini:
    """A Qini curve and its coefficient, with a bootstrap interval.

    ``curve[k]`` is the incremental retained subscribers among the first ``fraction[k]`` of the order:
    retained treated − retained control × (treated / control so far). ``coefficient`` is the mean gap between
    the curve and the random-targeting line, per subscriber of the sample (0 = no better than random).
    """

    fraction: np.ndarray
    curve: np.ndarray
    random_line: np.ndarray
    coefficient: float
    low: float
    high: float


def qini(
    scores: np.ndarray,
    treated: np.ndarray,
    retained: np.ndarray,
    n_points: int = 50,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> Qini:
    """The Qini curve of ordering subscribers by ``scores`` (highest first), with a percentile bootstrap
    interval for its coefficient (subscribers resampled with replacement)."""
    scores = np.asarray(scores, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    retained = np.asarray(retained, dtype=float)
    fraction, curve, line, coefficient = _qini_curve(scores, treated, retained, n_points)
    rng = np.random.default_rng(seed)
    n = len(scores)
    draws = []
    for _ in range(n_bootstrap):
        pick = rng.integers(0, n, n)
        draws.append(_qini_curve(scores[pick], treated[pick], retained[pick], n_points)[3])
    alpha = (1 - confidence) / 2
    low, high = (float(q) for q in np.quantile(draws, [alpha, 1 - alpha]))
    return Qini(fraction, curve, line, coefficient, low, high)


def _qini_curve(
    scores: np.ndarray, treated: np.ndarray, retained: np.ndarray, n_points: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    n = len(scores)
    if n == 0:
        raise ValueError("qini: no customers to order")
    order = np.argsort(-scores, kind="stable")
    t, y = treated[order], retained[order]
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    r_t, r_c = np.cumsum(y * t), np.cumsum(y * ~t)
    gain = r_t - np.divide(r_c * n_t, n_c, out=np.zeros(n), where=n_c > 0)
    # inside a block of equal scores the order is arbitrary: take the gain at the block's ends, straight between
    ranked = scores[order]
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
    gain = np.interp(np.arange(1, n + 1), np.r_[0, ends + 1], np.r_[0.0, gain[ends]])
    at = np.unique(np.linspace(0, n - 1, n_points).round().astype(int))
    fraction = (at + 1) / n
    curve = gain[at]
    line = fraction * gain[-1]
    coefficient = float(np.mean(gain - np.arange(1, n + 1) / n * gain[-1]) / n)
    return fraction, curve, line, coefficient


# ------------------------------------------------------------------ from a run
def training_data(record, programme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, treated, retained) of a run's randomised groups for ``programme``: every eligible subscriber
    assigned or in the control group, with their features at joining (rows ``FEATURES``) and whether they were
    still a subscriber at the end. Assigned counts as treated (intention to treat)."""
    p = record.programmes.names.index(programme)
    care, subscribers = record.care, record.subscribers
    rows = care.assigned[p] | care.control[p]
    features = np.vstack([subscribers.attributes_at_joining[rows].T, subscribers.segment[rows][None, :]])
    return features, care.assigned[p][rows], ~subscribers.churned[rows]
