"""The health history's trend summary, computed in the store, against the plain reading of it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth.scoring import history
from churnhealth.scoring.history import trend


def _reference(scores: pd.DataFrame, past: pd.DataFrame, band: float) -> pd.DataFrame:
    """The trend from every past row, as the definition reads (what `trend_inputs` condenses)."""
    out = pd.DataFrame(index=scores.index)
    as_of = scores.as_of.iloc[0]
    for days in (30, 90):
        ref = past[past.as_of <= as_of - pd.Timedelta(days=days - 5)]
        last = ref.sort_values("as_of").groupby("account_id").tail(1).set_index("account_id")
        out[f"health_change_{days}d"] = (
            scores.health_score - scores.account_id.map(last.health_score)
        ).astype(float)
    change = out.health_change_30d
    out["momentum"] = np.select(
        [change > band, change < -band], ["improving", "declining"], "stable"
    )
    out.loc[change.isna(), "momentum"] = "new"
    window = past[past.as_of >= as_of - pd.Timedelta(days=95)]
    slopes = {}
    for acc, g in pd.concat([window, scores]).groupby("account_id"):
        t = (g.as_of - as_of).dt.days.to_numpy(float)
        h = g.health_score.to_numpy(float)
        slopes[acc] = np.polyfit(t, h, 1)[0] if len(set(t)) > 1 else 0.0
    projected = scores.health_score + 90 * scores.account_id.map(slopes)
    out["projected_health_90d"] = projected.clip(0, 100).round().astype(int)
    return out


def test_trend_from_the_stores_summary_equals_the_trend_from_every_row(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "history.duckdb"
    day = pd.Timestamp("2026-06-01")
    accounts = [f"a{i}" for i in range(60)]
    rows = []
    for k, as_of in enumerate(pd.date_range("2025-12-01", "2026-05-31", freq="7D")):
        scored = [a for a in accounts if rng.random() < 0.8 or a == "a0"]  # gaps in the history
        for version in ("v1", "v2"):
            rows.append(
                pd.DataFrame(
                    {
                        "account_id": scored,
                        "as_of": as_of,
                        "model_version": version,
                        "segment": "smb",
                        "churn_probability": 0.1,
                        "health_score": rng.integers(0, 101, len(scored)) + k,
                        "tier": "healthy",
                        "arr": 1000.0,
                    }
                )
            )
    past = pd.concat(rows, ignore_index=True)
    # a61 has no history; a1 only scores older than 95 days
    past = past[~((past.account_id == "a1") & (past.as_of > day - pd.Timedelta(days=100)))]
    for _, g in past.groupby("as_of"):
        history.upsert(path, g)
    past = past[past.model_version == "v1"]
    scores = pd.DataFrame(
        {
            "account_id": [*accounts, "a61"],
            "as_of": day,
            "health_score": rng.integers(0, 101, len(accounts) + 1),
        }
    )
    got = trend(scores, history.trend_inputs(path, "v1", day), band=5)
    want = _reference(scores, past[past.as_of < day], band=5)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, atol=1e-9)
    one = history.trend_inputs(path, "v1", day, account_id="a0")
    assert list(one.index) == ["a0"]
    assert history.trend_inputs(tmp_path / "none.duckdb", "v1", day).empty
