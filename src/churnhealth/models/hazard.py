"""Discrete-time survival: the churn curve of each account over the next months.

Each (account, as-of) row is expanded into monthly steps k = 1..K ("person-period" rows): step k
covers (as_of + (k − 1) months, as_of + k months]. Its label is 1 when the account churned in
that step, 0 when it was still a customer at its end; steps after a churn are left out, and so
are steps whose outcome was not known yet at the window's boundary (right censoring): an as-of
date whose 12 months have not passed still teaches the months that have. A binary classifier of
the steps estimates the hazard h_k (the chance of leaving in step k, given the account was there
at its start); the curve follows as S_k = Π_{j ≤ k} (1 − h_j) and P(churn within k months) =
1 − S_k.

The step's contract exposure is a feature: how many renewal decisions fall in it, and its index,
so the curve steps at renewal decisions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth import calendar as cal

STEPS = 12
"""Months of the curve."""
STEP_FEATURES = ("step", "decisions_in_step", "decisions_before_step")
"""Exposure columns of a person-period row (context, never drivers)."""
EXPOSURE_INPUTS = ("as_of", "renewal_date", "term_months")
"""The columns the exposure is computed from."""


def step_bounds(as_of: pd.Series, steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each step per row, (n, steps) datetime64[D] each."""
    ends = step_ends(as_of, steps)
    day = np.asarray(as_of, dtype="datetime64[D]")
    return np.concatenate([day[:, None], ends[:, :-1]], axis=1), ends


def step_ends(as_of: pd.Series, steps: int = STEPS) -> np.ndarray:
    """End of each step per row, (n, steps) datetime64[D]: as_of + k calendar months (clipped to
    the month's last day, like a renewal anniversary)."""
    day = np.asarray(as_of, dtype="datetime64[D]")
    months = cal.month_index(day)[:, None] + np.arange(1, steps + 1)[None, :]
    return cal.date_in_month(months, cal.day_of_month(day)[:, None])


def decisions(frame: pd.DataFrame, steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Renewal decisions per step, (n, steps): in the step, and before it.

    A contract renews at `renewal_date` (the next one after the as-of date) and every
    `term_months` after it; a monthly contract therefore has one decision in every step."""
    n = len(frame)
    starts, ends = step_bounds(frame.as_of, steps)
    first = np.asarray(frame.renewal_date, dtype="datetime64[D]")
    term = frame.term_months.fillna(12).to_numpy().astype(np.int64).clip(1)
    anchor_m = cal.month_index(first)
    dom = cal.day_of_month(first)
    inside = np.zeros((n, steps), np.int64)
    for j in range(steps + 1):
        r = cal.date_in_month(anchor_m + j * term, dom)
        valid = ~np.isnat(first)
        inside += ((r[:, None] > starts) & (r[:, None] <= ends) & valid[:, None]).astype(np.int64)
    before = np.cumsum(inside, axis=1) - inside
    return inside, before


def person_period(
    frame: pd.DataFrame,
    churn_after: pd.Series,
    known_until: pd.Timestamp | pd.Series,
    gap_days: int,
    steps: int = STEPS,
) -> pd.DataFrame:
    """Known steps of each row: `row` (position in `frame`), `step`, the exposure columns, the
    step's `end` date and the label `churned_in_step`.

    `churn_after`: each row's first churn date after its as-of date (NaT if none is recorded).
    `known_until`: the boundary of what may be used (the end of the data, or of the row's split
    window); step k is known when its end plus the re-signup gap is on or before it, because a
    coverage ending then could still turn out to be a renewal until the gap has passed."""
    starts, ends = step_bounds(frame.as_of, steps)
    if not isinstance(known_until, pd.Series):
        known_until = pd.Series(pd.Timestamp(known_until), index=frame.index)
    limit = np.asarray(known_until, dtype="datetime64[D]")
    known = ends + np.timedelta64(gap_days, "D") <= limit[:, None]
    churn = np.asarray(churn_after, dtype="datetime64[D]")
    event = (churn[:, None] > starts) & (churn[:, None] <= ends)
    before_event = np.cumsum(event, axis=1) - event
    keep = known & (before_event == 0)
    inside, before = decisions(frame, steps)
    rows, k = np.nonzero(keep)
    return pd.DataFrame(
        {
            "row": rows,
            "step": k + 1,
            "decisions_in_step": inside[rows, k],
            "decisions_before_step": before[rows, k],
            "end": ends[rows, k].astype("datetime64[ns]"),
            "churned_in_step": event[rows, k].astype(np.int8),
        }
    )


def step_design(X: pd.DataFrame, steps: int, inside: np.ndarray, before: np.ndarray):
    """Every step of every row: `X` repeated `steps` times (step-major: rows of step 1, then
    of step 2, …) with the exposure columns; the input a hazard model scores a curve from."""
    n = len(X)
    out = X.iloc[np.tile(np.arange(n), steps)].reset_index(drop=True)
    out["step"] = np.repeat(np.arange(1, steps + 1), n)
    out["decisions_in_step"] = inside[:, :steps].T.reshape(-1)
    out["decisions_before_step"] = before[:, :steps].T.reshape(-1)
    return out


def horizon_weights(frame: pd.DataFrame, days: int, steps: int = STEPS) -> np.ndarray:
    """How much of each step lies within `days` of the as-of date, (n, steps) in [0, 1]: the
    log-survival to `days` is Σ_k w_k log(1 − h_k) (constant hazard inside a step, as in
    `within_days`)."""
    ends = step_ends(frame.as_of, steps)
    day = np.asarray(frame.as_of, dtype="datetime64[D]")
    starts = np.concatenate([day[:, None], ends[:, :-1]], axis=1)
    target = (day + np.timedelta64(days, "D"))[:, None]
    length = np.maximum((ends - starts).astype(np.int64), 1)
    covered = (np.minimum(ends, target) - starts).astype(np.int64)
    return (covered / length).clip(0, 1)


def next_decision_step(frame: pd.DataFrame, steps: int = STEPS) -> np.ndarray:
    """Index (0-based) of the step holding the next renewal decision, −1 when it is not within
    the curve's months."""
    inside, _ = decisions(frame, steps)
    has = inside > 0
    return np.where(has.any(axis=1), has.argmax(axis=1), -1)


def curve(hazards: np.ndarray) -> np.ndarray:
    """P(churn within k steps) for k = 1..K from per-step hazards, (n, K)."""
    return 1 - np.cumprod(1 - np.asarray(hazards, float), axis=1)


def within_days(frame: pd.DataFrame, p_curve: np.ndarray, days: int) -> np.ndarray:
    """P(churn within `days` of the as-of date), interpolating the curve inside a step with a
    constant hazard (log-linear survival between step ends)."""
    n, steps = p_curve.shape
    ends = step_ends(frame.as_of, steps)
    day = np.asarray(frame.as_of, dtype="datetime64[D]")
    target = day + np.timedelta64(days, "D")
    surv = np.concatenate([np.ones((n, 1)), 1 - p_curve], axis=1)
    bounds = np.concatenate([day[:, None], ends], axis=1)
    k = np.clip((bounds <= target[:, None]).sum(axis=1) - 1, 0, steps - 1)
    rows = np.arange(n)
    lo, hi = bounds[rows, k], bounds[rows, k + 1]
    frac = ((target - lo).astype(np.int64) / np.maximum((hi - lo).astype(np.int64), 1)).clip(0, 1)
    s_lo, s_hi = surv[rows, k], surv[rows, k + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(s_lo > 0, s_lo * np.power(np.where(s_lo > 0, s_hi / s_lo, 1.0), frac), 0.0)
    return 1 - s
