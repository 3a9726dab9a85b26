"""The model layer's parts on small synthetic data: tier cut-offs, the calibration choice and
the LightGBM search (`models.tiers`, `models.calibrate`, `models.tune`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnhealth.models.calibrate import calibrate, choose_method
from churnhealth.models.estimators import binary_log_loss, logistic
from churnhealth.models.tiers import Cutoffs, expected_cutoffs, health_score, learn_cutoffs
from churnhealth.models.tune import tune_lightgbm


def _data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    logit = -2.0 + 1.5 * X.a - 0.7 * X.b**2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).to_numpy(int)
    return X, y


# ------------------------------------------------------------------------------------ tiers
def test_cut_offs_order_the_tiers_and_health_rounds_the_probability():
    cut = Cutoffs(healthy=80, at_risk=60, critical=30)
    assert cut.tier(np.array([100, 80, 79, 60, 59, 30, 29, 0])).tolist() == [
        *("healthy", "healthy", "moderate", "moderate"),
        *("at_risk", "at_risk", "critical", "critical"),
    ]
    assert health_score(np.array([0.0, 0.004, 0.006, 0.5, 1.0])).tolist() == [100, 100, 99, 50, 0]


def test_learned_cut_offs_flag_the_target_share_of_churners():
    rng = np.random.default_rng(0)
    p = rng.beta(1, 8, size=20_000)
    y = rng.random(len(p)) < p
    cut = learn_cutoffs(y, p, recall_at_risk=0.75, recall_critical=0.30, recall_healthy=0.95)
    health = health_score(p)
    recall = lambda h: y[health < h].sum() / y.sum()  # noqa: E731
    assert cut.critical <= cut.at_risk <= cut.healthy <= 100
    assert recall(cut.at_risk) >= 0.75 and recall(cut.critical) >= 0.30
    # one point stricter and the target is missed: the cut-off is the tightest that reaches it
    assert recall(cut.at_risk - 1) < 0.75


def test_expected_cut_offs_match_learned_ones_when_the_probabilities_are_calibrated():
    """With calibrated probabilities, the expected recall of a cut-off is its realised
    recall in a large sample: the cut-offs learned both ways agree to within a point or two."""
    rng = np.random.default_rng(1)
    p = rng.beta(1, 6, size=200_000)
    y = rng.random(len(p)) < p
    known = learn_cutoffs(y, p, 0.75, 0.30, 0.95)
    expected = expected_cutoffs(p, 0.75, 0.30, 0.95)
    assert expected.source == "expected"
    for field in ("healthy", "at_risk", "critical"):
        assert abs(getattr(known, field) - getattr(expected, field)) <= 2


def test_cut_offs_without_churners_say_they_are_a_fallback():
    assert learn_cutoffs(np.zeros(10), np.full(10, 0.1), 0.75, 0.3, 0.95).source.startswith(
        "fallback"
    )
    assert expected_cutoffs(np.array([]), 0.75, 0.3, 0.95).source.startswith("fallback")


# ------------------------------------------------------------------------------ calibration
def test_calibration_fixes_a_model_that_is_confident_in_the_wrong_scale():
    """A logistic regression fitted on a balanced sample overstates the risk of a rare
    outcome; calibrated on data at the true rate, its probabilities average that rate."""
    X, y = _data(12_000, seed=2)
    fit = np.flatnonzero(y == 1).tolist()
    fit += np.flatnonzero(y == 0)[: len(fit)].tolist()  # as many non-churners as churners
    model = logistic(["a", "b"], [], 0).fit(X.iloc[fit], y[fit])
    cal_rows = np.arange(6_000, 9_000)
    held = np.arange(9_000, 12_000)
    raw = model.predict_proba(X.iloc[held])[:, 1]
    as_of = pd.Series(pd.Timestamp("2025-01-01") + pd.to_timedelta(cal_rows % 90, "D"))
    cal, method = calibrate(model, X.iloc[cal_rows], y[cal_rows], as_of)
    p = cal.predict_proba(X.iloc[held])[:, 1]
    assert method in ("sigmoid", "isotonic")
    assert abs(raw.mean() - y[held].mean()) > 0.2
    assert abs(p.mean() - y[held].mean()) < 0.02
    assert binary_log_loss(y[held], p) < binary_log_loss(y[held], raw)


def test_the_calibration_choice_falls_back_to_sigmoid_when_a_fold_has_no_churner():
    X, _ = _data(400, seed=3)
    y = np.zeros(400, int)
    y[:5] = 1  # every churner in the first half (by date) of the window
    as_of = pd.Series(pd.date_range("2025-01-01", periods=400, freq="D"))
    model = logistic(["a", "b"], [], 0).fit(X, (X.a > 0).to_numpy(int))
    assert choose_method(model, X, y, as_of) == "sigmoid"


@pytest.mark.parametrize("kind", ["logistic", "lightgbm"])
def test_the_calibration_choice_scores_once_and_calibrates_as_the_model_would(kind):
    """choose_method fits its calibrators on the model's scores, computed once: each predicts
    exactly what the calibrator fitted through the model predicts."""
    from lightgbm import LGBMClassifier

    from churnhealth.models import calibrate as cal_module

    X, y = _data(3_000, seed=6)
    w = np.random.default_rng(6).uniform(0.5, 2.0, len(y))
    fit, cal, new = slice(0, 1_500), slice(1_500, 2_250), slice(2_250, 3_000)
    if kind == "logistic":
        model = logistic(["a", "b"], [], 0).fit(X[fit], y[fit])
    else:
        model = LGBMClassifier(n_estimators=40, verbose=-1).fit(X[fit], y[fit])
    s_cal, s_new = (cal_module._response(model, X[part])[:, None] for part in (cal, new))
    scorer = cal_module._Scores().fit(s_cal, y[cal])
    for method in ("sigmoid", "isotonic"):
        through_model = cal_module._fit(model, method, X[cal], y[cal], w[cal])
        on_scores = cal_module._fit(scorer, method, s_cal, y[cal], w[cal])
        expected = through_model.predict_proba(X[new])[:, 1]
        assert np.allclose(on_scores.predict_proba(s_new)[:, 1], expected, atol=1e-12)


# ----------------------------------------------------------------------------------- tuning
def test_the_search_reports_every_trial_and_a_rerun_reuses_its_parameters():
    X, y = _data(3_000, seed=4)
    tr, va = slice(0, 2_000), slice(2_000, 3_000)
    seen = []
    model, params, loss, trials = tune_lightgbm(
        "global",
        X[tr],
        y[tr],
        X[va],
        y[va],
        trials=3,
        timeout_s=None,
        seed=0,
        on_trial=lambda *a: seen.append(a),
    )
    assert trials == 3 and [a[1] for a in seen] == [0, 1, 2]
    # the returned model is the best trial's booster (trained on Datasets binned once for the
    # search): its validation loss is that trial's
    assert loss == pytest.approx(min(a[3] for a in seen), rel=1e-6)
    assert params["max_depth"] <= 6 and params["n_estimators"] >= 1
    # given those parameters, there is no search, and the same model comes back
    again, params2, loss2, trials2 = tune_lightgbm(
        "global", X[tr], y[tr], X[va], y[va], trials=3, timeout_s=120, seed=0, params=params
    )
    assert trials2 == 0 and params2 == params and loss2 == pytest.approx(loss)
    assert np.allclose(again.predict_proba(X[va]), model.predict_proba(X[va]))


def test_a_segment_search_tunes_the_weight_of_the_other_segments_rows():
    X, y = _data(3_000, seed=5)
    own = np.arange(2_000) % 3 == 0
    w = np.where(np.arange(3_000) % 2 == 0, 4.0, 1.0)
    seen = []
    _, params, loss, _ = tune_lightgbm(
        "smb",
        X[:2_000],
        y[:2_000],
        X[2_000:],
        y[2_000:],
        trials=4,
        timeout_s=None,
        seed=0,
        own=own,
        weight=w[:2_000],
        weight_val=w[2_000:],
        on_trial=lambda *a: seen.append(a),
    )
    assert 0 < params["other_weight"] <= 1
    assert len({a[2]["other_weight"] for a in seen}) == 4
    # each trial's rows carry that trial's weights, not an earlier trial's: the model kept
    # scores as its trial did
    assert loss == pytest.approx(min(a[3] for a in seen), rel=1e-6)


@pytest.mark.parametrize("rate", [0.1, 0.9])
def test_the_search_s_model_is_what_the_wrapper_fits_with_its_parameters(rate):
    """The search keeps its best trial's booster instead of training it again: it predicts,
    scores raw and attributes exactly as `LGBMClassifier.fit` with the parameters it reports,
    on rows with weights (a rate of 0.9 stops early before MIN_TREES: those are trained). It
    calibrates frozen, like the wrapper, and survives pickling (a registered model)."""
    import pickle

    from churnhealth.models.calibrate import calibrate
    from churnhealth.models.estimators import BoostedTrees, lightgbm
    from churnhealth.models.tune import MIN_TREES

    X, y = _data(4_000, seed=8)
    w = np.where(np.arange(4_000) % 3 == 0, 3.0, 1.0)
    tr, va = slice(0, 2_500), slice(2_500, 4_000)
    space = {"learning_rate": rate, "num_leaves": 15, "max_depth": 4, "min_child_samples": 20}
    space |= {"subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 1.0, "reg_lambda": 1.0}
    for given in (None, space):
        model, params, loss, _ = tune_lightgbm(
            "global", X[tr], y[tr], X[va], y[va], trials=3, timeout_s=None, seed=0,
            weight=w[tr], weight_val=w[va], params=given, monotone={"a": 1},
        )  # fmt: skip
        assert isinstance(model, BoostedTrees) and params["n_estimators"] >= MIN_TREES
        wrapper = lightgbm(params, 0, [1, 0]).fit(X[tr], y[tr], sample_weight=w[tr])
        assert model.booster_.num_trees() == wrapper.booster_.num_trees()
        for kw in ({}, {"raw_score": True}, {"pred_contrib": True}):
            assert np.array_equal(model.predict(X[va], **kw), wrapper.predict(X[va], **kw))
        assert np.array_equal(model.predict_proba(X[va]), wrapper.predict_proba(X[va]))
        assert loss == binary_log_loss(y[va], wrapper.predict_proba(X[va])[:, 1], w[va])
        cal, _ = calibrate(model, X[va], y[va], pd.Series(np.arange(1_500)), "auto", w[va])
        ref, _ = calibrate(wrapper, X[va], y[va], pd.Series(np.arange(1_500)), "auto", w[va])
        assert np.array_equal(cal.predict_proba(X[va]), ref.predict_proba(X[va]))
        back = pickle.loads(pickle.dumps(model))
        assert np.array_equal(back.predict_proba(X[va]), model.predict_proba(X[va]))
    if rate == 0.9:
        assert params["n_estimators"] == MIN_TREES
    with pytest.raises(TypeError, match="trained already"):
        model.fit(X[tr], y[tr])


def test_lightgbm_threads_follow_openmp_s_variable(monkeypatch):
    from churnhealth.models.estimators import threads

    for value, expected in (("1", 1), ("4,2", 4), ("abc", 2), ("", 2), ("0", 1)):
        monkeypatch.setenv("OMP_NUM_THREADS", value)
        assert threads() == expected
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads() == 2


def test_the_search_s_model_predicts_with_those_threads_and_quietly(monkeypatch):
    """Like the scikit-learn wrapper, the kept booster predicts with `threads()` threads (not
    OpenMP's one per core) and without LightGBM's messages."""
    from lightgbm import Booster

    X, y = _data(1_000, seed=9)
    model, *_ = tune_lightgbm(
        "global", X[:700], y[:700], X[700:], y[700:], trials=1, timeout_s=None, seed=0
    )
    seen, predict = [], Booster.predict

    def recorded(self, data, **kw):
        seen.append(kw)
        return predict(self, data, **kw)

    monkeypatch.setattr(Booster, "predict", recorded)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    model.predict_proba(X), model.decision_function(X), model.predict(X, pred_contrib=True)
    assert len(seen) == 3
    assert all(kw["num_threads"] == 1 and kw["verbose"] == -1 for kw in seen)
