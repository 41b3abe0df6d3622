"""Reports of finished runs: figures (PNG) and a self-contained HTML page, read from a run folder.

``python -m caresim.report <run folder>`` writes ``report.html`` and ``figures/`` into the folder. Reporting
only reads what a run wrote; it never re-runs anything.
"""

from caresim.report.folder import ReportError, kind_of
from caresim.report.html import plan_report, report, simulation_report

__all__ = ["ReportError", "kind_of", "plan_report", "report", "simulation_report"]
