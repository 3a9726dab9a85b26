"""Revenue-retention forecast: churned ARR and gross revenue retention for each of the next
twelve months and four quarters, from the accounts' churn curves.

Account i leaves in month k with probability c_ik − c_i,k−1 (its curve, `models.hazard`; month k
ends k calendar months after the as-of date) and stays the whole year with 1 − c_i,12. The
expected churned ARR of a month is Σ_i arr_i (c_ik − c_i,k−1). The interval assumes accounts
leave independently given their probabilities (a Poisson-binomial sum, weighted by ARR): it is
read from `draws` simulated years, in each of which every account's month of leaving (or none)
is drawn from its curve, so months, quarters and the running total come from the same draws.

Gross revenue retention here counts lost accounts only (contraction is not forecast):
GRR by month k = 1 − churned ARR in months 1..k / ARR at the as-of date. The book is the
accounts scored at the as-of date; new accounts are not forecast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from churnhealth.models.hazard import step_ends

QUARTER = 3
CHUNK = 4_000_000
"""Random numbers drawn at once (memory: ~16 MB of float32 plus the comparisons)."""


def simulate(
    curve: np.ndarray, arr: np.ndarray, group: np.ndarray, groups: int, draws: int, seed: int
) -> np.ndarray:
    """Churned ARR per draw, group and month: (draws, groups, steps).

    `curve`: P(churn within k months), (n, steps), non-decreasing in k; `group`: each
    account's group index in [0, groups)."""
    n, steps = curve.shape
    rng = np.random.default_rng(seed)
    total = np.zeros(draws * groups * (steps + 1))
    cum = np.asarray(curve, np.float32)
    size = max(1, CHUNK // draws)
    first = np.arange(draws, dtype=np.int64)[:, None] * groups
    for lo in range(0, n, size):
        c, a, g = cum[lo : lo + size], arr[lo : lo + size], group[lo : lo + size]
        u = rng.random((draws, len(c)), dtype=np.float32)
        month = np.zeros(u.shape, np.uint8)  # steps = stayed the year
        above = np.empty(u.shape, bool)
        for k in range(steps):  # in place, a byte per draw: half the time of int64 sums
            np.greater(u, c[:, k], out=above)
            month += above
        key = (first + g[None, :]) * (steps + 1) + month
        total += np.bincount(
            key.ravel(), weights=np.broadcast_to(a, u.shape).ravel(), minlength=total.size
        )
    return total.reshape(draws, groups, steps + 1)[:, :, :steps]


class Period(BaseModel):
    """Churned ARR expected over one period, its interval, and the GRR at the period's end."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    end: str
    """The period's last day (ISO date)."""
    churned_arr: float
    churned_arr_lo: float
    churned_arr_hi: float
    grr: float
    """Gross revenue retention from the as-of date to `end` (NaN for a book without ARR)."""
    grr_lo: float
    grr_hi: float


class Month(Period):
    month: int
    """1 … 12: months after the as-of date."""


class Quarter(Period):
    quarter: int
    """1 … 4."""


class Year(Period):
    months: int
    """The months the year covers (the curve's length)."""


class BookForecast(BaseModel):
    """The forecast of one book: the portfolio, or one segment."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    accounts: int
    arr: float
    months: list[Month]
    quarters: list[Quarter]
    year: Year


class Forecast(BaseModel):
    """Churned ARR and GRR by month, quarter and year, with `interval` intervals."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    as_of: str
    interval: float
    draws: int
    portfolio: BookForecast
    segments: dict[str, BookForecast]


def _block(
    sims: np.ndarray, expected: np.ndarray, book: float, accounts: float, ends: list, q: tuple
) -> BookForecast:
    """Months and quarters for one group: expected churned ARR, its interval, GRR."""
    lo, hi = q

    def rows(per: np.ndarray, exp: np.ndarray, key: str) -> list[dict]:
        cum_sims, cum_exp = np.cumsum(per, axis=1), np.cumsum(exp)
        out = []
        for j in range(per.shape[1]):
            lo_v, hi_v = np.quantile(per[:, j], [lo, hi])
            clo, chi = np.quantile(cum_sims[:, j], [lo, hi])
            out.append(
                {
                    key: j + 1,
                    "end": ends[(j + 1) * (len(ends) // per.shape[1]) - 1],
                    "churned_arr": float(exp[j]),
                    "churned_arr_lo": float(lo_v),
                    "churned_arr_hi": float(hi_v),
                    "grr": 1 - float(cum_exp[j]) / book if book else float("nan"),
                    "grr_lo": 1 - float(chi) / book if book else float("nan"),
                    "grr_hi": 1 - float(clo) / book if book else float("nan"),
                }
            )
        return out

    steps = sims.shape[1]
    quarters = steps // QUARTER
    qs = sims[:, : quarters * QUARTER].reshape(len(sims), quarters, QUARTER).sum(axis=2)
    qe = expected[: quarters * QUARTER].reshape(quarters, QUARTER).sum(axis=1)
    year = sims.sum(axis=1, keepdims=True), expected.sum(keepdims=True)
    return BookForecast(
        accounts=int(accounts),
        arr=float(book),
        months=rows(sims, expected, "month"),
        quarters=rows(qs, qe, "quarter"),
        year=rows(*year, "months")[0] | {"months": steps},
    )


def forecast(
    scores: pd.DataFrame,
    curve: np.ndarray,
    *,
    interval: float = 0.8,
    draws: int = 1000,
    seed: int = 0,
) -> Forecast:
    """The forecast of the book in `scores` (account_id, as_of, segment, arr; one as-of date)
    from its churn curves, overall (`portfolio`) and per segment."""
    if len(scores) != len(curve):
        raise ValueError("one curve per scored account is needed")
    if scores.as_of.nunique() != 1:
        raise ValueError("a forecast starts from one as-of date")
    arr = scores.arr.fillna(0).to_numpy(float)
    segments, group = np.unique(scores.segment.astype(str).to_numpy(), return_inverse=True)
    c = np.maximum.accumulate(np.clip(curve, 0, 1), axis=1)
    sims = simulate(c, arr, group, len(segments), draws, seed)
    month_p = np.diff(c, axis=1, prepend=0.0)  # P(leaving in month k)
    ends = [str(d) for d in step_ends(scores.as_of.iloc[:1], c.shape[1])[0]]
    q = ((1 - interval) / 2, (1 + interval) / 2)
    by_segment = {}
    for j, s in enumerate(segments):
        rows = group == j
        by_segment[str(s)] = _block(
            sims[:, j], arr[rows] @ month_p[rows], arr[rows].sum(), rows.sum(), ends, q
        )
    return Forecast(
        as_of=str(scores.as_of.iloc[0].date()),
        interval=interval,
        draws=draws,
        portfolio=_block(sims.sum(axis=1), arr @ month_p, arr.sum(), len(arr), ends, q),
        segments=by_segment,
    )


def realised(
    scores: pd.DataFrame, churn_after: pd.Series, known_until: pd.Timestamp, steps: int = 12
) -> dict:
    """What happened to the book of a forecast: churned ARR per quarter, overall and per segment,
    for the quarters whose end is on or before `known_until` (None for the others).

    `churn_after`: each account's first churn date after the as-of date (NaT if none)."""
    ends = step_ends(scores.as_of.iloc[:1], steps)[0][QUARTER - 1 :: QUARTER]
    starts = np.concatenate([[np.datetime64(scores.as_of.iloc[0].date(), "D")], ends[:-1]])
    when = np.asarray(churn_after, dtype="datetime64[D]")
    arr = scores.arr.fillna(0).to_numpy(float)
    limit = np.datetime64(pd.Timestamp(known_until).date(), "D")

    def block(rows: np.ndarray) -> list[float | None]:
        out = []
        for a, b in zip(starts, ends, strict=True):
            hit = rows & (when > a) & (when <= b)
            out.append(float(arr[hit].sum()) if b <= limit else None)
        return out

    seg = scores.segment.astype(str).to_numpy()
    return {
        "portfolio": block(np.ones(len(scores), bool)),
        "segments": {s: block(seg == s) for s in np.unique(seg)},
    }
