"""What `train` prints: splits, the year-ahead and test-window tables, the skill gate, the
horizons judged, the expansion model, segment against global, the registration."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from rich.table import Table

from churnhealth.cli.app import console
from churnhealth.cli.views.common import GLOBAL, churn_reasons_table, fmt, iv, notes, pct
from churnhealth.config import Config

if TYPE_CHECKING:  # the CLI imports a command's stages only when it runs
    from churnhealth.evaluation.training_report import ExpansionFigures, YearAhead
    from churnhealth.jobs.train import TrainResult


def training(
    res: TrainResult, cfg: Config, seconds: float, reading: str = "", setting: str = ""
) -> None:
    """Splits, the year-ahead and test-window tables, segment vs global, the registration.
    `reading` and `setting`: the options train was given that say where the data is and which
    configuration (`cli.app.repeated`), repeated in the commands it suggests."""
    s, r = res.splits, res.report
    w = r.windows
    console.print(
        f"Monthly steps known by {s.t1.date()} trained ({w.train.steps:,} steps, "
        f"{w.train.churned_steps:,} churned), those known by {s.t2.date()} validated "
        f"({w.val.steps:,}, {w.val.churned_steps:,}); a step counts as known once "
        f"its end and the {s.gap_days}-day re-signup gap have passed. Test: as-of dates "
        f"{w.test.first} to {w.test.last} ({w.test.rows:,} rows).",
        highlight=False,
    )
    judged_horizons(r.judged.as_dicts())
    if r.gate.passed:
        console.print(
            f"Skill gate passed on {r.gate.why_horizon}: {r.gate.reason}.", highlight=False
        )
    if r.horizons is not None:
        year_ahead(r.horizons)
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
    expansion(r.expansion)
    if r.churn_reasons:
        console.print(churn_reasons_table(pd.DataFrame(r.churn_reasons)))
    where = f"Run {res.run_id}; {seconds:.0f} s. Metrics: {cfg.paths.reports_dir / 'metrics.json'}"
    if res.alias is None:
        skill_gate(res, cfg, reading, setting)
        console.print(where, highlight=False)
    else:
        console.print(
            f"Registered {cfg.mlflow.registered_model} v{res.version} as @{res.alias}: "
            f"{res.reason}. {where}",
            highlight=False,
        )
    notes(res.notes, res.problems)


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
            r.segment + ("\n(too small)" if isinstance(r.too_small, str) and r.too_small else ""),
            "global" if r.model == GLOBAL else str(r.model),
            iv(r.roc_auc, r.roc_auc_lo, r.roc_auc_hi),
            *map(fmt, (r.oracle, r.global_model, r.scorecard, r.login)),
            *(iv(d[k], d[f"{k}_lo"], d[f"{k}_hi"]) for k in ("ece", "recall", "precision")),
            f"{r.churned_accounts:,}",
        )
    return table


def skill_gate(res: TrainResult, cfg: Config, reading: str = "", setting: str = "") -> None:
    """The paragraph for a model that failed the skill gate: figures, causes, what to do (the
    suggested commands with the options train was given)."""
    from churnhealth.evaluation.gate import ADVICE  # with the job, not on every start

    g = res.report.gate
    horizon = f" ({g.why_horizon})" if g.why_horizon else ""
    causes = "; ".join(g.causes) or "none it can see in the data"
    advice = (
        ADVICE.replace("VERSION", res.version)
        .replace("`churnhealth doctor`", f"`churnhealth doctor {reading}`".replace(" `", "`"))
        .replace("--reason TEXT`", f"--reason TEXT {setting}`".replace(" `", "`"))
    )
    console.print(
        f"Registered {cfg.mlflow.registered_model} v{res.version} without an alias: it failed "
        f"the skill gate. {g.reason[:1].upper()}{g.reason[1:]}{horizon}. Causes: "
        f"{causes}. What to do: "
        f"{advice}. The current champion, if any, is unchanged.",
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


def _not_measured(block: ExpansionFigures | YearAhead, what: str) -> bool:
    """True when a block of figures was not computed, after saying why."""
    if block.ok:
        return False
    console.print(f"No {what}: {block.reason}", highlight=False)
    return True


def expansion(e: ExpansionFigures) -> None:
    """The expansion score on its test window: ranking, calibration, the top of the list."""
    if _not_measured(e, "expansion score"):
        return
    t = e.test_window
    table = Table(
        *("segment", "model", "ROC-AUC", "ECE", "base rate", "top 10% precision", "lift"),
        *("ready share", "ready precision"),
        title=f"Expansion score (ARR +{e.threshold:.0%} within {e.horizon_days} days), "
        f"out of time: as-of dates {t.first} to {t.last} ({t.rows:,} rows)",
    )
    for name, b in [("overall", e.overall), *e.segments.items()]:
        table.add_row(
            name,
            e.routes.get(name, "routed"),
            fmt(b.get("roc_auc", float("nan"))),
            fmt(b["ece"]),
            pct(b["base_rate"]),
            pct(b["precision_top10"]),
            "–" if pd.isna(b["lift_top10"]) else f"{b['lift_top10']:.2f}×",
            pct(b["ready_share"]),
            pct(b["ready_precision"]),
        )
    console.print(table)


def year_ahead(h: YearAhead) -> None:
    """The year-ahead test: 12-month and 90-day figures against the oracle, early warning."""
    if _not_measured(h, "year-ahead test"):
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
        title=f"Year-ahead test (model fitted at {h.origin}, as-of dates "
        f"{h.test_window.first} to {h.test_window.last}, outcomes a year on); "
        "under a figure its 95% interval (the ECEs' are in the next table)",
    )
    for name, b in [("overall", h.overall), *h.segments.items()]:
        y, q, t = b.twelve_months, b.ninety_days, b.tiers_12m
        table.add_row(
            name + ("\n(too small)" if y.get("too_small") else ""),
            iv(y["roc_auc"], y.get("roc_auc_lo"), y.get("roc_auc_hi")),
            fmt(y.get("oracle_roc_auc", float("nan"))),
            fmt(y["ece"]),
            iv(q["roc_auc"], q.get("roc_auc_lo"), q.get("roc_auc_hi")),
            fmt(q.get("oracle_roc_auc", float("nan"))),
            fmt(q["ece"]),
            iv(t["recall"], t.get("recall_lo"), t.get("recall_hi")),
            f"{b.health_100_share:.1%}",
        )
    console.print(table)
    console.print(_year_ahead_uncertainty(h))
    e = h.early_warning
    console.print(
        f"Early warning: {e['accounts']:,} annual accounts 120–365 days from renewal "
        f"({e['left_at_renewal']:,} left at it) ranked by health: ROC-AUC {fmt(e['roc_auc'])}"
        + (f" (oracle {fmt(e['oracle_roc_auc'])})" if "oracle_roc_auc" in e else ""),
        highlight=False,
    )


def _year_ahead_uncertainty(h: YearAhead) -> Table:
    """The 12-month ECE with its 95% interval and, on a company with true probabilities,
    what they score on the same rows: the floor the model is judged against."""
    oracle = "oracle_ece" in h.overall.twelve_months
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

    for name, b in [("overall", h.overall), *h.segments.items()]:
        m = b.twelve_months
        ece = f"[{m['ece_lo']:.3f}, {m['ece_hi']:.3f}]" if "ece_lo" in m else ""
        row = [name, fmt(m["ece"]), ece]
        if oracle:
            row.append(fmt(m.get("oracle_ece", float("nan"))))
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
        for m, spec in (("roc_auc", "+.3f"), ("log_loss", "+.4f")):
            d, lo, hi = (getattr(r, f"vs_global_{m}_diff{s}") for s in ("", "_lo", "_hi"))
            cells += [format(d, spec), f"[{lo:{spec}}, {hi:{spec}}]"]
        table.add_row(r.segment, "global" if r.model == GLOBAL else str(r.model), *cells)
    return table
