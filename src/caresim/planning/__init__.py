"""The planner's experiment layer: pilot the catalogue in the simulation, optimise the care mix with
``caresim.optimize``, verify the plan by simulation against baselines, adjust what fails, trace the frontier.

It is the only place where the simulator and the optimiser meet, through plain data.
"""

from caresim.planning.plan import plan
from caresim.planning.report import PlanReport

__all__ = ["PlanReport", "plan"]
