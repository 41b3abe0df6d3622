"""A readable summary of one run, built from its tables only."""

from __future__ import annotations

import pandas as pd

from caresim.config.schema import CareConfig
from caresim.results.run import Results


def _money(value: float) -> str:
    for unit, size in (("bn", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.2f} {unit}"
    return f"{value:,.0f}"


def headline(results: Results) -> dict[str, float]:
    """The run's headline figures (whole base, whole horizon)."""
    kpis = results.kpis
    by_month = kpis.groupby("month").sum(numeric_only=True)
    final = kpis[kpis["month"] == kpis["month"].max()]
    active_end = final["active"].sum()
    spend = results.programme_costs["total_spend"].sum()
    return {
        "active_start": float(by_month["active_start"].iloc[0]),
        "active_end": float(active_end),
        "monthly_churn_rate": float((by_month["churned"] / by_month["active_start"]).mean()),
        "new_per_month": float(by_month["new"].mean()),
        "won_back_per_month": float(by_month["won_back"].mean()),
        "complaints_per_1000_per_month": float((1000 * by_month["complaints"] / by_month["active_start"]).mean()),
        "first_contact_resolution": float(
            by_month["resolved_first_contact"].sum() / max(by_month["complaints"].sum(), 1)
        ),
        "mean_wait_hotline_min": float(
            (kpis["mean_wait_hotline_min"].fillna(0) * kpis["hotline_contacts"]).sum()
            / max(kpis["hotline_contacts"].sum(), 1)
        ),
        "satisfaction_good_or_better": float(
            ((final["satisfaction_excellent"] + final["satisfaction_good"]) * final["active"]).sum()
            / max(active_end, 1)
        ),
        "satisfaction_poor": float((final["satisfaction_poor"] * final["active"]).sum() / max(active_end, 1)),
        "revenue": float(kpis["revenue"].sum()),
        "care_spend": float(spend),
    }


def _regions_line(config: CareConfig) -> list[str]:
    """The regions simulated (none in a base without regions), and how they ran."""
    regions = config.population.regions
    if not regions:
        return []
    chosen = [name for name in regions if name in (config.run.regions or regions)]
    shares = ", ".join(f"{name} {100 * regions[name].share:.0f}%" for name in chosen)
    workers = min(config.run.n_shard_workers, len(chosen))
    how = f"as {len(chosen)} shards on {workers} workers" if workers > 1 else "in one model"
    return [f"  regions          {shares} (no ties, desks or capacity shared; run {how})"]


def render(results: Results, folder: str | None = None) -> str:
    """The summary printed at the end of a run."""
    figures = headline(results)
    config = results.config
    lines = [
        f"caresim: scenario '{config.scenario}' — {config.description}".rstrip(" —"),
        f"  {config.run.n_months} months, seed {config.run.seed}, 1 simulated subscriber = {config.run.scale:g} real;"
        f" ran in {results.wall_seconds:.1f} s",
        *_regions_line(config),
        f"  subscribers      {figures['active_start']:,.0f} -> {figures['active_end']:,.0f}"
        f"  (new {figures['new_per_month']:,.0f}/month, won back {figures['won_back_per_month']:,.0f}/month)",
        f"  monthly churn    {100 * figures['monthly_churn_rate']:.2f}%",
        f"  complaints       {figures['complaints_per_1000_per_month']:.1f} per 1,000 a month;"
        f" first-contact resolution {100 * figures['first_contact_resolution']:.0f}%;"
        f" mean hotline wait {figures['mean_wait_hotline_min']:.1f} min",
        f"  satisfaction     {100 * figures['satisfaction_good_or_better']:.0f}% Good or better,"
        f" {100 * figures['satisfaction_poor']:.0f}% Poor at the end",
        f"  revenue {_money(figures['revenue'])}, care spend {_money(figures['care_spend'])} (fixed costs included)",
    ]
    lines += programme_lines(results)
    if folder:
        lines += ["", f"tables written to {folder}"]
    return "\n".join(lines)


def _signed(value: float, low: float, high: float, scale: float = 1.0, unit: str = "", digits: int = 2) -> str:
    if pd.isna(value):
        return "-"
    return f"{scale * value:+.{digits}f}{unit} [{scale * low:+.{digits}f}, {scale * high:+.{digits}f}]"


def programme_lines(results: Results) -> list[str]:
    """The programme evaluation as printed: every programme over all segments, against its control group."""
    table = results.programmes
    overall = table[table["segment"] == "all"].set_index("programme")
    if overall.empty:
        return []
    config = results.config
    beyond = (
        f"including revenue kept beyond the horizon (up to {config.evaluation.months_after_horizon:g} months)"
        if config.evaluation.value_beyond_horizon
        else "revenue within the horizon only (evaluation.value_beyond_horizon=true adds what is kept after it)"
    )
    level = float(overall["interval_level"].iloc[0])
    view = pd.DataFrame(
        {
            "reach": overall["reach"].map(lambda v: f"{100 * v:.0f}%" if pd.notna(v) else "-"),
            "timely": overall["timeliness"].map(lambda v: f"{100 * v:.0f}%" if pd.notna(v) else "-"),
            "cost": overall["cost"].map(_money),
            "evaluated": [
                "-" if not cost else f"{100 * evaluated / cost:.0f}%"
                for cost, evaluated in zip(overall["cost"], overall["cost_evaluated"], strict=True)
            ],
            "grade shift": [
                _signed(r.grade_shift, r.grade_shift_low, r.grade_shift_high) for r in overall.itertuples()
            ],
            "churned by end": [
                _signed(
                    -r.churn_reduction_by_end,
                    -r.churn_reduction_by_end_high,
                    -r.churn_reduction_by_end_low,
                    100,
                    "pp",
                    1,
                )
                for r in overall.itertuples()
            ],
            "net benefit": overall["net_benefit"].map(lambda v: _money(v) if pd.notna(v) else "-"),
            "verdict": overall["verdict"],
        }
    )
    return [
        "",
        "care programmes, assigned vs control within each segment (segments combined where a control group exists):",
        "  grade shift: mean grade points (Excellent 3 .. Poor 0), assigned minus control;",
        f"  churned by end: share gone by month {config.run.n_months} (cumulative, not monthly),"
        " assigned minus control;",
        f"  [intervals] hold jointly over the whole programmes table ({100 * level:.2f}% each);",
        "  cost: every segment; evaluated: its share in segments with a control group, over which net benefit",
        "  (margin kept - that cost) is measured;",
        f"  {beyond}.",
        view.to_string(),
    ]
