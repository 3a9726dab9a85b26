"""The effect estimators on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnhealth.evaluation import effects as fx
from churnhealth.evaluation.effects_dr import aipw_att, control_outcome, overlap, propensity


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def test_kaplan_meier_without_censoring_is_the_share_churned():
    d = np.array([10.0, 50, 200, 400, 400, 500])
    e = np.array([1, 1, 1, 0, 0, 0], bool)
    p, var = fx.kaplan_meier(d, e, 365)
    assert p == pytest.approx(3 / 6)
    assert var == pytest.approx(0.5 * 0.5 / 6)  # Greenwood = binomial without censoring


def test_kaplan_meier_reads_through_censoring():
    # half the units followed only 100 days: the plain share would halve the risk
    rng = np.random.default_rng(0)
    t = rng.exponential(365 / np.log(2), 20_000)  # P(churn by 365) = 0.5
    cens = np.where(rng.random(20_000) < 0.5, 100.0, 1e9)
    p, var = fx.kaplan_meier(np.minimum(t, cens), t <= cens, 365)
    assert p == pytest.approx(0.5, abs=3 * np.sqrt(var))
    assert ((t <= 365) & (t <= cens)).mean() < 0.4


def _grid(n, churn_days, as_of="2025-01-01", renewal_in=200):
    as_of = pd.Timestamp(as_of)
    return pd.DataFrame(
        {
            "account_id": [f"A{i}" for i in range(n)],
            "as_of": as_of,
            "renewal_date": as_of + pd.Timedelta(days=renewal_in),
            "churn_after": [
                pd.NaT if d is None else as_of + pd.Timedelta(days=d) for d in churn_days
            ],
        }
    )


def test_outcomes_know_what_they_cannot_know_yet():
    g = fx.outcomes(_grid(3, [30, None, 500]), pd.Timestamp("2025-06-01"), 365)
    # churned at 30 days: known; no churn, 151 days followed: unknown; churn after the end
    assert g.y_12m.tolist() == [1, 0, 0] and g.seen_12m.tolist() == [True, False, False]
    assert g.event.tolist() == [True, False, False]
    assert g.duration.tolist() == [30, 151, 151]
    # the renewal 200 days on has not come: known only for the one that left before it
    assert g.seen_next.tolist() == [True, False, False]


def _experiment(effect: float, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = rng.random(n) < 0.75
    p = 0.3 + effect * treated
    churn = rng.random(n) < p
    days = np.where(churn, rng.integers(1, 365, n), None)
    g = fx.outcomes(_grid(n, list(days), renewal_in=100), pd.Timestamp("2026-06-01"), 365)
    return g.assign(treated=treated, effect_training_12m=effect, effect_training_next_renewal=0.0)


def test_randomized_covers_the_truth_and_finds_a_real_effect():
    res = fx.randomized(_experiment(-0.12, 2000, 1), "training", "12m", 365)
    assert res.low <= -0.12 <= res.high and res.high < 0
    assert res.truth == pytest.approx(-0.12) and res.covers_truth


def test_randomized_refuses_what_it_cannot_judge():
    exp = _experiment(-0.1, 200, 2)
    few = fx.randomized(exp[exp.treated | (exp.index < 40)].iloc[:60], "training", "12m", 365)
    assert few.effect is None and few.refused.startswith("too few:")
    short = fx.outcomes(_grid(60, [None] * 60), pd.Timestamp("2025-08-01"), 365)
    short = short.assign(treated=np.arange(60) % 2 == 0)
    res = fx.randomized(short, "training", "12m", 365)
    assert res.refused == "not judged: followed for at most 212 of 365 days"


def _confounded(n: int, seed: int, tau: float):
    """Accounts at risk are worked more often; the play lowers churn log-odds by `tau`."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    risk = 1.2 * x[:, 0] - 0.6 * x[:, 1]
    t = (rng.random(n) < _sigmoid(-2.5 + 1.5 * risk)).astype(float)
    p0, p1 = _sigmoid(-1.2 + risk), _sigmoid(-1.2 + risk + tau)
    y = (rng.random(n) < np.where(t == 1, p1, p0)).astype(float)
    true_att = float((p1 - p0)[t == 1].mean())
    return x, t, y, np.arange(n), true_att


def test_doubly_robust_recovers_a_confounded_effect_the_naive_comparison_gets_backwards():
    x, t, y, groups, true_att = _confounded(20_000, 3, tau=-0.8)
    m0, contrib = control_outcome(x, y, t, groups)
    assert contrib.shape == x.shape
    e = propensity(x, t, groups)
    est, se = aipw_att(t, y, m0, e, groups)
    naive = y[t == 1].mean() - y[t == 0].mean()
    assert true_att < -0.1 and naive > 0  # the wrong sign
    assert abs(est - true_att) < 3 * se and se < 0.03
    diag = overlap(e, t)
    assert diag["uncomparable_share"] < 0.1 and diag["effective_controls"] > 500


def test_doubly_robust_finds_no_effect_where_there_is_none():
    x, t, y, groups, true_att = _confounded(20_000, 4, tau=0.0)
    m0, _ = control_outcome(x, y, t, groups)
    est, se = aipw_att(t, y, m0, propensity(x, t, groups), groups)
    assert true_att == 0 and abs(est) < 3 * se


def test_clustered_interval_is_wider_when_accounts_repeat():
    _, t, y, _, _ = _confounded(6_000, 5, tau=-0.5)
    e = np.full(len(t), t.mean())
    m0 = np.full(len(t), y[t == 0].mean())
    _, se_alone = aipw_att(t, y, m0, e, np.arange(len(t)))
    twice = np.r_[t, t], np.r_[y, y], np.r_[m0, m0], np.r_[e, e]
    _, se_pairs = aipw_att(*twice, np.r_[np.arange(len(t)), np.arange(len(t))])
    _, se_naive = aipw_att(*twice, np.arange(2 * len(t)))
    assert se_pairs == pytest.approx(se_alone, rel=0.01)  # a copy adds no information
    assert se_naive < 0.75 * se_pairs


def test_a_play_reads_on_the_as_of_date_before_it_and_never_on_an_earlier_one():
    """A play after an account left (today's alert on a long-gone account) is dropped, not
    moved back to the account's last as-of date, where it would take that date's outcome."""
    from churnhealth.jobs.effects import units

    d = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])
    grid = pd.DataFrame(
        {"account_id": ["a", "a", "b", "b", "b"], "as_of": [d[0], d[1], d[0], d[1], d[2]]}
    )
    plays = pd.DataFrame(
        {
            "account_id": ["a", "a", "b", "b"],
            "date": ["2024-02-10", "2024-03-15", "2023-12-01", "2024-03-01"],
            "playbook": "p",
        }
    )
    got, lost = units(plays, grid)
    assert lost == 2  # a after it left, b before its first as-of date
    assert list(zip(got.account_id, got.as_of, strict=True)) == [("a", d[1]), ("b", d[2])]


def test_a_play_is_not_judged_yet_only_when_no_method_has_anything_to_compare():
    def est(play, method, effect=None, treated=0):
        return {
            "play": play,
            "method": method,
            "group": "all",
            "effect": effect,
            "treated": treated,
        }

    plays = {
        "today": {"run": 40, "held_out": 0},  # alerted today: randomized counts them, no outcome
        "old": {"run": 90, "held_out": 0},  # no holdouts, but outcomes known: a naive row
        "held": {"run": 30, "held_out": 5},  # too few, but held out: its refusals say why
    }
    estimates = [
        est("today", "randomized", treated=40),
        est("today", "naive"),
        est("today", "doubly_robust"),
        est("old", "randomized", treated=90),
        est("old", "naive", effect=0.05, treated=60),
        est("old", "doubly_robust", treated=12),
        est("held", "randomized", treated=30),
        est("held", "naive"),
        est("held", "doubly_robust"),
        {**est("today", "naive", effect=0.1, treated=12), "group": "segment=smb"},  # not "all"
    ]
    assert fx.not_judged_yet(plays, estimates) == ["today"]
    assert fx.waiting_line(plays, ["today"]).startswith("Not judged yet: today (40 run).")
