"""Vectorised month arithmetic on numpy datetime64[D] arrays (months counted from 1970-01)."""

from __future__ import annotations

import numpy as np


def month_index(d: np.ndarray) -> np.ndarray:
    return d.astype("datetime64[M]").astype(np.int64)


def month_start(m: np.ndarray | int) -> np.ndarray:
    return np.asarray(m, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]")[()]


def day_of_month(d: np.ndarray) -> np.ndarray:
    return (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1


def days_in_month(m: np.ndarray | int) -> np.ndarray:
    m = np.asarray(m, dtype=np.int64)
    return (month_start(m + 1) - month_start(m)).astype(np.int64)[()]


def date_in_month(m: np.ndarray | int, day: np.ndarray) -> np.ndarray:
    """The given day of month m, clipped to the month's last day (renewal anniversaries)."""
    return month_start(m) + (np.minimum(day, days_in_month(m)) - 1).astype("timedelta64[D]")


def renewal_in_month(m: np.ndarray | int, anchor: np.ndarray, term: np.ndarray) -> np.ndarray:
    """Renewal date of a subscription started at `anchor` falling in month m, or NaT."""
    since = np.asarray(m, dtype=np.int64) - month_index(anchor)
    due = (since > 0) & (since % term == 0)
    return np.where(due, date_in_month(m, day_of_month(anchor)), np.datetime64("NaT"))
