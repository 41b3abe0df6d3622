"""The fit: scipy.optimize.least_squares (trust region reflective, bounds) on weighted target errors.

Each evaluation simulates the candidate with the same seed (common random numbers), so the objective changes
only through the parameters; the finite-difference step is large enough that a step moves whole simulated
subscribers. The fit stops on scipy's ``xtol``/``ftol`` or after ``max_evaluations`` simulations, and
returns the best candidate it simulated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from tqdm import tqdm

from caresim.config.calibration import Fit

STATUS = {
    -1: "failed: improper input to the optimiser",
    0: "stopped: max_evaluations reached",
    1: "converged: gradient below gtol",
    2: "converged: cost change below ftol",
    3: "converged: step below xtol",
    4: "converged: cost change below ftol and step below xtol",
}


class _BudgetSpentError(Exception):
    """Raised inside the objective when the evaluation budget is spent."""


@dataclass
class FitResult:
    """The best candidate, how the fit ended, and every evaluation."""

    theta: np.ndarray
    residuals: np.ndarray
    status: str
    converged: bool
    n_evaluations: int
    seconds: float
    trace: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def cost(self) -> float:
        """Half the sum of squared weighted errors, as scipy reports it."""
        return 0.5 * float(np.sum(self.residuals**2))


def least_squares_fit(
    residuals: Callable[[np.ndarray], np.ndarray],
    names: list[str],
    lower: np.ndarray,
    upper: np.ndarray,
    settings: Fit,
    progress: bool = True,
    theta0: np.ndarray | None = None,
) -> FitResult:
    """Minimise the sum of squared ``residuals(theta)`` within bounds; one progress line per evaluation."""
    started = time.perf_counter()
    theta0 = np.zeros(len(names)) if theta0 is None else np.asarray(theta0, dtype=float)
    rows: list[dict[str, float]] = []
    best: dict[str, object] = {"cost": np.inf}
    bar = tqdm(total=settings.max_evaluations, desc="calibrating", unit="sim", disable=not progress, leave=False)

    seen: dict[bytes, np.ndarray] = {}

    def objective(theta: np.ndarray) -> np.ndarray:
        key = np.asarray(theta, dtype=float).tobytes()
        if key in seen:  # the Jacobian starts where scipy just evaluated: not a new simulation
            return seen[key]
        if len(rows) >= settings.max_evaluations:
            raise _BudgetSpentError
        errors = seen[key] = np.asarray(residuals(theta), dtype=float)
        cost = 0.5 * float(np.sum(errors**2))
        rows.append({"evaluation": len(rows) + 1, "cost": cost, **dict(zip(names, np.exp(theta), strict=True))})
        if cost < best["cost"]:
            best.update(cost=cost, theta=np.array(theta, dtype=float), residuals=errors)
        bar.update(1)
        bar.set_postfix(cost=f"{cost:.4g}", best=f"{best['cost']:.4g}")
        return errors

    def jacobian(theta: np.ndarray) -> np.ndarray:
        # forward differences with an absolute step on the log parameters (backward at an upper bound); scipy's
        # own relative step would be ~1e-8 at theta = 0, far below one simulated subscriber's worth of change
        # A step can move no simulated subscriber at all (common random numbers: every draw stays on the same
        # side); the column is then 0 and the fit would never move that parameter. Such a step is doubled,
        # up to 8 times the setting, until the figures move.
        base = objective(theta)
        columns = []
        for i in range(len(theta)):
            size = settings.diff_step
            while True:
                moved = np.array(theta, dtype=float)
                # forward if it stays inside the bounds, else backward; clipped, so never outside them
                target = theta[i] + size if theta[i] + size <= upper[i] else theta[i] - size
                moved[i] = float(np.clip(target, lower[i], upper[i]))
                step = moved[i] - theta[i]
                if step == 0:  # a parameter whose bounds leave no room (lower == upper)
                    column = np.zeros_like(base)
                    break
                column = (objective(moved) - base) / step
                if np.any(column != 0) or size >= 8 * settings.diff_step:
                    break
                size *= 2
            columns.append(column)
        return np.column_stack(columns)

    try:
        if not names:  # nothing free: one evaluation of the start
            objective(theta0)
            status, code = "nothing to fit: the start evaluated", 4
        else:
            solution = least_squares(
                objective,
                np.clip(theta0, lower, upper),
                bounds=(lower, upper),
                method="trf",
                jac=jacobian,
                xtol=settings.xtol,
                ftol=settings.ftol,
                gtol=1e-10,
                max_nfev=settings.max_evaluations,
            )
            code = int(solution.status)
            status = STATUS.get(code, solution.message)
    except _BudgetSpentError:
        status, code = STATUS[0], 0
    finally:
        bar.close()
    trace = pd.DataFrame(rows)
    if not trace.empty:
        trace.insert(2, "best_cost", trace["cost"].cummin())
    return FitResult(
        theta=np.asarray(best["theta"]),
        residuals=np.asarray(best["residuals"]),
        status=status,
        converged=code > 0,
        n_evaluations=len(rows),
        seconds=time.perf_counter() - started,
        trace=trace,
    )
