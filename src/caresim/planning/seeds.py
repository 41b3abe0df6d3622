"""Seeds of the planner's runs, all derived from the scenario's one seed and the purpose of the run.

Pilot, verification (the adjustment loop), the final comparison and every replication get their own seed,
so a plan is never checked on the random numbers it was estimated or selected on, and the same config
always gives the same seeds.
"""

from __future__ import annotations

import numpy as np

PURPOSES = {"pilot": 1, "verify": 2, "final": 3}  # final: the held-out comparison of the chosen plan


def derived_seed(seed: int, purpose: str, replication: int, scenario: int = 0) -> int:
    """The seed of replication ``replication`` of ``purpose`` (pilot, verify, final) in scenario number ``scenario``."""
    sequence = np.random.SeedSequence([seed, PURPOSES[purpose], scenario, replication])
    return int(sequence.generate_state(1, dtype=np.uint32)[0])
