"""caresim: simulate and optimise investment in telecom customer-care programmes.

import caresim
config = caresim.load_config("baseline", ["run.n_months=12"])
results = caresim.simulate(config)            # the config's own policy
results.kpis, results.programmes, results.subscribers
report = caresim.plan(caresim.load_config("baseline", ["mode=plan"]))   # pilot, optimise, verify, adjust
report.coverage, report.comparison, report.frontier
fitted = caresim.calibrate(caresim.load_config(None, ["mode=calibrate", "calibration=telco"]))
fitted.targets, fitted.population, fitted.write("my-calibration"), fitted.save_population("mine")
"""

from caresim.errors import ConfigError
from caresim.loading import available_scenarios, load_config, validate
from caresim.policy import CarePolicy
from caresim.results import Results
from caresim.schema import CareConfig
from caresim.simulate import simulate

__all__ = [
    "CalibrationReport",
    "CareConfig",
    "CarePolicy",
    "ConfigError",
    "PlanReport",
    "Results",
    "available_scenarios",
    "calibrate",
    "load_config",
    "plan",
    "simulate",
    "validate",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``plan``/``PlanReport`` (the planner, Pyomo) and ``calibrate``/``CalibrationReport`` load when first used."""
    if name in ("plan", "PlanReport"):
        import caresim.planning

        return getattr(caresim.planning, name)
    if name in ("calibrate", "CalibrationReport"):  # scipy's optimiser loads only when first used
        import caresim.calibration

        return getattr(caresim.calibration, name)
    raise AttributeError(f"module 'caresim' has no attribute {name!r}")
