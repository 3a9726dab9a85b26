"""Censoring-aware figures per horizon (evaluation/judged.py): equal to the usual ones when
every row is followed past the horizon, unbiased under censoring where complete cases are not,
and "not judged" with the reason when the evidence is missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnhealth.evaluation import gate, judged
from churnhealth.evaluation.judged import Followed, judge

END = pd.Timestamp("2026-01-01")


def followed(time, event, accounts=None) -> Followed:
    n = len(time)
    accounts = np.arange(n).astype(str) if accounts is None else np.asarray(accounts)
    event = np.asarray(event, bool)
    churn = np.where(event, np.char.add(accounts, "@"), "")
    return Followed(accounts, np.asarray(time, float), event, churn)


def simulated(n: int, seed: int, censor_to: float | None):
    """Risk x, churn after T* ~ Exponential(0.002·e^x) days, follow-up ending uniformly in
    (0, censor_to) days (None: never before 2,000 days), and the true P(churn by τ | x)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    rate = 0.002 * np.exp(x)
    t_star = rng.exponential(1 / rate)
    c = np.full(n, 2000.0) if censor_to is None else rng.uniform(0, censor_to, n)
    time, event = np.minimum(t_star, c), t_star <= c
    return x, t_star, followed(time, event), lambda tau: 1 - np.exp(-rate * tau)


def test_with_every_row_followed_past_the_horizon_the_figures_are_the_usual_ones():
    x, t_star, f, p = simulated(3000, 0, None)
    out = judge(f, {365: p(365)}, {"noise": -x}, horizons={"12 months": 365}, n_boot=20)
    r = out["12 months"]
    y = t_star <= 365
    assert r["status"] == "judged"
    assert r["roc_auc"] == pytest.approx(roc_auc_score(y, p(365)), abs=1e-12)
    assert r["brier"] == pytest.approx(np.mean((y - p(365)) ** 2), abs=1e-12)
    assert r["churn_rate"] == pytest.approx(y.mean())
    assert r["baselines"]["noise"] == pytest.approx(roc_auc_score(y, -x))
    assert r["brier_no_skill"] == pytest.approx(y.mean() * (1 - y.mean()))


def test_censoring_weights_recover_what_complete_follow_up_would_show():
    """Follow-up ends at random: the weighted figures land on the uncensored truth, where
    dropping the rows whose follow-up ended early (complete cases) misses it."""
    _, t_star, f, p = simulated(40_000, 1, censor_to=900)
    tau = 365
    truth_y = t_star <= tau
    true_auc = roc_auc_score(truth_y, p(tau))
    true_brier = np.mean((truth_y - p(tau)) ** 2)
    r = judge(f, {tau: p(tau)}, {}, horizons={"12 months": tau}, n_boot=20)["12 months"]
    assert abs(r["roc_auc"] - true_auc) < 0.01
    assert abs(r["brier"] - true_brier) < 0.004
    assert abs(r["churn_rate"] - truth_y.mean()) < 0.01
    complete = (f.event & (f.time <= tau)) | (f.time > tau)
    cc_y = f.event[complete] & (f.time[complete] <= tau)
    assert abs(cc_y.mean() - truth_y.mean()) > 0.05  # what the weights correct


def test_intervals_cover_the_point_and_narrow_with_more_accounts():
    widths = []
    for n in (800, 8000):
        _, _, f, p = simulated(n, 2, censor_to=900)
        r = judge(f, {182: p(182)}, {}, horizons={"6 months": 182}, n_boot=100)["6 months"]
        assert r["roc_auc_lo"] <= r["roc_auc"] <= r["roc_auc_hi"]
        assert r["brier_lo"] <= r["brier"] <= r["brier_hi"]
        widths.append(r["roc_auc_hi"] - r["roc_auc_lo"])
    assert widths[1] < 0.6 * widths[0]


def test_the_advantage_over_a_baseline_is_paired_and_the_best_baseline_is_named():
    x, _, f, p = simulated(4000, 3, censor_to=900)
    noise = np.random.default_rng(0).normal(size=len(x))
    out = judge(f, {365: p(365)}, {"same": p(365), "noise": noise}, horizons={"12m": 365})
    r = out["12m"]
    assert r["best_baseline"] == "same"
    assert r["vs_best_roc_auc_diff"] == 0
    assert r["vs_best_roc_auc_diff_lo"] == r["vs_best_roc_auc_diff_hi"] == 0
    assert r["baselines"]["noise"] == pytest.approx(0.5, abs=0.04)


def test_a_constant_score_ranks_at_one_half():
    _, _, f, _ = simulated(2000, 4, censor_to=900)
    r = judge(f, {90: np.full(2000, 0.1)}, {}, horizons={"3m": 90}, n_boot=10)["3m"]
    assert r["roc_auc"] == 0.5


def test_a_horizon_beyond_the_follow_up_is_not_judged_and_says_how_much_is_missing():
    _, _, f, p = simulated(5000, 5, censor_to=250)
    out = judge(f, {d: p(d) for d in judged.HORIZONS.values()}, {}, n_boot=20)
    assert out["3 months"]["status"] == "judged"
    for label in ("9 months", "12 months"):
        r = out[label]
        assert r["status"] == "not judged" and "roc_auc" not in r
        assert r["reason"].startswith(f"the longest follow-up is {r['longest_follow_up_days']}")
        assert f"{label} needs rows followed beyond {r['days']} days (about " in r["reason"]


def test_few_churns_or_few_accounts_still_there_are_not_judged():
    n = 400
    time = np.full(n, 400.0)
    event = np.zeros(n, bool)
    time[:12], event[:12] = 50, True  # 12 churns
    r = judge(followed(time, event), {90: np.full(n, 0.1)}, {}, horizons={"3 months": 90})
    assert r["3 months"]["status"] == "not judged"
    assert r["3 months"]["reason"] == (
        "12 churns within 3 months among 400 accounts; judging it needs at least 30"
    )
    time[:380], event[:380] = 50, True  # 20 accounts left past 90 days
    r = judge(followed(time, event), {90: np.full(n, 0.1)}, {}, horizons={"3 months": 90})
    assert r["3 months"]["reason"].startswith("20 accounts followed beyond 3 months without")


def test_one_churn_seen_from_several_as_of_dates_is_one_piece_of_evidence():
    frame = pd.DataFrame(
        {
            "account_id": ["A", "A", "A", "B", "C"],
            "as_of": pd.to_datetime(
                ["2025-01-01", "2025-02-01", "2025-03-01"] * 1 + ["2025-01-01"] * 2
            ),
            "churn_after": pd.to_datetime(["2025-04-15"] * 3 + [None, "2026-06-01"]),
        }
    )
    f, keep = Followed.of(frame, END)
    assert keep.all()
    assert list(f.event) == [True, True, True, False, False]  # C churns after follow-up ends
    assert list(f.time) == [104, 73, 45, 365, 365]
    assert len(set(f.churn[f.event])) == 1
    late = frame.assign(as_of=frame.as_of.where(frame.account_id != "B", END))
    assert list(Followed.of(late, END)[1]) == [True, True, True, False, True]


def verdict(label: str, days: int, auc=(0.7, 0.65, 0.75), diff=(0.05, 0.01, 0.09), events=80):
    return {
        "status": "judged",
        "days": days,
        "events": events,
        "roc_auc": auc[0],
        "roc_auc_lo": auc[1],
        "roc_auc_hi": auc[2],
        "baselines": {"scorecard": auc[0] - diff[0]},
        "best_baseline": "scorecard",
        "vs_best_roc_auc_diff": diff[0],
        "vs_best_roc_auc_diff_lo": diff[1],
        "vs_best_roc_auc_diff_hi": diff[2],
        "by": "test window",
    }


def not_judged(days: int, reason: str = "the longest follow-up is 200 days") -> dict:
    return {"status": "not judged", "days": days, "reason": reason, "events": 12}


def test_the_gate_judges_the_health_horizon_when_it_can():
    verdicts = {"3 months": verdict("3 months", 90), "12 months": verdict("12 months", 365)}
    g = gate.gate(verdicts, 365)
    assert g.status == "passed" and g.horizon == "12 months"
    assert g.why_horizon == "the health horizon" and g.causes == []


def test_the_gate_falls_back_to_the_longest_judged_horizon_and_says_why():
    verdicts = {
        "3 months": verdict("3 months", 90),
        "6 months": verdict("6 months", 182),
        "12 months": not_judged(365),
    }
    g = gate.gate(verdicts, 365)
    assert g.status == "passed" and g.horizon == "6 months"
    assert g.why_horizon.startswith("the longest judged horizon (12 months not judged: the")


@pytest.mark.parametrize(
    ("auc", "diff", "why"),
    [
        ((0.55, 0.49, 0.61), (0.05, 0.01, 0.09), "no better than chance beyond noise"),
        ((0.70, 0.65, 0.75), (0.02, -0.01, 0.05), "no better than the scorecard beyond noise"),
    ],
)
def test_the_gate_refuses_no_better_than_chance_or_the_best_baseline(auc, diff, why):
    verdicts = {"12 months": verdict("12 months", 365, auc=auc, diff=diff, events=40)}
    g = gate.gate(verdicts, 365, constant=["a", "b", "c", "d"], absent=["surveys"])
    assert g.status == "failed" and g.reason.endswith(why)
    assert f"ROC-AUC {auc[0]:.3f} [{auc[1]:.3f}, {auc[2]:.3f}] on 40 churns" in g.reason
    assert g.causes == [
        "few churners: 40 churns after the validation window",
        "signal tables absent: surveys",
        "4 features constant or empty in training: a, b, c and 1 more",
    ]


def test_nothing_judged_fails_closed_with_the_first_reason():
    verdicts = {
        "3 months": not_judged(90, "12 churns within 3 months"),
        "12 months": not_judged(365),
    }
    g = gate.gate(verdicts, 365)
    assert g.status == "failed" and g.horizon is None
    assert g.reason == (
        "no horizon could be judged on this data (3 months: 12 churns within 3 months)"
    )
    assert any(c.startswith("short history: the longest follow-up") for c in g.causes)


def test_a_health_horizon_the_baseline_matches_passes_only_if_the_model_leads_nearer_in():
    """The default demo's case: at 12 months the scorecard ranks as well (advantage +0.007
    [-0.003, +0.015]), at 9 months the model leads beyond noise."""
    level = (0.007, -0.003, 0.015)
    verdicts = {
        "9 months": verdict("9 months", 273, diff=(0.059, 0.045, 0.073)),
        "12 months": verdict("12 months", 365, diff=level),
    }
    g = gate.gate(verdicts, 365)
    assert g.status == "passed" and g.horizon == "12 months"
    assert g.reason.endswith(
        "not better than the scorecard beyond noise there, nor worse; better at 9 months "
        "(+0.059 [+0.045, +0.073])"
    )
    alone = gate.gate({"12 months": verdicts["12 months"]}, 365)
    assert alone.status == "failed"
    worse = {**verdicts, "12 months": verdict("12 months", 365, diff=(-0.03, -0.05, -0.01))}
    assert gate.gate(worse, 365).status == "failed"


def test_predict_says_whether_the_health_horizon_was_judged():
    from churnhealth.evaluation.judged import headline

    ok = {
        "status": "judged",
        "by": "test window",
        "from": "2026-01-01",
        "roc_auc": 0.7,
        "roc_auc_lo": 0.65,
        "roc_auc_hi": 0.75,
        "events": 120,
    }
    no = {"status": "not judged", "reason": "the longest follow-up is 215 days"}
    h = headline({"6 months": ok, "12 months": ok}, 365)
    assert h["judged"] is True and "ROC-AUC 0.700 [0.650, 0.750] on 120 churns" in h["text"]
    h = headline({"6 months": ok, "12 months": no}, 365)
    assert h == {
        "judged": False,
        "horizon": "12 months",
        "text": "the 12-month health was not judged on the champion's data: the longest "
        "follow-up is 215 days",
    }
    assert headline(None, 365)["judged"] is None
    assert "retrain" in headline(None, 365)["text"]
    assert headline({"12 months": ok}, 400)["judged"] is None  # no judged horizon of 400 days


def test_a_horizon_judged_by_no_route_gives_every_routes_reason():
    from churnhealth.evaluation.judged import combine

    own = {
        "from": "2025-02-01",
        "horizons": {
            "6 months": {"status": "not judged", "reason": "the longest follow-up is 150 days"},
            "12 months": {"status": "not judged", "reason": "the longest follow-up is 150 days"},
        },
    }
    earlier = {
        "from": "2024-10-01",
        "by": "earlier-origin model",
        "horizons": {
            "6 months": {"status": "not judged", "reason": "12 churns within 6 months"},
            "12 months": {"status": "not judged", "reason": "the longest follow-up is 300 days"},
        },
        "skipped": {"12 months": "a model fitted early enough would have 90 days to learn from"},
    }
    out = combine(own, earlier)
    assert out["6 months"]["reason"] == (
        "the longest follow-up is 150 days; the earlier-origin model after 2024-10-01: 12 churns "
        "within 6 months"
    )
    assert out["12 months"]["reason"].endswith(
        "; a model fitted early enough would have 90 days to learn from"
    )
    nothing = {"from": None, "horizons": {}, "skipped": {}}
    assert combine(own, nothing)["6 months"]["reason"] == "the longest follow-up is 150 days"
