"""The expansion score: its own model, calibrated, explained in points, measured out of time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnhealth import tracking
from churnhealth.data.source import open_source
from churnhealth.features import data_window
from churnhealth.models.expansion import EXPANSION_TIERS, expansion_score
from churnhealth.scoring.explain import expansion_effects
from churnhealth.scoring.scorer import Scorer


@pytest.fixture(scope="module")
def today(trained):
    """The trained fixture's champion, its scorer and the features of the last as-of date."""
    lm = tracking.load_model(trained.cfg, None)
    scorer = Scorer(
        model=lm.model, expansion=lm.bundle.expansion, config=trained.cfg, version=lm.version
    )
    source = open_source(trained.data)
    _, end = data_window(source)
    return scorer, scorer.features(source, [end])


def test_the_expansion_model_is_trained_measured_and_registered(trained, today):
    e = trained.result.report.expansion
    assert e.ok, e
    o = e.overall
    # out of time, the top 10% by expansion score expand well above the base rate
    assert o["lift_top10"] > 1.5 and o["precision_top10"] > o["base_rate"]
    assert o["roc_auc"] > 0.6
    assert abs(o["mean_probability"] - o["base_rate"]) < 0.05 and o["ece"] < 0.08
    # each window's outcomes became known before the next window's
    w = e.windows
    assert w["train_known_by"] < w["val_known_by"]
    assert pd.Timestamp(e.test_window.last) + pd.Timedelta(days=365 + 30) > pd.Timestamp(
        w["val_known_by"]
    )
    scorer, _ = today
    em = scorer.expansion  # the registered champion's bundle carries it
    assert em is not None and em.horizon_days == trained.cfg.labels.expansion_horizon_days
    for ready, watch in em.cutoffs.values():
        assert 0 < watch < ready <= 99


def test_the_expansion_score_is_its_own_scale_with_tiers(today):
    scorer, frame = today
    scores = scorer.score_batch(frame, expansion="worth").scores
    p = scores.expansion_probability.to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    assert (scores.expansion_score == expansion_score(p)).all()
    assert set(scores.expansion_tier) <= set(EXPANSION_TIERS)
    em = scorer.expansion
    for s, g in scores.groupby("segment"):
        ready = em.cutoffs.get(s, em.cutoffs["__global__"])[0]
        assert (g.expansion_tier == "ready").eq(g.expansion_score >= ready).all()
    # a different question from health: not a mirror of it
    r = np.corrcoef(scores.expansion_score, scores.health_score)[0, 1]
    assert abs(r) < 0.9


def test_expansion_effects_add_up_to_the_score_minus_the_baseline(today):
    scorer, frame = today
    em = scorer.expansion
    effects, base = expansion_effects(em, frame)
    p = em.predict_proba(frame)
    assert np.allclose(effects.sum(axis=1) + base, 100 * p, atol=1e-6)
    score = expansion_score(p)
    assert (np.abs(effects.sum(axis=1) + base - score) <= 0.5 + 1e-9).all()


def test_expansion_drivers_are_signals_and_follow_usage(today):
    scorer, frame = today
    scores = scorer.score_batch(frame, expansion="worth").scores
    worth = scores.expansion_tier != "not_yet"
    named = pd.concat([scores[f"expansion_{k}_feature"][worth] for k in (1, 2, 3)]).dropna()
    assert len(named) > worth.sum()  # the accounts ready or on watch have drivers
    assert scores.expansion_1_feature[~worth].isna().all()  # the others need none
    every = scorer.score_batch(frame, expansion="every").scores
    assert every.expansion_1_feature.notna().mean() > 0.9
    pd.testing.assert_frame_equal(every[worth], scores[worth])
    named = pd.concat([every[f"expansion_{k}_feature"] for k in (1, 2, 3)]).dropna()
    assert not set(named) & set(scorer.context)
    effects = scores[[f"expansion_{k}_effect" for k in (1, 2, 3)]].to_numpy(float)
    assert (effects[~np.isnan(effects)] > 0).all()
    # the demo company expands accounts that use the product more: the most active fifth
    # scores higher than the least active fifth
    use = frame.usage_license_share_30d
    top, bottom = use >= use.quantile(0.8), use <= use.quantile(0.2)
    assert scores.expansion_score[top].mean() > scores.expansion_score[bottom].mean() + 2
