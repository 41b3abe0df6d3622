"""The calibration's part of the config schema (``calibration.*``): what the population is fitted to, how.

Two kinds of calibration:

- ``table``: a customer table (one snapshot: each row a customer seen once, churned = left in the last
  month). Its figures (share churned by contract, by tenure bucket and by monthly-charge quartile, tenure
  quartiles of all and of churned customers) are computed from the table named by ``table``, or taken from
  ``figures`` (shipped with their source), and matched by a simulated snapshot.
- ``rates``: published monthly churn rates (a band per calendar quarter or for the year), matched by the
  monthly churn of a simulated base in steady state.

Shares are fractions (0.0265 = 2.65%), tenure is in months, charges in the table's currency.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
Share = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Quarter = Literal["q1", "q2", "q3", "q4"]
RATE_PERIODS = ("year", "q1", "q2", "q3", "q4")
#: The target families of a table calibration, in report order.
TABLE_TARGETS = (
    "churn_overall",
    "contract_share",
    "churn_by_contract",
    "churn_by_segment",
    "churn_by_tenure",
    "tenure_quartiles",
    "tenure_quartiles_churned",
    "charge_quartiles",
    "churn_by_charge_quartile",
    "churn_by_tenure_month_to_month",
)
#: Families reported beside the fit but not fitted unless given a weight: a check the fit never saw.
HOLDOUT_TARGETS = ("churn_by_tenure_month_to_month",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # figures of empty groups are NaN


class Columns(_Strict):
    """Which column of the customer table holds each field (an operator's export may name them otherwise)."""

    tenure: str = Field("tenure", description="months with the operator at the snapshot (or when they left)")
    contract: str = Field("Contract", description="contract type; its labels are mapped by contract_labels")
    churned: str = Field("Churn", description="whether the customer left in the last month; see churn_labels")
    monthly_charge: str = Field("MonthlyCharges", description="monthly charge (revenue per month)")


class ChurnLabels(_Strict):
    """The strings of the churn column that mean churned and stayed (compared after stripping blanks)."""

    churned: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["Yes"], description="labels of customers who left in the last month (at least one)"
    )
    stayed: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["No"], description="labels of customers still there (at least one)"
    )

    @model_validator(mode="after")
    def _disjoint(self) -> ChurnLabels:
        both = sorted(set(self.churned) & set(self.stayed))
        if both:
            raise ValueError(f"labels {both} are listed as both churned and stayed")
        return self


class Cell(_Strict):
    """Which table rows make up one segment: a contract length and a band of monthly-charge quantiles."""

    contract_months: Annotated[int, Field(ge=0, le=60)] = Field(description="contract length of the rows")
    charge_quantiles: tuple[Share, Share] = Field(
        (0.0, 1.0), description="rows whose monthly charge lies between these quantiles of the whole table's"
    )
    tenure_months: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]] | None = Field(
        None,
        description="rows whose tenure lies in [first, last] months (a latent class seen by its tenure, e.g. "
        "early-life churners); null: any tenure",
    )

    @field_validator("charge_quantiles")
    @classmethod
    def _rising(cls, band: tuple[float, float]) -> tuple[float, float]:
        if not band[0] < band[1]:
            raise ValueError(f"needs lower < upper, got {list(band)}")
        return band

    @field_validator("tenure_months")
    @classmethod
    def _ordered(cls, band: tuple[int, int] | None) -> tuple[int, int] | None:
        if band is not None and band[0] > band[1]:
            raise ValueError(f"needs first <= last, got {list(band)}")
        return band


class SegmentStart(_Strict):
    """How one segment of the calibrated population starts, before the fit.

    The segment is a copy of ``like`` (a segment of the config's population; default: the same name), with
    the keys in ``set`` replaced. With a ``cell``, its size, revenue, tenure, contract and prospect arrivals
    are estimated directly from the table's rows in that cell (see ``calibration.cells``).
    """

    like: str | None = Field(None, description="segment of the config's population to copy (null: same name)")
    set: dict[str, Any] = Field(default_factory=dict, description="segment keys to replace, e.g. contract_mix")
    cell: Cell | None = Field(None, description="the table rows this segment stands for (table calibration)")


class CellFigures(_Strict):
    """Direct estimates for one segment, from the table rows in its cell."""

    n: Annotated[int, Field(ge=0)] = Field(description="rows in the cell")
    churn: Share = Field(description="share of the cell's rows that churned")
    charge_mean: NonNegative = Field(description="mean monthly charge")
    charge_cv: NonNegative = Field(description="coefficient of variation of the monthly charge")
    tenure_mean: NonNegative = Field(description="mean tenure, months")
    tenure_sd: NonNegative = Field(description="standard deviation of tenure, months")


class Figure(_Strict):
    """One observed figure and its sampling standard error."""

    value: float = Field(description="the figure: a share (0-1), months or the charge's currency")
    se: NonNegative = Field(description="standard error of the value (sampling error of the table)")


class TableFigures(_Strict):
    """The target figures of a customer table, with where they come from (so no table is needed to fit)."""

    source: str = Field("", description="where the figures come from: data set, repository, commit, SHA-256")
    n_rows: Annotated[int, Field(ge=1)] = Field(description="rows (customers) in the table")
    figures: dict[str, dict[str, Figure]] = Field(
        description="target family -> group -> figure; families: " + ", ".join(TABLE_TARGETS)
    )
    cells: dict[Annotated[str, Field(pattern=NAME_PATTERN)], CellFigures] = Field(
        default_factory=dict, description="segment -> direct estimates from the rows of its cell"
    )

    @field_validator("figures")
    @classmethod
    def _known_targets(cls, figures: dict) -> dict:
        unknown = sorted(set(figures) - set(TABLE_TARGETS))
        if unknown:
            raise ValueError(f"unknown target families {unknown}; known: {list(TABLE_TARGETS)}")
        return figures


class Band(_Strict):
    """A published monthly churn rate: the band it lies in; the fit aims at ``value`` (default: the middle)."""

    low: Share = Field(description="lowest published monthly churn")
    high: Share = Field(description="highest published monthly churn")
    value: Share | None = Field(None, description="point aimed at (null: the middle of the band)")

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if not self.low < self.high:
            raise ValueError(f"needs low < high, got {self.low} and {self.high}")
        if self.value is not None and not self.low <= self.value <= self.high:
            raise ValueError(f"value {self.value} lies outside the band [{self.low}, {self.high}]")
        return self

    @property
    def aim(self) -> float:
        """The point the fit aims at."""
        return (self.low + self.high) / 2 if self.value is None else self.value


class Rates(_Strict):
    """Published monthly churn of a base: a band for the year or per calendar quarter, and which quarter peaks."""

    source: str = Field("", description="where the rates come from")
    targets: dict[Literal[RATE_PERIODS], Band] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="'year' and/or 'q1'..'q4' -> the band of monthly churn"
    )
    highest_quarter: Quarter | None = Field(None, description="the quarter with the highest churn (checked)")
    n_months_burn_in: Annotated[int, Field(ge=0, le=240)] = Field(
        12, description="months simulated before measuring, so the base's tenure mix settles"
    )
    n_years: Annotated[int, Field(ge=1, le=20)] = Field(2, description="years measured after the burn-in")


class Snapshot(_Strict):
    """How a candidate population is simulated for comparison."""

    n_subscribers: Annotated[int, Field(ge=100, le=2_000_000)] = Field(
        40_000,
        description="simulated subscribers (run.scale = the population's size / this, at least 1); more means "
        "less simulation noise and slower evaluations",
    )
    n_months: Annotated[int, Field(ge=1, le=24)] = Field(
        1,
        description="table: months simulated; the last is the snapshot month (the cross-section is who is "
        "active when it opens, churned = left during it)",
    )


class Fit(_Strict):
    """The optimiser: scipy.optimize.least_squares (trust region reflective) on log parameters."""

    max_evaluations: Annotated[int, Field(ge=1, le=5000)] = Field(
        150, description="most simulations of the objective (each Jacobian costs one per free parameter)"
    )
    xtol: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        1e-3, description="stop when a step changes the log parameters by less than this (relative)"
    )
    ftol: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        1e-3, description="stop when a step lowers the weighted squared error by less than this share"
    )
    diff_step: Annotated[float, Field(gt=0.0, le=0.5)] = Field(
        0.05,
        description="finite-difference step on the log parameters: large enough that a step changes how many "
        "simulated subscribers churn (common random numbers make the objective a fine staircase)",
    )


class Parameter(_Strict):
    """A free parameter: a positive config value multiplied by exp(theta), theta fitted.

    ``key`` is a dotted config key; ``*`` in place of a segment name means every segment. Keys:
    ``population.segments.<s>.<number key>`` (e.g. rate_churn_base, tenure.mean_months, revenue_per_month)
    and ``market.rel_churn_by_calendar_month.q1``..``q4`` (the three months of a calendar quarter).
    """

    key: str = Field(description="dotted key of a positive number; '*' for every segment")
    tie: bool = Field(False, description="one common multiplier for every key '*' matches (keeps their ratios)")
    rel_lower: Annotated[float, Field(gt=0.0, le=1.0)] = Field(0.02, description="smallest multiplier of the start")
    rel_upper: Annotated[float, Field(ge=1.0)] = Field(50.0, description="largest multiplier of the start")


#: Largest acceptable |fitted - observed| per target family: shares as fractions, tenure and charges in their units.
DEFAULT_TOLERANCES: dict[str, float] = {
    "churn_overall": 0.02,
    "contract_share": 0.02,
    "churn_by_contract": 0.02,
    "churn_by_segment": 0.03,
    "churn_by_tenure": 0.03,
    "tenure_quartiles": 3.0,
    "tenure_quartiles_churned": 3.0,
    "charge_quartiles": 3.0,
    "churn_by_charge_quartile": 0.03,
    "churn_by_tenure_month_to_month": 0.03,
}


class Calibration(_Strict):
    """``caresim mode=calibrate``: fit the population to a customer table or to published churn rates."""

    kind: Literal["table", "rates"] = Field("table", description="fit to a customer table, or to published rates")
    description: str = ""
    table: str | None = Field(None, description="CSV of customers; null: use the shipped figures (calibration.figures)")
    columns: Columns = Columns()
    contract_labels: dict[str, Annotated[int, Field(ge=0, le=60)]] = Field(
        default_factory=lambda: {"Month-to-month": 0, "One year": 12, "Two year": 24},
        description="label in the contract column -> contract length in months (0 = month-to-month)",
    )
    churn_labels: ChurnLabels = ChurnLabels()
    tenure_buckets: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: [0, 6, 12, 24, 48],
        description="lower ends of the tenure buckets; bucket k holds tenure in (edge_k, edge_k+1], the first "
        "from 0, the last open",
    )
    tenure_cap_months: Annotated[int, Field(ge=1)] | None = Field(
        72, description="tenures above this count as this (the table's own cap); null: none"
    )
    figures: TableFigures | None = Field(None, description="the table's figures, shipped (used when table is null)")
    rates: Rates = Rates()
    segments: dict[Annotated[str, Field(pattern=NAME_PATTERN)], SegmentStart] = Field(
        default_factory=dict,
        description="the calibrated population's segments and how each starts; empty: the config's population",
    )
    size: Annotated[int, Field(ge=1)] | None = Field(
        None, description="real subscribers of the calibrated base (table: split by the cells); null: as is"
    )
    parameters: list[Parameter] = Field(default_factory=list, description="the free parameters")
    weights: dict[str, NonNegative] = Field(
        default_factory=dict, description="target family -> weight multiplier (default 1; 0 = report only)"
    )
    tolerances: dict[str, NonNegative] = Field(
        default_factory=lambda: dict(DEFAULT_TOLERANCES),
        description="target family -> largest acceptable |fitted - observed| (rates: the band itself); "
        "families not named keep their default",
    )
    snapshot: Snapshot = Snapshot()
    fit: Fit = Fit()
    save_as: Annotated[str, Field(pattern=NAME_PATTERN)] | None = Field(
        None,
        description="also write the calibrated population as population/<save_as>.yaml in the user's config folder "
        "($CARESIM_CONFIG_DIR, else $XDG_CONFIG_HOME/caresim, else ~/.config/caresim), so that population=<save_as> "
        "reads it",
    )
    overwrite: bool = Field(False, description="allow save_as to replace an existing population config")

    @field_validator("tenure_buckets")
    @classmethod
    def _buckets_rise(cls, edges: list[int]) -> list[int]:
        if not edges or edges[0] != 0 or any(b <= a for a, b in pairwise(edges)):
            raise ValueError(f"must start at 0 and rise, got {edges}")
        return edges

    @field_validator("contract_labels")
    @classmethod
    def _some_contract(cls, labels: dict[str, int]) -> dict[str, int]:
        if not labels:
            raise ValueError("name at least one contract label")
        return labels

    @field_validator("weights", "tolerances")
    @classmethod
    def _known_families(cls, values: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(values) - set(TABLE_TARGETS) - set(RATE_PERIODS))
        if unknown:
            raise ValueError(f"unknown targets {unknown}; known: {list(TABLE_TARGETS) + list(RATE_PERIODS)}")
        return values

    @field_validator("tolerances")
    @classmethod
    def _defaults_kept(cls, values: dict[str, float]) -> dict[str, float]:
        """Setting one family's tolerance keeps the others' defaults (a partial mapping does not drop them)."""
        return {**DEFAULT_TOLERANCES, **values}
