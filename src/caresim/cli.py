"""The ``caresim`` console command: a Hydra app over ``conf/`` that runs one scenario and writes its tables.

Each mode loads its own layer when it runs, so that help and bad input answer in about a second.

    caresim                                   # the default scenario
    caresim scenario=network_outage run.seed=7
    caresim --multirun scenario=baseline,price_war run.seed=1,2   # outputs/sweeps/<id>/<point>, sweep.parquet
    caresim mode=plan planner.budget=2e6          # pilot, optimise, verify and adjust a care plan
    caresim mode=calibrate calibration=telco      # fit the population to a customer table or published rates
    caresim mode=uplift uplift.programme=retention_offer   # learn who a programme helps (pilot or campaign CSV)

Bad input ends with one line on stderr naming the key, exit status 2, and nothing written.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from caresim.config.errors import ConfigError
from caresim.config.loading import (
    available_scenarios,
    build_config,
    check_overrides,
    conf_dir,
    config_groups,
    for_hydra,
    load_config,
    read_scenario,
    search_path_override,
    sweep_variants,
    user_conf_dir,
)
from caresim.config.schema import CareConfig
from caresim.files import EXIT_INTERRUPTED, INTERRUPTED, unwritable
from caresim.results.manifest import ADDED_VARIABLE, TYPED_VARIABLE
from caresim.results.run import run_folder
from caresim.sweeps.sweep import POINTS_VARIABLE, clear_leftovers, is_finished, point_name, sweep_id

EXIT_BAD_INPUT = 2
LAUNCHERS = ("basic", "joblib", "ray")


def _fail(message: str) -> None:
    print(f"caresim: {message}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def _task(cfg: DictConfig) -> None:
    hydra_config = HydraConfig.get()
    try:
        overrides = list(hydra_config.overrides.task)
        config = build_config(OmegaConf.to_container(cfg, resolve=True), overrides)
    except ConfigError as error:
        _fail(str(error))
        return
    suffix = {"plan": "-plan", "calibrate": "-calibrate", "uplift": "-uplift"}.get(config.mode, "")
    if hydra_config.mode == RunMode.MULTIRUN:  # a sweep point: a fixed folder, skipped when already finished
        folder = Path(hydra_config.sweep.dir) / point_name(overrides, hydra_config.sweep.dir)
        total = os.environ.get(POINTS_VARIABLE, "?")
        print(f"caresim: sweep point {hydra_config.job.num + 1} of {total}: {folder.name}", flush=True)
        config_text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
        clear_leftovers(folder)
        if is_finished(folder, config_text):
            print(f"caresim: {folder}: finished already, skipped")
            return
        if folder.exists():
            _fail(
                f"{folder}: holds a run of another config or of other code; remove it or sweep into another "
                "run.output_dir"
            )
    else:
        folder = run_folder(config.run.output_dir, config.scenario, config.run.seed, suffix)
    if config.mode == "plan":
        _plan(config, folder, overrides)
        return
    if config.mode == "calibrate":
        _calibrate(config, folder, overrides)
        return
    if config.mode == "uplift":
        _uplift(config, folder, overrides)
        return
    from caresim.results.summary import render
    from caresim.simulation import simulate

    try:
        results = simulate(config)
    except ConfigError as error:  # found only when the run starts (e.g. a model file named in uplift.models)
        _fail(str(error))
        return
    written = _write(lambda target: results.write(target, config.run.formats, overrides), folder, config, suffix)
    _report(config, written)
    print(render(results, str(written)))


def _plan(config: CareConfig, folder: Path, overrides: list[str]) -> None:
    from caresim.planning import plan
    from caresim.planning.report import render as render_plan

    try:
        report = plan(config)
    except ConfigError as error:
        _fail(str(error))
        return
    written = _write(lambda target: report.write(target, overrides), folder, config, "-plan")
    _report(config, written)
    print(render_plan(report, str(written)))


def _uplift(config: CareConfig, folder: Path, overrides: list[str]) -> None:
    """Train and judge an uplift model; a bad campaign table ends in one line before anything is written."""
    from caresim.planning.uplift_job import train_uplift

    try:
        report = train_uplift(config)
    except (ConfigError, ValueError) as error:
        _fail(str(error))
        return
    written = _write(lambda target: report.write(target, overrides), folder, config, "-uplift")
    print(report.summary())
    print(f"model and tables written to {written}; name it in uplift.models.{config.uplift.programme} to target by it")


def _calibrate(config: CareConfig, folder: Path, overrides: list[str]) -> None:
    """Fit the population; write the run folder, then the population in the user's config folder if asked. A bad
    table or an existing save_as target ends in one line before anything is written."""
    from caresim.calibration import calibrate, check_save_as

    settings = config.calibration
    try:
        check_save_as(settings.save_as, settings.overwrite)
        report = calibrate(config)
    except ConfigError as error:
        _fail(str(error))
        return
    written = _write(lambda target: report.write(target, overrides), folder, config, "-calibrate")
    saved = ""
    if settings.save_as is not None:
        try:
            path = report.save_population(settings.save_as, settings.overwrite, overrides)
        except ConfigError as error:  # created meanwhile by another run
            _fail(str(error))
            return
        saved = f"\nsaved: {path} (use it as population={settings.save_as})"
    print(report.summary(str(written)) + saved)


def _write(write, folder: Path, config: CareConfig, suffix: str) -> Path:
    """Write into ``folder``; a single run that lost its folder name to a run started the same second takes the
    next free name (a sweep point's folder is its identity and is never renamed)."""
    for _ in range(100):
        try:
            return write(folder)
        except FileExistsError:
            if HydraConfig.get().mode != RunMode.MULTIRUN:
                folder = run_folder(config.run.output_dir, config.scenario, config.run.seed, suffix)
                continue
            if (folder / "manifest.json").is_file():  # the same point finished meanwhile in a parallel sweep
                print(f"caresim: {folder}: finished meanwhile by another sweep, kept")
                return folder
            raise
    return write(folder)


def _report(config: CareConfig, folder: Path) -> None:
    """report.html and figures/ in a finished run folder (read from what was written; nothing re-run)."""
    if config.run.report:
        from caresim.report import report

        report(folder)


def check_sweep_flags(overrides: list[str]) -> None:
    """Hydra's own sweep settings that would fail inside Hydra with a traceback: refused in one line."""
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        if key == "hydra/launcher" and value not in LAUNCHERS:
            raise ConfigError(f"hydra/launcher: unknown launcher '{value}'; available: {list(LAUNCHERS)}")
        if key == "hydra.launcher.n_jobs" and not (value.lstrip("-").isdigit() and int(value) != 0):
            raise ConfigError(f"hydra.launcher.n_jobs: a whole number of workers (>= 1, or -1 for all), got {value!r}")
    for override in overrides:
        key, _, value = override.partition("=")
        if value.startswith(("interval(", "glob(")):
            raise ConfigError(f"{key}: sweep over a list of values (a,b,c) or range(...), not {value}")


def experiment_sweep(values: list[str]) -> str:
    """The text of the experiment file named by ``+experiment=...`` ('' without one), after refusing a sweep
    over experiments and command-line values for the keys the experiment sweeps itself."""
    chosen = [v for v in values if v.lstrip("+").partition("=")[0] == "experiment"]
    if not chosen:
        return ""
    name = chosen[-1].partition("=")[2]
    if "," in name:
        raise ConfigError("experiment: run one experiment per command (each is a sweep of its own)")
    found = [root / "experiment" / f"{name}.yaml" for root in (conf_dir(), user_conf_dir())]
    path = next((candidate for candidate in found if candidate.is_file()), None)
    if path is None:
        return ""  # check_overrides names the unknown option
    text = path.read_text()
    swept = set(((yaml.safe_load(text) or {}).get("hydra", {}).get("sweeper", {}) or {}).get("params", {}) or {})
    for value in values:
        key = value.lstrip("+").partition("=")[0]
        if key in swept:
            raise ConfigError(f"{key}: experiment {name} sweeps this key itself; change it in {path}")
    return text


def help_text() -> str:
    """``caresim --help``: a page, not the whole config (``caresim --cfg job`` prints that)."""
    scenarios = []
    for name in available_scenarios():
        try:
            described = read_scenario(name)["description"]
        except ConfigError as error:
            described = f"(cannot be read: {error})"
        scenarios.append(f"  {name:<18} {described}")
    groups = [f"  {group:<12} {', '.join(options)}" for group, options in config_groups().items() if options]
    return "\n".join(
        [
            "caresim: simulate and plan investment in telecom customer-care programmes",
            "",
            "usage: caresim [key=value ...]            one run (mode=simulate by default)",
            "       caresim --multirun key=a,b ...     a sweep, one run per combination",
            "       caresim --multirun +experiment=<name>   a reproducible experiment (experiments/README.md)",
            "",
            "modes (mode=...):",
            "  simulate   run the care policy of the config over the horizon and judge each programme",
            "  plan       pilot, optimise the care mix under the budget, verify by simulation, compare",
            "  calibrate  fit the population to a customer table or to published churn",
            "  uplift     learn who a programme helps, from a simulated pilot or a campaign table",
            "",
            "scenarios (scenario=...):",
            *scenarios,
            "",
            f"config groups (group=option; your own options go in {user_conf_dir()}/<group>/<option>.yaml):",
            *groups,
            "",
            "main keys:",
            "  run.n_months, run.scale, run.seed, run.output_dir, run.progress, run.report",
            "  policy.<programme>=share | {<segment>: share} | {share: s, target: random|risk|value|uplift}",
            "  planner.budget, planner.objective, planner.risk, planner.targeting, planner.scenarios",
            "  calibration.table, calibration.save_as;  uplift.programme, uplift.campaign, uplift.models",
            "",
            "the full schema: docs/model.md (the simulator), docs/planner.md (the planner), or",
            "  caresim --cfg job [key=value ...]   prints the resolved config; caresim --hydra-help for Hydra's flags",
        ]
    )


def main() -> None:
    """Entry point: check the command line against the schema, then hand over to Hydra."""
    if any(arg in ("--help", "-h") for arg in sys.argv[1:]):
        print(help_text())
        return
    overrides = [arg for arg in sys.argv[1:] if not arg.startswith("-") and "=" in arg]
    values = [o for o in overrides if not o.lstrip("+").startswith("hydra")]
    try:
        check_sweep_flags(overrides)
        experiment = experiment_sweep(values)
        check_overrides(overrides)
        for variant in sweep_variants(values):  # compose and validate fully: Hydra never meets a bad value
            load_config(None, variant)
        for variant in sweep_variants(values)[:1]:  # where the output goes: checked before any work
            output_dir = load_config(None, variant).run.output_dir
            reason = unwritable(output_dir)
            if reason is not None:
                raise ConfigError(f"run.output_dir: cannot write runs under {output_dir!r}: {reason}")
    except ConfigError as error:
        _fail(str(error))
    # any schema key may be set, listed in conf/ or not; Hydra's flags pass untouched
    typed = sys.argv[1:]
    sys.argv = [sys.argv[0], *(for_hydra([arg])[0] if arg in overrides else arg for arg in sys.argv[1:])]
    if not any(o.lstrip("+").startswith("hydra.sweep.dir=") for o in overrides):
        output_dir = load_config(None, sweep_variants(values)[0]).run.output_dir
        sys.argv.append(f"hydra.sweep.dir={Path(output_dir) / 'sweeps' / sweep_id(values, experiment)}")
    if not any(o.lstrip("+").startswith("hydra.searchpath=") for o in overrides):
        sys.argv.extend(search_path_override())  # the user's config folder: saved populations and the like
    os.environ[TYPED_VARIABLE] = json.dumps(typed)  # the manifest says what was typed and what was added
    os.environ[ADDED_VARIABLE] = json.dumps([arg for arg in sys.argv[1:] if arg not in typed])
    app = hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")(_task)
    try:
        app()
    except KeyboardInterrupt:  # also caught by caresim.console; here for `python -m caresim.cli` and old scripts
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":  # python -m caresim.cli; `python -m caresim` is the same, and lighter to interrupt
    main()
