"""Drift statistics (PSI, KS, quantile bins, the reference, the ROC-AUC standard error) and the
monitor's matured window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from churnhealth.config import Config, load_config
from churnhealth.errors import ConfigError
from churnhealth.evaluation.drift import (
    Reference,
    bin_shares,
    category_shares,
    ks,
    psi,
    quantile_edges,
)
from churnhealth.evaluation.metrics import roc_auc_se
from churnhealth.evaluation.monitor import matured_dates
from tests.conftest import roc_auc


def test_psi_is_zero_for_equal_shares_and_matches_the_formula():
    e = np.array([0.2, 0.3, 0.5])
    assert psi(e, e) == 0
    a = np.array([0.3, 0.3, 0.4])
    assert psi(e, a) == pytest.approx(0.1 * np.log(1.5) + -0.1 * np.log(0.8))
    assert psi(e, a) == pytest.approx(psi(a, e))
    assert np.isfinite(psi(np.array([1.0, 0.0]), np.array([0.5, 0.5])))


def test_ks_is_the_largest_gap_between_distribution_functions_ignoring_missing():
    x = np.array([1.0, 2.0, 3.0, np.nan])
    assert ks(x, x) == 0
    assert ks(x, x + 10) == 1
    assert ks(np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 4.0])) == pytest.approx(0.5)
    assert np.isnan(ks(x, np.array([np.nan])))


def test_quantile_bins_merge_ties_and_keep_missing_apart():
    flags = np.array([0.0] * 70 + [1.0] * 30)
    assert list(quantile_edges(flags, 10)) == [0.0, 1.0]
    shares = bin_shares(np.append(flags, [np.nan] * 10), quantile_edges(flags, 10))
    assert shares == pytest.approx([0, 70 / 110, 30 / 110, 10 / 110])
    x = np.arange(1000.0)
    assert bin_shares(x, quantile_edges(x, 10)) == pytest.approx([0.1] * 10 + [0], abs=0.002)


def test_category_shares_count_unseen_and_missing():
    s = pd.Series(["a", "b", "a", "c", None])
    assert category_shares(s, ["a", "b"]) == pytest.approx([0.4, 0.2, 0.2, 0.2])


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "as_of": pd.Timestamp("2025-01-01"),
            "x": x,
            "count": rng.poisson(0.3 + shift, n).astype(float),
            "segment": rng.choice(["smb", "enterprise"], n, p=[0.7, 0.3]),
        }
    )


def test_reference_sees_no_drift_in_a_fresh_sample_and_drift_in_a_shifted_one():
    rng = np.random.default_rng(0)
    ref = Reference().fit(
        _frame(rng, 20_000),
        ["x", "count"],
        ["segment"],
        rng.random(20_000),
        {"x": 2.0, "count": 1.0, "segment": 0.5},
    )
    assert ref.ranked() == ["x", "count", "segment"]
    same = ref.compare(_frame(rng, 2000)).set_index("feature")
    assert (same.psi < 0.02).all() and (same.ks.dropna() < 0.05).all()
    assert same.missing_share_reference["x"] == pytest.approx(0.1, abs=0.01)
    moved = ref.compare(_frame(rng, 2000, shift=0.5)).set_index("feature")
    assert moved.psi["x"] > 0.2 and moved.psi["count"] > 0.1
    # two normals half a standard deviation apart: KS = 2Φ(0.25) − 1
    assert moved.ks["x"] == pytest.approx(2 * norm.cdf(0.25) - 1, abs=0.03)
    assert moved.psi["segment"] < 0.02
    scores = ref.compare_scores(rng.random(2000) ** 2)
    assert scores["psi"] > 0.25 and scores["mean_live"] < scores["mean_reference"]


def test_roc_auc_standard_error_matches_simulation():
    rng = np.random.default_rng(1)
    aucs, ses = [], []
    for _ in range(300):
        y = rng.random(2000) < 0.05
        risk = rng.normal(1.6 * y, 1.0)
        aucs.append(roc_auc(y, risk))
        ses.append(roc_auc_se(y, risk))
    assert np.mean(ses) == pytest.approx(np.std(aucs), rel=0.1)


def test_warn_must_be_below_alert(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("monitor:\n  psi_warn: 0.3\n  psi_alert: 0.2\n")
    with pytest.raises(ConfigError, match="psi_warn < psi_alert"):
        load_config(path)


def test_matured_window_ends_one_horizon_and_gap_before_the_as_of():
    cfg = Config()  # horizon 90 days + re-signup gap 30 days; window 90 days; monthly dates
    day = pd.Timestamp("2026-07-01")
    dates = matured_dates(cfg, pd.Timestamp("2025-11-01"), day)
    assert [d.date().isoformat() for d in dates] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert matured_dates(cfg, pd.Timestamp("2026-02-15"), day)[0] == pd.Timestamp("2026-03-01")
    assert matured_dates(cfg, pd.Timestamp("2026-04-01"), day) == []


def test_too_few_rows_is_insufficient_data_not_an_alarm():
    from churnhealth.evaluation.monitor import feature_drift, performance, triggers
    from churnhealth.models.routed import HealthModel
    from churnhealth.scoring.scorer import Scorer

    rng = np.random.default_rng(2)
    ref = Reference().fit(_frame(rng, 5000), ["x", "count"], ["segment"], rng.random(5000), {})
    hm = HealthModel(
        numeric=["x", "count"],
        categories={"segment": ["smb", "enterprise"]},
        dimensions={"x": "usage", "count": "support", "segment": "financial"},
        models={},
        routes={},
    )
    figures = {"roc_auc": 0.9, "log_loss": 0.15}
    cfg = Config()
    cfg = cfg.model_copy(
        update={"monitor": cfg.monitor.model_copy(update={"expected_drift": ["count"]})}
    )
    scorer = Scorer(model=hm, config=cfg, overrides=False)
    moved = _frame(rng, 200, shift=2.0)
    status = feature_drift(scorer, ref, moved).set_index("feature").status
    assert status.to_dict() == {
        "x": "insufficient_data",
        "count": "expected",
        "segment": "insufficient_data",
    }
    matured = moved.assign(churned_within_h=(rng.random(200) < 0.05).astype(float))
    perf = performance(scorer, matured, figures)
    assert perf["status"] == "insufficient_data" and "200 matured rows" in perf["reason"]
    report = {
        "sample": {"sufficient": False},
        "performance": perf,
        "top_features": {"share": 1.0},
        "score": {"psi": 3.0},
        "model": {"age_days": 400},
    }
    fired = {t["name"]: t["status"] for t in triggers(report, cfg)}
    assert fired == {
        "feature_drift_share": "insufficient_data",
        "score_psi": "insufficient_data",
        "roc_auc_decay": "insufficient_data",
        "model_age_days": "fired",
    }
