"""The save list ranked by measured effects: which plays are trusted, how an account's saving
is worked out, when the ranking falls back to expected ARR lost, and how the capacity uses it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation.save_lists import compare
from churnhealth.scoring import capacity
from churnhealth.scoring.playbooks import Playbook, Playbooks
from churnhealth.scoring.saving import Saving, load, main_risk, shrink, trusted


def est(play, effect, half, *, method="doubly_robust", group="all", untreated=0.4, n=200):
    return {
        "play": play,
        "method": method,
        "outcome": "12m",
        "group": group,
        "effect": effect,
        "low": None if effect is None else effect - half,
        "high": None if effect is None else effect + half,
        "treated": n,
        "untreated": untreated,
    }


def test_only_plays_shown_to_keep_accounts_are_trusted():
    plays, why = trusted(
        [
            est("training", -0.12, 0.08),
            est("discount", -0.04, 0.05),  # interval crosses zero
            est("payment_recovery", None, None),  # refused
            est("executive_call", -0.10, 0.05, untreated=None),  # no baseline: older file
        ]
    )
    assert [p.play for p in plays] == ["training"]
    assert plays[0].reduction == pytest.approx(0.3)
    assert any(w.startswith("discount: not shown") for w in why)
    assert "payment_recovery: no estimate" in why
    assert "executive_call: shown, but measured by an older churnhealth effects" in why[1]


def test_randomized_estimate_wins_over_doubly_robust():
    plays, _ = trusted(
        [
            est("training", -0.20, 0.05),
            est("training", -0.08, 0.06, method="randomized", untreated=0.4),
        ]
    )
    assert plays[0].method == "randomized"
    assert plays[0].reduction == pytest.approx(0.2)
    # a randomized estimate not shown to work is not rescued by the observational one
    plays, why = trusted(
        [est("training", -0.20, 0.05), est("training", -0.02, 0.06, method="randomized")]
    )
    assert plays == [] and why[0].startswith("training: not shown")
    assert "contradicts the doubly robust one" in why[0]


def test_an_experiment_too_small_to_show_an_effect_does_not_veto_one_it_agrees_with():
    """Holdouts whose wide interval holds the observational estimate leave it standing (and
    the reason a CSM reads says so); the same holdouts cannot show a play the observational
    estimate does not."""
    rct = est("training", -0.045, 0.185, method="randomized")
    plays, _ = trusted([est("training", -0.134, 0.114), rct])
    assert [(p.play, p.method) for p in plays] == [("training", "doubly_robust")]
    assert plays[0].checked == "-4.5 points [-23.0, +14.0]"
    saving = Saving(plays=tuple(plays), horizon_days=365)
    assert "holdouts -4.5 points [-23.0, +14.0], not contradicting it" in saving.why(
        "training", None
    )
    plays, why = trusted([est("training", -0.03, 0.05), rct])
    assert plays == [] and why == ["training: not shown (-3.0 points [-8.0, +2.0])"]


def test_subgroups_shrink_to_the_overall_share_unless_they_differ_beyond_noise():
    assert shrink(0.3, {"usage": (0.35, 0.2), "support": (0.25, 0.2)}) == {}
    sharp = shrink(0.3, {"usage": (0.6, 0.02), "support": (0.0, 0.02)})
    assert sharp["usage"] == pytest.approx(0.6, abs=0.01)
    assert sharp["support"] == pytest.approx(0.0, abs=0.01)
    assert shrink(0.3, {"usage": (1.5, 0.01), "x": (-1.0, 0.01)}) == {"usage": 1.0, "x": 0.0}


def scores(**cols) -> pd.DataFrame:
    base = {
        "account_id": ["a", "b", "c"],
        "arr": [100_000.0, 10_000.0, 50_000.0],
        "churn_probability": [0.2, 0.6, 0.0],
        "effect_usage": [-8.0, 0.0, 0.0],
        "effect_support": [-1.0, -5.0, 0.0],
    }
    return pd.DataFrame({**base, **cols})


def test_each_account_gets_the_play_that_answers_its_main_risk():
    training = trusted(
        [
            est("training", -0.12, 0.08),
            est("training", -0.2, 0.02, group="risk=usage"),
            est("training", 0.0, 0.02, group="risk=support"),
        ]
    )[0]
    support = trusted([est("support_escalation", -0.08, 0.04)])[0]
    s = Saving(plays=(*training, *support)).score(scores())
    assert list(main_risk(scores())) == ["usage", "support", None]
    assert s.best_play.tolist()[:2] == ["training", "support_escalation"]
    assert pd.isna(s.best_play[2])
    usage_share = training[0].by_risk["usage"]
    assert s.arr_saved[0] == pytest.approx(100_000 * 0.2 * usage_share, abs=0.01)
    assert s.p_saved[2] == 0 and s.arr_saved[2] == 0
    assert "main risk is usage" in s.play_reason[0]
    assert "doubly robust" in s.play_reason[0] and pd.isna(s.play_reason[2])


def test_without_trusted_plays_the_columns_are_empty_and_ranking_is_by_arr_lost():
    s = Saving(note="why").score(scores())
    assert s.best_play.isna().all() and s.arr_saved.isna().all()
    assert Saving().rank_key == "arr_at_stake"


def write(tmp_path, **over):
    d = {
        "source": "demo.duckdb",
        "data_end": "2026-11-01",
        "horizon_days": 365,
        "estimates": [est("training", -0.12, 0.08)],
        **over,
    }
    path = tmp_path / "effects.json"
    path.write_text(json.dumps(d))
    return path


@pytest.mark.parametrize(
    ("over", "day", "said"),
    [
        ({}, "2026-12-01", "ranked by expected ARR saved with training"),
        ({"source": "other.duckdb"}, "2026-12-01", "measured on other.duckdb"),
        ({"horizon_days": 90}, "2026-12-01", "over 90 days, health over 365"),
        ({}, "2026-10-01", "after 2026-10-01"),
        ({}, "2028-01-01", "over a year before"),
        (
            {"estimates": [est("training", -0.01, 0.05)]},
            "2026-12-01",
            "no play has been shown to keep accounts (training: not shown",
        ),
    ],
)
def test_effects_are_used_only_for_the_same_data_horizon_and_a_later_day(tmp_path, over, day, said):
    s = load(write(tmp_path, **over), source="demo.duckdb", day=pd.Timestamp(day), horizon_days=365)
    assert said in s.note
    assert s.ranks == said.startswith("ranked by expected ARR saved")


def test_a_missing_effects_file_falls_back_and_a_broken_one_is_an_error(tmp_path):
    s = load(tmp_path / "none.json", source="x", day=pd.Timestamp("2026-01-01"), horizon_days=365)
    assert not s.ranks and s.note.startswith("ranked by expected ARR lost: no effects measured")
    bad = tmp_path / "effects.json"
    for text in ("{not json", '{"source": "x", "data_end": "2026-01-01", "horizon_days": 365, '
                 '"estimates": [{"outcome": "12m"}]}'):  # fmt: skip
        bad.write_text(text)
        with pytest.raises(ChurnhealthError, match="not an effects file"):
            load(bad, source="x", day=pd.Timestamp("2026-01-01"), horizon_days=365)


def alert(account, stake, saved=None, by_saving=False):
    a = {"account_id": account, "playbook": "save", "arr_at_stake": stake}
    if saved is not None:
        a["arr_saved"] = saved
    return {**a, "by_saving": True} if by_saving else a


def test_the_capacity_ranks_by_saving_and_outsiders_never_wait():
    plays = Playbooks(playbooks=[Playbook(name="save", title="Save", capacity=True)])
    alerts = [
        alert("risky", 900.0, saved=10.0),
        alert("risky2", 800.0, saved=5.0),
        alert("big", 50.0, saved=40.0, by_saving=True),
        alert("big2", 40.0, saved=1.0, by_saving=True),
    ]
    empty = pd.DataFrame(columns=["account_id", "playbook", "as_of"])
    day = pd.Timestamp("2026-01-01")
    kept, held, rooms = capacity.limit(alerts, plays, empty, day, team=2, key="arr_saved")
    assert {a["account_id"] for a in kept} == {"big", "risky"}
    assert [a["account_id"] for a in held["save"]] == ["risky2"]  # big2 is not waiting
    assert rooms["capacity"].waiting == 1
    kept, _, _ = capacity.limit(alerts[:2], plays, empty, day, team=1)  # by ARR at stake
    assert [a["account_id"] for a in kept] == ["risky"]


def test_only_the_accounts_that_could_take_a_place_compete_by_saving():
    s = scores(arr_saved=[3.0, 2.0, 0.0], playbooks=["", "save", ""])
    assert capacity.by_saving(s, {"save"}, 5).account_id.tolist() == ["a"]
    assert capacity.by_saving(s.assign(arr_saved=np.nan), {"save"}, 5).empty


def test_the_check_against_the_truth_compares_the_three_lists():
    s = pd.DataFrame(
        {
            "account_id": list("abcd"),
            "arr": [100.0, 100.0, 1000.0, 1000.0],
            "churn_probability": [0.8, 0.7, 0.2, 0.1],
            "p_churn_next_renewal": [0.8, 0.7, 0.2, 0.1],
            "at_risk_for": ["signals", "signals", None, None],
            "best_play": ["x", "x", "y", "y"],
            "arr_saved": [8.0, 7.0, 40.0, 10.0],
            "health_score": [20, 30, 80, 90],
        }
    )
    truth = pd.DataFrame(
        {
            "account_id": list("abcd"),
            "effect_x_12m": [-0.1, -0.1, 0.0, 0.0],
            "effect_y_12m": [0.0, 0.0, -0.05, -0.2],
        }
    )
    t = compare(s, truth, 1)
    assert t.arr_kept["effects"] == pytest.approx(50.0)  # c by y
    assert t.arr_kept["risk"] == pytest.approx(10.0)  # a by x
    assert t.arr_kept["oracle"] == pytest.approx(200.0)  # d by y
    assert t.of_risk["effects"] == pytest.approx(5.0)


def test_an_alert_naming_a_play_measures_that_play():
    from churnhealth.scoring.outcomes import as_actions

    alerts = pd.DataFrame(
        {
            "alert_id": ["1", "2"],
            "account_id": ["a", "b"],
            "as_of": ["2026-01-01", "2026-01-01"],
            "playbook": ["at_risk_intervention", "at_risk_intervention"],
            "held_out": [False, True],
            "play": ["training", None],
        }
    )
    acts = as_actions(alerts, pd.DataFrame())
    assert acts.playbook.tolist() == ["training", "at_risk_intervention"]
    assert acts.source.tolist() == ["alert", "holdout"]


def test_the_report_says_which_plays_the_save_list_trusts():
    from churnhealth.evaluation.report_sections import effects

    fx = {
        "plays": {"training": {"run": 200, "held_out": 0}},
        "estimates": [est("training", -0.12, 0.08)],
        "data_end": "2026-11-01",
        "horizon_days": 365,
        "notes": [],
    }
    assert "plays shown to keep accounts (a 95% interval wholly below zero): training" in (
        effects(fx)
    )
    fx["estimates"] = [est("training", -0.01, 0.08)]
    assert "ranks by expected ARR lost: no play has been shown" in effects(fx)
