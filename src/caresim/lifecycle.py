"""The vocabulary of the care lifecycle: stages, touchpoints, channels, grades and care triggers.

Everything is a plain tuple so that codes (positions) index NumPy arrays and names label tables.
"""

from __future__ import annotations

import numpy as np

#: Lifecycle stages. ``lost`` is a prospect who never bought; ``churned`` follows service termination.
STAGES: tuple[str, ...] = ("presale", "activation", "usage", "retention", "churned", "lost")
PRESALE, ACTIVATION, USAGE, RETENTION, CHURNED, LOST = range(len(STAGES))
ACTIVE_STAGES = (ACTIVATION, USAGE, RETENTION)

#: The fifteen touchpoints of the four stages, in lifecycle order (domain.md).
TOUCHPOINTS: tuple[tuple[str, str], ...] = (
    ("presale", "learn_about_service"),
    ("presale", "first_experience"),
    ("presale", "needs_fit_assessment"),
    ("presale", "purchase_decision"),
    ("activation", "service_request"),
    ("activation", "acquire_download"),
    ("activation", "activation"),
    ("activation", "configuration"),
    ("usage", "first_use"),
    ("usage", "personalisation"),
    ("usage", "service_information"),
    ("usage", "meets_problem"),
    ("usage", "reports_problem"),
    ("retention", "problem_recurs"),
    ("retention", "service_terminated"),
)
TOUCHPOINT_NAMES: tuple[str, ...] = tuple(name for _, name in TOUCHPOINTS)
TP = {name: code for code, name in enumerate(TOUCHPOINT_NAMES)}

#: The seven care channels; hotline and store are staffed desks with queues.
CHANNELS: tuple[str, ...] = ("store", "hotline", "ivr", "web", "sms", "wap", "terminal")
STORE, HOTLINE = 0, 1
DESK_CHANNELS = (STORE, HOTLINE)
DESKS: tuple[str, ...] = ("store", "hotline")  # the staffed desks, in the order records index them

#: Satisfaction and loyalty grades, best first (优 / 良 / 中 / 差).
GRADES: tuple[str, ...] = ("excellent", "good", "fair", "poor")
EXCELLENT, GOOD, FAIR, POOR = range(len(GRADES))

#: Key moments at which a care programme can be delivered.
TRIGGERS: tuple[str, ...] = (
    "bill",
    "bill_shock",
    "problem",
    "complaint",
    "trip",
    "contract_end",
    "retention_stage",
    "outage",
    "churned",
    "schedule",
    "activation",
)
#: Life moments (care here exceeds expectation: "surprise"); all other triggers are business moments.
LIFE_MOMENTS: frozenset[str] = frozenset({"trip"})


def grade_of(values: np.ndarray, excellent: float, good: float, fair: float) -> np.ndarray:
    """Map 0-1 scores to grade codes (0 excellent, 1 good, 2 fair, 3 poor) by the thresholds (fair < good <
    excellent): 3 less the number of thresholds at or below the score."""
    values = np.asarray(values)
    above = (values >= fair).view(np.int8) + (values >= good).view(np.int8) + (values >= excellent).view(np.int8)
    return 3 - above


def grade_name(score: float, excellent: float, good: float, fair: float) -> str:
    """The grade name of one 0-1 score."""
    return GRADES[int(grade_of(np.array([score]), excellent, good, fair)[0])]


def is_success(satisfaction_grade: int) -> bool:
    """domain.md's success rule: a care service whose customers are Good or better has succeeded."""
    return satisfaction_grade <= GOOD
