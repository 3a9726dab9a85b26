"""The HTML report: one self-contained page a CS leader can read.

Plain-language headlines first, then the evidence: reliability, ROC/PR, retention by health
band and lead time from the backtest's out-of-time predictions; SHAP summaries and the segment
table from the champion's training run; the baselines; the drift panel from the latest monitor
run. Images are embedded (base64), so the file can be mailed or opened offline. `render` builds
the page from what the job in `churnhealth.jobs.report` gathers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth.evaluation import plots
from churnhealth.evaluation import report_sections as section
from churnhealth.evaluation import report_trust as trust
from churnhealth.evaluation.backtest_report import BacktestReport
from churnhealth.evaluation.backtest_tables import lead_table, tables
from churnhealth.evaluation.monitor_report import MonitorReport
from churnhealth.evaluation.training_report import TrainingReport
from churnhealth.scoring.forecast import Forecast
from churnhealth.sinks import html_text

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.headlines li{font-size:1.1em;margin:.4em 0} .muted{color:#666;font-size:.9em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em} th,td{border:1px solid #ddd;
padding:.3em .6em;text-align:right} th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
.pass{color:#1a7f37;font-weight:600} .miss{color:#c62828;font-weight:600}
.alert{color:#c62828;font-weight:600} .warn{color:#b26a00;font-weight:600}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.where{color:#666;font-size:.85em;margin-top:-.4em}
hr.divider{margin:3em 0 .5em;border:0;border-top:3px double #999}
p.divider{font-size:1.2em;color:#444}
"""


@dataclass
class ReportInputs:
    """What the report is made of."""

    backtest: BacktestReport
    """backtest.json"""
    predictions: pd.DataFrame
    """The backtest's out-of-time predictions."""
    champion_version: str
    training: TrainingReport | None
    """The champion's training metrics.json; None when this store no longer has it (or an
    older churnhealth wrote it)."""
    shap_plots: list[Path]
    monitor: MonitorReport | None = None
    """monitor.json, when the monitor has run."""
    monitor_png: Path | None = None
    forecast: Forecast | None = None
    """The latest forecast (`predict`'s summary.json), when predict has run."""
    loop: dict | None = None
    """The customer-success loop's tables (see `jobs.report`)."""
    effects: dict | None = None
    """What each play is worth (`churnhealth effects`' effects.json), when measured."""
    forecast_source: str | None = None
    """The data the latest predict run scored (its summary.json)."""
    currency: str = "USD"
    """How money reads (`data.currency`)."""
    health_days: int = 365
    """The health horizon (`labels.health_horizon_days`): the one the verdict is read at."""
    labels: dict[str, str] | None = None
    """Feature → how a person reads its name (the drift table names both)."""


def headlines(bt: BacktestReport, currency: str = "USD") -> list[str]:
    """The sentences a CS leader reads after the verdict, retention by band and the
    forecast's check (`report_trust.panel`), which say the rest."""
    lead = bt.lead_time
    at90 = bt.renewals.leads["90"].overall
    out = [
        f"Of the {at90.churned:,} renewal decisions that ended in churn, the model had "
        f"flagged {at90.recall:.0%} at risk 90 days before the decision; of those that "
        f"renewed, {at90.specificity:.0%} were not flagged.",
        f"The model flagged {lead.caught:,} of {lead.churn_events:,} accounts that later "
        f"churned, a median of {lead.median_lead_days:.0f} days before they left "
        f"({lead.share_90d_ahead:.0%} of them at least 90 days before).",
    ]
    blind = {o: b.skill for o, b in bt.periods.items() if b.skill and b.skill.status == "no skill"}
    if blind:
        out.append(
            f"The model of {len(blind)} of {len(bt.periods)} origins had no skill on the "
            f"period it scored (its 90-day ROC-AUC was no better than chance beyond noise): "
            + "; ".join(f"{o}, {v.reason.split(':')[0]}" for o, v in blind.items())
            + ". Read those periods' figures with that in mind."
        )
    sl = bt.renewals.leads["90"].save_list
    if sl is not None and sl.listed:
        card = sl.baselines.get("scorecard")
        out.append(
            f"The save list (the team's capacity of at-risk accounts, the most ARR at stake "
            f"first) 90 days before each decision: {sl.precision:.0%} of the decisions it held "
            f"ended in churn, {sl.lift:.1f}× the base rate of {sl.base_rate:.1%}, and it held "
            f"{sl.churned_arr_share:.0%} of the churned ARR"
            + (
                f"; the scorecard listing as many: {card.precision:.0%}."
                if card is not None and card.listed
                else "."
            )
        )
    if sl is not None and sl.exposure is not None and sl.exposure.listed:
        ex = sl.exposure
        out.append(
            f"The renewal-exposure list (accounts flagged for their contract — term, renewal "
            f"timing, size — not for signals a CSM can act on) held {ex.listed:,} decisions 90 "
            f"days ahead, {ex.precision:.0%} of which ended in churn: a matter for the renewal's "
            "commercial terms rather than a save play."
        )
    if at90.baselines:
        others = "; ".join(
            f"the {name.replace('_', ' ')} {v['baseline_churners_caught']:,}"
            for name, v in at90.baselines.items()
        )
        b = next(iter(at90.baselines.values()))
        out.append(
            f"Flagging as many accounts as the model 90 days before each decision, the model "
            f"caught {b['model_churners_caught']:,} churned decisions; {others}."
        )
    return out


def _save_list(t: pd.DataFrame) -> pd.DataFrame:
    """The save list's figures per lead in words, the baselines' beside them."""
    if t.empty:
        return t

    def pct(v: float) -> str:
        return "–" if pd.isna(v) else f"{v:.1%}"

    rows = []
    for r in t.to_dict("records"):
        row = {
            "days before": r["lead_days"],
            "cases": r["cases"],
            "base rate": pct(r["base_rate"]),
            "listed": r["list_listed"],
            "precision": pct(r["list_precision"]),
            "lift": "–" if pd.isna(r["lift"]) else f"{r['lift']:.1f}×",
            "recall": pct(r["list_recall"]),
            "churned ARR in list": pct(r["list_churned_arr_share"]),
        }
        for who in ("scorecard", "login_rule"):
            if f"{who}_precision" in r and not pd.isna(r[f"{who}_listed"]):
                name = who.replace("_", " ")
                row[f"{name}: precision / recall / churned ARR"] = " / ".join(
                    pct(r[f"{who}_{k}"]) for k in ("precision", "recall", "churned_arr_share")
                )
        fp = r.get("login_rule_false_positives_at_equal_recall")
        if fp is not None and not pd.isna(fp):
            row["false positives at equal recall: list / login rule"] = (
                f"{r['list_false_positives']:,} / {int(fp):,}"
            )
        if not pd.isna(r.get("exposure_listed", float("nan"))):
            row["renewal exposure: listed / churned"] = (
                f"{int(r['exposure_listed']):,} / {pct(r['exposure_precision'])}"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _targets(t: pd.DataFrame) -> pd.DataFrame:
    """Targets at 90 and 180 days: one row per group and lead, each figure with pass / miss."""
    rows = []
    for (lead, group), g in t.groupby(["lead_days", "group"], sort=False):
        row = {"days before": lead, "group": group}
        for r in g.itertuples(index=False):
            value = "–" if pd.isna(r.value) else f"{r.value:.2f}"
            row[r.metric] = f"{value} (> {r.target:.2f})"
            row[f"{r.metric} "] = "pass" if r.passed else "miss"
        rows.append(row)
    return pd.DataFrame(rows)


def _with_interval(m: dict, key: str) -> str:
    """A figure with its 95% interval when the metrics have one (older runs do not)."""
    v = m.get(key, float("nan"))
    if not np.isfinite(v):
        return "–"
    lo, hi = m.get(f"{key}_lo", float("nan")), m.get(f"{key}_hi", float("nan"))
    return f"{v:.3f}" if not np.isfinite(lo) else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def _judged_mark(too_small: object) -> str:
    """ "too small: …" for a window too small to judge, "yes" for one judged ("" or None from
    metrics), "–" when the file predates the mark (`too_small` absent)."""
    if isinstance(too_small, str):
        return f"too small: {too_small}" if too_small else "yes"
    return "–"


def with_intervals(frame: pd.DataFrame, judged: str = "judged") -> pd.DataFrame:
    """A table whose figures `x` have `x_lo`/`x_hi` columns, with each such figure written
    over its 95% interval in one column, and `too_small` as a column named `judged`."""
    out = frame.copy()
    for col in [c for c in frame.columns if f"{c}_lo" in frame.columns]:
        v, lo, hi = (frame[c].to_numpy(float) for c in (col, f"{col}_lo", f"{col}_hi"))
        out[col] = [
            "–"
            if not np.isfinite(a)
            else f"{a:.3f}"
            if not np.isfinite(b)
            else f"{a:.3f} [{b:.3f}, {c:.3f}]"
            for a, b, c in zip(v, lo, hi, strict=True)
        ]
        out = out.drop(columns=[f"{col}_lo", f"{col}_hi"])
    if "too_small" in out:
        marks = [_judged_mark(t) for t in out.too_small]
        out = out.drop(columns="too_small").assign(**{judged: marks})
    return out


def render(r: ReportInputs, registered_model: str, tmp: Path) -> str:
    """The report's HTML; plots are drawn into `tmp` and embedded."""
    bt, p, version, train = r.backtest, r.predictions, r.champion_version, r.training
    png = plots.backtest_plots(bt, p, lead_table(bt, p), tmp)
    t = tables(bt)
    seg_rows = []
    for s, m in (train.segments if train else {}).items():
        seg_rows.append(
            {
                "segment": s,
                "model": train.routes.get(s, ""),
                "test ROC-AUC (95%)": _with_interval(m, "roc_auc"),
                "global model ROC-AUC": m["global_model_roc_auc"],
                "test log loss": m["log_loss"],
                "global model log loss": m["global_model_log_loss"],
                "ECE (95%)": _with_interval(m, "ece"),
                "recall (95%)": _with_interval(m, "recall"),
                "precision (95%)": _with_interval(m, "precision"),
                "judged": _judged_mark(m["too_small"] or "" if "too_small" in m else None),
            }
        )
    lead = bt.lead_time
    ren = t["renewals"]
    w = bt.renewals.window
    cur = r.currency
    forecast_table = t["forecast"][t["forecast"].group == "portfolio"].drop(columns="group")
    data = bt.source or "the configured data"
    backtest = (
        f"Backtest of {data}: {len(bt.origins)} origins ({bt.origins[0]} to {bt.origins[-1]}, "
        f"refitted every {bt.step}), account-dates scored {bt.scored.first} to "
        f"{bt.scored.last} by the model of their time; renewal decisions {w.first} to {w.last}."
    )
    short = f"Backtest of {data}: renewal decisions {w.first} to {w.last}."
    champion = f"Champion {registered_model} v{version}, from its training run."
    lead_html = (
        section.img(png["lead"], "lead time histogram")
        + f"<p>Median {lead.median_lead_days:.0f} days between the start of the unbroken "
        f"at-risk run and the churn; {lead.share_60d_ahead:.0%} of churned accounts were "
        f"at risk at least 60 days ahead, {lead.share_90d_ahead:.0%} at least 90, "
        f"{lead.share_180d_ahead:.0%} at least 180 ({lead.censored} runs reach back "
        "to the first scored date, so their lead is longer than counted).</p>"
    )
    fc = r.forecast
    predicted = (
        "No predict run yet."
        if fc is None
        else f"The latest predict run: {r.forecast_source or 'the configured data'}, as of "
        f"{fc.as_of}."
    )
    mon = r.monitor
    monitored = (
        "No monitor run yet."
        if mon is None
        else f"The latest monitor run: {mon.data_source or 'the configured data'}, as of "
        f"{mon.as_of}."
    )
    loop_where = f"The alert log and the history store, judged against {data}" + (
        f" up to {r.loop['data_end']}." if r.loop and r.loop.get("data_end") else "."
    )
    leader = [
        (
            "How good is this score?",
            trust.panel(
                bt,
                train,
                r.health_days,
                cur,
                headlines(bt, cur),
                section.table(t["bands"], {"retention": ".1%"}),
                section.img(png["bands"], "retention by health band"),
            ),
            f"{backtest} {champion}",
        ),
        (
            "The practitioners' targets, and what the oracle reaches",
            trust.oracle_note(t["targets"])
            + section.table(trust.targets(t["targets"]))
            + section.img(png["renewal_leads"], "the flag by days before the decision")
            + section.table(
                with_intervals(
                    ren[ren.group.isin(["overall", "annual contracts", "monthly contracts"])]
                )
            ),
            backtest,
        ),
        (
            "The save list at the team's capacity (predict.capacity), per renewal decision",
            "<p class='muted'>Each as-of date's list: the accounts at risk for their signals "
            "with the most ARR expected to be lost by their next renewal decision, up to the "
            "team's capacity; the baselines list as many accounts per date, their riskiest "
            "first.</p>" + section.table(_save_list(t["save_list"])),
            short,
        ),
        ("Lead time", lead_html, short),
        ("The year ahead: revenue-retention forecast", section.year_ahead(fc, tmp, cur), predicted),
        (
            "Revenue-retention forecast against what happened",
            section.img(png["forecast"], "forecast fan chart")
            + section.table(t["forecast_check"])
            + section.table(
                forecast_table, {c: ",.0f" for c in ("forecast", "lo", "hi", "naive", "realised")}
            ),
            short,
        ),
        ("The customer-success loop", section.loop(r.loop), loop_where),
        (
            "What a play is worth",
            section.effects(r.effects),
            f"The plays logged in {r.effects['source']}, data to {r.effects['data_end']}."
            if r.effects
            else "No effects measured yet.",
        ),
        (
            "Why accounts left: the churn records",
            section.reasons(train and train.churn_reasons),
            champion,
        ),
        ("The expansion score", section.expansion(train and train.expansion), champion),
    ]
    scientists = [
        (
            "Reliability: does a probability mean what it says?",
            section.img(png["reliability"], "reliability diagram"),
            short,
        ),
        (
            "Ranking 90 days before the decision: ROC and precision-recall",
            section.img(png["roc_pr"], "ROC and PR curves"),
            short,
        ),
        (
            "Per period (origin), with 95% intervals from resampling accounts",
            section.table(with_intervals(t["periods"], "judged at the health horizon")),
            short,
        ),
        (
            "Horizons the champion's training could judge",
            section.judged_horizons(train and train.judged),
            champion,
        ),
        (
            "Segments: segment models vs the global model",
            section.table(pd.DataFrame(seg_rows))
            + section.table(with_intervals(t["segments"], "judged at the health horizon")),
            f"{champion} The second table: {short}",
        ),
        (
            "What drives the scores (SHAP)",
            "".join(section.img(f, f"SHAP summary {f.stem}") for f in r.shap_plots),
            champion,
        ),
        (
            "Baselines at the same number of flagged accounts",
            section.table(t["baselines"]),
            short,
        ),
        ("Drift", section.drift_panel(r.monitor, r.monitor_png, r.labels), monitored),
    ]

    def block(title: str, content: str, where: str) -> str:
        return f"<h2>{html_text(title)}</h2><p class='where'>{html_text(where)}</p>{content}"

    body = (
        "".join(block(*x) for x in leader)
        + "<hr class='divider'><p class='divider'>For data scientists: how the figures above "
        "were made, and what to check before changing the model.</p>"
        + "".join(block(*x) for x in scientists)
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>churnhealth report</title><style>{CSS}</style></head><body>"
        f"<h1>Customer health: is the score telling the truth?</h1>"
        f"<p class='muted'>Generated {dt.datetime.now():%Y-%m-%d %H:%M} by churnhealth.</p>"
        f"{body}</body></html>"
    )
