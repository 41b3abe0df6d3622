"""The calibration's report: observed vs fitted per target, the fit's trace, the calibrated population as a
config, and writing them (a run folder that appears whole or not at all; ``population/<name>.yaml`` in the
user's config folder)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from caresim.calibration.fit import FitResult
from caresim.config.calibration import TableFigures
from caresim.config.errors import ConfigError
from caresim.config.loading import conf_dir, user_conf_dir
from caresim.config.schema import CareConfig, Population
from caresim.files import unwritable, write_file_atomic
from caresim.results.manifest import manifest
from caresim.results.run import write_folder

SHARE_TARGETS = ("churn_overall", "contract_share", "churn_by_contract", "churn_by_segment", "churn_by_tenure")
SHARE_TARGETS += ("churn_by_charge_quartile", "churn_by_tenure_month_to_month", "monthly_churn", "highest_quarter")
PRESENTATION_KEYS = ("run.output_dir", "run.progress", "run.report", "run.formats", "calibration.overwrite")


def _round(value: Any, digits: int = 6) -> Any:
    """Floats to ``digits`` significant digits, recursively (readable YAML, no false precision)."""
    if isinstance(value, float):
        return 0.0 if value == 0 or not math.isfinite(value) else float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {key: _round(item, digits) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_round(item, digits) for item in value]
    return value


def _show(target: str, value: float) -> str:
    if not math.isfinite(value):
        return "-"
    if target in ("monthly_churn", "highest_quarter"):  # rates near a band's edge: one more digit
        return f"{100 * value:.3f}%"
    return f"{100 * value:.2f}%" if target in SHARE_TARGETS else f"{value:.2f}"


def _show_error(target: str, value: float) -> str:
    if not math.isfinite(value):
        return "-"
    if target in ("monthly_churn", "highest_quarter"):
        return f"{100 * value:+.3f} pp"
    return f"{100 * value:+.2f} pp" if target in SHARE_TARGETS else f"{value:+.2f}"


def population_path(name: str) -> Path:
    """Where ``calibration.save_as=<name>`` writes: the user's config folder, never caresim's own ``conf/``."""
    return user_conf_dir() / "population" / f"{name}.yaml"


def check_save_as(name: str | None, overwrite: bool) -> None:
    """Refuse, before any work, a shipped population's name, an existing saved one unless ``overwrite``, or a
    user config folder that cannot be written."""
    if name is None:
        return
    reason = unwritable(population_path(name).parent)
    if reason is not None:
        raise ConfigError(
            f"calibration.save_as: cannot write {population_path(name).parent}: {reason} "
            "(set CARESIM_CONFIG_DIR to a folder you can write)"
        )
    if (conf_dir() / "population" / f"{name}.yaml").exists():
        raise ConfigError(
            f"calibration.save_as: '{name}' is taken by caresim's own conf/population/{name}.yaml; choose another name"
        )
    if population_path(name).exists() and not overwrite:
        raise ConfigError(
            f"calibration.save_as: {population_path(name)} exists; choose another name or set "
            "calibration.overwrite=true"
        )


@dataclass
class CalibrationReport:
    """What a calibration found: targets observed vs fitted, the fit, and the calibrated config."""

    config: CareConfig
    calibrated: CareConfig
    targets: pd.DataFrame
    fit: FitResult
    parameters: pd.DataFrame
    observed: TableFigures | None
    start_cost: float
    seconds: float
    market_keys: dict[str, Any] = field(default_factory=dict)

    @property
    def population(self) -> Population:
        """The calibrated population."""
        return self.calibrated.population

    @property
    def ok(self) -> bool:
        """Whether every target is within its tolerance (rates: inside its band)."""
        return bool(self.targets["ok"].all())

    def not_reached(self) -> pd.DataFrame:
        """The targets outside their tolerance."""
        return self.targets[~self.targets["ok"]]

    # ------------------------------------------------------------ text
    def notes(self) -> list[str]:
        """What the reader must know to trust (or not) the fit."""
        calibration = self.config.calibration
        notes = []
        for row in self.not_reached().itertuples():
            if row.target == "highest_quarter":
                notes.append(f"not reached: {row.group} is not the quarter with the highest churn")
            elif row.target == "monthly_churn":
                notes.append(
                    f"not reached: monthly churn {row.group} {_show(row.target, row.fitted)} lies outside the "
                    f"published band {_show(row.target, row.low)}-{_show(row.target, row.high)}"
                )
            else:
                label = "hold-out (not fitted), off" if row.weight == 0 else "not reached"
                notes.append(
                    f"{label}: {row.target} {row.group}: observed {_show(row.target, row.observed)}, fitted "
                    f"{_show(row.target, row.fitted)} (tolerance {_show_error(row.target, row.tolerance)})"
                )
        bound = self.parameters[self.parameters["at_bound"]] if not self.parameters.empty else self.parameters
        for row in bound.itertuples():
            notes.append(f"at its bound: {row.parameter} (multiplier {row.multiplier:.3g} of the start)")
        if calibration.kind == "table":
            overall = self.targets[self.targets["target"] == "churn_overall"]
            if not overall.empty and overall["observed"].iloc[0] > 0.05:
                notes.append(
                    f"the table's churned share ({_show('churn_overall', overall['observed'].iloc[0])} in one month) "
                    "is far above real operators' 1-3% a month, so the calibrated hazards are too; a base this "
                    "churny has no steady tenure mix, so the snapshot is the drawn base after "
                    f"{calibration.snapshot.n_months} month(s), not a steady state"
                )
        if self.market_keys:
            keys = " ".join(f"{key}={json.dumps(_round(value, 4))}" for key, value in self.market_keys.items())
            notes.append(f"fitted market keys (not part of a population config; pass them with it): {keys}")
        if not self.fit.converged:
            notes.append(f"the fit did not converge ({self.fit.status}); raise calibration.fit.max_evaluations")
        return notes

    def summary(self, folder: str = "") -> str:
        """The printed summary: targets observed vs fitted, the fit, the parameters, the notes."""
        calibration = self.config.calibration
        source = (self.observed.source if self.observed else calibration.rates.source) or "-"
        rows = self.observed.n_rows if self.observed else None
        lines = [
            f"caresim calibration ({calibration.kind}): {calibration.description or '-'}",
            f"source: {source}" + (f" ({rows:,} rows)" if rows else ""),
            f"fit: {self.fit.status}; {self.fit.n_evaluations} simulations in {self.seconds:.0f} s; "
            f"cost {self.start_cost:.4g} at the start -> {self.fit.cost:.4g}",
            "",
            f"{'target':<32}{'group':<16}{'observed':>10}{'fitted':>10}{'error':>12}{'tolerance':>12}  ok",
        ]
        for row in self.targets.itertuples():
            if row.target == "monthly_churn":
                observed = f"{_show(row.target, row.low)}-{_show(row.target, row.high)}"
                tolerance = "band"
            else:
                observed = _show(row.target, row.observed)
                tolerance = _show_error(row.target, row.tolerance).lstrip("+")
            lines.append(
                f"{row.target:<32}{row.group:<16}{observed:>10}{_show(row.target, row.fitted):>10}"
                f"{_show_error(row.target, row.error):>12}{tolerance:>12}  {'yes' if row.ok else 'NO'}"
            )
        lines += ["", "parameters (start -> fitted):"]
        for row in self.parameters.itertuples():
            lines.append(f"  {row.parameter:<52}{row.start:>12.5g} -> {row.fitted:<12.5g} (x{row.multiplier:.3g})")
        notes = self.notes()
        if notes:
            lines += ["", *notes]
        if folder:
            lines += ["", f"written: {folder}"]
        return "\n".join(lines)

    # ------------------------------------------------------------ files
    def population_yaml(self, header: str = "") -> str:
        """The calibrated population as the YAML of a ``conf/population`` option."""
        body = yaml.safe_dump(_round(self.population.model_dump()), sort_keys=False, width=120)
        return header + body

    def header(self, name: str, overrides: list[str] | None = None) -> str:
        """The comment on top of a saved population: how it was produced and its fit errors."""
        calibration = self.config.calibration
        shown = [o for o in overrides or ["mode=calibrate"] if o.split("=", 1)[0].lstrip("+") not in PRESENTATION_KEYS]
        command = "caresim " + " ".join(o.removeprefix("++") for o in shown)
        lines = [
            f"Population '{name}', calibrated by caresim (mode=calibrate, kind {calibration.kind}).",
            f"Produced by: {command}",
            f"Targets: {calibration.description or '-'}",
            f"Source: {(self.observed.source if self.observed else calibration.rates.source) or '-'}",
            f"Fit: {self.fit.status}; {self.fit.n_evaluations} simulations, {self.seconds:.0f} s; seed "
            f"{self.config.run.seed}; snapshot of {calibration.snapshot.n_subscribers:,} simulated subscribers.",
            "Observed -> fitted (error):",
        ]
        for row in self.targets.itertuples():
            if row.target == "highest_quarter":
                lines.append(f"  {row.group} highest: {'yes' if row.ok else 'no'}")
                continue
            observed = (
                f"{_show(row.target, row.low)}-{_show(row.target, row.high)}"
                if row.target == "monthly_churn"
                else _show(row.target, row.observed)
            )
            lines.append(
                f"  {row.target} {row.group}: {observed} -> {_show(row.target, row.fitted)} "
                f"({_show_error(row.target, row.error)}){'' if row.ok else ' NOT within tolerance'}"
            )
        lines += [f"Note: {note}" for note in self.notes()]
        return "".join(f"# {line}\n" for line in lines)

    def write(self, folder: str | Path, overrides: list[str] | None = None) -> Path:
        """targets, fit (the evaluation trace), parameters, population.yaml, summary.txt, manifest.json, config."""
        folder = Path(folder)
        files = {
            "population.yaml": self.population_yaml(
                self.header(self.config.calibration.save_as or "calibrated", overrides)
            ),
            "summary.txt": self.summary() + "\n",
            "config.yaml": yaml.safe_dump(self.config.model_dump(mode="json"), sort_keys=False),
            "manifest.json": json.dumps(manifest(self.config, self.seconds, "calibration", overrides), indent=2),
        }
        if self.observed is not None:
            files["figures.yaml"] = yaml.safe_dump(
                {"figures": _round(self.observed.model_dump(mode="json"), 8)}, sort_keys=False, width=120
            )
        if self.market_keys:
            files["market.yaml"] = yaml.safe_dump(_round(self.market_keys), sort_keys=False)
        if self.config.run.report:
            files.update(self.report_files())
        tables = {"targets": self.targets, "fit": self.fit.trace, "parameters": self.parameters}
        return write_folder(folder, tables, files, self.config.run.formats)

    def report_files(self) -> dict[str, str | bytes]:
        """``calibration.png`` (each target against its tolerance) and a self-contained ``report.html``."""
        from caresim.report.figures import calibration_errors, png_bytes  # matplotlib only when reporting
        from caresim.report.html import figure_html, page, table_html

        png = png_bytes(calibration_errors(self.targets))
        title = f"caresim calibration: {self.config.calibration.description or self.config.calibration.kind}"
        sections = [
            ("Targets against their tolerance", figure_html(png, "error / tolerance per target (green: reached)")),
            ("Targets: observed and fitted", table_html(self.targets, max_rows=200)),
            ("Free parameters", table_html(self.parameters, max_rows=200)),
            ("Summary", f"<pre>{escape(self.summary())}</pre>"),
        ]
        return {"calibration.png": png, "report.html": page(title, sections)}

    def save_population(self, name: str, overwrite: bool = False, overrides: list[str] | None = None) -> Path:
        """Write ``<user config folder>/population/<name>.yaml`` (whole or not at all), so that
        ``population=<name>`` works."""
        check_save_as(name, overwrite)
        path = population_path(name)
        text = self.population_yaml(self.header(name, overrides))
        return write_file_atomic(path, text.encode("utf-8"))
