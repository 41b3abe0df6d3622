"""Loading a scenario: ``conf/`` defaults, then the named scenario's overrides, then the user's overrides.

Precedence, lowest first: the config groups in ``conf/``, the scenario file ``scenarios/<name>.yaml``,
command-line (or API) overrides. Hydra composes ``conf/``; everything below this module takes a plain,
validated ``CareConfig``. Every failure is a ``ConfigError`` with one line naming the key.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from pydantic import BaseModel, ValidationError

from caresim.config.errors import ConfigError
from caresim.config.schema import CareConfig

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/caresim


def _project_dir(name: str) -> Path:
    bundled = PACKAGE_DIR / "_bundled" / name
    return bundled if bundled.is_dir() else PACKAGE_DIR.parents[1] / name


def conf_dir() -> Path:
    """The Hydra config folder (``conf/`` of the checkout, or its copy inside an installed wheel)."""
    return _project_dir("conf")


def scenarios_dir() -> Path:
    """The folder of named market scenarios."""
    return _project_dir("scenarios")


USER_CONF_VARIABLE = "CARESIM_CONFIG_DIR"


def user_conf_dir() -> Path:
    """The user's own config folder, searched after ``conf/``: where calibrated populations are saved.

    ``$CARESIM_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/caresim``, else ``~/.config/caresim``. Its groups mirror
    ``conf/`` (``population/<name>.yaml``, ``market/<name>.yaml``, ...); caresim's own folder is never written.
    """
    chosen = os.environ.get(USER_CONF_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "caresim"


def search_path_override() -> list[str]:
    """The Hydra override that adds the user's config folder, when it exists (Hydra warns on a missing one)."""
    folder = user_conf_dir()
    return [f"hydra.searchpath=['file://{_hydra_quoted(str(folder.resolve()))}']"] if folder.is_dir() else []


def _hydra_quoted(text: str) -> str:
    """``text`` inside a single-quoted Hydra string: a backslash escapes only a quote or a run of backslashes
    that ends the string or comes before a quote, so only those are escaped."""
    text = re.sub(r"(\\+)(?='|$)", lambda run: run.group(1) * 2, text)
    return text.replace("'", "\\'")


def config_groups() -> dict[str, list[str]]:
    """Config groups of ``conf/`` and of the user's config folder, with their options."""
    groups: dict[str, set[str]] = {}
    for root in (conf_dir(), user_conf_dir()):
        if not root.is_dir():
            continue
        for group in root.iterdir():
            if group.is_dir():
                groups.setdefault(group.name, set()).update(option.stem for option in group.glob("*.yaml"))
    return {name: sorted(groups[name]) for name in sorted(groups)}


def available_scenarios() -> list[str]:
    """Names of the scenario files."""
    return sorted(path.stem for path in scenarios_dir().glob("*.yaml"))


def read_scenario(name: str) -> dict[str, Any]:
    """The scenario file ``name``: ``{"description": str, "overrides": mapping}``."""
    path = scenarios_dir() / f"{name}.yaml"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", str(name)) or not path.is_file():  # a name, never a path
        raise ConfigError(f"scenario: unknown scenario '{name}'; available: {available_scenarios()}")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"scenario '{name}' ({path}{where}): not valid YAML") from None
    if not isinstance(content, dict) or set(content) - {"description", "overrides"}:
        raise ConfigError(f"scenario '{name}' ({path}): must hold only 'description' and 'overrides'")
    overrides = content.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"scenario '{name}'.overrides: must be a mapping of config keys")
    _check_scenario_keys(name, path)
    return {"description": str(content.get("description") or ""), "overrides": overrides}


def _check_scenario_keys(name: str, path: Path) -> None:
    """Every key under a scenario's ``overrides`` must be a setting of the schema: else one line naming the
    file and the line of the key."""
    root = yaml.compose(path.read_text(encoding="utf-8"))
    overrides = next((value for key, value in root.value if key.value == "overrides"), None)

    def walk(node: yaml.Node, keys: list[str]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                dotted = [*keys, str(key_node.value)]
                try:
                    check_key(".".join(dotted))
                except ConfigError as error:
                    raise ConfigError(
                        f"scenario '{name}' ({path}, line {key_node.start_mark.line + 1}): {error}"
                    ) from None
                walk(value_node, dotted)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, [*keys, str(index)])

    if isinstance(overrides, yaml.MappingNode):
        walk(overrides, [])


# ---------------------------------------------------------------- override keys
def _unwrap(annotation: Any, part: str | None = None) -> Any:
    """The model or container a key ``part`` walks into: of a union, a model that has the field ``part``, else a
    mapping or list, else the first model."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
        containers = [a for a in options if typing.get_origin(_unwrap(a)) in (dict, list)]
        if part is not None:
            having = [m for m in models if part in m.model_fields]
            if having or containers:
                return having[0] if having else _unwrap(containers[0])
        return models[0] if models else (_unwrap(containers[0]) if containers else options[0])
    return annotation


def check_key(key: str) -> None:
    """Raise ``ConfigError`` unless ``key`` (dotted) names a setting of the schema."""
    annotation: Any = CareConfig
    walked: list[str] = []
    for part in key.split("."):
        annotation = _unwrap(annotation, part)
        origin = typing.get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = annotation.model_fields
            if part not in fields:
                where = ".".join(walked) or "the top level"
                raise ConfigError(f"{key}: unknown config key '{part}' under {where}; allowed: {sorted(fields)}")
            annotation = fields[part].annotation
        elif origin is dict:
            annotation = typing.get_args(annotation)[1]
        elif origin is list:
            if not part.isdigit():
                raise ConfigError(f"{key}: '{'.'.join(walked)}' is a list; index it with a number")
            annotation = typing.get_args(annotation)[0]
        else:
            raise ConfigError(f"{key}: '{'.'.join(walked)}' is a single value and has no key '{part}'")
        walked.append(part)


def _parse_overrides(overrides: Sequence[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    try:
        return parser.parse_overrides(list(overrides))
    except OverrideParseException as error:
        raise ConfigError(f"command line: cannot read override: {str(error).splitlines()[0]}") from None


def check_overrides(overrides: Sequence[str]) -> None:
    """Reject overrides that name unknown keys or unknown config-group options, before Hydra sees them."""
    groups = config_groups()
    for override in _parse_overrides(overrides):
        key = override.key_or_group
        if key.startswith("hydra") or key.startswith("+hydra"):
            continue
        if key in groups:
            options = groups[key]
            for value in _sweep_values(override):
                if str(value) not in options:
                    raise ConfigError(f"{key}: unknown option '{value}'; available: {options}")
            continue
        if key == "scenario":
            for value in _sweep_values(override):
                read_scenario(str(value))
            continue
        check_key(key)


def sweep_variants(overrides: Sequence[str]) -> list[list[str]]:
    """Single-run override lists that together use every value of every swept key once.

    Each variant takes the first value of every sweep but one; checking them all catches any bad value of
    a sweep before Hydra launches a single job.
    """
    parsed = _parse_overrides(overrides)
    choices: list[list[str]] = []
    for override, text in zip(parsed, overrides, strict=True):
        if override.is_sweep_override():
            key = text.split("=", 1)[0]
            try:
                choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
            except Exception:  # an interval sweep (for an optimiser) has no list of values to check
                continue
        else:
            choices.append([text])
    first = [options[0] for options in choices]
    variants = [first]
    for position, options in enumerate(choices):
        for option in options[1:]:
            variants.append([*first[:position], option, *first[position + 1 :]])
    return variants


def _sweep_values(override: Any) -> list[Any]:
    if override.is_sweep_override():
        return list(override.sweep_iterator())
    return [override.value()]


# ---------------------------------------------------------------- composing
def validate(data: dict[str, Any]) -> CareConfig:
    """A ``CareConfig`` from plain data, or a ``ConfigError`` naming the first bad key."""
    try:
        config = CareConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_unknown_name(error, data) or describe_validation_error(error)) from None
    for key, names in (
        ("planner.scenarios", config.planner.scenarios),
        ("planner.verify.scenarios", config.planner.verify.scenarios),
    ):
        for name in names:
            if name not in available_scenarios():
                raise ConfigError(f"{key}: unknown scenario '{name}'; available: {available_scenarios()}")
    return config


#: Named collections of the config: a key given there that lacks required settings is most likely misspelt.
NAMED = {("population", "segments"): "segment", ("catalogue",): "programme"}


def _unknown_name(error: ValidationError, data: dict[str, Any]) -> str | None:
    """For a required setting missing under a segment or programme name: say the name is unknown (a misspelling
    of one of the known names, or a new entry that must give every setting)."""
    first = error.errors()[0]
    if first["type"] != "missing":
        return None
    loc = tuple(str(part) for part in first["loc"])
    for prefix, what in NAMED.items():
        if loc[: len(prefix)] != prefix or len(loc) < len(prefix) + 2:
            continue
        name = loc[len(prefix)]
        entries = data
        for part in prefix:
            entries = entries.get(part, {}) if isinstance(entries, dict) else {}
        known = sorted(k for k in entries if k != name) if isinstance(entries, dict) else []
        return (
            f"{'.'.join(prefix)}.{name}: unknown {what} '{name}'; known {what}s: {known} (a new {what} must give "
            f"every setting; '{loc[len(prefix) + 1]}' is missing)"
        )
    return None


def describe_validation_error(error: ValidationError) -> str:
    """One line for the first problem pydantic found: the dotted key, what is wrong, the value given."""
    first = error.errors()[0]
    # union branches add type tags such as "constrained-float" to the location: they are not keys
    parts = [str(part) for part in first["loc"] if not any(mark in str(part) for mark in "-[(")]
    kind, message = first["type"], first["msg"]
    if not parts:  # a whole-config check: its message starts with the key
        return message.removeprefix("Value error, ")
    key = ".".join(parts)
    if kind == "extra_forbidden":
        return f"{key}: unknown config key"
    if kind == "missing":
        return f"{key}: required key is missing"
    message = message.removeprefix("Value error, ")
    given = first.get("input")
    shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
    return f"{key}: {message}{shown}"


def build_config(composed: dict[str, Any], overrides: Sequence[str] = ()) -> CareConfig:
    """Apply the scenario named in ``composed`` and then ``overrides`` (value overrides only), and validate."""
    scenario = read_scenario(str(composed.get("scenario", "baseline")))
    merged = OmegaConf.merge(OmegaConf.create(composed), OmegaConf.create(scenario["overrides"]))
    groups = config_groups()
    for override in _parse_overrides(overrides):
        key = override.key_or_group.lstrip("+")
        if key in groups or key == "scenario" or key.startswith("hydra") or override.is_delete():
            continue
        # a policy entry is one value: a new one replaces the default's per-segment shares, never merges into them
        whole = key.startswith("policy.") and key.count(".") == 1
        OmegaConf.update(merged, key, override.value(), merge=not whole, force_add=True)
    data = OmegaConf.to_container(merged, resolve=True)
    data.setdefault("description", scenario["description"])
    if not data.get("description"):
        data["description"] = scenario["description"]
    return validate(data)


def compose(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Hydra-compose ``conf/`` with the overrides (for the Python API; the CLI gets this from Hydra)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    running = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    GlobalHydra.instance().clear()  # inside the caresim app (planning across scenarios): set the app's aside
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=[*overrides, *search_path_override()])
    except HydraException as error:
        raise ConfigError(
            " ".join(str(error).split("\n")[:1] + [line.strip() for line in str(error).split("\n")[2:3]])
        ) from None
    finally:
        if running is not None:
            GlobalHydra.instance().clear()
            GlobalHydra.instance().initialize(running)
    return OmegaConf.to_container(cfg, resolve=True)


def for_hydra(overrides: Sequence[str]) -> list[str]:
    """Value overrides as ``++key=value``, so any key of the schema can be set, even one the YAML leaves out.

    Group choices, ``scenario``, Hydra's own keys and overrides that already carry ``+`` or ``~`` are kept.
    """
    groups = config_groups()
    converted = []
    for override in overrides:
        key = override.split("=", 1)[0]
        plain = not key.startswith(("+", "~")) and key not in groups and key != "scenario"
        converted.append(f"++{override}" if plain and not key.startswith("hydra") else override)
    return converted


def load_config(scenario: str | None = None, overrides: Sequence[str] = ()) -> CareConfig:
    """The validated config of a scenario with optional ``key=value`` overrides, without running Hydra's app."""
    overrides = list(overrides) + ([f"scenario={scenario}"] if scenario else [])
    check_overrides(overrides)
    return build_config(compose(for_hydra(overrides)), overrides)


def _changes(base: Any, changed: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Where ``changed`` differs from ``base``: (path, new value) pairs. Mappings with the same keys are compared
    key by key; a mapping that gained or lost keys, and any other value, is replaced whole."""
    if isinstance(base, dict) and isinstance(changed, dict) and set(base) == set(changed):
        return [change for key in changed for change in _changes(base[key], changed[key], (*path, key))]
    return [] if base == changed else [(path, changed)]


def _set(data: dict, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def with_scenario(config: CareConfig, name: str) -> CareConfig:
    """The config that ``config`` would be had it named scenario ``name``: the defaults, that scenario's file,
    then every setting in which ``config`` differs from its own scenario (the user's overrides) on top.

    An override that sets a key to the value its own scenario already gives cannot be told apart from no
    override, so the other scenario's value applies there.
    """
    own = load_config(config.scenario).model_dump()
    mine = config.model_dump()
    for data in (own, mine):
        data.pop("scenario"), data.pop("description")
    other = load_config(name).model_dump()
    for path, value in _changes(own, mine):
        if len(path) > 1 and not isinstance(_get(other, path[:-1]), dict):
            _set(other, path[:-1], _get(mine, path[:-1]))  # the scenario has no such mapping: take the user's
        else:
            _set(other, path, value)
    return validate(other)


def _get(data: dict, path: tuple) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data
