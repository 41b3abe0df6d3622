"""An operator's own randomised campaign as uplift training data: a CSV with a treatment flag, an outcome and
attribute columns mapped in config (``uplift.columns``), like calibration's customer table.

Attributes are given in their natural units and turned into the simulator's features at joining
(``caresim.engine.attributes.attribute_rows``): tenure in months -> ln(1 + years); monthly revenue -> ln(revenue
/ the mean of the rows' segment); satisfaction (0-1) -> minus ``behaviour.churn.satisfaction_ref``;
complaints -> ln(1 + count); the others as they are. A bad table is refused in one line naming the column and
the row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from caresim.config.errors import ConfigError
from caresim.config.response import ATTRIBUTES
from caresim.config.schema import CareConfig
from caresim.config.tables import check_shape, require_columns, where
from caresim.config.uplift import Labels

#: Allowed range of each attribute in natural units, and what a value must be.
RANGES: dict[str, tuple[float, float, str]] = {
    "tenure": (0, 1200, "months from 0 to 1200"),
    "out_of_contract": (0, 1, "0 or 1"),
    "months_to_contract_end": (0, 120, "months from 0 to 120"),
    "value": (0, 1e7, "a monthly revenue from 0 to 1e7"),
    "overpay": (0, 1, "a share from 0 to 1"),
    "satisfaction": (0, 1, "a score from 0 to 1"),
    "complaints": (0, 1e4, "a count from 0 to 10000"),
    "digital_channel": (0, 1, "0 or 1"),
}


class CampaignError(ConfigError):
    """A campaign table that cannot be used: the message names the file, the column and the row."""


def read_campaign(path: str | Path, config: CareConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, treated, retained) of the campaign table at ``path``; features are rows ``FEATURES``."""
    settings = config.uplift
    columns = settings.columns
    path = Path(path)
    if not path.is_file():
        raise CampaignError(f"uplift.campaign: no such file: {path}")
    raw = _read(path)
    wanted = {"uplift.columns.treated": columns.treated, "uplift.columns.churned": columns.churned}
    if columns.segment is not None:
        wanted["uplift.columns.segment"] = columns.segment
    wanted |= {f"uplift.columns.attributes.{name}": column for name, column in columns.attributes.items()}
    require_columns(path, raw, wanted, CampaignError)
    treated = _yes_no(raw[columns.treated], settings.treated_labels, path, columns.treated, "uplift.treated_labels")
    churned = _yes_no(raw[columns.churned], settings.churned_labels, path, columns.churned, "uplift.churned_labels")
    segment_names = list(config.population.segments)
    if columns.segment is None:
        segment = np.zeros(len(raw), dtype=int)
    else:
        text = raw[columns.segment].str.strip()
        unknown = ~text.isin(segment_names)
        if unknown.any():
            row = int(np.flatnonzero(unknown.to_numpy())[0])
            raise CampaignError(
                f"{where(path, columns.segment, row)}: unknown segment {text.iloc[row]!r}; known segments: "
                f"{segment_names}"
            )
        segment = text.map(segment_names.index).to_numpy(dtype=int)
    natural = {name: np.zeros(len(raw)) for name in ATTRIBUTES}
    for name, column in columns.attributes.items():
        natural[name] = _numbers(raw[column], name, path, column)
    features = _features(natural, segment, config)
    return features, treated, ~churned


def _features(natural: dict[str, np.ndarray], segment: np.ndarray, config: CareConfig) -> np.ndarray:
    rows = dict(natural)
    rows["tenure"] = np.log1p(natural["tenure"] / 12.0)
    if "value" in config.uplift.columns.attributes:
        means = np.array(
            [
                natural["value"][segment == s].mean() if (segment == s).any() else 1.0
                for s in range(len(config.population.segments))
            ]
        )
        rows["value"] = np.log(np.maximum(natural["value"], 1e-9) / np.maximum(means[segment], 1e-9))
    if "satisfaction" in config.uplift.columns.attributes:
        rows["satisfaction"] = natural["satisfaction"] - config.behaviour.churn.satisfaction_ref
    rows["complaints"] = np.log1p(natural["complaints"])
    return np.vstack([np.array([rows[name] for name in ATTRIBUTES]), segment[None, :].astype(float)])


def _read(path: Path) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise CampaignError(f"uplift.campaign: {path}: the file is empty (no header, no rows)")
    check_shape(path, CampaignError)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise CampaignError(f"uplift.campaign: {path}: not a readable CSV ({str(error).splitlines()[0]})") from None
    except pd.errors.EmptyDataError:
        raise CampaignError(f"uplift.campaign: {path}: the file is empty (no header, no rows)") from None


def _yes_no(text: pd.Series, labels: Labels, path: Path, column: str, key: str) -> np.ndarray:
    stripped = text.str.strip()
    bad = ~stripped.isin(labels.yes + labels.no)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise CampaignError(
            f"{where(path, column, row)}: {stripped.iloc[row]!r} is neither yes {labels.yes} nor no {labels.no} ({key})"
        )
    return stripped.isin(labels.yes).to_numpy()


def _numbers(text: pd.Series, attribute: str, path: Path, column: str) -> np.ndarray:
    low, high, kind = RANGES[attribute]
    stripped = text.str.strip()
    values = pd.to_numeric(stripped, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < low) | (values > high)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CampaignError(f"{where(path, column, row)}: {attribute} {stripped.iloc[row]!r} is not {kind}")
    return values
