"""What `backtest` and `monitor` print."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from rich.table import Table

from churnhealth.cli.app import console
from churnhealth.cli.views.common import fmt, iv, money, notes, pct
from churnhealth.config import Config
from churnhealth.sinks import terminal

if TYPE_CHECKING:  # the CLI imports a command's stages only when it runs
    from pathlib import Path

    from churnhealth.evaluation.backtest import BacktestResult
    from churnhealth.evaluation.monitor_report import MonitorReport

STATUSES = ("skill", "no skill", "not judged")
"""A backtest origin's verdict on its own period (`evaluation.backtest.period_skill`)."""


def _mark(v: float, target: float) -> str:
    return f"{fmt(v)} {'pass' if v > target else 'miss'}"


def save_list(lists: pd.DataFrame, cfg: Config) -> None:
    """The save list at the team's capacity per renewal decision, against the baselines
    listing as many accounts."""
    if lists.empty:
        return
    c = cfg.predict.capacity
    size = f"{c.accounts:,} accounts" if c.accounts is not None else f"{c.share:.0%} of the book"
    table = Table(
        *("days before", "cases", "base rate", "listed", "precision", "lift", "recall"),
        *("churned ARR in list", "scorecard: precision / recall / ARR", "login rule: same"),
        title=f"Save list at capacity ({size} per as-of date, the most ARR at stake first), "
        "per renewal decision",
    )
    for r in lists.itertuples(index=False):
        d = r._asdict()

        def trio(who: str, d: dict = d) -> str:
            if f"{who}_precision" not in d or pd.isna(d[f"{who}_listed"]):
                return "–"
            return " / ".join(
                pct(d[f"{who}_{k}"], 0) for k in ("precision", "recall", "churned_arr_share")
            )

        table.add_row(
            str(r.lead_days),
            f"{r.cases:,}",
            pct(r.base_rate),
            f"{r.list_listed:,}",
            pct(r.list_precision),
            "–" if pd.isna(r.lift) else f"{r.lift:.1f}×",
            pct(r.list_recall),
            pct(r.list_churned_arr_share),
            trio("scorecard"),
            trio("login_rule"),
        )
    console.print(table)
    for r in lists[lists.lead_days == 90].itertuples(index=False):
        n = getattr(r, "exposure_listed", float("nan"))
        if not pd.isna(n):
            console.print(
                "Renewal exposure 90 days ahead (flagged for the contract, not the signals): "
                + (
                    f"{int(n):,} decisions, {pct(r.exposure_precision)} ended in churn."
                    if n
                    else "no decision was flagged for its contract alone."
                ),
                highlight=False,
            )
        fp = r.login_rule_false_positives_at_equal_recall
        if fp is not None and not pd.isna(fp):
            console.print(
                f"At equal recall 90 days ahead ({r.list_caught:,} churned decisions caught), "
                f"the save list makes {r.list_false_positives:,} false positives, the login rule "
                f"{int(fp):,}.",
                highlight=False,
            )


def backtest(
    res: BacktestResult, t: dict[str, pd.DataFrame], run_id: str, cfg: Config, seconds: float
) -> None:
    """Per renewal decision: the flag by lead, the targets at 90 and 180 days, the baselines;
    lead time; retention a year on; the forecast's check; the rows' figures per segment.
    `t`: the backtest's tables (`evaluation.backtest_tables.tables`)."""
    r = res.report
    ren = r.renewals
    w = ren.window
    console.print(
        f"{ren.decisions:,} renewal decisions from {w.first} to {w.last} "
        f"({ren.churned:,} churned), each scored by the model of its time.",
        highlight=False,
    )
    flags = t["renewals"]
    table = Table(
        *("days before", "group", "cases", "churned", "recall", "specificity", "accuracy"),
        *("precision", "F1", "ROC-AUC"),
        title="At-risk flag per renewal decision (95% intervals from resampling accounts)",
    )
    for row in flags.itertuples(index=False):
        if row.lead_days in (90, 180) or row.group == "overall":
            d = row._asdict()
            table.add_row(
                str(row.lead_days),
                row.group
                + ("\n(too small)" if isinstance(row.too_small, str) and row.too_small else ""),
                f"{row.cases:,}",
                f"{row.churned:,}",
                iv(row.recall, d.get("recall_lo"), d.get("recall_hi")),
                *map(fmt, (row.specificity, row.accuracy)),
                iv(row.precision, d.get("precision_lo"), d.get("precision_hi")),
                fmt(row.f1),
                iv(row.roc_auc, d.get("roc_auc_lo"), d.get("roc_auc_hi")),
            )
    console.print(table)
    save_list(t["save_list"], cfg)
    leads = ren.leads

    def said(k: str, t) -> str:
        oracle = "" if t.oracle is None else f" (oracle {fmt(t.oracle)})"
        return f"{k} {_mark(t.value, t.target)}{oracle}"

    console.print(
        "Targets (overall"
        + (
            ", with the oracle flagging as many"
            if leads["90"].overall.targets
            and any(t.oracle is not None for t in leads["90"].overall.targets.values())
            else ""
        )
        + "): "
        + "; ".join(
            f"{lead} days: " + ", ".join(said(k, t) for k, t in leads[lead].overall.targets.items())
            for lead in ("90", "180")
        ),
        highlight=False,
    )
    lead = r.lead_time
    console.print(
        f"Lead time: {lead.caught:,} of {lead.churn_events:,} churned accounts were at risk "
        f"beforehand, median {lead.median_lead_days:.0f} days ahead; "
        f"{lead.share_60d_ahead:.0%} ≥ 60 days, {lead.share_90d_ahead:.0%} ≥ 90, "
        f"{lead.share_180d_ahead:.0%} ≥ 180.",
        highlight=False,
    )
    bands = Table("health band", "account-dates", "retained a year on", title="Retention by band")
    for row in t["bands"].itertuples(index=False):
        bands.add_row(
            row.band, f"{row.rows:,}", "–" if pd.isna(row.retention) else f"{row.retention:.1%}"
        )
    console.print(bands)
    fc = Table(
        *("group", "quarters", "inside 80%", "MAE", "naive MAE", "bias"),
        title="Revenue forecast against what happened",
    )
    for row in t["forecast_check"].itertuples(index=False):
        fc.add_row(
            row.group,
            str(row.quarters),
            f"{row.coverage:.0%}",
            money(row.mae, cfg.data.currency),
            money(row.mae_naive, cfg.data.currency),
            ("+" if row.bias >= 0 else "") + money(row.bias, cfg.data.currency),
        )
    console.print(fc)
    base = t["baselines"]
    for row in base[(base.lead_days == 90) & (base.group == "overall")].itertuples(index=False):
        console.print(
            f"vs {row.baseline.replace('_', ' ')} flagging as many accounts 90 days ahead: "
            f"churned decisions caught {row.model_churners_caught} vs "
            f"{row.baseline_churners_caught}, false positives {row.change_in_false_positives:+d}",
            highlight=False,
        )
    seg = Table(
        *("segment", "rows", "known", "ROC-AUC", "ECE", "ROC-AUC 90d", "ECE 90d"),
        title="Scored rows whose outcome is known (health horizon; 90 days), 95% intervals",
    )
    for row in t["segments"].itertuples(index=False):
        seg.add_row(
            row.segment
            + ("\n(too small)" if isinstance(row.too_small, str) and row.too_small else ""),
            f"{row.rows:,}",
            f"{row.known:,}",
            *(
                iv(*(getattr(row, f"{c}{e}") for e in ("", "_lo", "_hi")))
                for c in ("roc_auc", "ece", "roc_auc_90d", "ece_90d")
            ),
        )
    console.print(seg)
    skill = {o: b.skill for o, b in r.periods.items() if b.skill is not None}
    counts = {k: [o for o, v in skill.items() if v.status == k] for k in STATUSES}
    console.print(
        "Each origin's model on its own period (90-day outcome): "
        + ", ".join(f"{len(v)} {k}" for k, v in counts.items() if v)
        + (f". No skill: {', '.join(counts['no skill'])}" if counts["no skill"] else ""),
        style="bold" if counts["no skill"] else None,
        highlight=False,
    )
    console.print(
        f"{len(res.origins)} origins, {r.rows:,} out-of-time rows; MLflow run {run_id}; "
        f"{cfg.paths.reports_dir / 'backtest.json'}; {seconds:.0f} s",
        highlight=False,
    )
    notes([], res.notes)  # a later first origin limits what is judged


def monitor(r: MonitorReport, out: Path) -> None:
    """Status, the most drifted features, score drift, performance, triggers, retraining."""
    colour = {"ok": "green", "warn": "yellow", "alert": "red"}.get(r.status, "dim")
    console.print(
        f"Monitor as of {r.as_of}, model v{r.model.version} "
        f"({r.model.age_days} days past its data end): [{colour}]{terminal(r.status)}[/]. "
        f"{r.sample.live_rows:,} live accounts against {r.sample.reference_rows:,} "
        "reference rows.",
        markup=True,
    )
    table = Table("feature", "dimension", "PSI", "KS", "status", title="Most drifted features")
    for f in r.features[:12]:
        psi, ks = _figure(f.psi, ".3f"), "–" if f.ks is None else f"{f.ks:.3f}"
        table.add_row(f.feature, str(f.dimension), psi, ks, f.status)
    console.print(table)
    e, s, top = r.expected, r.score, r.top_features
    console.print(
        f"Score PSI {_figure(s.psi, '.3f')} ({s.status}); {len(top.drifting)} of "
        f"{len(top.features)} most important features in alert; expected churn within "
        f"the health horizon {_figure(e.churn_rate, '.2%')}, expected recall of the at-risk "
        f"flag {_figure(e.recall, '.0%')}.",
        highlight=False,
    )
    p = r.performance
    if p.status == "insufficient_data":
        console.print(f"Performance: insufficient data ({p.reason}).", highlight=False)
    else:
        live, test = p.live or {}, p.training_test
        console.print(
            f"Performance on matured labels ({p.window.first} to {p.window.last}, "
            f"{p.window.rows:,} rows): ROC-AUC {_figure(live.get('roc_auc'), '.3f')} (test "
            f"{_figure(test.get('roc_auc'), '.3f')}), log loss "
            f"{_figure(live.get('log_loss'), '.4f')} (test {_figure(test.get('log_loss'), '.4f')}"
            f"), ECE {_figure(live.get('ece'), '.3f')} (test {_figure(test.get('ece'), '.3f')}): "
            f"{p.status}.",
            highlight=False,
        )
    fired = [t.reason for t in r.triggers if t.fired]
    console.print(f"Retraining triggers fired: {'; '.join(fired) or 'none'}.", highlight=False)
    rt = r.retrain
    if rt.requested:
        console.print(f"Retraining: [bold]{terminal(rt.status)}[/]", markup=True)
        for reason in rt.reasons:
            console.print(f"  {reason}", highlight=False)
    notes(r.notes)
    console.print(f"Report: {out}; MLflow run {r.mlflow_run_id}", highlight=False)


def _figure(value: float | None, spec: str) -> str:
    """A figure as text; "n/a" for one that could not be computed."""
    return "n/a" if value is None else format(value, spec)
