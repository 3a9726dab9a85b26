"""The report's first screen: how good is this score?

A CS leader opens the report to decide whether to trust the health score. This answers first,
each figure with where it comes from: the skill verdict of the champion's training (did the
score rank churners above stayers beyond noise, on which horizon), retention a year on by
health band, the score against the baselines at the same budget, and whether the revenue
forecast's interval held. The practitioners' targets follow, each beside what the oracle (the
demo company's true probabilities, flagging as many accounts) reaches, so a "miss" that no
model could turn into a "pass" reads as what it is.
"""

from __future__ import annotations

import pandas as pd

from churnhealth.evaluation import judged
from churnhealth.evaluation.backtest_report import BacktestReport
from churnhealth.evaluation.report_sections import table
from churnhealth.evaluation.training_report import TrainingReport
from churnhealth.sinks import html_text
from churnhealth.units import money


def _pct(v: float | None, digits: int = 0) -> str:
    return "–" if v is None or pd.isna(v) else f"{v:.{digits}%}"


def verdict(train: TrainingReport | None, health_days: int) -> list[str]:
    """The skill gate's verdict and whether the health horizon was judged, in sentences."""
    if train is None:
        return [
            "The champion's training figures are missing from the tracking store: retrain "
            "(make train) to see whether the score has skill on this data."
        ]
    g = train.gate
    out = [
        f"Skill gate {'passed' if g.passed else 'FAILED'}: {g.reason}"
        + ("" if g.reason.endswith(".") else ".")
    ]
    head = judged.headline(train.judged.as_dicts(), health_days)
    text = head["text"]
    out.append(text[:1].upper() + text[1:] + ".")
    return out


def same_budget(bt: BacktestReport) -> pd.DataFrame:
    """90 days before each renewal decision: the flag and the save list beside the baselines
    given the same number of accounts (churned decisions caught, false positives, precision
    and churned ARR held)."""
    lead = bt.renewals.leads.get("90")
    if lead is None:
        return pd.DataFrame()
    rows = []
    flag = lead.overall
    first = next(iter(flag.baselines.values()), None)
    if first is not None:
        rows.append(
            {
                "90 days before each decision": "at-risk flag (at risk or critical)",
                "accounts flagged": f"{int(first['flagged']):,}",
                "churned decisions caught": f"{int(first['model_churners_caught']):,}",
                "false positives": f"{int(first['model_false_positives']):,}",
            }
        )
        for name, b in flag.baselines.items():
            rows.append(
                {
                    "90 days before each decision": f"{name.replace('_', ' ')}, as many flagged",
                    "accounts flagged": f"{int(b['flagged']):,}",
                    "churned decisions caught": f"{int(b['baseline_churners_caught']):,}",
                    "false positives": f"{int(b['baseline_false_positives']):,}",
                }
            )
    sl = lead.save_list
    if sl is not None and sl.listed:
        for name, x in [("save list (the team's capacity)", sl), *sl.baselines.items()]:
            who = name if x is sl else f"{name.replace('_', ' ')}, a list as long"
            rows.append(
                {
                    "90 days before each decision": who,
                    "accounts flagged": f"{x.listed:,}",
                    "churned decisions caught": f"{x.caught:,} ({_pct(x.precision)} of listed)",
                    "false positives": f"{x.false_positives:,}",
                    "churned ARR held": _pct(x.churned_arr_share),
                }
            )
    return pd.DataFrame(rows).fillna("")


def forecast_line(bt: BacktestReport, currency: str) -> str:
    """Whether the revenue forecast's interval held on the quarters that have happened."""
    check = bt.forecast.check.get("portfolio")
    if check is None or not check.quarters:
        return "No forecast quarter of the backtest has happened yet: its interval is not checked."
    return (
        f"The revenue forecast's 80% interval held {check.coverage:.0%} of {check.quarters} "
        f"realised quarters; its error was {money(check.mae, currency)} per quarter against "
        f"{money(check.mae_naive, currency)} for last year's churn rate applied to the book."
    )


def retention_line(bt: BacktestReport) -> str:
    """Retention a year on at the top and the bottom of the health scale."""
    bands = {b.band: b for b in bt.retention_by_band if b.rows}
    if not bands:
        return "No account-date of the backtest has a year of outcome yet."
    ordered = list(bands.values())
    top, low = ordered[0], ordered[-1]
    return (
        f"Health means what it says: of account-dates scored {top.band}, "
        f"{_pct(top.retention, 1)} were still customers a year later; {low.band}, "
        f"{_pct(low.retention, 1)}."
    )


def targets(t: pd.DataFrame) -> pd.DataFrame:
    """The practitioners' targets at 90 and 180 days: per group and lead, each figure over
    its target with pass / miss, beside the oracle's figure at the same budget."""
    if t.empty:
        return t
    rows = []
    has_oracle = "oracle" in t and t.oracle.notna().any()
    for (lead, group), g in t.groupby(["lead_days", "group"], sort=False):
        row = {"days before": lead, "group": group}
        for r in g.itertuples(index=False):
            value = "–" if pd.isna(r.value) else f"{r.value:.2f}"
            head = f"{r.metric} (> {r.target:.2f})"
            oracle = getattr(r, "oracle", None)
            if has_oracle:
                value += " / " + ("–" if oracle is None or pd.isna(oracle) else f"{oracle:.2f}")
            row[head] = value
            row[f"{r.metric} "] = "pass" if r.passed else "miss"
        rows.append(row)
    return pd.DataFrame(rows)


def oracle_note(t: pd.DataFrame) -> str:
    """How to read the targets table: with the oracle, how many misses it would have too."""
    if t.empty:
        return "<p class='muted'>No renewal decision was scored 90 or 180 days ahead.</p>"
    misses = int((~t.passed.astype(bool)).sum())
    if "oracle" not in t or t.oracle.isna().all():
        return (
            f"<p class='muted'>{misses} of {len(t)} figures miss their target. This data has no "
            "truth table, so what a perfect model would reach here is unknown: the targets "
            "come from other companies' practice and may not be reachable on this book.</p>"
        )
    oracle_misses = int(sum(o <= tg for o, tg in zip(t.oracle, t.target, strict=True)))
    return (
        f"<p class='muted'>Each cell: the model's figure / the oracle's (the true probabilities "
        f"flagging as many accounts per as-of date). {misses} of {len(t)} figures miss their "
        f"target; the oracle itself misses {oracle_misses}: those targets are out of reach of "
        "any model on this company, not failures of this one.</p>"
    )


def panel(
    bt: BacktestReport,
    train: TrainingReport | None,
    health_days: int,
    currency: str,
    bullets: list[str],
    retention_table: str,
    retention_plot: str,
) -> str:
    """The first screen: verdict, retention by band, the baselines at the same budget, the
    forecast's check, then the headlines in plain words."""
    w = bt.renewals.window
    verdict_html = "".join(f"<p><b>{html_text(s)}</b></p>" for s in verdict(train, health_days))
    budget = same_budget(bt)
    return (
        verdict_html
        + "<h3>Retention by health band, a year on</h3>"
        + f"<p>{html_text(retention_line(bt))}</p>"
        + retention_plot
        + retention_table
        + (
            "<h3>Against the baselines, at the same budget</h3>" + table(budget)
            if not budget.empty
            else ""
        )
        + f"<p>{html_text(forecast_line(bt, currency))}</p>"
        + "<h3>In brief</h3><ul class='headlines'>"
        + "".join(f"<li>{html_text(s)}</li>" for s in bullets)
        + "</ul>"
        + f"<p class='muted'>Renewal decisions from {w.first} to {w.last}.</p>"
    )
