"""Time splits (`models.split`): windows by when an outcome became known, sized from the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnhealth.errors import ChurnhealthError
from churnhealth.models.split import MIN_SPAN_DAYS, time_splits


def _frame(first: str, last_labelled: str, last: str) -> pd.DataFrame:
    """Monthly as-of dates from `first` to `last`, labelled up to `last_labelled`."""
    as_of = pd.date_range(first, last, freq="MS")
    return pd.DataFrame({"as_of": as_of, "labelled": as_of <= pd.Timestamp(last_labelled)})


def test_the_test_window_is_the_last_labelled_dates_and_validation_comes_before_it():
    frame = _frame("2023-01-01", "2025-09-01", "2026-11-01")
    s = time_splits(frame, horizon_days=90, gap_days=30, val_days=180, test_days=120)
    assert s.t3 == pd.Timestamp("2025-09-01")
    assert s.t2 == s.t3 - pd.Timedelta(days=120) and s.t1 == s.t2 - pd.Timedelta(days=180)
    test = frame[s.test_rows(frame)]
    assert test.as_of.min() > s.t2 and test.as_of.max() == s.t3 and test.labelled.all()


def test_a_step_belongs_to_the_window_by_whose_end_its_outcome_was_known():
    """The re-signup gap is an embargo: a step that ended before t1 but whose outcome was
    known only after it belongs to validation; one known after t2 is never fitted."""
    frame = _frame("2023-01-01", "2025-09-01", "2026-11-01")
    s = time_splits(frame, horizon_days=90, gap_days=30, val_days=180, test_days=120)
    gap = pd.Timedelta(days=30)
    ends = np.array(
        [
            s.t1 - gap,
            s.t1 - gap + pd.Timedelta(days=1),
            s.t2 - gap,
            s.t2 - gap + pd.Timedelta(days=1),
            s.t1,
        ],
        dtype="datetime64[ns]",
    )
    assert s.step_window(ends).tolist() == ["train", "val", "val", "", "val"]


def test_a_short_history_cuts_each_window_to_a_share_of_the_span():
    frame = _frame("2024-01-01", "2025-01-01", "2025-06-01")  # 366 days of labelled dates
    s = time_splits(frame, horizon_days=90, gap_days=30, val_days=180, test_days=120)
    span = (s.t3 - frame.as_of.min()).days
    assert (s.t3 - s.t2).days == min(120, span // 4)
    assert (s.t2 - s.t1).days == min(180, span // 3)
    assert frame.as_of.min() < s.t1 < s.t2 < s.t3


def test_too_short_a_history_is_one_line_saying_how_much_is_needed():
    frame = _frame("2025-01-01", "2025-06-01", "2025-09-01")
    with pytest.raises(ChurnhealthError) as err:
        time_splits(frame, horizon_days=90, gap_days=30, val_days=180, test_days=120)
    text = str(err.value)
    assert "\n" not in text and f"at least {MIN_SPAN_DAYS} days" in text
    assert "months of history" in text
    none = frame.assign(labelled=False)
    with pytest.raises(ChurnhealthError, match="no labelled rows"):
        time_splits(none, horizon_days=90, gap_days=30, val_days=180, test_days=120)
