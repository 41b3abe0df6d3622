"""Free parameters of a calibration: dotted config keys, expanded over segments, fitted as log multipliers.

Each free parameter multiplies one or more positive config values (its paths) by ``exp(theta)``; the
start values are those of the start config, so ``theta = 0`` is the start and every candidate stays positive.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from caresim.config.calibration import Parameter
from caresim.config.errors import ConfigError

QUARTER_MONTHS = {"q1": (0, 1, 2), "q2": (3, 4, 5), "q3": (6, 7, 8), "q4": (9, 10, 11)}
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class FreeParameter:
    """One fitted number: the config values it scales (``paths``) and their start values."""

    name: str
    paths: tuple[Path, ...]
    start: tuple[float, ...]
    lower: float  # bounds of theta
    upper: float

    def values(self, theta: float) -> list[float]:
        """The config values at ``theta``."""
        return [value * math.exp(theta) for value in self.start]


def _get(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data


def _set(data: Any, path: Path, value: float) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _expand(data: dict, parts: list[str], key: str) -> list[Path]:
    """Every concrete path matching ``parts`` ('*' = every key of a mapping; q1..q4 of a 12-month list)."""
    paths: list[Path] = [()]
    for position, part in enumerate(parts):
        grown: list[Path] = []
        for path in paths:
            node = _get(data, path)
            if part == "*":
                if not isinstance(node, dict):
                    raise ConfigError(f"calibration.parameters: {key}: '*' must stand for the keys of a mapping")
                grown += [(*path, name) for name in node]
            elif isinstance(node, list) and part in QUARTER_MONTHS and len(node) == 12:
                grown += [(*path, month) for month in QUARTER_MONTHS[part]]
            elif isinstance(node, dict) and part in node:
                grown.append((*path, part))
            else:
                where = ".".join(parts[:position]) or "the top level"
                raise ConfigError(f"calibration.parameters: {key}: no key '{part}' under {where}")
        paths = grown
    return paths


def expand(parameters: list[Parameter], data: dict) -> list[FreeParameter]:
    """The free parameters of ``parameters`` in the start config ``data`` (plain dict of a whole config)."""
    free: list[FreeParameter] = []
    for parameter in parameters:
        parts = parameter.key.split(".")
        paths = _expand(data, parts, parameter.key)
        groups = [paths] if parameter.tie else _by_star(paths, parts)
        for group in groups:
            start = []
            for path in group:
                value = _get(data, path)
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise ConfigError(
                        f"calibration.parameters: {'.'.join(map(str, path))}: needs a positive number to scale, "
                        f"got {value!r}"
                    )
                start.append(float(value))
            free.append(
                FreeParameter(
                    name=_name(parameter, group, parts),
                    paths=tuple(group),
                    start=tuple(start),
                    lower=math.log(parameter.rel_lower),
                    upper=math.log(parameter.rel_upper),
                )
            )
    names = [parameter.name for parameter in free]
    if len(set(names)) != len(names):
        raise ConfigError("calibration.parameters: a key is listed twice")
    return free


def _by_star(paths: list[Path], parts: list[str]) -> list[list[Path]]:
    """Untied: one parameter per value a '*' stands for (a quarter's three months stay one parameter)."""
    if "*" not in parts:
        return [paths]
    groups: dict[tuple, list[Path]] = {}
    stars = [position for position, part in enumerate(parts) if part == "*"]
    for path in paths:
        groups.setdefault(tuple(path[position] for position in stars), []).append(path)
    return list(groups.values())


def _name(parameter: Parameter, group: list[Path], parts: list[str]) -> str:
    if parameter.tie or "*" not in parts:
        return parameter.key
    first = group[0]
    return ".".join(str(first[p]) if part == "*" else part for p, part in enumerate(parts))


def apply(data: dict, free: list[FreeParameter], theta: list[float] | tuple[float, ...]) -> dict:
    """A copy of ``data`` with every free parameter set to its value at ``theta``."""
    data = copy.deepcopy(data)
    for parameter, value in zip(free, theta, strict=True):
        for path, number in zip(parameter.paths, parameter.values(float(value)), strict=True):
            _set(data, path, number)
    return data
