"""The candidate fitter and the segment router the health and expansion models share
(`models.candidates`, `models.routed.route`), on small synthetic frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnhealth.models.candidates import BACKGROUND_ROWS, Rows, Search, fit_candidate, guard
from churnhealth.models.routed import GLOBAL, route


def _rows(n: int = 1200, seed: int = 0, weight: bool = False) -> Rows:
    """Accounts with 3 rows each; churn depends on x1 (strongly) and on the segment."""
    rng = np.random.default_rng(seed)
    accounts = np.repeat(np.arange(n // 3), 3).astype(str)
    segment = np.where(rng.random(n) < 0.5, "smb", "enterprise")
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    logit = -1.5 + 1.6 * x1 + 0.8 * (segment == "smb")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame(
        {"x1": x1, "x2": x2, "segment": pd.Categorical(segment, ["enterprise", "smb"])}
    )
    time = pd.Series(pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(n) % 200, "D"))
    train = np.arange(n) < 2 * n // 3
    w = rng.choice([1.0, 4.0], size=n) if weight else None
    return Rows(X=X, y=y, train=train, time=time, accounts=accounts, weight=w)


SEARCH = Search(trials=1, timeout_s=60, seed=0, calibration="auto")


def test_the_candidate_with_the_lower_validation_loss_is_kept_and_calibrated():
    rows = _rows()
    val = ~rows.train
    model, params, info = fit_candidate("global", rows, val, SEARCH)
    losses = {k: info[f"val_log_loss_{k}"] for k in ("logistic", "lightgbm")}
    assert info["chosen"] == model.kind == min(losses, key=losses.get)
    assert info["calibration"] == model.calibration in ("sigmoid", "isotonic")
    assert info["trials"] == 1 and isinstance(params, dict)
    p = model.predict_proba(rows.X[val])
    assert ((p > 0) & (p < 1)).all()
    # calibrated on the validation rows: the mean prediction there matches the churn rate
    assert abs(p.mean() - rows.y[val].mean()) < 0.02
    # the explanation background is a sample of training rows, at most BACKGROUND_ROWS
    assert len(model.background) == min(BACKGROUND_ROWS, int(rows.train.sum()))
    assert set(model.background.index) <= set(np.flatnonzero(rows.train))


def test_a_segment_model_fits_its_logistic_regression_on_its_own_rows_only():
    rows = _rows()
    own = (rows.X.segment == "smb").to_numpy()
    model, _, info = fit_candidate("smb", rows, ~rows.train & own, SEARCH, own=own)
    assert set(model.background.index) <= set(np.flatnonzero(rows.train & own))
    assert info["chosen"] in ("logistic", "lightgbm")


def test_row_weights_count_like_repeated_rows():
    """A weight of 4 on a row is the same, to the logistic candidate, as the row four times."""
    rows = _rows(weight=True)
    val = ~rows.train
    _, _, info_w = fit_candidate("global", rows, val, SEARCH)
    times = rows.weight.astype(int)
    index = np.repeat(np.arange(len(rows.y)), times)
    repeated = Rows(
        X=rows.X.iloc[index].reset_index(drop=True),
        y=rows.y[index],
        train=rows.train[index],
        time=rows.time.iloc[index].reset_index(drop=True),
        accounts=rows.accounts[index],
    )
    _, _, info_r = fit_candidate("global", repeated, ~repeated.train, SEARCH)
    assert info_w["val_log_loss_logistic"] == pytest.approx(info_r["val_log_loss_logistic"], 1e-4)


def test_the_guard_finds_no_difference_between_a_model_and_itself_and_a_real_one():
    rows = _rows(n=3000, seed=1)
    val = ~rows.train
    model, _, _ = fit_candidate("global", rows, val, SEARCH)
    same = guard(rows, val, model, model, seed=0)
    assert same["log_loss_diff"] == 0 and same["log_loss_diff_lo"] == same["log_loss_diff_hi"] == 0
    # a model that knows nothing (x2 only) against one that reads the signal: worse beyond noise
    blind = Rows(
        X=rows.X.assign(x1=0.0), y=rows.y, train=rows.train, time=rows.time, accounts=rows.accounts
    )
    weak, _, _ = fit_candidate("blind", blind, val, SEARCH)
    verdict = guard(rows, val, weak, model, seed=0)
    assert verdict["log_loss_diff_lo"] > 0  # the blind model's loss is higher, beyond noise


def test_route_sends_a_segment_without_its_own_model_to_the_global_one():
    routes = {"smb": "smb", "enterprise": GLOBAL}
    for dtype in (object, "category", "str"):
        segments = pd.Series(["smb", "enterprise", "new_segment"], dtype=dtype)
        assert route(segments, routes).tolist() == ["smb", GLOBAL, GLOBAL]
    assert route(pd.Series([None, "smb"], dtype=object), {}).tolist() == [GLOBAL, GLOBAL]
