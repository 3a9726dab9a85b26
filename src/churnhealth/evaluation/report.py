"""The HTML report: one self-contained page a CS leader can read.

Plain-language headlines first, then the evidence: reliability, ROC/PR, retention by health
band and lead time from the backtest's out-of-time predictions; SHAP summaries and the segment
table from the champion's training run; the baselines; the drift panel from the latest monitor
run. Images are embedded (base64), so the file can be mailed or opened offline. `render` builds
the page from what the job in `churnhealth.jobs.report` gathers.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth.evaluation import metrics as ev
from churnhealth.evaluation import plots
from churnhealth.evaluation.backtest import tables

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
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    formats = formats or {}

    def cell(col: str, v) -> str:
        if isinstance(v, float | np.floating):
            return "–" if not np.isfinite(v) else format(v, formats.get(col, ".3f"))
        return html.escape(str(v))

    def td(col: str, v) -> str:
        cls = f" class='{v}'" if v in ("pass", "miss", "alert", "warn") else ""
        return f"<td{cls}>{cell(col, v)}</td>"

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(td(c, v) for c, v in zip(frame.columns, row, strict=True)) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


@dataclass
class ReportInputs:
    """What the report is made of."""

    backtest: dict
    """backtest.json"""
    predictions: pd.DataFrame
    """The backtest's out-of-time predictions."""
    champion_version: str
    training: dict
    """The champion's training metrics.json."""
    shap_plots: list[Path]
    monitor: dict | None = None
    """monitor.json, when the monitor has run."""
    monitor_png: Path | None = None


def headlines(bt: dict) -> list[str]:
    """The sentences a CS leader reads first."""
    o, lead = bt["overall"], bt["overall"]["lead_time"]
    out = [
        f"The model flags {lead['caught']:,} of {lead['churn_events']:,} accounts that later "
        f"churned, on average {lead['mean_lead_days']:.0f} days ahead (median "
        f"{lead['median_lead_days']:.0f}).",
        f"The riskiest 10% of accounts hold {o['top10']['captured']:.0%} of churners, "
        f"{o['top10']['lift']:.1f}× what a random 10% would.",
        f"{o['arr_weighted_recall']:.0%} of churned ARR was flagged at risk beforehand.",
    ]
    bands = {b["band"]: b for b in bt["retention_by_band"]}
    top, low = bands.get("90–100"), bands.get("below 50")
    if top and low and top["rows"] and low["rows"]:
        out.append(
            f"Health means what it says: accounts scored 90–100 retained {top['retention']:.0%} "
            f"over the horizon, those below 50 only {low['retention']:.0%}."
        )
    if o["baselines"]:
        b = next(iter(o["baselines"].values()))
        others = "; ".join(
            f"the {name.replace('_', ' ')} {v['baseline_churners_caught']:,}"
            for name, v in o["baselines"].items()
        )
        out.append(
            f"Flagging the same number of accounts each month, the model caught "
            f"{b['model_churners_caught']:,} of {o['churners']:,} churning account-months; "
            f"{others}."
        )
    return out


def _drift_panel(mon: dict | None, png: Path | None) -> str:
    if mon is None:
        return "<p class='muted'>No monitor run yet: run <code>churnhealth monitor</code>.</p>"
    return _monitor_html(mon, png)


def _monitor_html(mon: dict, png: Path | None) -> str:
    """Drift panel from monitor.json: status, score PSI, drifting top features, performance,
    retraining triggers, PSI per feature."""
    score, top = mon.get("score", {}), mon.get("top_features", {})
    fired = [t for t in mon.get("triggers", []) if t.get("fired")]
    items = [
        f"Overall status: <b class='{html.escape(str(mon.get('status')))}'>"
        f"{html.escape(str(mon.get('status')))}</b> (as of {html.escape(str(mon.get('as_of')))})",
        f"Score distribution PSI {score.get('psi', float('nan')):.3f} ({score.get('status')})",
        f"Most important features drifting: {len(top.get('drifting', []))} of "
        f"{len(top.get('features', []))}",
        f"Performance on matured labels: {mon.get('performance', {}).get('status', '–')}",
        "Retraining triggers fired: "
        + (", ".join(html.escape(str(t.get("name"))) for t in fired) if fired else "none"),
    ]
    parts = ["<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"]
    if png is not None and png.is_file():
        parts.append(_img(png, "PSI per feature"))
    features = pd.DataFrame(mon.get("features", []))
    if not features.empty:
        cols = [c for c in ("feature", "dimension", "psi", "ks", "status") if c in features]
        parts.append(_table(features.sort_values("psi", ascending=False)[cols].head(15)))
    return "".join(parts)


def render(r: ReportInputs, registered_model: str, tmp: Path) -> str:
    """The report's HTML; plots are drawn into `tmp` and embedded."""
    bt, p, version, train_metrics = r.backtest, r.predictions, r.champion_version, r.training
    y = p.churned.to_numpy()
    curves = {
        "model": (y, p.churn_probability.to_numpy()),
        "scorecard": (y, 100 - p.scorecard_health.to_numpy()),
    }
    if "login_light" in p:
        curves["login rule"] = (y, p.login_light.to_numpy())
    by_seg = {
        s: (g.churned.to_numpy(), g.churn_probability.to_numpy()) for s, g in p.groupby("segment")
    }
    plots.plot_reliability(
        {"all": curves["model"], **by_seg}, tmp / "reliability.png", "Reliability (out-of-time)"
    )
    plots.plot_roc_pr(curves, tmp / "roc_pr.png")
    plots.plot_bands(pd.DataFrame(bt["retention_by_band"]), tmp / "bands.png")
    plots.plot_lead_times(ev.lead_times(p), tmp / "lead.png")
    t = tables(bt)
    targets = (
        t["targets"]
        .assign(result=lambda d: np.where(d.passed, "pass", "miss"))
        .drop(columns="passed")
    )
    seg_rows = []
    for s, m in train_metrics.get("segments", {}).items():
        seg_rows.append(
            {
                "segment": s,
                "model": train_metrics.get("routes", {}).get(s, ""),
                "test ROC-AUC": m["roc_auc"],
                "global model ROC-AUC": m["global_model_roc_auc"],
                "test log loss": m["log_loss"],
                "global model log loss": m["global_model_log_loss"],
                "ECE": m["ece"],
                "backtest ROC-AUC": bt["segments"].get(s, {}).get("roc_auc", float("nan")),
            }
        )
    periods = t["periods"][
        [
            "period",
            "rows",
            "churners",
            "roc_auc",
            "pr_auc",
            "brier",
            "ece",
            "recall",
            "precision",
            "top10_lift",
        ]
    ]
    lead = bt["overall"]["lead_time"]
    sections = [
        (
            "Headlines",
            "<ul class='headlines'>"
            + "".join(f"<li>{html.escape(s)}</li>" for s in headlines(bt))
            + "</ul>"
            + f"<p class='muted'>Out-of-time backtest: {len(bt['origins'])} origins "
            f"({bt['origins'][0]} to {bt['origins'][-1]}, step {bt['step']}), {bt['rows']:,} "
            f"account-dates scored by a model trained only on what was known at its origin. "
            f"Champion: {registered_model} v{version}.</p>",
        ),
        ("The at-risk flag against practitioners' targets", _table(targets)),
        (
            "Reliability: does a probability mean what it says?",
            _img(tmp / "reliability.png", "reliability diagram"),
        ),
        ("Ranking: ROC and precision-recall", _img(tmp / "roc_pr.png", "ROC and PR curves")),
        (
            "Retention by health band",
            _img(tmp / "bands.png", "retention by health band")
            + _table(t["bands"], {"retention": ".1%"}),
        ),
        (
            "Lead time",
            _img(tmp / "lead.png", "lead time histogram")
            + f"<p>{lead['share_30d_ahead']:.0%} of churn events were flagged at least 30 days "
            f"ahead, {lead['share_60d_ahead']:.0%} at least 60 days ahead.</p>",
        ),
        ("Per period", _table(periods)),
        (
            "Segments: segment models vs the global model",
            _table(pd.DataFrame(seg_rows))
            + _table(
                t["segments"][
                    [
                        "segment",
                        "rows",
                        "churners",
                        "roc_auc",
                        "ece",
                        "recall",
                        "precision",
                        "arr_weighted_recall",
                        "median_lead_days",
                    ]
                ]
            ),
        ),
        (
            "What drives the scores (SHAP)",
            "".join(_img(f, f"SHAP summary {f.stem}") for f in r.shap_plots),
        ),
        ("Baselines at the same number of flagged accounts", _table(t["baselines"])),
        ("Drift", _drift_panel(r.monitor, r.monitor_png)),
    ]
    body = "".join(f"<h2>{html.escape(title)}</h2>{content}" for title, content in sections)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>churnhealth report</title><style>{CSS}</style></head><body>"
        f"<h1>Customer health: is the score telling the truth?</h1>"
        f"<p class='muted'>Generated {dt.datetime.now():%Y-%m-%d %H:%M} by churnhealth.</p>"
        f"{body}</body></html>"
    )
