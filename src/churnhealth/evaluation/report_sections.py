"""The HTML report's building blocks: tables and images as HTML, and the sections that read
one input each (the monitor's report, the forecast, the churn records, the expansion score, the
customer-success loop, what a play is worth, the judged horizons). `evaluation.report.render`
puts them in order.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth.evaluation import judged, plots
from churnhealth.evaluation.effects import not_judged_yet, waiting_line
from churnhealth.evaluation.monitor_report import MonitorReport
from churnhealth.evaluation.training_report import ExpansionFigures, Judged
from churnhealth.scoring.forecast import Forecast
from churnhealth.scoring.saving import trusted
from churnhealth.sinks import html_text
from churnhealth.units import money


def img(path: Path, alt: str) -> str:
    """A PNG embedded in the page (base64), so the file can be mailed or opened offline."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html_text(alt)}" src="data:image/png;base64,{data}">'


def table(frame: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    """A frame as an HTML table: numbers by `formats` (".3f" by default, "–" when not finite),
    text escaped, pass/miss/alert/warn cells classed for colour."""
    formats = formats or {}

    def cell(col: str, v) -> str:
        if isinstance(v, float | np.floating):
            return "–" if not np.isfinite(v) else format(v, formats.get(col, ".3f"))
        return html_text(str(v))

    def td(col: str, v) -> str:
        cls = f" class='{v}'" if v in ("pass", "miss", "alert", "warn") else ""
        return f"<td{cls}>{cell(col, v)}</td>"

    head = "".join(f"<th>{html_text(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(td(c, v) for c, v in zip(frame.columns, row, strict=True)) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def drift_panel(
    mon: MonitorReport | None, png: Path | None, labels: dict[str, str] | None = None
) -> str:
    if mon is None:
        return "<p class='muted'>No monitor run yet: run <code>churnhealth monitor</code>.</p>"
    return monitor_panel(mon, png, labels)


def monitor_panel(
    mon: MonitorReport, png: Path | None, labels: dict[str, str] | None = None
) -> str:
    """Drift panel from monitor.json: status, score PSI, drifting top features, performance,
    retraining triggers, PSI per feature."""
    score, top = mon.score, mon.top_features
    fired = [t for t in mon.triggers if t.fired]
    psi = "n/a" if score.psi is None else f"{score.psi:.3f}"
    items = [
        f"Overall status: <b class='{html_text(mon.status)}'>"
        f"{html_text(mon.status)}</b> (as of {html_text(mon.as_of)})",
        f"Score distribution PSI {psi} ({html_text(score.status)})",
        f"Most important features drifting: {len(top.drifting)} of {len(top.features)}",
        f"Performance on matured labels: {html_text(mon.performance.status)}",
        "Retraining triggers fired: "
        + (", ".join(html_text(t.name) for t in fired) if fired else "none"),
    ]
    parts = ["<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"]
    if png is not None and png.is_file():
        parts.append(img(png, "PSI per feature"))
    features = pd.DataFrame([f.model_dump() for f in mon.features])
    if not features.empty:
        features.insert(0, "signal", [(labels or {}).get(f, "") for f in features.feature])
        cols = [
            c for c in ("signal", "feature", "dimension", "psi", "ks", "status") if c in features
        ]
        parts.append(table(features.sort_values("psi", ascending=False)[cols].head(15)))
    return "".join(parts)


def year_ahead(fc: Forecast | None, tmp: Path, currency: str = "USD") -> str:
    """The latest forecast as a fan chart and a table of its quarters, or how to get one."""
    if fc is None:
        return "<p class='muted'>No forecast yet: run <code>churnhealth predict</code>.</p>"
    png = plots.plot_year_ahead(fc, tmp / "year_ahead.png")
    periods = [(f"Q{q.quarter}", q) for q in fc.portfolio.quarters]
    rows = [
        {
            "period": name,
            "ends": q.end,
            "churned ARR": money(q.churned_arr, currency),
            "80% interval": f"{money(q.churned_arr_lo, currency)}–"
            f"{money(q.churned_arr_hi, currency)}",
            "GRR": q.grr,
            "GRR interval": f"{q.grr_lo:.1%}–{q.grr_hi:.1%}",
        }
        for name, q in [*periods, ("year", fc.portfolio.year)]
    ]
    return img(png, "the year ahead") + table(pd.DataFrame(rows), {"GRR": ".1%"})


def reasons(rows: list[dict] | None) -> str:
    """The recorded churn reasons per segment (shares of the churns the records date), or
    how to get them."""
    if not rows:
        return (
            "<p class='muted'>No churn records: add a <code>churn_events</code> table (account, "
            "churn date, reason) to see why accounts leave, per segment.</p>"
        )
    r = pd.DataFrame(rows)
    wide = r.pivot_table(index="reason", columns="segment", values="share", fill_value=0.0)
    order = ["all", *sorted(c for c in wide.columns if c != "all")]
    wide = wide[order].sort_values("all", ascending=False).reset_index()
    counts = r.groupby("segment", sort=False).churns.sum()
    note = ", ".join(f"{s} {int(counts[s]):,}" for s in order)
    return (
        table(wide, dict.fromkeys(order, ".0%"))
        + f"<p class='muted'>Share of each recorded reason among the churns the records date "
        f"(churns: {html_text(note)}); reasons as the team recorded them.</p>"
    )


def expansion(e: ExpansionFigures | None) -> str:
    """The champion's expansion score on its test window."""
    if e is None:
        return (
            "<p class='muted'>No expansion score: the champion's training figures are missing.</p>"
        )
    if not e.ok:
        return f"<p class='muted'>No expansion score: {html_text(e.reason)}.</p>"
    rows = [
        {
            "segment": name,
            "model": e.routes.get(name, "routed"),
            "ROC-AUC": b.get("roc_auc", float("nan")),
            "ECE": b["ece"],
            "base rate": b["base_rate"],
            "precision, top 10%": b["precision_top10"],
            "lift": b["lift_top10"],
            "ready share": b["ready_share"],
            "precision, ready": b["ready_precision"],
        }
        for name, b in [("overall", e.overall), *e.segments.items()]
    ]
    pct = dict.fromkeys(
        ("base rate", "precision, top 10%", "ready share", "precision, ready"), ".1%"
    )
    t = e.test_window
    return (
        f"<p>The chance that an account's ARR grows by {e.threshold:.0%} or more within "
        f"{e.horizon_days} days, on its own 0–100 scale. Out of time: as-of dates "
        f"{t.first} to {t.last} ({t.rows:,} rows); at each date the top 10% by "
        "expansion score, against the base rate of all accounts.</p>"
        + table(pd.DataFrame(rows), {**pct, "lift": ".2f"})
    )


def loop(lp: dict | None) -> str:
    """How overrides fared and what became of the alerts the team acted on."""
    if not lp or lp.get("empty"):
        return (
            "<p class='muted'>No alerts and no CSM overrides yet: run <code>churnhealth "
            "predict</code>, record overrides (<code>churnhealth override</code>) and what the "
            "team did with alerts (<code>churnhealth outcome</code>).</p>"
        )
    if "error" in lp:
        return f"<p class='muted'>Outcomes not available: {html_text(lp['error'])}</p>"
    out = []
    od, pd_ = lp["override_days"], lp["playbook_days"]
    if len(lp["overrides"]):
        out.append(
            f"<h3>CSM overrides against the model</h3><p>Each override that set a health, the "
            f"model's health on its first day, and whether the account left within {od} days "
            f"(outcomes known up to {lp['data_end']}). A health read as a probability "
            "(1 − health/100) gives each side's Brier score: lower is better.</p>"
            + table(lp["override_summary"], {"Brier, CSM": ".3f", "Brier, model": ".3f"})
            + table(lp["overrides"], {"model health": ".0f", "CSM − model": "+.0f"})
        )
    else:
        out.append("<p class='muted'>No CSM override has been recorded.</p>")
    if len(lp["playbooks"]):
        retained = [c for c in lp["playbooks"].columns if c.startswith("retained")]
        out.append(
            f"<h3>Playbook outcomes</h3><p>Alerts fired, what the team recorded, and the share "
            f"of accounts still customers {pd_} days after the alert: acted on (done) against "
            "the others. <strong>Descriptive, not causal</strong>: the team chose which alerts "
            "to act on; a randomised holdout would measure the effect.</p>"
            + table(lp["playbooks"], dict.fromkeys(retained, ".1%"))
        )
    return "".join(out)


def judged_horizons(block: Judged | None) -> str:
    """The champion's horizons, judged censoring-aware at training, or why not."""
    if block is None:
        return (
            "<p class='muted'>The champion's training figures are missing: retrain "
            "(make train) to see which horizons this data can judge.</p>"
        )
    return table(judged.table(block.as_dicts())) + (
        "<p class='muted'>Out of time, on as-of dates after the model's validation window, "
        "each followed until the data's end: an account whose follow-up ended before a "
        "horizon counts through censoring weights, not as a stayer. Intervals resample "
        "accounts.</p>"
    )


def _points(e: dict | None) -> str:
    if e is None:
        return ""
    if e.get("effect") is None:
        return e.get("refused") or "n/a"
    return (
        f"{100 * e['effect']:+.1f} [{100 * e['low']:+.1f}, {100 * e['high']:+.1f}] "
        f"(n={e['treated']:,})"
    )


def effects(fx: dict | None) -> str:
    """What each play logged is worth (`churnhealth effects`): randomized, doubly robust and
    naive, per outcome, with the truth where the data knows it."""
    if not fx:
        return (
            "<p class='muted'>Not measured yet: run <code>churnhealth effects</code> on data "
            "with a cs_actions table, or after alerts with a <code>holdout_share</code>.</p>"
        )
    find = {(e["play"], e["method"], e["outcome"], e["group"]): e for e in fx["estimates"]}
    has_truth = any(e.get("truth") is not None for e in fx["estimates"])
    waiting = not_judged_yet(fx["plays"], fx["estimates"])
    out = [
        "<p>The effect of running each play on the chance of churning, in points of "
        "probability with 95% intervals; negative: the play keeps accounts. "
        "<strong>Randomized</strong> compares alerts run with alerts held out at random, the "
        "only comparison chance alone decided. <strong>Doubly robust</strong> compares plays "
        "run with accounts not worked, adjusted for the features. <strong>Naive</strong> "
        "(worked against not worked) is shown so nobody mistakes it for an effect: the team "
        "works the accounts that look at risk.</p>"
    ]
    for outcome, what in (
        ("12m", f"churn within {fx['horizon_days']} days"),
        ("next_renewal", "leaving at the next renewal decision"),
    ):
        rows = []
        for play, counts in fx["plays"].items():
            if play in waiting:
                continue
            dr = find.get((play, "doubly_robust", outcome, "all"))
            row = {
                "play": play.replace("_", " "),
                "run": counts["run"],
                "held out": counts["held_out"],
                "randomized": _points(find.get((play, "randomized", outcome, "all"))),
                "doubly robust": _points(dr),
                "naive (do not trust)": _points(find.get((play, "naive", outcome, "all"))),
            }
            if has_truth:
                truth = dr.get("truth") if dr else None
                row["true effect"] = "" if truth is None else f"{100 * truth:+.1f}"
            rows.append(row)
        out.append(f"<h3>On {what}</h3>" + table(pd.DataFrame(rows)))
    if waiting:
        out.append(f"<p class='muted'>{html_text(waiting_line(fx['plays'], waiting))}</p>")
    for note in fx.get("notes", []):
        out.append(f"<p class='muted'>{html_text(note)}</p>")
    try:
        shown, why = trusted(fx["estimates"])
    except (KeyError, TypeError, AttributeError):  # an estimate this version cannot read
        return "".join(out)
    rest = f" Not used: {html_text('; '.join(why))}." if why else ""
    if shown:
        names = ", ".join(p.play.replace("_", " ") for p in shown)
        out.append(
            f"<p><strong>The save list</strong> ranks by the ARR a play is expected to save "
            f"with the plays shown to keep accounts (a 95% interval wholly below zero): "
            f"{html_text(names)}, when predict scores the same data on or after "
            f"{html_text(str(fx['data_end']))}.{rest}</p>"
        )
    else:
        out.append(
            "<p><strong>The save list</strong> ranks by expected ARR lost: no play has been "
            f"shown to keep accounts yet.{rest}</p>"
        )
    return "".join(out)
