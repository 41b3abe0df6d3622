"""Form fields that carry the config schema's range and meaning, and checking values as the CLI does.

``describe("market.p_bill_shock")`` reads the pydantic schema (``caresim.config.schema``): the type, the bounds
and the description. ``check(scenario, overrides)`` builds the config exactly as ``caresim`` would and returns
the CLI's one-line message on bad input, with the key it names so that the page can show it by that field.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Any

import annotated_types
from pydantic import BaseModel

from caresim.config.errors import ConfigError
from caresim.config.schema import CareConfig


@dataclass(frozen=True)
class Parameter:
    """One config key as a form shows it."""

    key: str
    kind: str  # "int" | "float" | "bool" | "choice" | "text"
    description: str
    minimum: float | None = None  # inclusive
    maximum: float | None = None  # inclusive
    above: float | None = None  # exclusive lower bound
    below: float | None = None  # exclusive upper bound
    choices: tuple[str, ...] = ()
    optional: bool = False

    @property
    def range_text(self) -> str:
        """The allowed values in words, as a help line shows them."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        low = f"≥ {self.minimum:g}" if self.minimum is not None else ""
        low = f"> {self.above:g}" if self.above is not None else low
        high = f"≤ {self.maximum:g}" if self.maximum is not None else ""
        high = f"< {self.below:g}" if self.below is not None else high
        words = {"int": "a whole number", "float": "a number", "bool": "yes or no"}.get(self.kind, "text")
        bounds = ", ".join(b for b in (low, high) if b)
        return f"{words}{' ' + bounds if bounds else ''}{', or empty' if self.optional else ''}"


def _unwrap(annotation: Any) -> tuple[Any, list[Any], bool]:
    """The bare type of an annotation, its constraint metadata, and whether None is allowed."""
    metadata: list[Any] = []
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            for item in extra:
                metadata.extend(getattr(item, "metadata", [item]))
            continue
        if origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(options) < len(typing.get_args(annotation))
            if len(options) == 1:
                annotation = options[0]
                continue
        return annotation, metadata, optional


def describe(key: str, model: type[BaseModel] = CareConfig) -> Parameter:
    """The schema's description of dotted ``key`` (``KeyError`` for a key the schema does not have)."""
    parts = key.split(".")
    current: Any = model
    info = None
    metadata: list[Any] = []
    optional = False
    for position, part in enumerate(parts):
        bare, _, _ = _unwrap(current)
        if isinstance(bare, type) and issubclass(bare, BaseModel):
            if part not in bare.model_fields:
                raise KeyError(key)
            info = bare.model_fields[part]
            current, metadata, optional = _unwrap(info.annotation)
            metadata = [*info.metadata, *metadata]
        elif typing.get_origin(bare) is dict:  # a keyed section: segments.<name>, regions.<name>
            current, metadata, optional = _unwrap(typing.get_args(bare)[1])
        else:
            raise KeyError(".".join(parts[: position + 1]))
    bare, _, _ = _unwrap(current)
    description = (info.description or "") if info is not None else ""
    bounds: dict[str, float] = {}
    for item in metadata:
        for name, attribute in (("minimum", "ge"), ("maximum", "le"), ("above", "gt"), ("below", "lt")):
            value = getattr(item, attribute, None)
            if value is not None and isinstance(item, annotated_types.BaseMetadata):
                bounds[name] = float(value)
    if typing.get_origin(bare) is typing.Literal:
        return Parameter(key, "choice", description, choices=tuple(map(str, typing.get_args(bare))), optional=optional)
    kind = {bool: "bool", int: "int", float: "float"}.get(bare, "text")
    return Parameter(key, kind, description, optional=optional, **bounds)


def value_at(config: CareConfig, key: str) -> Any:
    """The value of dotted ``key`` in a config."""
    current: Any = config
    for part in key.split("."):
        current = current[part] if isinstance(current, dict) else getattr(current, part)
    return current


def override(key: str, value: Any) -> str:
    """``key=value`` as the CLI takes it (None becomes null; text is passed as typed)."""
    if value is None or value == "":
        return f"{key}=null"
    if isinstance(value, bool):
        return f"{key}={'true' if value else 'false'}"
    return f"{key}={value}"


#: what a field's value may look like on its way to the config: numbers, words, null/true/false, a list of
#: names; never an interpolation (``${...}``) or anything else a crafted request could slip in
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.+\-\[\], ]*$")


def refused(overrides: list[str], allowed: set[str]) -> tuple[str, str] | None:
    """The key and one-line reason when an override is not one of the page's own fields or its value is not
    plain data (a request can carry any id and value, not only what the page shows)."""
    for item in overrides:
        key, _, value = item.lstrip("~").partition("=")
        if key not in allowed:
            return key, f"{key}: not a setting this page changes"
        if not SAFE_VALUE.match(value):
            return key, f"{key}: not a value this field takes (got {value!r})"
    return None


def check(
    scenario: str | None, overrides: list[str], allowed: set[str] | None = None
) -> tuple[CareConfig | None, str | None, str | None]:
    """``(config, None, None)``, or ``(None, key, message)`` with the CLI's one line for bad input. With
    ``allowed``, only those keys may be set, to plain values; the scenario must be one of caresim's."""
    from caresim.config.loading import available_scenarios, load_config

    if allowed is not None:
        problem = refused(overrides, allowed)
        if problem:
            return None, *problem
        if scenario is not None and scenario not in available_scenarios():
            return None, "scenario", f"scenario: unknown scenario '{scenario}'; available: {available_scenarios()}"
    try:
        return load_config(scenario, overrides), None, None
    except ConfigError as error:
        message = str(error)
        return None, message.split(":", 1)[0].strip(), message
    except Exception as error:  # anything else the composition raises: one line, never a failed callback
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None, None, f"cannot build the config: {text}"
