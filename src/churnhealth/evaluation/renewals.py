"""Validation the way practitioners do it: one case per renewal decision.

Every renewal decision in the backtest's decision window (an annual contract's renewal date, each
monthly anniversary of a monthly one) is a case: renewed, or churned (the account had left by
the decision: at it, or earlier in the term). For each case the health the account had 30, 60,
90 and 180 days before the decision is read from the out-of-time scores: the latest scored as-of
date at least that many days before (scores are monthly by default, so up to a month earlier).
The at-risk flag (tier at risk or critical) is then checked against the practitioners' targets,
and the baselines are given the same budget.

Lead time is counted per churned account, from the start of the unbroken run of at-risk flags
that reaches its churn. Retention by health band is read a year on: of the account-dates scored
at health 90–100, the share still customers twelve months later, and so on per band.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth.evaluation import metrics as ev

LEADS = (30, 60, 90, 180)
"""Days before a decision at which its health is read."""
TARGET_LEADS = (90, 180)
"""Leads at which the flag is held against the targets."""
FLAG_METRICS = ("recall", "specificity", "accuracy", "precision", "f1")


def decision_cases(pred: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """One row per (account, decision) with the decision in (first, last]: account_id,
    decision, segment, term_months, arr and `churned` (1 when the account left by the decision).

    `pred`: scored rows with account_id, as_of, segment, arr, renewal_date (the next decision
    after as_of), term_months and churn_after (the first churn after as_of)."""
    rows = pred[(pred.renewal_date > first) & (pred.renewal_date <= last)]
    latest = rows.sort_values("as_of").groupby(["account_id", "renewal_date"]).tail(1)
    cases = latest.rename(columns={"renewal_date": "decision"})[
        ["account_id", "decision", "segment", "term_months", "arr", "churn_after"]
    ]
    left = cases.churn_after.notna() & (cases.churn_after <= cases.decision)
    cases = cases.assign(churned=left.astype(int)).drop(columns="churn_after")
    return cases.sort_values(["decision", "account_id"], ignore_index=True)


def at_lead(cases: pd.DataFrame, pred: pd.DataFrame, lead: int) -> pd.DataFrame:
    """The cases with the account's score `lead` days before the decision (the latest scored
    as-of date on or before then, no older than the scores' spacing allows); cases the scores
    do not reach are left out."""
    dates = np.sort(pred.as_of.unique())
    spacing = pd.Timedelta(np.diff(dates).max()) if len(dates) > 1 else pd.Timedelta(days=31)
    at = (cases.decision - pd.Timedelta(days=lead)).astype("datetime64[ns]")
    key = cases.assign(at=at).sort_values("at")
    cols = ["account_id", "as_of", "health_score", "flagged", "scorecard_health"]
    cols += [c for c in ("listed", "exposed", "oracle_risk") if c in pred]
    scored = pred[cols + (["login_light"] if "login_light" in pred else [])]
    scored = scored.assign(as_of=scored.as_of.astype("datetime64[ns]"))
    m = pd.merge_asof(
        key,
        scored.sort_values("as_of"),
        left_on="at",
        right_on="as_of",
        by="account_id",
        direction="backward",
        tolerance=spacing,
    )
    return m[m.as_of.notna()].reset_index(drop=True)


def flag_block(m: pd.DataFrame, targets: dict[str, float], seed: int) -> dict:
    """The at-risk flag on cases scored at one lead: the five figures with pass / miss, the
    ROC-AUC of health, ARR-weighted recall, 95% intervals of the ROC-AUC, recall and precision
    (resampling accounts), whether the cases are too few to judge, and the baselines at the
    same budget."""
    y = m.churned.to_numpy()
    out = {
        "cases": len(m),
        "churned": int(y.sum()),
        **ev.flag_metrics(y, m.flagged),
        "roc_auc": ev.ranking_auc(y, 100 - m.health_score),
        "arr_weighted_recall": ev.arr_weighted_recall(y, m.flagged, m.arr.to_numpy(float)),
        **ev.intervals(
            m.account_id.to_numpy(),
            y,
            risk=100 - m.health_score.to_numpy(float),
            flagged=m.flagged.to_numpy(bool),
            seed=seed,
        ),
        "too_small": ev.too_small(m.account_id.to_numpy(), y),
    }
    groups = m.as_of.to_numpy()
    oracle = {}
    if "oracle_risk" in m and m.oracle_risk.notna().all() and len(m):
        # the true probabilities (the demo company's truth) flagging as many accounts per
        # as-of date: what any model could reach at this budget on this company
        flags = ev.budget_flags(m.flagged, m.oracle_risk.to_numpy(float), groups, seed)
        oracle = ev.flag_metrics(y, flags)
    out["targets"] = {
        k: {
            "value": out[k],
            "target": targets[k],
            "passed": bool(out[k] > targets[k]),
            "oracle": oracle.get(k),
        }
        for k in FLAG_METRICS
    }
    out["baselines"] = {
        "scorecard": {
            "roc_auc": ev.ranking_auc(y, 100 - m.scorecard_health),
            **ev.same_budget(y, m.flagged, 100 - m.scorecard_health, groups, seed),
        }
    }
    if "login_light" in m:
        out["baselines"]["login_rule"] = {
            "roc_auc": ev.ranking_auc(y, m.login_light),
            **ev.same_budget(y, m.flagged, m.login_light, groups, seed),
        }
    return out


def list_block(m: pd.DataFrame, seed: int) -> dict:
    """The save list (`backtest.save_list`) on cases scored at one lead: how many were listed,
    precision against the base rate, recall, the share of churned ARR inside the list; the
    scorecard and the login rule listing as many accounts per as-of date; and the false
    positives the login rule makes to catch as many churned decisions as the list does."""
    y = m.churned.to_numpy().astype(bool)
    listed = m.listed.to_numpy(bool)
    arr = m.arr.to_numpy(float)
    groups = m.as_of.to_numpy()

    def figures(flags: np.ndarray) -> dict:
        n = int(flags.sum())
        churned_arr = arr[y].sum()
        return {
            "listed": n,
            "caught": int((y & flags).sum()),
            "precision": float(y[flags].mean()) if n else float("nan"),
            "recall": float((y & flags).sum() / y.sum()) if y.any() else float("nan"),
            "churned_arr_share": float(arr[y & flags].sum() / churned_arr)
            if churned_arr > 0
            else float("nan"),
            "false_positives": int((~y & flags).sum()),
        }

    base_rate = float(y.mean()) if len(y) else float("nan")
    out = {"cases": len(m), "churned": int(y.sum()), "base_rate": base_rate, **figures(listed)}
    out["lift"] = out["precision"] / base_rate if base_rate > 0 else float("nan")
    if "exposed" in m:  # flagged for the contract, not the signals: every such account
        out["exposure"] = figures(m.exposed.to_numpy(bool))
    risks = {"scorecard": 100 - m.scorecard_health.to_numpy(float)}
    if "login_light" in m:
        risks["login_rule"] = m.login_light.to_numpy(float)
    out["baselines"] = {
        name: figures(ev.budget_flags(listed, risk, groups, seed)) for name, risk in risks.items()
    }
    if "login_rule" in risks:
        out["login_rule_false_positives_at_equal_recall"] = ev.false_positives_at_recall(
            y, out["caught"], risks["login_rule"], seed
        )
    return out


def renewal_outcomes(
    pred: pd.DataFrame,
    first: pd.Timestamp,
    last: pd.Timestamp,
    targets: dict[str, float],
    seed: int = 0,
) -> dict:
    """Per lead (30, 60, 90, 180 days), overall, per segment and per term (annual, monthly):
    the flag's figures on the decisions in (first, last]."""
    cases = decision_cases(pred, first, last)
    term = np.where(cases.term_months >= 12, "annual", "monthly")
    out = {
        "window": {"first": str(first.date()), "last": str(last.date())},
        "decisions": len(cases),
        "churned": int(cases.churned.sum()),
        "leads": {},
    }
    for lead in LEADS:
        m = at_lead(cases.assign(term=term), pred, lead)
        out["leads"][str(lead)] = {
            "overall": flag_block(m, targets, seed),
            **({"save_list": list_block(m, seed)} if "listed" in m else {}),
            "segments": {s: flag_block(g, targets, seed) for s, g in m.groupby("segment")},
            "terms": {t: flag_block(g, targets, seed) for t, g in m.groupby("term")},
        }
    return out


def churn_events(pred: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """account_id and churn_date of every churn in (first, last] of a scored account."""
    ev_ = pred.loc[pred.churn_after.notna(), ["account_id", "churn_after"]].drop_duplicates()
    ev_ = ev_[(ev_.churn_after > first) & (ev_.churn_after <= last)]
    return ev_.rename(columns={"churn_after": "churn_date"}).reset_index(drop=True)


def lead_summary(leads: pd.DataFrame, first_scored: pd.Timestamp) -> dict:
    """Median lead time and the shares warned ≥ 60, ≥ 90 and ≥ 180 days ahead (missed churns
    count as not warned); `censored`: runs that reach back to the first scored date, whose
    true lead is longer than counted."""
    days = leads.lead_days
    n = len(leads)
    out = {
        "churn_events": n,
        "caught": int(days.notna().sum()),
        "caught_share": float(days.notna().mean()) if n else float("nan"),
        "median_lead_days": float(days.median()) if days.notna().any() else float("nan"),
        "median_lead_days_all": float(days.fillna(0).median()) if n else float("nan"),
        "censored": int((leads.first_flag == first_scored).sum()),
    }
    for d in (60, 90, 180):
        out[f"share_{d}d_ahead"] = float((days >= d).mean()) if n else float("nan")
    return out


def retention_a_year_on(pred: pd.DataFrame, known_until: pd.Timestamp) -> pd.DataFrame:
    """Per health band, the share of scored account-dates still customers twelve months on,
    over the as-of dates whose year has passed by `known_until`."""
    rows = pred[pred.as_of + pd.DateOffset(years=1) <= known_until]
    left = rows.churn_after.notna() & (rows.churn_after <= rows.as_of + pd.DateOffset(years=1))
    bands = ev.retention_by_band(rows.health_score.to_numpy(), left.to_numpy())
    bands["accounts"] = [
        int(rows.account_id[(rows.health_score >= lo) & (rows.health_score < hi)].nunique())
        for lo, hi, _ in ev.HEALTH_BANDS
    ]
    return bands
