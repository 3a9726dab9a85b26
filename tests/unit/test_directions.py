"""Signals with a direction (issue 3.7 point 2): the declared direction reaches the gradient-
boosted model as a monotone constraint, and no driver calls a worse value a help."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from churnhealth.features.spec import check_metrics, directions
from churnhealth.models.tune import tune_lightgbm
from churnhealth.scoring.words import contradicted, drivers, typical_values

ROOT = Path(__file__).resolve().parents[2]


def test_every_shipped_signal_direction_is_read_and_context_is_never_constrained():
    items = yaml.safe_load((ROOT / "configs/features.yaml").read_text())["metrics"]
    metrics = check_metrics(items, ["smb"])
    d = directions([m.model_dump() for m in metrics])
    assert d["usage_license_share_30d"] == 1 and d["sent_nps_change"] == 1
    assert d["usage_days_since_active"] == -1 and d["fin_late_invoices_365d"] == -1
    assert "sup_tickets_90d" not in d  # more tickets: more use, or more trouble
    context = {m.name for m in metrics if m.role == "context"}
    assert not context & set(d)
    with_context = [{"name": "x", "healthier": "higher", "role": "context"}]
    assert directions(with_context) == {}


def test_a_worse_value_is_never_named_as_a_help():
    """The issue's cases: a licence share below its segment's median lifting health, an NPS
    drop lifting it; a better value pulling it down. Contradicted drivers are not named; the
    next consistent ones are."""
    frame = pd.DataFrame(
        {
            "as_of": pd.Timestamp("2026-11-01"),
            "segment": ["smb"] * 4,
            "usage_license_share_180d": [0.08, 0.14, 0.20, 0.14],
            "sent_nps_change": [-2.0, 0.0, 0.0, 1.0],
            "sup_tickets_90d": [9.0, 1.0, 2.0, 3.0],
        }
    )
    effects = pd.DataFrame(
        {
            "usage_license_share_180d": [
                0.4,
                0.0,
                -1.0,
                0.0,
            ],  # row 0 worse & up; row 2 better & down
            "sent_nps_change": [
                0.7,
                0.0,
                0.0,
                -0.9,
            ],  # row 0 a drop lifting; row 3 a rise pulling down
            "sup_tickets_90d": [0.5, 0.0, 0.0, 0.0],  # no direction: shown as the model says
        }
    )
    healthier = {"usage_license_share_180d": 1, "sent_nps_change": 1}
    bad = contradicted(effects, frame, healthier)
    assert bad.tolist() == [
        [True, True, False],
        [False, False, False],
        [True, False, False],
        [False, True, False],
    ]
    d = drivers(effects, frame, {}, healthier)
    assert d.protective_1_feature[0] == "sup_tickets_90d" and d.protective_2_feature[0] is None
    assert d.risk_1_feature[2] is None and d.risk_1_feature[3] is None
    # without directions the model's signs are shown as they are
    assert drivers(effects, frame, {}).protective_1_feature[0] == "sent_nps_change"


def test_the_constraint_holds_the_fitted_model_to_the_direction():
    """Data in which more usage goes with more churn (as a small or odd sample can show): free,
    the boosted model's churn score rises with usage; with usage declared healthier when higher
    (-1 on the churn score) it never rises, at any value."""
    rng = np.random.default_rng(0)
    n = 4000
    x, noise = rng.normal(size=n), rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * x - 0.5 * noise)))).astype(int)
    X = pd.DataFrame({"usage": x, "other": noise})
    tr = np.arange(n) < 3000
    grid = pd.DataFrame({"usage": np.linspace(-3, 3, 61), "other": 0.0})

    def slope(monotone: dict) -> np.ndarray:
        model, *_ = tune_lightgbm(
            "m", X[tr], y[tr], X[~tr], y[~tr], trials=2, timeout_s=60, seed=0, monotone=monotone
        )
        return np.diff(model.predict(grid, raw_score=True))

    assert (slope({}) > 1e-9).any()
    assert (slope({"usage": -1}) <= 1e-12).all()


def test_a_chunk_is_judged_against_the_whole_books_medians():
    """Scoring a book in chunks names the same drivers: the medians are the book's."""
    frame = pd.DataFrame(
        {
            "as_of": pd.Timestamp("2026-11-01"),
            "segment": ["smb"] * 4,
            "usage_license_share_180d": [0.10, 0.30, 0.20, 0.40],
        }
    )
    effects = pd.DataFrame({"usage_license_share_180d": [0.5, 0.5, 0.5, 0.5]})
    healthier = {"usage_license_share_180d": 1}
    book = typical_values(frame, list(healthier))  # median 0.25
    assert contradicted(effects, frame, healthier, book)[:, 0].tolist() == [
        True,
        False,
        True,
        False,
    ]
    chunk = slice(2, 3)  # alone, 0.20 would be its own median and pass
    assert not contradicted(effects[chunk], frame[chunk], healthier).any()
    assert contradicted(effects[chunk], frame[chunk], healthier, book).all()
