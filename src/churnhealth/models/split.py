"""Splits by time, never at random, with an embargo of one horizon between windows."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from churnhealth.errors import ChurnhealthError


@dataclass(frozen=True)
class Splits:
    """Boundaries: train as_of ≤ t1, validation (t1, t2], test (t2, t3].

    Rows whose label window (as_of, as_of + horizon] reaches past the end of their window are
    dropped from it (the embargo), so no fitted row sees an outcome from a later window.
    """

    t1: pd.Timestamp
    t2: pd.Timestamp
    t3: pd.Timestamp
    horizon_days: int

    def masks(self, frame: pd.DataFrame) -> dict[str, pd.Series]:
        h = pd.Timedelta(days=self.horizon_days)
        lab = frame.labelled.astype(bool)
        a = frame.as_of
        return {
            "train": lab & (a + h <= self.t1),
            "val": lab & (a > self.t1) & (a + h <= self.t2),
            "test": lab & (a > self.t2) & (a <= self.t3),
        }

    def describe(self) -> dict[str, str]:
        return {
            "train_end": str(self.t1.date()),
            "val_end": str(self.t2.date()),
            "test_end": str(self.t3.date()),
            "embargo_days": str(self.horizon_days),
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


def time_splits(frame: pd.DataFrame, horizon_days: int, val_days: int, test_days: int) -> Splits:
    """Test: the last `test_days` of labelled as-of dates; validation: `val_days` before it."""
    labelled = frame.loc[frame.labelled.astype(bool), "as_of"]
    if labelled.empty:
        raise ChurnhealthError(
            "no labelled rows: the data is too short for the horizon "
            f"({horizon_days} days) plus the re-signup gap"
        )
    t3 = labelled.max()
    t2 = t3 - pd.Timedelta(days=test_days)
    t1 = t2 - pd.Timedelta(days=val_days)
    return Splits(t1, t2, t3, horizon_days)
