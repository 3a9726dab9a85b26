"""The customer-success loop's tables: overrides and alerts against what happened."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth.evaluation import loop

TS = pd.Timestamp
EVENTS = pd.DataFrame(
    {"account_id": ["A", "B"], "churn_date": [TS("2025-03-01"), TS("2025-12-01")]}
)
END = TS("2025-12-31")


def test_fate_is_churned_retained_or_not_known_yet():
    got = loop.fate(
        pd.Series(["A", "A", "B", "C", "C"]),
        pd.Series(
            [
                TS("2025-01-01"),
                TS("2025-03-01"),
                TS("2025-01-01"),
                TS("2025-01-01"),
                TS("2025-11-01"),
            ]
        ),
        EVENTS,
        END,
        days=90,
        gap_days=30,
    )
    # A left on 2025-03-01: within 90 days of January, not after March 1st itself; B left in
    # December, long after January's 90 days; C is still there, but November's 90 days have
    # not passed
    assert list(got) == ["churned", "retained", "retained", "retained", "not known yet"]


def test_playbook_outcomes_compare_the_accounts_acted_on_with_the_others():
    alerts = pd.DataFrame(
        {
            "alert_id": ["a1", "a2", "a3", "a4", "a5"],
            "account_id": ["A", "B", "C", "D", "E"],
            "playbook": ["rapid_decline"] * 4 + ["renewal_risk"],
            "as_of": [TS("2025-01-01")] * 4 + [TS("2025-11-15")],
        }
    )
    latest = pd.DataFrame({"alert_id": ["a1", "a2", "a3"], "status": ["done", "done", "skipped"]})
    t = loop.playbook_outcomes(alerts, latest, EVENTS, END, days=90, gap_days=30)
    rd = t.set_index("playbook").loc["rapid decline"]
    assert (rd.alerts, rd.done, rd.skipped, rd["no outcome"]) == (4, 2, 1, 1)
    assert rd["retained 90 d, acted on"] == 0.5 and rd["acted on, known"] == 2  # A left
    assert rd["retained 90 d, others"] == 1.0 and rd["others, known"] == 2
    rr = t.set_index("playbook").loc["renewal risk"]
    assert rr["others, known"] == 0 and np.isnan(rr["retained 90 d, others"])


def test_override_fates_read_the_models_health_on_the_first_day():
    audit = pd.DataFrame(
        {
            "seq": [1, 2, 3],
            "account_id": ["A", "B", "B"],
            "action": ["set", "set", "clear"],
            "health": [90, 20, None],
            "reason": ["sponsor", "budget", "x"],
            "recorded_by": ["al", "bo", "bo"],
            "valid_from": [TS("2024-10-15"), TS("2024-10-15"), TS("2024-11-01")],
            "valid_until": [None, None, None],
        }
    )
    scores = pd.DataFrame(
        {
            "account_id": ["A", "A", "B"],
            "as_of": [TS("2024-10-01"), TS("2024-11-01"), TS("2024-10-01")],
            "health_score": [40, 35, 70],
        }
    )
    f = loop.override_fates(audit, scores, EVENTS, END, days=365, gap_days=30).set_index("account")
    assert f.loc["A", "model health"] == 40 and f.loc["A", "CSM − model"] == 50
    assert f.loc["A", "within 365 d"] == "churned" and f.loc["B", "within 365 d"] == "retained"
    s = loop.override_summary(f.reset_index(), 365).set_index("overrides")
    hopeful, worried = s.loc["CSM more hopeful"], s.loc["CSM more worried"]
    assert (hopeful["count"], hopeful.churned) == (1, 1)  # the CSM was wrong about A
    assert hopeful["Brier, CSM"] == (1 - 0.1) ** 2 and hopeful["Brier, model"] == (1 - 0.6) ** 2
    assert (worried["count"], worried.churned) == (1, 0)
    assert loop.override_summary(pd.DataFrame(), 365).empty
