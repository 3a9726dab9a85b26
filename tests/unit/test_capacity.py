"""The save list (issue 3.4): alerts limited to the team's capacity, the most ARR at stake first;
and tiers that state what they mean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnhealth.config import Capacity
from churnhealth.models.tiers import Cutoffs, meanings
from churnhealth.scoring import capacity
from churnhealth.scoring.playbooks import LOGGED, Playbooks

DAY = pd.Timestamp("2026-11-01")
PLAYS = Playbooks.model_validate(
    {
        "cooldown_days": 30,
        "playbooks": [
            {"name": "save", "title": "Save", "capacity": True},
            {"name": "call", "title": "Call", "capacity": True},
            {"name": "renew", "title": "Renew", "cap": 1},
            {"name": "free", "title": "Free"},
        ],
    }
)


def alert(account: str, stake: float, playbook: str = "save") -> dict:
    return {"account_id": account, "playbook": playbook, "arr_at_stake": stake}


def past(*rows: tuple[str, str, str]) -> pd.DataFrame:
    """The alert log: (account, playbook, as_of) rows."""
    df = pd.DataFrame(
        [(f"id{i}", *r, "", None, None, False, None) for i, r in enumerate(rows)], columns=LOGGED
    )
    return df.assign(as_of=pd.to_datetime(df.as_of))


def test_the_most_arr_at_stake_goes_first_and_the_rest_waits():
    alerts = [alert("A", 10), alert("B", 50), alert("C", 30), alert("X", 1, "free")]
    kept, held, rooms = capacity.limit(alerts, PLAYS, past(), DAY, team=2)
    assert [a["account_id"] for a in kept] == ["B", "C", "X"]  # the log's order is kept
    assert [a["account_id"] for a in held["save"]] == ["A"]
    assert rooms["capacity"].model_dump() == {
        "limit": 2,
        "per_owner": None,
        "under_way": 0,
        "new": 2,
        "waiting": 1,
    }


def test_plays_under_way_take_room_until_their_cool_down_ends():
    log = past(
        ("U", "save", "2026-10-20"), ("V", "call", "2026-10-25"), ("W", "save", "2026-09-01")
    )
    alerts = [alert("A", 10), alert("B", 50)]
    kept, _, rooms = capacity.limit(alerts, PLAYS, log, DAY, team=3)
    assert [a["account_id"] for a in kept] == ["B"]  # U and V are under way, W's ended
    assert rooms["capacity"].under_way == 2 and rooms["capacity"].waiting == 1
    # a re-run of the same day: what it alerted is under way, nothing new fits
    again = pd.concat([log, past(("B", "save", "2026-11-01"))], ignore_index=True)
    kept, _, rooms = capacity.limit([alert("A", 10)], PLAYS, again, DAY, team=3)
    assert kept == [] and rooms["capacity"].under_way == 3


def test_an_account_under_way_needs_no_more_room_for_another_save_play():
    log = past(("A", "save", "2026-10-20"))
    kept, _, rooms = capacity.limit([alert("A", 5, "call")], PLAYS, log, DAY, team=1)
    assert [a["account_id"] for a in kept] == ["A"] and rooms["capacity"].new == 0


def test_each_csm_has_their_own_room_and_unowned_accounts_share_the_teams():
    owners = {"A": "ann", "B": "ann", "C": "bob", "D": "bob"}
    alerts = [alert(k, v) for k, v in {"A": 9, "B": 8, "C": 7, "D": 6, "E": 5, "F": 4}.items()]
    log = past(("Z", "save", "2026-10-30"))  # bob's, under way
    owners["Z"] = "bob"
    kept, held, rooms = capacity.limit(alerts, PLAYS, log, DAY, team=1, per_owner=1, owners=owners)
    assert {a["account_id"] for a in kept} == {"A", "E"}
    assert {a["account_id"] for a in held["save"]} == {"B", "C", "D", "F"}
    assert rooms["capacity"].per_owner == 1


def test_a_playbooks_own_cap():
    alerts = [alert("A", 1, "renew"), alert("B", 3, "renew")]
    kept, _, rooms = capacity.limit(alerts, PLAYS, past(), DAY, team=0)
    assert [a["account_id"] for a in kept] == ["B"] and rooms["renew"].waiting == 1
    assert rooms["capacity"].new == 0  # no save play matched


def test_status_on_the_save_list():
    accounts = pd.Series(["A", "B", "C", "D"])
    out = capacity.status(accounts, [alert("A", 1)], {"save": [alert("B", 1)]}, {"C"})
    assert out.tolist() == ["new", "waiting", "under way", None]


def test_capacity_is_a_number_or_a_share_of_the_book():
    assert Capacity().limit(2673) == 134 and Capacity(accounts=40).limit(2673) == 40
    with pytest.raises(ValueError):
        Capacity(share=0)


def test_each_band_says_what_chance_it_means():
    m = meanings(Cutoffs(75, 50, 25), 365)
    assert m == {
        "healthy": "healthy: health 75–100, at most a 25% chance of leaving within a year",
        "moderate": "moderate: health 50–74, a 25–50% chance of leaving within a year",
        "at_risk": "at risk: health 25–49, a 50–75% chance of leaving within a year",
        "critical": "critical: health 0–24, more than a 75% chance of leaving within a year",
    }
    assert meanings(Cutoffs(75, 75, 25), 90)["moderate"] == "moderate: no health falls in this tier"
    assert "within 3 months" in meanings(Cutoffs(75, 50, 25), 90)["healthy"]


def test_tiers_come_from_the_bands_unless_learned_or_overridden():
    from types import SimpleNamespace

    from churnhealth.config import Config
    from churnhealth.scoring.scorer import Scorer

    learned = {"smb": Cutoffs(90, 80, 60), "__global__": Cutoffs(95, 85, 70)}
    model = SimpleNamespace(cutoffs=learned, GLOBAL="__global__", horizon_days=365)
    bands = Scorer(model=model, config=Config())
    assert bands.cutoffs("smb") == Cutoffs(75, 50, 25, "bands")
    cfg = Config.model_validate(
        {
            "predict": {
                "tiers": "learned",
                "segment_tiers": {"enterprise": {"healthy": 70, "at_risk": 50, "critical": 25}},
                "lifecycle_tiers": {"onboarding": {"healthy": 90, "at_risk": 80, "critical": 60}},
            }
        }
    )
    s = Scorer(model=model, config=cfg)
    assert s.cutoffs("smb") == learned["smb"]
    assert s.cutoffs("mid_market") == learned["__global__"]
    assert s.cutoffs("enterprise", "maturity") == Cutoffs(70, 50, 25, "segment")
    assert s.cutoffs("enterprise", "onboarding") == Cutoffs(90, 80, 60, "lifecycle")
    by = bands.tiered_by(["smb"])["smb"]
    assert by.source == "bands" and by.meanings["at_risk"].startswith("at risk: health 25–49")


def test_expected_churned_arr_adds_up_over_tiers_and_segments():
    from churnhealth.scoring.summary import summarize

    rng = np.random.default_rng(0)
    n = 200
    scores = pd.DataFrame(
        {
            "segment": rng.choice(["smb", "enterprise"], n),
            "arr": rng.uniform(1e3, 1e6, n),
            "churn_probability": rng.uniform(0, 1, n),
            "momentum": "stable",
        }
    )
    scores["p_churn_90d"] = scores.churn_probability / 4
    scores["health_score"] = (100 * (1 - scores.churn_probability)).round()
    scores["tier"] = Cutoffs(75, 50, 25).tier(scores.health_score.to_numpy())
    book, segments = summarize(scores)
    total = (scores.arr * scores.churn_probability).sum()
    assert sum(t.expected_churned_arr for t in book.tiers.values()) == pytest.approx(total)
    assert book.expected_churned_arr_horizon == pytest.approx(total)
    assert sum(b.expected_churned_arr_horizon for b in segments.values()) == pytest.approx(total)
    assert sum(t.accounts for t in book.tiers.values()) == n


def test_a_held_out_alert_reads_held_out_on_the_save_list():
    """Issue 3.6: an account whose save alert was held out is on the list as "held out",
    not "new": nobody is to work it."""
    accounts = pd.Series(["A", "B", "C", "D"])
    kept = [
        {"account_id": "A", "playbook": "save", "held_out": False},
        {"account_id": "B", "playbook": "save", "held_out": True},
    ]
    out = capacity.status(accounts, kept, {"save": [{"account_id": "C"}]}, set())
    assert out.tolist() == ["new", "held out", "waiting", None]
