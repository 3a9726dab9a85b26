"""The backtest's report (backtest.json) as tables: what the CLI prints, the HTML report shows
and MLflow records.
"""

from __future__ import annotations

import pandas as pd

from churnhealth.evaluation import forecast_check as fcheck
from churnhealth.evaluation import metrics as ev
from churnhealth.evaluation import renewals
from churnhealth.evaluation.backtest_report import BacktestReport, FlagFigures, Outcomes, Rows
from churnhealth.evaluation.renewals import FLAG_METRICS


def lead_table(report: BacktestReport, p: pd.DataFrame) -> pd.DataFrame:
    """The lead time of every churn in the report's decision window (`metrics.lead_times`)."""
    w = report.renewals.window
    first, last = pd.Timestamp(w.first), pd.Timestamp(w.last)
    return ev.lead_times(p, renewals.churn_events(p, first, last))


def _rows_table(blocks: dict[str, Rows], key: str) -> pd.DataFrame:
    """One row per period or segment: the rows' figures at the health horizon and 90 days."""
    out = []
    for name, b in blocks.items():
        h, q = b.horizon, b.ninety_days
        out.append(
            {
                key: name,
                "rows": b.rows,
                "known": h.rows,
                "churners": h.churners,
                **{
                    f"{c}{e}": _figure(h, f"{c}{e}")
                    for c in ("roc_auc", "ece")
                    for e in ("", "_lo", "_hi")
                },
                "pr_auc": h.pr_auc,
                "top10_lift": h.top10.lift,
                **{
                    f"{c}_90d{e}": _figure(q, f"{c}{e}")
                    for c in ("roc_auc", "ece")
                    for e in ("", "_lo", "_hi")
                },
                "too_small": h.too_small or "",  # "" judged, else why it is too small
                **({"skill": b.skill.status} if b.skill is not None else {}),
            }
        )
    return pd.DataFrame(out)


def _figure(block: Outcomes | FlagFigures, key: str) -> float:
    """A figure of the block, NaN where it has none (an interval not computed)."""
    v = getattr(block, key)
    return float("nan") if v is None else v


LISTED = ("listed", "caught", "precision", "recall", "churned_arr_share", "false_positives")


def tables(report: BacktestReport) -> dict[str, pd.DataFrame]:
    """The backtest's tables: renewals (per lead and group), the save list (per lead, with
    the baselines at its budget), targets (at 90 and 180 days), baselines, health bands, rows
    per period and segment, forecast cells and their check."""
    ren, targets, base, lists = [], [], [], []
    for lead, blocks in report.renewals.leads.items():
        if (sl := blocks.save_list) is not None:
            row = {"lead_days": int(lead), "cases": sl.cases, "churned": sl.churned}
            row |= {"base_rate": sl.base_rate, "lift": sl.lift}
            exposure = [("exposure", sl.exposure)] if sl.exposure is not None else []
            for who, v in [("list", sl), *sl.baselines.items(), *exposure]:
                row |= {f"{who}_{k}": getattr(v, k) for k in LISTED}
            row["login_rule_false_positives_at_equal_recall"] = (
                sl.login_rule_false_positives_at_equal_recall
            )
            lists.append(row)
        groups = [("overall", blocks.overall)]
        groups += [(f"segment {s}", b) for s, b in blocks.segments.items()]
        groups += [(f"{t} contracts", b) for t, b in blocks.terms.items()]
        for group, b in groups:
            ren.append(
                {
                    "lead_days": int(lead),
                    "group": group,
                    "cases": b.cases,
                    "churned": b.churned,
                    "roc_auc": b.roc_auc,
                    **{k: getattr(b, k) for k in FLAG_METRICS},
                    "flagged_share": b.flagged_share,
                    "arr_weighted_recall": b.arr_weighted_recall,
                    **{
                        f"{k}_{e}": _figure(b, f"{k}_{e}")
                        for k in ("roc_auc", "recall", "precision")
                        for e in ("lo", "hi")
                    },
                    "too_small": b.too_small or "",
                }
            )
            if int(lead) in renewals.TARGET_LEADS and not group.endswith("contracts"):
                for k, v in b.targets.items():
                    targets.append(
                        {"lead_days": int(lead), "group": group, "metric": k, **v.model_dump()}
                    )
                for name, v in b.baselines.items():
                    base.append({"lead_days": int(lead), "group": group, "baseline": name, **v})
    check = [{"group": g, **v.model_dump()} for g, v in report.forecast.check.items()]
    return {
        "renewals": pd.DataFrame(ren),
        "save_list": pd.DataFrame(lists),
        "targets": pd.DataFrame(targets),
        "baselines": pd.DataFrame(base),
        "bands": pd.DataFrame([b.model_dump() for b in report.retention_by_band]),
        "periods": _rows_table(report.periods, "period"),
        "segments": _rows_table(report.segments, "segment"),
        "forecast": fcheck.cells([o.model_dump() for o in report.forecast.origins]),
        "forecast_check": pd.DataFrame(check),
    }
