"""The revenue-retention forecast held against what happened, and against a naive forecast.

At each backtest origin the model fitted there forecasts the churned ARR of the book active that
day for each of the next four quarters (`scoring.forecast`). Once a quarter has passed (and the
re-signup gap after it), its realised churned ARR is known: the ARR, at the origin, of the
accounts of that book that churned in the quarter. Two checks:

- coverage: the share of realised quarters inside the forecast's interval (an 80% interval
  should hold 70–90% of them);
- error: the mean absolute error of the quarterly churned ARR against the naive forecast a
  finance team would make without a model: each segment's trailing-twelve-month churn rate
  (ARR-weighted, over the year whose outcomes were known at the origin) applied to today's book
  at a constant rate per quarter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth.features.grid import arr_on
from churnhealth.features.labels import churn_dates
from churnhealth.scoring.forecast import Forecast

QUARTERS = 4
COVERAGE = (0.70, 0.90)
"""The range the share of realised quarters inside an 80% interval should fall in."""


def trailing_rates(
    subscriptions: pd.DataFrame,
    segment_of: pd.Series,
    origin: pd.Timestamp,
    gap_days: int,
) -> dict[str, float]:
    """Per segment, the share of ARR active at the start of the last known year that churned
    within it. The year ends `gap_days` before the origin: a coverage ending later could still
    turn out to be a renewal. `subscriptions` must be the data known at the origin;
    `segment_of` maps account_id to segment."""
    end = origin - pd.Timedelta(days=gap_days)
    start = end - pd.DateOffset(years=1)
    subs = subscriptions.assign(
        start_date=pd.to_datetime(subscriptions.start_date),
        end_date=pd.to_datetime(subscriptions.end_date),
    )
    arr0 = arr_on(subs, start)
    events = churn_dates(subs, gap_days)
    gone = events[(events.churn_date > start) & (events.churn_date <= end)].account_id.unique()
    seg = arr0.index.map(segment_of)
    total = arr0.groupby(seg).sum()
    lost = arr0[arr0.index.isin(gone)].groupby(seg[arr0.index.isin(gone)]).sum()
    return {str(s): float(lost.get(s, 0.0) / v) if v > 0 else 0.0 for s, v in total.items()}


def naive_quarters(book: dict[str, float], rates: dict[str, float]) -> dict[str, list[float]]:
    """Churned ARR per quarter of each segment's book (and the portfolio, their sum), at the
    segment's trailing annual rate spread evenly over the quarters (constant hazard)."""
    out = {}
    for s, arr in book.items():
        stay = (1 - min(rates.get(s, 0.0), 1.0)) ** (1 / QUARTERS)
        out[s] = [arr * stay**q * (1 - stay) for q in range(QUARTERS)]
    out_p = [sum(v[q] for v in out.values()) for q in range(QUARTERS)]
    return {"portfolio": out_p, **{f"segment:{s}": v for s, v in out.items()}}


def cells(origin_results: list[dict]) -> pd.DataFrame:
    """One row per origin, group and realised quarter: forecast, interval, naive, realised."""
    rows = []
    for o in origin_results:
        for group, q in o["quarters"].items():
            for j, cell in enumerate(q):
                if cell["realised"] is not None:
                    rows.append({"origin": o["origin"], "group": group, "quarter": j + 1, **cell})
    return pd.DataFrame(
        rows,
        columns=[
            *("origin", "group", "quarter", "end", "forecast", "lo", "hi"),
            *("naive", "realised"),
        ],
    )


def check(origin_results: list[dict]) -> dict:
    """Coverage and errors of the realised quarters, for the portfolio and each segment."""
    c = cells(origin_results)
    out = {}
    for group, g in c.groupby("group", sort=False):
        inside = (g.lo <= g.realised) & (g.realised <= g.hi)
        mae = float((g.forecast - g.realised).abs().mean())
        mae_naive = float((g.naive - g.realised).abs().mean())
        out[group] = {
            "quarters": len(g),
            "coverage": float(inside.mean()),
            "coverage_passed": bool(COVERAGE[0] <= inside.mean() <= COVERAGE[1]),
            "mae": mae,
            "mae_naive": mae_naive,
            "beats_naive": bool(mae < mae_naive),
            "bias": float((g.forecast - g.realised).mean()),
            "realised_mean": float(g.realised.mean()),
        }
    return out


def origin_result(origin: pd.Timestamp, fc: Forecast, real: dict, naive: dict) -> dict:
    """One origin's forecast, naive forecast and realised churned ARR per group and quarter
    (`realised` None while the quarter's outcome is not known)."""
    groups = {"portfolio": (fc.portfolio, real["portfolio"])}
    for s, b in fc.segments.items():
        groups[f"segment:{s}"] = (b, real["segments"].get(s, [None] * QUARTERS))
    out = {"origin": str(origin.date()), "as_of": fc.as_of, "quarters": {}}
    for g, (b, r) in groups.items():
        out["quarters"][g] = [
            {
                "end": q.end,
                "forecast": q.churned_arr,
                "lo": q.churned_arr_lo,
                "hi": q.churned_arr_hi,
                "naive": float(naive.get(g, [np.nan] * QUARTERS)[j]),
                "realised": r[j],
            }
            for j, q in enumerate(b.quarters)
        ]
    return out
