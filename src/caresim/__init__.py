"""caresim: simulate and optimise investment in telecom customer-care programmes.

import caresim
config = caresim.load_config("baseline", ["run.n_months=12"])
results = caresim.simulate(config)            # the config's own policy
results.kpis, results.programmes, results.subscribers, results.record
report = caresim.plan(caresim.load_config("baseline", ["mode=plan"]))   # pilot, optimise, verify, adjust
report.coverage, report.comparison, report.frontier
fitted = caresim.calibrate(caresim.load_config(None, ["mode=calibrate", "calibration=telco"]))
fitted.targets, fitted.population, fitted.write("my-calibration"), fitted.save_population("mine")

Every name loads its layer when first used, so ``import caresim.optimize`` loads no simulator.
"""

from __future__ import annotations

from importlib import import_module

#: public name -> the module that defines it
_EXPORTS = {
    "AgentRule": "caresim.engine.agents",
    "CalibrationReport": "caresim.calibration",
    "CareConfig": "caresim.config.schema",
    "CarePolicy": "caresim.engine.policy",
    "ConfigError": "caresim.config.errors",
    "PlanReport": "caresim.planning",
    "Results": "caresim.results.run",
    "RunRecord": "caresim.engine.record",
    "Subscriber": "caresim.engine.agents",
    "available_scenarios": "caresim.config.loading",
    "calibrate": "caresim.calibration",
    "load_config": "caresim.config.loading",
    "plan": "caresim.planning",
    "simulate": "caresim.simulation",
    "validate": "caresim.config.loading",
}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """Load the layer that defines ``name`` on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'caresim' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
