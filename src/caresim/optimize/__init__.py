"""The planner's optimisation model (Pyomo, solved with HiGHS). It never imports the simulator: it takes
plain data (estimated responses per segment × programme, limits) and returns a plan as plain data."""

from caresim.optimize.evaluate import evaluate_plan
from caresim.optimize.problem import Option, PlanningProblem
from caresim.optimize.solve import Plan, solve

__all__ = ["Option", "Plan", "PlanningProblem", "evaluate_plan", "solve"]
