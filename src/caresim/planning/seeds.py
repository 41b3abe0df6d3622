"""Seeds of the planner's runs, all derived from the scenario's one seed and the purpose of the run.

Pilot, verification and every replication get their own seed, so a plan is never checked on the random
numbers it was estimated from, and the same config always gives the same seeds.
"""

from __future__ import annotations

import numpy as np

PURPOSES = {"pilot": 1, "verify": 2}


def derived_seed(seed: int, purpose: str, replication: int, scenario: int = 0) -> int:
    """The seed of replication ``replication`` of ``purpose`` (pilot, verify) in scenario number ``scenario``."""
    sequence = np.random.SeedSequence([seed, PURPOSES[purpose], scenario, replication])
    return int(sequence.generate_state(1, dtype=np.uint32)[0])
