"""caresim: simulate and optimise investment in telecom customer-care programmes.

import caresim
config = caresim.load_config("baseline", ["run.n_months=12"])
results = caresim.simulate(config)            # the config's own policy
results.kpis, results.programmes, results.subscribers
"""

from caresim.errors import ConfigError
from caresim.loading import available_scenarios, load_config, validate
from caresim.policy import CarePolicy
from caresim.results import Results
from caresim.schema import CareConfig
from caresim.simulate import simulate

__all__ = [
    "CareConfig",
    "CarePolicy",
    "ConfigError",
    "Results",
    "available_scenarios",
    "load_config",
    "simulate",
    "validate",
]
__version__ = "0.1.0"
