"""What `predict` and `explain` print."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from rich.table import Table

from churnhealth.cli.app import console
from churnhealth.cli.views.common import money, notes
from churnhealth.sinks import terminal

if TYPE_CHECKING:  # the CLI imports a command's stages only when it runs
    from churnhealth.jobs.predict import Explanation, PredictResult
    from churnhealth.scoring.forecast import Forecast, Period


def predict(res: PredictResult) -> None:
    """Where the scores went, the portfolio by tier and segment, the alerts."""
    s = res.summary
    p = s.portfolio
    console.print(
        f"Scored {p.accounts:,} accounts as of {s.as_of} with model v{s.model_version}"
        f" → {res.out}; summary → {res.out.with_name('summary.json')}",
        highlight=False,
    )
    h = s.health_checked
    ok = h.judged is True
    console.print(
        ("" if ok else "problem: ") + h.text[:1].upper() + h.text[1:] + ".",
        style=None if ok else "bold",
        highlight=False,
    )
    table = Table(
        *("segment", "accounts", "ARR", "healthy", "moderate", "at risk", "critical"),
        *("ARR at risk", "improving", "declining", "mean health"),
        title="Portfolio health",
    )
    for name, b in [("all", p), *s.segments.items()]:
        t = b.tiers
        table.add_row(
            name,
            f"{b.accounts:,}",
            money(b.arr),
            *[f"{t[k].accounts:,}" for k in ("healthy", "moderate", "at_risk", "critical")],
            money(b.arr_at_risk),
            f"{b.improving:,}",
            f"{b.declining:,}",
            f"{b.mean_health:.1f}",
        )
    console.print(table)
    forecast(s.forecast)
    console.print(
        f"Alerts written to {s.alerts_file}: "
        + ", ".join(
            f"{n.replace('_', ' ')} {c:,}"
            + (f" of {s.matched[n]:,} matched" if n in s.matched else "")
            for n, c in s.alerts.items()
        )
        + " (a match in its cool-down raises no alert)",
        highlight=False,
    )
    if (e := s.expansion_ready) is not None:
        console.print(
            f"Expansion: {e.accounts:,} accounts ready to expand ({money(e.arr)} ARR)",
            highlight=False,
        )
    if s.overrides_in_force:
        console.print(f"CSM overrides in force: {s.overrides_in_force:,}", highlight=False)
    if s.portfolio_page:
        console.print(f"Portfolio page → {s.portfolio_page}", highlight=False)
    notes(s.notes, s.problems)
    if (hook := s.webhook) is not None:
        console.print(f"Webhook: {hook.delivered} message(s) delivered", highlight=False)
        for f in hook.failed:
            console.print(f"[red]webhook delivery failed[/]: {terminal(f, limit=500)}", markup=True)


def forecast(f: Forecast) -> None:
    """Churned ARR and GRR per quarter for the book, and the whole year per segment."""
    pct = f"{f.interval:.0%}"
    p = f.portfolio
    table = Table(
        *("", "ends", "churned ARR", f"{pct} interval", "GRR", f"GRR {pct} interval"),
        title=f"Revenue-retention forecast from {f.as_of}: {p.accounts:,} accounts, "
        f"{money(p.arr)} ARR",
    )
    rows: list[tuple[str, Period]] = [(f"Q{r.quarter}", r) for r in p.quarters]
    rows += [(f"year, {n}", b.year) for n, b in [("all", p), *f.segments.items()]]
    for name, r in rows:
        table.add_row(
            name,
            r.end,
            money(r.churned_arr),
            f"{money(r.churned_arr_lo)}–{money(r.churned_arr_hi)}",
            f"{r.grr:.1%}",
            f"{r.grr_lo:.1%}–{r.grr_hi:.1%}",
        )
    console.print(table)


def explanation(e: Explanation, horizon_days: int) -> None:
    """One account: its health and tier, each dimension's effect, the strongest drivers."""
    r = e.row
    change = "" if pd.isna(r.health_change_30d) else f", {r.health_change_30d:+.0f} in 30 days"
    console.print(
        f"[bold]{terminal(r.account_id)}[/] ({terminal(r.segment)}, "
        f"{terminal(r.lifecycle_stage)}, ARR {r.arr:,.0f}, renewal "
        f"in {r.days_to_renewal:.0f} days) as of {r.as_of.date()}: health [bold]"
        f"{r.health_score}[/] ({r.tier.replace('_', ' ')}; {r.churn_probability:.1%} chance of "
        f"churning within {horizon_days} days); momentum {r.momentum}{change}; projected "
        f"{r.projected_health_90d} in 90 days. Baseline health of its model: "
        f"{r.baseline_health:.1f}.",
        markup=True,
    )
    if not pd.isna(r.get("csm_health")):
        drives = "it drives the tier and playbooks" if r.health_source == "csm" else "shown only"
        until = "" if pd.isna(r.override_until) else f" until {r.override_until.date()}"
        console.print(
            f"CSM override: health {r.csm_health} by {r.override_by}{until} "
            f"({r.override_reason}); the model's health is {r.model_health} "
            f"({r.model_tier.replace('_', ' ')}); {drives}.",
            highlight=False,
        )
    if not pd.isna(r.get("expansion_score")):
        lifts = [
            f"{r[f'expansion_{k}_feature'].replace('_', ' ')} ({r[f'expansion_{k}_value']}, "
            f"{r[f'expansion_{k}_effect']:+.1f})"
            for k in (1, 2, 3)
            if isinstance(r.get(f"expansion_{k}_feature"), str)
        ]
        console.print(
            f"Expansion score {r.expansion_score:.0f} ({r.expansion_tier.replace('_', ' ')}; "
            f"{r.expansion_probability:.1%} chance its ARR grows within the expansion horizon)"
            + (f", lifted most by {', '.join(lifts)}" if lifts else "")
            + ".",
            highlight=False,
        )
    dims = Table("dimension", "effect (health points)", title="Effect of each dimension")
    for d, v in e.dimensions.sort_values().items():
        dims.add_row(d, f"{v:+.1f}")
    console.print(dims)
    console.print(
        f"Context (not a lever, not among the drivers): {r.effect_context:+.1f} points"
        + (f" — {r.context}" if r.context else ""),
        highlight=False,
    )
    drivers = Table(
        *("feature", "dimension", "value", "segment median", "effect"),
        title="Strongest drivers (negative: pulls health down)",
    )

    def cell(v: object) -> str:
        return f"{v:,.2f}" if isinstance(v, float) else str(v)

    for d in e.drivers.itertuples():
        drivers.add_row(
            d.feature, d.dimension, cell(d.value), cell(d.segment_median), f"{d.effect:+.1f}"
        )
    console.print(drivers)
    if len(e.history):
        console.print(
            "History: "
            + ", ".join(f"{h.as_of.date()} {h.health_score}" for h in e.history.itertuples()),
            highlight=False,
        )
