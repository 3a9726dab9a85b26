"""Splits by time, never at random, sized from the data.

The model learns from monthly steps (see `models.hazard`): "did the account leave in this
month, given its features at the as-of date before it". A step's outcome is known once its end
plus the re-signup gap has passed (a new subscription within the gap means the account did not
leave). So each step belongs to the first window by whose end it was known: training (known by
t1), validation (known by t2, not by t1). Nothing fitted or calibrated depends on anything after
t2. The test window holds the as-of dates in (t2, t3] whose label (churn within
`labels.horizon_days`) has matured: rows the model never saw, scored as they would have been.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnhealth.errors import ChurnhealthError

MIN_SPAN_DAYS = 270
"""Labelled as-of dates must span at least this many days: a training window, a validation
window and a test window of a few months each."""


@dataclass(frozen=True)
class Splits:
    """Boundaries: steps known by t1 train, known in (t1, t2] validate; as-of rows in
    (t2, t3] with a matured label test."""

    t1: pd.Timestamp
    t2: pd.Timestamp
    t3: pd.Timestamp
    horizon_days: int
    """The label's horizon (what the test rows are judged on)."""
    gap_days: int
    """labels.resignup_gap_days: how long after a step's end its outcome is known."""

    def step_window(self, ends: np.ndarray) -> np.ndarray:
        """ "train", "val" or "" (not known by t2) for steps ending at `ends`."""
        known = pd.DatetimeIndex(ends) + pd.Timedelta(days=self.gap_days)
        return np.select([known <= self.t1, known <= self.t2], ["train", "val"], "")

    def test_rows(self, frame: pd.DataFrame) -> pd.Series:
        return frame.labelled.astype(bool) & (frame.as_of > self.t2) & (frame.as_of <= self.t3)

    def describe(self) -> dict[str, str]:
        return {
            "train_end": str(self.t1.date()),
            "val_end": str(self.t2.date()),
            "test_end": str(self.t3.date()),
            "gap_days": str(self.gap_days),
        }


def time_splits(
    frame: pd.DataFrame, horizon_days: int, gap_days: int, val_days: int, test_days: int
) -> Splits:
    """Test: the last labelled as-of dates; validation: the steps known in the window before
    it; training: every step known earlier.

    `test_days` and `val_days` are upper bounds: on a short history each is cut to a share of
    the labelled span (a quarter for test, a third for validation), so that a company with two
    years of history trains with the defaults.
    """
    labelled = frame.loc[frame.labelled.astype(bool), "as_of"]
    need = (
        f"churnhealth needs as-of dates spanning at least {MIN_SPAN_DAYS} days with a matured "
        f"label (churn within {horizon_days} days + the {gap_days}-day re-signup gap must have "
        "passed), and the first as-of date comes 90 days after the data starts for the "
        f"feature windows: at least {(90 + MIN_SPAN_DAYS + horizon_days + gap_days) // 30} "
        "months of history"
    )
    if labelled.empty:
        raise ChurnhealthError(f"no labelled rows: {need}")
    first, t3 = frame.as_of.min(), labelled.max()
    span = (t3 - first).days
    if span < MIN_SPAN_DAYS:
        raise ChurnhealthError(
            f"labelled as-of dates span {span} days ({first.date()} to {t3.date()}): {need}"
        )
    test = min(test_days, span // 4)
    val = min(val_days, span // 3)
    t2 = t3 - pd.Timedelta(days=test)
    t1 = t2 - pd.Timedelta(days=val)
    return Splits(t1, t2, t3, horizon_days, gap_days)
