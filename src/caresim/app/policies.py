"""Care mixes as policy files: the mapping ``{programme: {segment: share or {share, target}}}`` saved as
``<user config folder>/policy/<name>.yaml``, which ``caresim policy=<name>`` and ``caresim.simulate`` read.

Also the cost of a care mix before it is run (``mix_cost``), from the monthly demand of a reference run of the
same scenario at full coverage, each programme's capacity and its costs per contact and per month. Care changes
who stays and so the demand a little; the simulated cost is shown beside the prediction once the mix is run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from caresim.config.errors import ConfigError
from caresim.files import write_file_atomic

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
Mix = Mapping[str, Mapping[str, Any]]


def own_policy_names() -> set[str]:
    """caresim's own policy options (``conf/policy``): a user file of the same name would never be used."""
    from caresim.config.loading import conf_dir

    return {path.stem for path in (conf_dir() / "policy").glob("*.yaml")}


def policy_path(name: object) -> Path:
    """Where policy ``name`` is saved (the user's config folder; caresim's own ``conf/`` is never written)."""
    from caresim.config.loading import user_conf_dir

    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(f"name: lowercase letters, digits and _, starting with a letter (got {name!r})")
    if name in own_policy_names():
        raise ConfigError(f"name: '{name}' is one of caresim's own policies; choose another name")
    return user_conf_dir() / "policy" / f"{name}.yaml"


def save_policy(name: object, mix: Mix, overwrite: bool = False, note: str = "") -> Path:
    """Write ``mix`` as policy ``name`` (whole or not at all); an existing file is kept unless ``overwrite``.
    ``note`` becomes the file's comment lines."""
    path = policy_path(name)
    if path.exists() and not overwrite:
        raise ConfigError(f"policy '{name}' exists ({path}); tick 'overwrite' to replace it")
    kept = {p: dict(shares) if isinstance(shares, Mapping) else shares for p, shares in mix.items()}
    header = "".join(f"# {line}\n" for line in note.splitlines())
    text = header + yaml.safe_dump(kept, sort_keys=False, default_flow_style=None)
    try:
        return write_file_atomic(path, text.encode("utf-8"))
    except OSError as error:
        raise ConfigError(f"name: cannot write {path}: {error.strerror or error}") from None


def _share(entry: Any) -> float:
    return float(entry["share"]) if isinstance(entry, Mapping) else float(entry)


def _covered(mix: Mix, programme: str, segment: str, holdout: float = 0.0) -> float:
    """The share of ``segment`` that ``programme`` treats: a per-segment entry, or one share for all segments;
    under a targeting rule other than random, ``holdout`` of those it picks are kept as the control group."""
    entry = mix.get(programme, {})
    if isinstance(entry, Mapping) and "share" not in entry:
        entry = entry.get(segment, 0.0)
    targeted = isinstance(entry, Mapping) and entry.get("target", "random") != "random"
    return _share(entry) * (1.0 - holdout if targeted else 1.0)


def mix_grid(mix: Mix, programmes: list[str], segments: list[str]) -> tuple[list[dict], dict[str, dict[str, str]]]:
    """Rows ``{"programme", <segment>: share}`` for the grid, and the targeting rules the shares carry."""
    rows, targets = [], {}
    for programme in programmes:
        row: dict[str, Any] = {"programme": programme}
        for segment in segments:
            entry = mix.get(programme, {}).get(segment, 0.0)
            row[segment] = round(_share(entry), 6)
            if isinstance(entry, Mapping) and entry.get("target", "random") != "random":
                targets.setdefault(programme, {})[segment] = str(entry["target"])
        rows.append(row)
    return rows, targets


def grid_mix(rows: list[dict], segments: list[str], targets: Mapping[str, Mapping[str, str]]) -> dict[str, dict]:
    """The mapping of grid rows (cells left empty count as 0), each share keeping its targeting rule."""
    mix: dict[str, dict[str, Any]] = {}
    for row in rows:
        programme = str(row["programme"])
        for segment in segments:
            value = row.get(segment)
            share = 0.0 if value in (None, "") else value
            try:
                share = float(share)
            except (TypeError, ValueError):
                message = f"policy.{programme}.{segment}: a share must be a number in [0, 1], got {value!r}"
                raise ConfigError(message) from None
            rule = targets.get(programme, {}).get(segment)
            mix.setdefault(programme, {})[segment] = {"share": share, "target": rule} if rule else share
    return mix


def mix_cost(
    mix: Mix, care_spend: pd.DataFrame, catalogue: Mapping[str, Any], n_months: int, holdout: float = 0.0
) -> pd.DataFrame:
    """Per programme: the predicted contacts, variable and fixed cost of ``mix`` over the horizon.

    ``care_spend`` is the table of a reference run at full coverage: its ``eligible_triggered`` is each month's
    demand by segment. A mix reaches ``share`` of it in each segment, at the contacts per eligible subscriber the
    reference delivered where its capacity never bound (else one), up to the programme's ``capacity_per_month``;
    each contact costs ``cost_per_contact``, and a programme that covers anyone pays ``cost_fixed_per_month``.
    Contacts the per-subscriber contact cap withheld in the reference count as delivered there (a sparser mix
    meets the cap less often); targeted shares treat all but the ``holdout``. An estimate: care changes who
    stays, and so the demand, a little."""
    rows = []
    for programme, group in care_spend.groupby("programme", sort=False):
        spec = catalogue[programme]
        shares = pd.Series([_covered(mix, programme, s, holdout) for s in group["segment"]], index=group.index)
        monthly = group.assign(reached=shares * group["eligible_triggered"]).groupby("month")
        withheld = group.get("withheld_by_contact_policy", 0.0)
        demand = monthly["eligible_triggered"].sum()
        delivered = (group["contacts"] + withheld).groupby(group["month"]).sum()
        capacity = spec.capacity_per_month
        binds = capacity is not None and bool((monthly["contacts"].sum() >= capacity - 0.5).any())
        per_eligible = 1.0 if binds or demand.sum() == 0 else float(delivered.sum() / demand.sum())
        contacts = monthly["reached"].sum() * per_eligible
        if capacity is not None:
            contacts = contacts.clip(upper=capacity)
        running = bool((shares > 0).any())
        variable = float(contacts.sum()) * spec.cost_per_contact
        fixed = spec.cost_fixed_per_month * n_months if running else 0.0
        rows.append(
            {
                "programme": programme,
                "contacts": float(contacts.sum()),
                "variable_cost": variable,
                "fixed_cost": fixed,
                "cost": variable + fixed,
            }
        )
    return pd.DataFrame(rows)


def full_coverage(programmes: list[str]) -> dict[str, float]:
    """Every programme offered to every eligible subscriber: the reference run for costs."""
    return dict.fromkeys(programmes, 1.0)
