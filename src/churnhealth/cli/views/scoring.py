"""What `predict` and `explain` print."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from churnhealth import units
from churnhealth.cli.app import console
from churnhealth.cli.views.common import money, notes
from churnhealth.features.missing import in_sentence
from churnhealth.sinks import terminal

if TYPE_CHECKING:  # the CLI imports a command's stages only when it runs
    from churnhealth.jobs.predict import PredictResult
    from churnhealth.scoring.explanation import Explanation
    from churnhealth.scoring.forecast import Forecast, Period
    from churnhealth.scoring.summary import PortfolioSummary


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
        *("segment", "accounts", "ARR", "expected churned ARR"),
        *("healthy", "moderate", "at risk", "critical"),
        *("improving", "declining", "mean health"),
        title="Portfolio health (each tier: accounts, and below them the ARR expected to churn "
        "within the health horizon; tiers add up to the segment)",
    )
    trend = s.compared > 0
    for name, b in [("all", p), *s.segments.items()]:
        t = b.tiers
        table.add_row(
            name,
            f"{b.accounts:,}",
            money(b.arr, s.currency),
            money(b.expected_churned_arr_horizon, s.currency),
            *[
                f"{t[k].accounts:,}\n{money(t[k].expected_churned_arr, s.currency)}"
                for k in ("healthy", "moderate", "at_risk", "critical")
            ],
            f"{b.improving:,}" if trend else "–",
            f"{b.declining:,}" if trend else "–",
            f"{b.mean_health:.1f}",
        )
    console.print(table)
    for b in s.bridge:
        console.print(
            f"Next {b.period}: {money(b.renewing.arr, s.currency)} renewing "
            f"({b.renewing.accounts:,} accounts) → {money(b.flagged.arr, s.currency)} of it "
            f"flagged ({b.flagged.accounts:,}) → expected to churn in the period: "
            f"{money(b.expected_loss_flagged, s.currency)} on the flagged renewals, "
            f"{money(b.expected_loss_renewing, s.currency)} on all renewals, "
            f"{money(b.expected_loss, s.currency)} in the whole book.",
            highlight=False,
        )
    tiers(s)
    if not trend:
        console.print(
            "Trend: no account has a score 30 days back to compare with yet.", highlight=False
        )
    forecast(s.forecast, s.currency)
    if s.at_risk_for:
        why = {
            "signals": "for their signals (usage, engagement, support…: the save list's pool)",
            "csm": "by a CSM's override",
            "contract": "for their contract alone (term, renewal timing, size: the renewal-"
            "exposure list, for the commercial side)",
        }
        console.print(
            "At risk or critical "
            + "; ".join(
                f"{why.get(k, k)}: {v.accounts:,} ({money(v.arr, s.currency)} ARR)"
                for k, v in sorted(s.at_risk_for.items(), key=lambda kv: kv[0] != "signals")
            ),
            highlight=False,
        )
    console.print(
        f"Alerts written to {s.alerts_file}: "
        + ", ".join(
            f"{n.replace('_', ' ')} {c:,}"
            + (
                f" ({c - b:,} of {s.matched[n]:,} matched, {b:,} for the ARR a play saves)"
                if (b := s.by_saving.get(n))
                else f" of {s.matched[n]:,} matched"
                if n in s.matched
                else ""
            )
            for n, c in s.alerts.items()
        )
        + " (a match in its cool-down raises no alert)",
        highlight=False,
    )
    if s.held_out:
        console.print(
            "Held out to measure the play (logged, not sent, not to be worked): "
            + ", ".join(f"{n.replace('_', ' ')} {c:,}" for n, c in s.held_out.items()),
            highlight=False,
        )
    for key, r in s.rooms.items():
        what = "Save list" if key == "capacity" else f"{key.replace('_', ' ')} (cap)"
        limit = (
            f"{r.per_owner:,} per CSM, {r.limit:,} for accounts without one"
            if r.per_owner is not None
            else f"{r.limit:,}"
        )
        first = (
            "the accounts a measured play is expected to save the most ARR on go first"
            if key == "capacity" and s.ranked_by_saving
            else "the accounts with the most ARR expected to be lost by their next renewal "
            "decision go first"
        )
        console.print(
            f"{what}: {r.new:,} new, {r.under_way:,} under way before this run (room for "
            f"{limit} at once), {r.waiting:,} waiting — {first}; waiting ones are in the "
            "scores (save_list) and are not alerted",
            highlight=False,
        )
        if key == "capacity" and s.ranked_by:
            console.print(f"  Save list {s.ranked_by}", highlight=False)
    if (e := s.expansion_ready) is not None:
        console.print(
            f"Expansion: {e.accounts:,} accounts ready to expand ({money(e.arr, s.currency)} ARR)",
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


def tiers(s: PortfolioSummary) -> None:
    """What each tier means: once for the book when every segment is tiered alike, else per
    segment."""
    groups: dict[tuple, list[str]] = {}
    for seg, t in s.tiered_by.items():
        groups.setdefault((t.source, t.healthy, t.at_risk, t.critical), []).append(seg)
    for (source, *_), segs in groups.items():
        t = s.tiered_by[segs[0]]
        who = "Tiers" if len(groups) == 1 else f"Tiers of {', '.join(segs)}"
        console.print(f"{who} ({source}): " + "; ".join(t.meanings.values()) + ".", highlight=False)


def forecast(f: Forecast, currency: str = "USD") -> None:
    """Churned ARR and GRR per quarter for the book, and the whole year per segment."""
    pct = f"{f.interval:.0%}"
    p = f.portfolio
    table = Table(
        *("", "ends", "churned ARR", f"{pct} interval", "GRR", f"GRR {pct} interval"),
        title=f"Revenue-retention forecast from {f.as_of}: {p.accounts:,} accounts, "
        f"{money(p.arr, currency)} ARR",
    )
    rows: list[tuple[str, Period]] = [(f"Q{r.quarter}", r) for r in p.quarters]
    rows += [(f"year, {n}", b.year) for n, b in [("all", p), *f.segments.items()]]
    for name, r in rows:
        table.add_row(
            name,
            r.end,
            money(r.churned_arr, currency),
            f"{money(r.churned_arr_lo, currency)}–{money(r.churned_arr_hi, currency)}",
            f"{r.grr:.1%}",
            f"{r.grr_lo:.1%}–{r.grr_hi:.1%}",
        )
    console.print(table)


def explanation(e: Explanation) -> None:
    """One account: its health and tier, each dimension's effect, the context apart, the
    signals pulling its health down and those holding it up, its playbooks and history."""
    change = "" if e.health_change_30d is None else f", {e.health_change_30d:+.0f} in 30 days"
    renewal = "" if e.days_to_renewal is None else f", renewal in {e.days_to_renewal:.0f} days"
    arr = "" if e.arr is None else f", ARR {units.money(e.arr, e.currency, short=False)}"
    projected = (
        ""
        if e.projected_health_90d is None
        else f"; projected {e.projected_health_90d:.0f} in 90 days"
    )
    console.print(
        f"{terminal(e.name) if e.name else terminal(e.account_id)} — owner "
        + (terminal(e.owner) if e.owner else "none")
        + (f" — {terminal(e.crm)}" if e.crm else ""),
        highlight=False,
    )
    console.print(
        f"[bold]{terminal(e.account_id)}[/] ({terminal(e.segment)}, "
        f"{terminal(e.lifecycle_stage)}{arr}{renewal}) as of {e.as_of}: health [bold]"
        f"{e.health_score}[/] ({e.tier.replace('_', ' ')}; {e.churn_probability:.1%} chance of "
        f"churning within {e.horizon_days} days); momentum {e.momentum}{change}{projected}. "
        f"Baseline health of its model: {e.baseline_health:.1f}.",
        markup=True,
    )
    if (o := e.override) is not None:
        drives = "it drives the tier and playbooks" if o.drives else "shown only"
        until = "" if o.until is None else f" until {o.until}"
        console.print(
            f"CSM override: health {o.csm_health} by {terminal(o.by)}{until} "
            f"({terminal(o.reason)}); the model's health is {o.model_health} "
            f"({o.model_tier.replace('_', ' ')}); {drives}.",
            highlight=False,
        )
    if (x := e.expansion) is not None:
        lifts = [f"{in_sentence(v.label)} ({v.reads}, {v.effect:+.1f})" for v in x.lifts]
        console.print(
            f"Expansion score {x.score:.0f} ({x.tier.replace('_', ' ')}; "
            f"{x.probability:.1%} chance its ARR grows within the expansion horizon)"
            + (f", lifted most by {', '.join(lifts)}" if lifts else "")
            + ".",
            highlight=False,
        )
    dims = Table("dimension", "effect (health points)", title="Effect of each dimension")
    for d, v in sorted(e.dimensions.items(), key=lambda kv: kv[1]):
        dims.add_row(d, f"{v:+.1f}")
    console.print(dims)
    console.print(
        f"Signals a CSM can act on: {e.signals_effect:+.1f} points. "
        f"Context (not a lever, not among the drivers): {e.context_effect:+.1f} points"
        + (f" — {e.context}" if e.context else ""),
        highlight=False,
    )
    if e.at_risk_for == "signals":
        console.print("At risk for its signals: a save play can change them.", highlight=False)
    elif e.at_risk_for == "csm":
        console.print("At risk by a CSM's override: on the save list on the CSM's word.")
    elif e.at_risk_for == "contract":
        console.print(
            "At risk for its contract, not its signals (renewal exposure): a matter for the "
            "renewal's commercial terms; no save play changes term or renewal timing.",
            highlight=False,
        )
    for title, rows in (
        ("Pulling health down", e.pulling_down),
        ("Holding health up", e.holding_up),
    ):
        if not rows:
            continue
        table = Table(*("signal", "dimension", "value", "segment median", "effect"), title=title)
        for d in rows:
            table.add_row(
                terminal(d.label),
                d.dimension,
                terminal(d.reads),
                terminal(d.median_reads),
                f"{d.effect:+.1f}",
            )
        console.print(table)
    console.print(
        "Playbooks: " + (", ".join(p.replace("_", " ") for p in e.playbooks) or "none match"),
        highlight=False,
    )
    if (b := e.best_play) is not None:
        console.print(
            f"Best play: {b.play.replace('_', ' ')}, expected to cut its chance of leaving by "
            f"{b.p_saved * 100:.1f} points and keep {money(b.arr_saved, e.currency)} ARR: "
            f"{b.reason}",
            highlight=False,
        )
    elif e.ranked_by:
        console.print(f"Best play: none measured — the save list is {e.ranked_by}", highlight=False)
    for a in e.alerts:
        who = f"; owner {terminal(a.owner)}" if a.owner else "; no owner"
        due = f"; due {a.due}" if a.due else ""
        console.print(
            f"Alert {a.alert_id}: {a.playbook.replace('_', ' ')} on {a.as_of}{who}{due} "
            f"(record what was done: churnhealth outcome {a.alert_id} --status done)",
            highlight=False,
        )
    if e.history:
        console.print(
            "History: " + ", ".join(f"{h.as_of} {h.health_score}" for h in e.history),
            highlight=False,
        )
