"""Splits by time, never at random, with an embargo between windows.

A row's label looks past its as-of date: churn within the horizon, and — because a new
subscription within the re-signup gap means the account did not leave — up to
`resignup_gap_days` beyond it. So the embargo is horizon + gap: a row is fitted in a window
only if everything its label depends on happened before the next window starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from churnhealth.errors import ChurnhealthError


@dataclass(frozen=True)
class Splits:
    """Boundaries: train as_of ≤ t1, validation (t1, t2], test (t2, t3].

    Rows whose label window (as_of, as_of + embargo] reaches past the end of their window are
    dropped from it, so no fitted row sees an outcome from a later window.
    """

    t1: pd.Timestamp
    t2: pd.Timestamp
    t3: pd.Timestamp
    horizon_days: int
    embargo_days: int
    """horizon_days + labels.resignup_gap_days."""

    def masks(self, frame: pd.DataFrame) -> dict[str, pd.Series]:
        e = pd.Timedelta(days=self.embargo_days)
        lab = frame.labelled.astype(bool)
        a = frame.as_of
        return {
            "train": lab & (a + e <= self.t1),
            "val": lab & (a > self.t1) & (a + e <= self.t2),
            "test": lab & (a > self.t2) & (a <= self.t3),
        }

    def describe(self) -> dict[str, str]:
        return {
            "train_end": str(self.t1.date()),
            "val_end": str(self.t2.date()),
            "test_end": str(self.t3.date()),
            "embargo_days": str(self.embargo_days),
        }

    def windows(self, frame: pd.DataFrame) -> dict[str, dict]:
        """First and last as-of date and row count actually used in each window."""
        out = {}
        for name, mask in self.masks(frame).items():
            dates = frame.as_of[mask]
            out[name] = {
                "first": str(dates.min().date()),
                "last": str(dates.max().date()),
                "rows": int(mask.sum()),
            }
        return out


def time_splits(
    frame: pd.DataFrame, horizon_days: int, gap_days: int, val_days: int, test_days: int
) -> Splits:
    """Test: the last `test_days` of labelled as-of dates; validation: `val_days` before it;
    the embargo between windows is the horizon plus the re-signup gap."""
    labelled = frame.loc[frame.labelled.astype(bool), "as_of"]
    if labelled.empty:
        raise ChurnhealthError(
            "no labelled rows: the data is too short for the horizon "
            f"({horizon_days} days) plus the re-signup gap ({gap_days} days)"
        )
    t3 = labelled.max()
    t2 = t3 - pd.Timedelta(days=test_days)
    t1 = t2 - pd.Timedelta(days=val_days)
    return Splits(t1, t2, t3, horizon_days, horizon_days + gap_days)
