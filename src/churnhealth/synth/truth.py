"""The `truth` table: each active account's true probability of churning within 90 days.

At as-of date T (the first of month m) the truth conditions on the hidden state up to month
m − 1, the last month whose signals exist before T, and averages over Monte Carlo paths of the
next months. Within a path the renewal outcomes are integrated exactly (Rao-Blackwellised), so
200 paths give a precise estimate. Churn in (T, T + 90 days] matches the label definition.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from churnhealth import calendar as cal
from churnhealth.synth.dynamics import churn_prob, step
from churnhealth.synth.params import Params
from churnhealth.synth.simulate import Company

HORIZON_DAYS = 90


def covering_rows(company: Company, day: np.datetime64) -> pd.DataFrame:
    """Subscription rows that cover `day` (start ≤ day < end): one per active account."""
    subs = company.subscriptions
    d = pd.Timestamp(day)
    mask = (subs.start_date <= d) & (subs.end_date.isna() | (subs.end_date > d))
    return subs[mask]


def truth_table(
    company: Company,
    paths: int,
    rng: np.random.Generator,
    p: Params,
    advance: Callable[[], None] | None = None,
) -> pd.DataFrame:
    frames = []
    horizon = np.timedelta64(HORIZON_DAYS, "D")
    for k in range(company.months + 1):
        m = company.first + k
        day = cal.month_start(m)
        rows = covering_rows(company, day)
        idx = rows.account.to_numpy()
        if len(idx) == 0:
            continue
        anchor = rows.start_date.to_numpy().astype("datetime64[D]")
        term = rows.term_months.to_numpy()
        reps = np.repeat(np.arange(len(idx)), paths)
        seg = company.seg[idx][reps]
        created = company.created[idx]
        s = company.state(k - 1).take(idx[reps])
        survive = np.ones(len(reps))
        for j in range(4):
            s = step(s, seg, rng, p)
            r = cal.renewal_in_month(m + j, anchor, term)
            inside = ~np.isnat(r) & (r > day) & (r <= day + horizon)
            if not inside.any():
                continue
            tenure = (np.where(inside, r, day) - created).astype(np.int64) / 30.44
            pc = churn_prob(s, seg, (term == 1)[reps], tenure[reps], company.shifted(m + j), p)
            survive *= 1 - pc * inside[reps]
        prob = 1 - survive.reshape(len(idx), paths).mean(axis=1)
        frames.append(
            pd.DataFrame({"account": idx, "as_of": pd.Timestamp(day), "p_churn_90d": prob})
        )
        if advance:
            advance()
    out = pd.concat(frames, ignore_index=True)
    out["as_of"] = out["as_of"].astype("datetime64[s]")
    return out
