"""The `truth` table: each active account's true probabilities of churning.

At as-of date T (the first of month m) the truth conditions on the hidden state up to month
m − 1, the last month whose signals exist before T, and averages over Monte Carlo paths of the
next months. Within a path the renewal outcomes are integrated exactly (Rao-Blackwellised), so
200 paths give a precise estimate. Columns:

- `p_churn_90d`: churn in (T, T + 90 days], the 90-day label;
- `p_churn_12m`: churn in (T, T + 365 days], the 12-month health horizon;
- `next_renewal` and `p_churn_next_renewal`: the first renewal decision after T and the chance
  the account leaves at it (in the demo company accounts leave only at renewal decisions).

The first four months of each path use the same random draws as the 90-day figure always has, so
`p_churn_90d` is unchanged by the longer horizons; the months after come from a stream of their
own.
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
YEAR_DAYS = 365
MONTHS = 13
"""Months of each path: enough to reach T + 365 days from the first of a month."""


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
    quarter, year = np.timedelta64(HORIZON_DAYS, "D"), np.timedelta64(YEAR_DAYS, "D")
    # a stream of its own for months 5–13, spawned without drawing from `rng`
    later = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])
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
        survive_90d = np.ones(len(reps))
        survive_12m = np.ones(len(reps))
        p_next = np.full(len(reps), np.nan)
        next_date = np.full(len(idx), np.datetime64("NaT"), dtype="datetime64[D]")
        for j in range(MONTHS):
            s = step(s, seg, rng if j < 4 else later, p)
            r = cal.renewal_in_month(m + j, anchor, term)
            due = ~np.isnat(r) & (r > day)
            if not due.any():
                continue
            tenure = (np.where(due, r, day) - created).astype(np.int64) / 30.44
            pc = churn_prob(s, seg, (term == 1)[reps], tenure[reps], company.shifted(m + j), p)
            survive_90d *= 1 - pc * (due & (r <= day + quarter))[reps]
            survive_12m *= 1 - pc * (due & (r <= day + year))[reps]
            first = due & np.isnat(next_date)
            p_next = np.where(first[reps], pc, p_next)
            next_date = np.where(first, r, next_date)
        frames.append(
            pd.DataFrame(
                {
                    "account": idx,
                    "as_of": pd.Timestamp(day),
                    "p_churn_90d": 1 - survive_90d.reshape(len(idx), paths).mean(axis=1),
                    "p_churn_12m": 1 - survive_12m.reshape(len(idx), paths).mean(axis=1),
                    "next_renewal": next_date,
                    "p_churn_next_renewal": p_next.reshape(len(idx), paths).mean(axis=1),
                }
            )
        )
        if advance:
            advance()
    out = pd.concat(frames, ignore_index=True)
    out["as_of"] = out["as_of"].astype("datetime64[s]")
    return out
