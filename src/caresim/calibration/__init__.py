"""Calibration of the population to customer data and to published churn rates (``caresim mode=calibrate``).

- ``targets``: reading a customer table through the declared column mapping; the target figures of any
  cross-section; direct estimates per segment cell.
- ``start``: the population the fit starts from (segments reshaped, cells' direct estimates).
- ``parameters``: free parameters as dotted keys, fitted as log multipliers.
- ``snapshot``: simulating a candidate and reading the same figures from its results.
- ``compare``: weighted errors against the targets; the observed-vs-fitted table.
- ``fit``: scipy's least_squares with common random numbers, progress and a stated tolerance.
- ``report``: the report, its run folder and ``<user config folder>/population/<name>.yaml``.
"""

from caresim.calibration.calibrate import calibrate
from caresim.calibration.report import CalibrationReport, check_save_as
from caresim.calibration.targets import TableError, figures_of, read_table, table_figures

__all__ = ["CalibrationReport", "TableError", "calibrate", "check_save_as", "figures_of", "read_table", "table_figures"]
