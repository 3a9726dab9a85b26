"""The portfolio page's data: what it keeps, and text that cannot break out of it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from churnhealth.models.tiers import Cutoffs, meanings
from churnhealth.scoring import portfolio
from churnhealth.scoring.forecast import forecast
from churnhealth.scoring.scorer import SCORE_COLUMNS
from churnhealth.scoring.summary import PortfolioSummary, Tiers, summarize


def _scores(ids: list[str]) -> pd.DataFrame:
    n = len(ids)
    frame = pd.DataFrame({c: [None] * n for c in SCORE_COLUMNS})
    frame["account_id"] = ids
    frame["as_of"] = pd.Timestamp("2026-11-01")
    frame["segment"] = "smb"
    frame["lifecycle_stage"] = "maturity"
    frame["arr"] = np.arange(1, n + 1) * 1000.0
    frame["churn_probability"] = np.linspace(0.9, 0.1, n)
    frame["health_score"] = frame["model_health"] = (100 * (1 - frame.churn_probability)).round()
    frame["tier"] = frame["model_tier"] = "moderate"
    frame["csm_health"] = pd.array([None] * n, dtype="Int64")
    frame["health_change_30d"] = np.linspace(-20, 20, n)
    frame["renewal_date"] = pd.Timestamp("2027-01-01")
    frame["playbooks"] = ""
    return frame


def _summary(scores: pd.DataFrame) -> PortfolioSummary:
    """The summary `predict` would write for these scores."""
    scored = scores.assign(p_churn_90d=scores.churn_probability / 4, momentum="stable")
    book, segments = summarize(scored)
    curve = np.linspace(0, 1, 13)[1:][None, :] * scored.churn_probability.to_numpy()[:, None]
    return PortfolioSummary(
        as_of="2026-11-01",
        portfolio=book,
        segments=segments,
        forecast=forecast(scored, curve, draws=50),
        compared=int(scores.health_change_30d.notna().sum()),
        tiered_by={
            "smb": Tiers(
                source="bands",
                healthy=75,
                at_risk=50,
                critical=25,
                meanings=meanings(Cutoffs(75, 50, 25), 365),
            )
        },
        model_version="1",
        model="models:/churnhealth@champion",
        scores="scores-2026-11-01.parquet",
        alerts={},
        alerts_file="alerts.jsonl",
        overrides_in_force=0,
        expansion_ready=None,
        notes=[],
        judged=None,
        health_checked={"judged": None, "horizon": None, "text": "health horizon not checked"},
    )


def test_the_page_keeps_the_accounts_with_the_most_arr_at_stake():
    scores = _scores([f"A{i}" for i in range(10)])
    data = portfolio.page_data(
        scores, _summary(scores), scores.iloc[:0][["account_id", "as_of", "health_score"]], [], 3
    )
    at_stake = scores.arr * scores.churn_probability
    assert [a["id"] for a in data["accounts"]] == list(
        scores.account_id[at_stake.sort_values(ascending=False).index[:3]]
    )
    assert (data["shown"], data["total"]) == (3, 10)
    assert [m["account_id"] for m in data["movers"]["down"]][:1] == ["A0"]
    assert [m["account_id"] for m in data["movers"]["up"]][:1] == ["A9"]
    row = data["accounts"][0]
    assert row["override"] is None and row["expansion"] is None and row["playbooks"] == []


def test_text_from_the_data_cannot_end_the_pages_script_or_change_how_it_is_parsed():
    # `</script>` ends the data element; `<!--<script>` puts the HTML tokenizer into its
    # double-escaped state, where the data element swallows the rest of the page
    evil = ["</script><script>alert(1)</script>", "<!--<script>", "a&b>c\u2028d"]
    scores = _scores(["A1", *evil])
    page = portfolio.render(portfolio.page_data(scores, _summary(scores), scores.iloc[:0], [], 10))
    data = page.split("<script type='application/json' id='data'>", 1)[1].split("</script>", 1)[0]
    assert not {"<", ">", "&", "\u2028"} & set(data)
    assert "\\u003c/script\\u003e" in data and "\\u003c!--\\u003cscript\\u003e" in data
    assert set(evil) <= {a["id"] for a in json.loads(data)["accounts"]}
    assert "http://" not in page and "https://" not in page
