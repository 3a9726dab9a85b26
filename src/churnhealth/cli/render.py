"""What each command prints: tables and sentences on stdout (progress bars go to stderr)."""

from __future__ import annotations

import json

import pandas as pd
import yaml
from rich.table import Table

from churnhealth.cli.app import console
from churnhealth.config import Config
from churnhealth.progress import err_console
from churnhealth.sinks import terminal

STATUSES = ("skill", "no skill", "not judged")
"""A backtest origin's verdict on its own period (`evaluation.backtest.period_skill`)."""
GLOBAL = "__global__"
"""The route of a segment scored by the global model (`HealthModel.GLOBAL`)."""


def _fmt(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.3f}"


def _money(v: float) -> str:
    return f"{v / 1e6:,.1f}M" if v >= 1e6 else f"{v / 1e3:,.0f}k"


def notes(lines: list[str], problems: list[str] = ()) -> None:
    """Problems (what limits the figures above) first, in bold; then the notes, dimmed."""
    for line in problems:
        console.print(f"problem: {line}", style="bold", highlight=False)
    for note in lines:
        console.print(f"note: {note}", style="dim", highlight=False)


def synth(res, seconds: float, seed: int, years: int, drifts: tuple) -> None:
    """The demo company: where, how big, churn per segment and year, rows per table."""
    size = (
        res.path.stat().st_size
        if res.path.is_file()
        else sum(f.stat().st_size for f in res.path.iterdir())
    )
    console.print(
        f"[bold]Demo company[/] written to {terminal(res.path)} in {seconds:.1f} s "
        f"({size / 1e6:.0f} MB), seed {seed}"
        + (f", drift: {', '.join(f'{d.kind}@{d.date}' for d in drifts)}" if drifts else ""),
        markup=True,
    )
    if res.no_signal is not None:
        console.print(
            f"No signal: every active account leaves with probability {res.no_signal:.4f} a "
            "month, at random, whatever the tables say of it (the truth table gives them all "
            "the same probabilities). No model should pass the skill gate on it.",
            highlight=False,
        )
    seg = Table(
        "segment",
        "accounts",
        *[f"churn y{i + 1}" for i in range(years)],
        "90-day churn",
        title="Accounts and churn: yearly logo churn (share of the accounts active at the "
        "year's start that left within it) and 90-day churn (share of monthly as-of rows, "
        "from 90 days in, that churn within 90 days)",
    )
    for name, count in res.accounts_per_segment.items():
        rates = res.churn[res.churn.segment == name].sort_values("year")
        seg.add_row(
            name,
            f"{count:,}",
            *[f"{r:.1%}" for r in rates.churn_rate],
            f"{res.churn_90d[name]:.2%}",
        )
    console.print(seg)
    rows = Table("table", "rows", title="Rows per table")
    for name, count in res.rows.items():
        rows.add_row(name, f"{count:,}")
    console.print(rows)
    if res.defects is not None:
        found = Table(
            "defect", "table", "rows", "what", title="Defects written (docs/messy-data.md)"
        )
        for d in res.defects.itertuples():
            found.add_row(d.defect, d.table, f"{d.rows:,}", d.detail)
        console.print(found)


def validation(report) -> None:
    console.print(report.summary(), highlight=False, soft_wrap=True)
    notes(report.notes)


def features(res, cfg: Config) -> None:
    """Rows written, churn per segment, features per dimension, missing values."""
    frame = res.features.frame
    dates = frame.as_of.drop_duplicates().sort_values()
    console.print(
        f"[bold]{len(frame):,} rows[/] ({frame.account_id.nunique():,} accounts × "
        f"{len(dates)} as-of dates, {dates.iloc[0].date()} to {dates.iloc[-1].date()}; "
        f"{int(frame.labelled.sum()):,} labelled) written to {terminal(res.out)} in "
        f"{res.seconds:.1f} s",
        markup=True,
    )
    parts = res.summary
    churn = Table(
        "segment",
        "labelled rows",
        f"churn within {cfg.labels.horizon_days} days",
        title="Churn rate per segment (labelled rows)",
    )
    for r in parts["churn"].itertuples():
        churn.add_row(r.segment, f"{r.rows:,}", f"{r.churn_rate:.2%}")
    console.print(churn)
    dims = Table("dimension", "features", "names", title="Features per dimension")
    for r in parts["dimensions"].itertuples():
        dims.add_row(r.dimension, str(r.features), r.names)
    console.print(dims)
    nulls = Table("feature", "null share", title="Features with missing values")
    for r in parts["nulls"].itertuples():
        nulls.add_row(r.feature, f"{r.null_share:.1%}")
    console.print(nulls)
    notes(res.features.notes)


def say(line: str) -> None:
    """A line on stderr while a job runs (stdout stays for the results)."""
    err_console.print(line, highlight=False)


def training(res, cfg: Config, seconds: float) -> None:
    """Splits, the year-ahead and test-window tables, segment vs global, the registration."""
    s = res.splits
    w = res.metrics["windows"]
    console.print(
        f"Monthly steps known by {s.t1.date()} trained ({w['train']['steps']:,} steps, "
        f"{w['train']['churned_steps']:,} churned), those known by {s.t2.date()} validated "
        f"({w['val']['steps']:,}, {w['val']['churned_steps']:,}); a step counts as known once "
        f"its end and the {s.gap_days}-day re-signup gap have passed. Test: as-of dates "
        f"{w['test']['first']} to {w['test']['last']} ({w['test']['rows']:,} rows).",
        highlight=False,
    )
    judged_horizons(res.metrics.get("judged", {}).get("horizons", {}))
    if res.metrics.get("gate", {}).get("status") == "passed":
        g = res.metrics["gate"]
        console.print(f"Skill gate passed on {g['why_horizon']}: {g['reason']}.", highlight=False)
    year_ahead(res.metrics.get("horizons", {}))
    console.print(test_window_table(res.summary))
    small = res.summary[res.summary.too_small.notna()]
    if len(small):
        console.print(
            "Too small to judge the model on: "
            + "; ".join(f"{r.segment}, {r.too_small}" for r in small.itertuples())
            + ". Read their figures through their intervals.",
            highlight=False,
        )
    console.print(_segmenting_table(res.summary))
    expansion(res.metrics.get("expansion", {}))
    if res.metrics.get("churn_reasons"):
        console.print(churn_reasons_table(pd.DataFrame(res.metrics["churn_reasons"])))
    where = f"Run {res.run_id}; {seconds:.0f} s. Metrics: {cfg.paths.reports_dir / 'metrics.json'}"
    if res.alias is None:
        skill_gate(res, cfg)
        console.print(where, highlight=False)
    else:
        console.print(
            f"Registered {cfg.mlflow.registered_model} v{res.version} as @{res.alias}: "
            f"{res.reason}. {where}",
            highlight=False,
        )
    notes(res.notes, res.problems)


def _iv(v: float, lo: float | None, hi: float | None) -> str:
    """A figure over its 95% interval, on two lines and without leading zeros in the interval,
    to keep wide tables within a terminal."""
    if pd.isna(v):
        return "–"
    if lo is None or pd.isna(lo):
        return _fmt(v)
    short = [f"{x:.3f}".replace("0.", ".", 1) if 0 <= x < 1 else f"{x:.3f}" for x in (lo, hi)]
    return f"{_fmt(v)}\n{short[0]}–{short[1]}"


def test_window_table(summary: pd.DataFrame) -> Table:
    """The test window per segment: ROC-AUC of the model (95% interval) and of the oracle, the
    global model and the baselines; ECE, recall and precision at the cut-off with intervals; the
    churned accounts behind them; a segment too small to judge is marked."""
    table = Table(
        *("segment", "model", "ROC-AUC", "oracle", "global", "scorecard", "login", "ECE"),
        *("recall", "precision", "churned"),
        title="Test window: ROC-AUC of the model, the oracle, the global model and the "
        "baselines; ECE; the at-risk flag; accounts that churned. Under a figure, its 95% "
        "interval from resampling accounts",
    )
    for r in summary.itertuples():
        d = r._asdict()
        table.add_row(
            r.segment + ("\n(too small)" if isinstance(r.too_small, str) else ""),
            "global" if r.model == GLOBAL else str(r.model),
            _iv(r.roc_auc, r.roc_auc_lo, r.roc_auc_hi),
            *map(_fmt, (r.oracle, r.global_model, r.scorecard, r.login)),
            *(_iv(d[k], d[f"{k}_lo"], d[f"{k}_hi"]) for k in ("ece", "recall", "precision")),
            f"{r.churned_accounts:,}",
        )
    return table


def skill_gate(res, cfg: Config) -> None:
    """The paragraph for a model that failed the skill gate: figures, causes, what to do."""
    from churnhealth.evaluation.judged import ADVICE  # with the job, not on every start

    g = res.metrics["gate"]
    horizon = f" ({g['why_horizon']})" if g.get("why_horizon") else ""
    causes = "; ".join(g["causes"]) or "none it can see in the data"
    console.print(
        f"Registered {cfg.mlflow.registered_model} v{res.version} without an alias: it failed "
        f"the skill gate. {g['reason'][:1].upper()}{g['reason'][1:]}{horizon}. Causes: "
        f"{causes}. What to do: "
        f"{ADVICE.replace('VERSION', res.version)}. The current champion, if any, is unchanged.",
        style="bold",
        highlight=False,
    )


def judged_horizons(verdicts: dict[str, dict]) -> None:
    """Which horizons this data could judge, out of time and censoring-aware: the figures with
    their 95% intervals, or why not."""
    if not verdicts:
        return
    from churnhealth.evaluation import judged  # with the job: not on every command's start

    rows = judged.table(verdicts)
    table = Table(
        *rows.columns,
        title="Every horizon judged with the outcomes this data has (censoring-aware)",
    )
    for row in rows.itertuples(index=False):
        table.add_row(*row)
    console.print(table)


def expansion(e: dict) -> None:
    """The expansion score on its test window: ranking, calibration, the top of the list."""
    if e.get("status") != "ok":
        if e:
            console.print(f"No expansion score: {e['reason']}", highlight=False)
        return
    t = e["test_window"]
    table = Table(
        *("segment", "model", "ROC-AUC", "ECE", "base rate", "top 10% precision", "lift"),
        *("ready share", "ready precision"),
        title=f"Expansion score (ARR +{e['threshold']:.0%} within {e['horizon_days']} days), "
        f"out of time: as-of dates {t['first']} to {t['last']} ({t['rows']:,} rows)",
    )
    for name, b in [("overall", e["overall"]), *e["segments"].items()]:
        table.add_row(
            name,
            e["routes"].get(name, "routed"),
            _fmt(b.get("roc_auc", float("nan"))),
            _fmt(b["ece"]),
            f"{b['base_rate']:.1%}",
            f"{b['precision_top10']:.1%}",
            f"{b['lift_top10']:.2f}×",
            f"{b['ready_share']:.1%}",
            f"{b['ready_precision']:.1%}",
        )
    console.print(table)


def year_ahead(h: dict) -> None:
    """The year-ahead test: 12-month and 90-day figures against the oracle, early warning."""
    if h.get("status") != "ok":
        if h:
            console.print(f"No year-ahead test: {h['reason']}", highlight=False)
        return
    table = Table(
        "segment",
        "12m ROC-AUC",
        "oracle",
        "12m ECE",
        "90d ROC-AUC",
        "oracle",
        "90d ECE",
        "tier recall 12m",
        "health 100",
        title=f"Year-ahead test (model fitted at {h['origin']}, as-of dates "
        f"{h['test_window']['first']} to {h['test_window']['last']}, outcomes a year on); "
        "under a figure its 95% interval (the ECEs' are in the next table)",
    )
    for name, b in [("overall", h["overall"]), *h["segments"].items()]:
        y, q, t = b["12m"], b["90d"], b["tiers_12m"]
        table.add_row(
            name + ("\n(too small)" if y.get("too_small") else ""),
            _iv(y["roc_auc"], y.get("roc_auc_lo"), y.get("roc_auc_hi")),
            _fmt(y.get("oracle_roc_auc", float("nan"))),
            _fmt(y["ece"]),
            _iv(q["roc_auc"], q.get("roc_auc_lo"), q.get("roc_auc_hi")),
            _fmt(q.get("oracle_roc_auc", float("nan"))),
            _fmt(q["ece"]),
            _iv(t["recall"], t.get("recall_lo"), t.get("recall_hi")),
            f"{b['health_100_share']:.1%}",
        )
    console.print(table)
    console.print(_year_ahead_uncertainty(h))
    e = h["early_warning"]
    console.print(
        f"Early warning: {e['accounts']:,} annual accounts 120–365 days from renewal "
        f"({e['left_at_renewal']:,} left at it) ranked by health: ROC-AUC {_fmt(e['roc_auc'])}"
        + (f" (oracle {_fmt(e['oracle_roc_auc'])})" if "oracle_roc_auc" in e else ""),
        highlight=False,
    )


def _year_ahead_uncertainty(h: dict) -> Table:
    """The 12-month ECE with its 95% interval and, on a company with true probabilities,
    what they score on the same rows: the floor the model is judged against."""
    oracle = "oracle_ece" in h["overall"]["12m"]
    cols = ["segment", "12m ECE", "95% interval"]
    if oracle:
        cols += ["oracle ECE", "excess", "95% interval", "ROC-AUC gap", "95% interval"]
    table = Table(
        *cols,
        title="Year-ahead: how sure the 12-month figures are (resampling accounts)"
        + (", against the true probabilities on the same rows" if oracle else ""),
    )

    def iv(b: dict, key: str) -> str:
        return f"[{b[key + '_lo']:+.3f}, {b[key + '_hi']:+.3f}]" if key + "_lo" in b else ""

    for name, b in [("overall", h["overall"]), *h["segments"].items()]:
        m = b["12m"]
        ece = f"[{m['ece_lo']:.3f}, {m['ece_hi']:.3f}]" if "ece_lo" in m else ""
        row = [name, _fmt(m["ece"]), ece]
        if oracle:
            row.append(_fmt(m.get("oracle_ece", float("nan"))))
            for key in ("ece_excess", "auc_gap"):
                row += [f"{m[key]:+.3f}", iv(m, key)] if key in m else ["", ""]
        table.add_row(*row)
    return table


def _segmenting_table(summary: pd.DataFrame) -> Table:
    """Does segmenting pay: the routed model minus the global model, with 95% intervals."""
    table = Table(
        "segment",
        "model",
        "ROC-AUC",
        "95% interval",
        "log loss",
        "95% interval",
        title="Segment models minus the global model on the test window (bootstrap over accounts)",
    )
    for r in summary.itertuples():
        cells = []
        for m, fmt in (("roc_auc", "+.3f"), ("log_loss", "+.4f")):
            d, lo, hi = (getattr(r, f"vs_global_{m}_diff{s}") for s in ("", "_lo", "_hi"))
            cells += [format(d, fmt), f"[{lo:{fmt}}, {hi:{fmt}}]"]
        table.add_row(r.segment, "global" if r.model == GLOBAL else str(r.model), *cells)
    return table


def _mark(v: float, target: float) -> str:
    return f"{_fmt(v)} {'pass' if v > target else 'miss'}"


def backtest(res, t: dict[str, pd.DataFrame], run_id: str, cfg: Config, seconds: float) -> None:
    """Per renewal decision: the flag by lead, the targets at 90 and 180 days, the baselines;
    lead time; retention a year on; the forecast's check; the rows' figures per segment.
    `t`: the backtest's tables (`evaluation.backtest.tables`)."""
    r = res.report
    ren = r["renewals"]
    w = ren["window"]
    console.print(
        f"{ren['decisions']:,} renewal decisions from {w['first']} to {w['last']} "
        f"({ren['churned']:,} churned), each scored by the model of its time.",
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
                row.group + ("\n(too small)" if isinstance(row.too_small, str) else ""),
                f"{row.cases:,}",
                f"{row.churned:,}",
                _iv(row.recall, d.get("recall_lo"), d.get("recall_hi")),
                *map(_fmt, (row.specificity, row.accuracy)),
                _iv(row.precision, d.get("precision_lo"), d.get("precision_hi")),
                _fmt(row.f1),
                _iv(row.roc_auc, d.get("roc_auc_lo"), d.get("roc_auc_hi")),
            )
    console.print(table)
    targets = cfg.backtest.targets.model_dump()
    overall = ren["leads"]
    console.print(
        "Targets (overall): "
        + "; ".join(
            f"{lead} days: "
            + ", ".join(f"{k} {_mark(overall[lead]['overall'][k], v)}" for k, v in targets.items())
            for lead in ("90", "180")
        ),
        highlight=False,
    )
    lead = r["lead_time"]
    console.print(
        f"Lead time: {lead['caught']:,} of {lead['churn_events']:,} churned accounts were at risk "
        f"beforehand, median {lead['median_lead_days']:.0f} days ahead; "
        f"{lead['share_60d_ahead']:.0%} ≥ 60 days, {lead['share_90d_ahead']:.0%} ≥ 90, "
        f"{lead['share_180d_ahead']:.0%} ≥ 180.",
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
            _money(row.mae),
            _money(row.mae_naive),
            ("+" if row.bias >= 0 else "−") + _money(abs(row.bias)),
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
            row.segment + ("\n(too small)" if isinstance(row.too_small, str) else ""),
            f"{row.rows:,}",
            f"{row.known:,}",
            *(
                _iv(*(getattr(row, f"{c}{e}") for e in ("", "_lo", "_hi")))
                for c in ("roc_auc", "ece", "roc_auc_90d", "ece_90d")
            ),
        )
    console.print(seg)
    skill = {o: b["skill"] for o, b in r["periods"].items() if "skill" in b}
    counts = {k: [o for o, v in skill.items() if v["status"] == k] for k in STATUSES}
    console.print(
        "Each origin's model on its own period (90-day outcome): "
        + ", ".join(f"{len(v)} {k}" for k, v in counts.items() if v)
        + (f". No skill: {', '.join(counts['no skill'])}" if counts["no skill"] else ""),
        style="bold" if counts["no skill"] else None,
        highlight=False,
    )
    console.print(
        f"{len(res.origins)} origins, {r['rows']:,} out-of-time rows; MLflow run {run_id}; "
        f"{cfg.paths.reports_dir / 'backtest.json'}; {seconds:.0f} s",
        highlight=False,
    )


def predict(res) -> None:
    """Where the scores went, the portfolio by tier and segment, the alerts."""
    s = res.summary
    p = s["portfolio"]
    console.print(
        f"Scored {p['accounts']:,} accounts as of {s['as_of']} with model v{s['model_version']}"
        f" → {res.out}; summary → {res.out.with_name('summary.json')}",
        highlight=False,
    )
    h = s.get("health_checked")
    if h is not None:
        ok = h["judged"] is True
        console.print(
            ("" if ok else "problem: ") + h["text"][:1].upper() + h["text"][1:] + ".",
            style=None if ok else "bold",
            highlight=False,
        )
    table = Table(
        *("segment", "accounts", "ARR", "healthy", "moderate", "at risk", "critical"),
        *("ARR at risk", "improving", "declining", "mean health"),
        title="Portfolio health",
    )
    for name, b in [("all", p), *s["segments"].items()]:
        t = b["tiers"]
        table.add_row(
            name,
            f"{b['accounts']:,}",
            _money(b["arr"]),
            *[f"{t[k]['accounts']:,}" for k in ("healthy", "moderate", "at_risk", "critical")],
            _money(b["arr_at_risk"]),
            f"{b['improving']:,}",
            f"{b['declining']:,}",
            f"{b['mean_health']:.1f}",
        )
    console.print(table)
    if "forecast" in s:
        forecast(s["forecast"])
    console.print(
        f"Alerts written to {s['alerts_file']}: "
        + ", ".join(f"{n.replace('_', ' ')} {c:,}" for n, c in s["alerts"].items()),
        highlight=False,
    )
    if s.get("expansion_ready") is not None:
        e = s["expansion_ready"]
        console.print(
            f"Expansion: {e['accounts']:,} accounts ready to expand ({_money(e['arr'])} ARR)",
            highlight=False,
        )
    if s.get("overrides_in_force"):
        console.print(f"CSM overrides in force: {s['overrides_in_force']:,}", highlight=False)
    if s.get("portfolio_page"):
        console.print(f"Portfolio page → {s['portfolio_page']}", highlight=False)
    notes(s.get("notes", []))
    hook = s.get("webhook")
    if hook:
        console.print(f"Webhook: {hook['delivered']} message(s) delivered", highlight=False)
        for f in hook["failed"]:
            console.print(f"[red]webhook delivery failed[/]: {terminal(f, limit=500)}", markup=True)


def forecast(f: dict) -> None:
    """Churned ARR and GRR per quarter for the book, and the whole year per segment."""
    pct = f"{f['interval']:.0%}"
    p = f["portfolio"]
    table = Table(
        *("", "ends", "churned ARR", f"{pct} interval", "GRR", f"GRR {pct} interval"),
        title=f"Revenue-retention forecast from {f['as_of']}: {p['accounts']:,} accounts, "
        f"{_money(p['arr'])} ARR",
    )
    rows = [(f"Q{r['quarter']}", r) for r in p["quarters"]]
    rows += [(f"year, {n}", b["year"]) for n, b in [("all", p), *f["segments"].items()]]
    for name, r in rows:
        table.add_row(
            name,
            r["end"],
            _money(r["churned_arr"]),
            f"{_money(r['churned_arr_lo'])}–{_money(r['churned_arr_hi'])}",
            f"{r['grr']:.1%}",
            f"{r['grr_lo']:.1%}–{r['grr_hi']:.1%}",
        )
    console.print(table)


def explanation(e, horizon_days: int) -> None:
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


def monitor(r: dict, out) -> None:
    """Status, the most drifted features, score drift, performance, triggers, retraining."""
    colour = {"ok": "green", "warn": "yellow", "alert": "red"}.get(r["status"], "dim")
    console.print(
        f"Monitor as of {r['as_of']}, model v{r['model']['version']} "
        f"({r['model']['age_days']} days past its data end): [{colour}]{terminal(r['status'])}[/]. "
        f"{r['sample']['live_rows']:,} live accounts against {r['sample']['reference_rows']:,} "
        "reference rows.",
        markup=True,
    )
    table = Table("feature", "dimension", "PSI", "KS", "status", title="Most drifted features")
    for f in r["features"][:12]:
        ks = "–" if f["ks"] is None else f"{f['ks']:.3f}"
        table.add_row(f["feature"], str(f["dimension"]), f"{f['psi']:.3f}", ks, f["status"])
    console.print(table)
    e, s, top = r["expected"], r["score"], r["top_features"]
    console.print(
        f"Score PSI {s['psi']:.3f} ({s['status']}); {len(top['drifting'])} of "
        f"{len(top['features'])} most important features in alert; expected churn within "
        f"the health horizon {e['churn_rate']:.2%}, expected recall of the at-risk flag "
        f"{e['recall']:.0%}.",
        highlight=False,
    )
    p = r["performance"]
    if p["status"] == "insufficient_data":
        console.print(f"Performance: insufficient data ({p['reason']}).", highlight=False)
    else:
        live, test = p["live"], p["training_test"]
        console.print(
            f"Performance on matured labels ({p['window']['first']} to {p['window']['last']}, "
            f"{p['window']['rows']:,} rows): ROC-AUC {live['roc_auc']:.3f} (test "
            f"{test['roc_auc']:.3f}), log loss {live['log_loss']:.4f} (test "
            f"{test['log_loss']:.4f}), ECE {live['ece']:.3f} (test {test['ece']:.3f}): "
            f"{p['status']}.",
            highlight=False,
        )
    fired = [t["reason"] for t in r["triggers"] if t["fired"]]
    console.print(f"Retraining triggers fired: {'; '.join(fired) or 'none'}.", highlight=False)
    rt = r["retrain"]
    if rt["requested"]:
        console.print(f"Retraining: [bold]{terminal(rt['status'])}[/]", markup=True)
        for reason in rt["reasons"]:
            console.print(f"  {reason}", highlight=False)
    notes(r["notes"])
    console.print(f"Report: {out}; MLflow run {r['mlflow_run_id']}", highlight=False)


def doctor(d, as_json: bool = False) -> None:
    """The diagnosis: verdict, tables, history, windows, segments, features, suggestions."""
    if as_json:
        console.print_json(json.dumps(d.to_dict(), default=str))
        return
    console.print(f"[bold]{terminal(d.verdict, limit=1000)}[/]", markup=True)
    h = d.history
    console.print(
        f"History: {h['data_start']} to {h['data_end']} ({h['months']} months), "
        f"{h['accounts']:,} accounts over {h['as_of_dates']} as-of dates"
        + (f"; year-ahead test: {h['year_ahead_test']}" if "year_ahead_test" in h else ""),
        highlight=False,
    )
    tables = Table("table", "required", "rows", "first", "last", title="Tables found")
    for r in d.tables.itertuples():
        tables.add_row(
            r.table,
            "yes" if r.required else "",
            f"{int(r.rows):,}" if r.present else "absent",
            r.first if isinstance(r.first, str) else "",
            r.last if isinstance(r.last, str) else "",
        )
    console.print(tables)
    if len(d.windows):
        w = h["windows"]
        win = Table(
            "segment",
            "train steps",
            "churned",
            "validation steps",
            "churned",
            "test rows",
            "churners",
            title=f"Windows train would use: steps known by {w['train_steps_known_by']} train, "
            f"by {w['validation_steps_known_by']} validate; test as-of dates "
            f"{w['test_as_of'][0]} to {w['test_as_of'][1]}",
        )
        for r in d.windows.itertuples():
            win.add_row(
                r.segment,
                *(f"{v:,}" for v in (r.train_steps, r.train_churned, r.val_steps)),
                *(f"{v:,}" for v in (r.val_churned, r.test_rows, r.test_churners)),
            )
        console.print(win)
    seg = Table("segment", "accounts", "active at end", "own model", title="Segments")
    for r in d.segments.itertuples():
        seg.add_row(r.segment, f"{r.accounts:,}", f"{r.active_at_end:,}", r.why)
    console.print(seg)
    f = d.features
    counts = f.status.value_counts()
    kinds = ("computed", "skipped", "empty", "constant")
    console.print(
        f"Features: {len(f)} declared metrics; "
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in kinds),
        highlight=False,
    )
    off = f[f.status != "computed"]
    if len(off):
        t = Table("feature", "dimension", "status", "to enable it", title="Features not computed")
        for r in off.itertuples():
            t.add_row(r.feature, r.dimension, r.status, r.enable)
        console.print(t)
    if d.suggested:
        nested: dict = {}
        for key, value in d.suggested.items():
            head, _, tail = key.partition(".")
            nested.setdefault(head, {})[tail] = value
        console.print("Suggested configuration:", highlight=False)
        console.print(yaml.safe_dump(nested, sort_keys=False).rstrip(), highlight=False)
    notes(d.notes)


def churn_reasons_table(reasons: pd.DataFrame, top: int = 4) -> Table:
    """Why accounts left, per segment, from the churn records: the leading reasons' shares."""
    table = Table("segment", "churns", "reasons", title="Why accounts left (churn_events)")
    for seg, g in reasons.groupby("segment", sort=False):
        g = g.sort_values("churns", ascending=False)
        lead = ", ".join(f"{r.reason} {r.share:.0%}" for r in g.head(top).itertuples())
        more = f", +{len(g) - top} more" if len(g) > top else ""
        table.add_row(str(seg), f"{int(g.churns.sum()):,}", lead + more)
    return table


def override_recorded(row: dict, store) -> None:
    """The row an `override` appended."""
    what = (
        f"health {row['health']} from {row['valid_from']}"
        + (f" until {row['valid_until']}" if row["valid_until"] else " until cleared")
        if row["action"] == "set"
        else f"override cleared from {row['valid_from']}"
    )
    console.print(
        f"{row['account_id']}: {what} ({row['reason']}; by {row['recorded_by']}) — "
        + _recorded(row, f"the overrides in {store}")
    )


def _recorded(row: dict, where: str) -> str:
    """Where an audit row was appended, or that an identical retry wrote nothing."""
    if row.get("written", True):
        return f"recorded as row {row['seq']} of {where}"
    return f"already recorded as row {row['seq']} of {where}; nothing written"


def overrides(rows: pd.DataFrame, store, every: bool, today) -> None:
    """Each account's latest override with its status, or (`every`) the whole audit trail."""
    if rows.empty:
        console.print(f"No overrides recorded in {store}", highlight=False)
        return
    title = (
        f"Every override recorded in {store}, oldest first"
        if every
        else f"Latest override per account on {today} ({store})"
    )
    cols = ["#", "account", "action", "health", "from", "until", "reason", "by", "recorded"]
    table = Table(*cols, *([] if every else ["status"]), title=title)
    for r in rows.itertuples():
        table.add_row(
            str(r.seq),
            r.account_id,
            r.action,
            "" if pd.isna(r.health) else str(int(r.health)),
            str(pd.Timestamp(r.valid_from).date()),
            "" if pd.isna(r.valid_until) else str(pd.Timestamp(r.valid_until).date()),
            r.reason,
            r.recorded_by,
            str(r.recorded_at),
            *([] if every else [r.status]),
        )
    console.print(table)


def outcome_recorded(row: dict, store) -> None:
    """The row an `outcome` appended."""
    console.print(
        f"alert {row['alert_id']} ({row['playbook'].replace('_', ' ')} for {row['account_id']} "
        f"as of {row['alert_as_of']}): {row['status']}"
        + (f" — {row['note']}" if row["note"] else "")
        + f" (by {row['recorded_by']}) — "
        + _recorded(row, f"the outcomes in {store}")
    )
