"""How good the scores are: discrimination, calibration, the at-risk flag, lead time and the
comparisons with other models and baselines. Plots live in `evaluation.plots`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from churnhealth.models.compare import grouped_auc, paired_comparison  # noqa: F401 (re-exported)
from churnhealth.models.estimators import EPS, binary_log_loss


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, bins: int = 10, weight: np.ndarray | None = None
) -> float:
    """ECE with equal-count bins: mean |observed − predicted| weighted by bin size.

    Equal-count bins suit churn, where most probabilities are small: in order of p, row i of n
    falls in bin ⌊bins × i / n⌋. `weight`, whole counts (how often a resample drew the row's
    account), repeats each row that many times.
    """
    y, p = np.asarray(y, float), np.asarray(p, float)
    order = np.argsort(p, kind="mergesort")
    ys, ps = y[order], p[order]
    if weight is not None:
        counts = np.asarray(weight, np.int64)[order]
        ys, ps = np.repeat(ys, counts), np.repeat(ps, counts)
    n = len(ys)
    if n == 0:
        return float("nan")
    b = np.arange(n) * bins // n
    gap = np.bincount(b, ys, bins) - np.bincount(b, ps, bins)
    return float(np.abs(gap).sum() / n)


def flag_metrics(y: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    """Recall, specificity, precision, F1 and accuracy of a yes/no at-risk flag."""
    y, f = np.asarray(y, bool), np.asarray(flagged, bool)
    tp, fp = int((y & f).sum()), int((~y & f).sum())
    fn, tn = int((y & ~f).sum()), int((~y & ~f).sum())
    recall = tp / (tp + fn) if tp + fn else float("nan")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {
        "recall": recall,
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        "precision": precision,
        "f1": f1,
        "accuracy": (tp + tn) / len(y) if len(y) else float("nan"),
        "flagged_share": float(f.mean()) if len(f) else float("nan"),
    }


def score_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, log loss and ECE of churn probabilities."""
    y, p = np.asarray(y, float), np.clip(np.asarray(p, float), EPS, 1 - EPS)
    both = 0 < y.sum() < len(y)
    return {
        "roc_auc": roc_auc_score(y, p) if both else float("nan"),
        "roc_auc_se": roc_auc_se(y, p),
        "pr_auc": average_precision_score(y, p) if both else float("nan"),
        "brier": brier_score_loss(y, p),
        "log_loss": binary_log_loss(y, p),
        "ece": expected_calibration_error(y, p),
        "rows": float(len(y)),
        "churn_rate": float(y.mean()),
        "mean_probability": float(p.mean()),
    }


def ranking_auc(y: np.ndarray, risk: np.ndarray) -> float:
    """ROC-AUC of any risk score (higher = riskier), e.g. a baseline's."""
    y = np.asarray(y, float)
    return roc_auc_score(y, risk) if 0 < y.sum() < len(y) else float("nan")


def roc_auc_se(y: np.ndarray, risk: np.ndarray) -> float:
    """Standard error of the ROC-AUC of `risk` (DeLong et al., 1988): from the variance of
    each churner's and each non-churner's share of the pairs it wins, by midranks."""
    y, risk = np.asarray(y, bool), np.asarray(risk, float)
    pos, neg = risk[y], risk[~y]
    m, n = len(pos), len(neg)
    if m < 2 or n < 2:
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))
    v10 = (ranks[:m] - rankdata(pos)) / n
    v01 = 1 - (ranks[m:] - rankdata(neg)) / m
    return float(np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n))


MIN_CHURNED = 30
"""Distinct churned accounts a window needs before its figures are read as judging a model."""
MIN_RETAINED = 30
"""Distinct accounts that stayed a window needs, likewise."""
N_BOOT = 200
"""Resamples of accounts behind each 95% interval of a window's figures."""


def too_small(accounts: np.ndarray, y: np.ndarray) -> str | None:
    """Why a window is too small to judge a model on (too few churned or retained accounts),
    or None. An account counts once however many of its rows the window holds."""
    a, y = np.asarray(accounts), np.asarray(y, float)
    churned = len(np.unique(a[y == 1]))
    retained = len(np.setdiff1d(np.unique(a), a[y == 1]))
    if churned < MIN_CHURNED:
        return f"{churned} churned accounts (judging needs {MIN_CHURNED})"
    if retained < MIN_RETAINED:
        return f"{retained} accounts that stayed (judging needs {MIN_RETAINED})"
    return None


def intervals(
    accounts: np.ndarray,
    y: np.ndarray,
    *,
    p: np.ndarray | None = None,
    risk: np.ndarray | None = None,
    flagged: np.ndarray | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    bins: int = 10,
) -> dict[str, float]:
    """95% intervals over `n_boot` resamples of accounts: ROC-AUC of `risk` (default `p`), ECE
    of probabilities `p`, recall and precision of the yes/no `flagged`. Keys `roc_auc_lo`,
    `roc_auc_hi`, `ece_lo`, … for the figures whose inputs are given.

    Accounts, not rows, are resampled: an account's monthly rows share their outcome, and
    treating them as independent would make the intervals too narrow. The ECE is
    `expected_calibration_error` with each row counted as often as its account was drawn; its
    interval is moved down by the resamples' mean excess over the
    figure, since an absolute error grows with the noise resampling adds (a percentile
    interval of ECE can lie wholly above the figure).
    """
    y = np.asarray(y, float)
    risk = p if risk is None else risk
    keys = [k for k, v in (("roc_auc", risk), ("ece", p)) if v is not None]
    keys += ["recall", "precision"] if flagged is not None else []
    out = {f"{k}_{e}": float("nan") for k in keys for e in ("lo", "hi")}
    if len(y) == 0:
        return out
    codes, uniq = pd.factorize(np.asarray(accounts))
    ranks = None if risk is None else np.unique(np.asarray(risk, float), return_inverse=True)[1]
    f = None if flagged is None else np.asarray(flagged, float)
    if p is not None:  # sorted once: each resample's ECE then sorts an ordered array
        order = np.argsort(np.asarray(p, float), kind="mergesort")
        ys, ps = y[order], np.asarray(p, float)[order]

    def stats(w: np.ndarray) -> list[float]:
        vals = []
        if ranks is not None:
            both = 0 < (w * y).sum() < w.sum()
            vals.append(grouped_auc(ranks, y, w) if both else np.nan)
        if p is not None:
            vals.append(expected_calibration_error(ys, ps, bins, weight=w[order]))
        if f is not None:
            tp = (w * y * f).sum()
            vals.append(tp / (w * y).sum() if (w * y).sum() else np.nan)
            vals.append(tp / (w * f).sum() if (w * f).sum() else np.nan)
        return vals

    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            stats(np.bincount(rng.integers(0, len(uniq), len(uniq)), minlength=len(uniq))[codes])
            for _ in range(n_boot)
        ],
        float,
    )
    point = stats(np.ones(len(y), np.int64))
    for i, k in enumerate(keys):
        col = draws[:, i][np.isfinite(draws[:, i])]
        if len(col) < n_boot // 2:
            continue
        lo, hi = np.percentile(col, [2.5, 97.5])
        if k == "ece":  # resampling adds noise that ECE counts as miscalibration: remove it
            shift = col.mean() - point[i]
            lo, hi = max(lo - shift, 0.0), hi - shift
        out[f"{k}_lo"], out[f"{k}_hi"] = float(lo), float(hi)
    return out


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    order = np.argsort(p, kind="mergesort")
    rows = []
    for chunk in np.array_split(order, bins):
        if len(chunk):
            rows.append(
                {
                    "predicted": float(np.mean(p[chunk])),
                    "observed": float(np.mean(y[chunk])),
                    "rows": len(chunk),
                }
            )
    return pd.DataFrame(rows)


HEALTH_BANDS = (
    (90, 101, "90–100"),
    (80, 90, "80–89"),
    (70, 80, "70–79"),
    (60, 70, "60–69"),
    (50, 60, "50–59"),
    (0, 50, "below 50"),
)


def retention_by_band(health: np.ndarray, churned: np.ndarray) -> pd.DataFrame:
    """Share retained over the horizon per health band, with the number of rows in each."""
    health, churned = np.asarray(health), np.asarray(churned, float)
    rows = []
    for lo, hi, name in HEALTH_BANDS:
        inside = (health >= lo) & (health < hi)
        n = int(inside.sum())
        rows.append(
            {
                "band": name,
                "rows": n,
                "churned": int(churned[inside].sum()),
                "retention": float(1 - churned[inside].mean()) if n else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def top_share_capture(y: np.ndarray, risk: np.ndarray, share: float = 0.10) -> dict[str, float]:
    """Share of churners among the riskiest `share` of rows, and the lift over random."""
    y, risk = np.asarray(y, float), np.asarray(risk, float)
    k = max(round(share * len(y)), 1)
    top = np.argsort(-risk, kind="mergesort")[:k]
    captured = y[top].sum() / y.sum() if y.sum() else float("nan")
    return {"captured": float(captured), "lift": float(captured / share)}


def arr_weighted_recall(y: np.ndarray, flagged: np.ndarray, arr: np.ndarray) -> float:
    """Share of churned ARR that was flagged at risk beforehand."""
    y, f, arr = np.asarray(y, bool), np.asarray(flagged, bool), np.nan_to_num(arr)
    total = arr[y].sum()
    return float(arr[y & f].sum() / total) if total else float("nan")


def lead_times(rows: pd.DataFrame, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Days between the first at-risk flag and the churn date, per churn event.

    `rows`: account_id, as_of, flagged; `events`: account_id and churn_date (by default the
    distinct non-null `churn_date`s of `rows`). The flag counts when it is part of an unbroken
    run of flagged as-of dates that reaches the last scored date before the churn: an account
    flagged a year ago that recovered since was not caught. Missed churn events have lead_days
    NaN.
    """
    if events is None:
        events = rows.loc[rows.churn_date.notna(), ["account_id", "churn_date"]]
    events = events[["account_id", "churn_date"]].drop_duplicates()
    scored = rows.sort_values("as_of").groupby("account_id")
    out = []
    for account, churn_date in events.itertuples(index=False):
        history = scored.get_group(account)
        before = history[history.as_of < churn_date]
        flags = before.flagged.to_numpy(bool)[::-1]
        run = len(flags) if flags.all() else int(np.argmin(flags))
        first = before.as_of.iloc[len(flags) - run] if run else pd.NaT
        out.append(
            {
                "account_id": account,
                "churn_date": churn_date,
                "first_flag": first,
                "lead_days": (churn_date - first).days if run else np.nan,
            }
        )
    return pd.DataFrame(out, columns=["account_id", "churn_date", "first_flag", "lead_days"])


def lead_time_summary(leads: pd.DataFrame) -> dict[str, float]:
    """Caught churn events, median lead time and the shares flagged ≥ 30 and ≥ 60 days ahead."""
    n = len(leads)
    days = leads.lead_days
    return {
        "churn_events": n,
        "caught": int(days.notna().sum()),
        "caught_share": float(days.notna().mean()) if n else float("nan"),
        "median_lead_days": float(days.median()) if days.notna().any() else float("nan"),
        "mean_lead_days": float(days.mean()) if days.notna().any() else float("nan"),
        "share_30d_ahead": float((days >= 30).mean()) if n else float("nan"),
        "share_60d_ahead": float((days >= 60).mean()) if n else float("nan"),
    }


def budget_flags(
    flagged: np.ndarray, risk: np.ndarray, groups: np.ndarray, seed: int = 0
) -> np.ndarray:
    """A baseline's flags at the model's budget: in each group (as-of date) as many rows as
    the model flags there, its riskiest first; ties (the login rule has three levels) are
    broken at random, seeded."""
    flagged, risk = np.asarray(flagged, bool), np.asarray(risk, float)
    rng = np.random.default_rng(seed)
    base = np.zeros(len(flagged), bool)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        k = int(flagged[idx].sum())
        order = np.lexsort((rng.random(len(idx)), -risk[idx]))
        base[idx[order[:k]]] = True
    return base


def same_budget(
    y: np.ndarray, flagged: np.ndarray, risk: np.ndarray, groups: np.ndarray, seed: int = 0
) -> dict[str, float]:
    """A baseline flagging as many rows as the model does in each group (as-of date)
    (`budget_flags`): churners caught and false positives of both."""
    y, flagged = np.asarray(y, bool), np.asarray(flagged, bool)
    base = budget_flags(flagged, risk, groups, seed)
    return {
        "flagged": int(flagged.sum()),
        "model_churners_caught": int((y & flagged).sum()),
        "baseline_churners_caught": int((y & base).sum()),
        "model_false_positives": int((~y & flagged).sum()),
        "baseline_false_positives": int((~y & base).sum()),
        "change_in_false_positives": int((~y & flagged).sum() - (~y & base).sum()),
    }


def false_positives_at_recall(
    y: np.ndarray, caught: int, risk: np.ndarray, seed: int = 0
) -> int | None:
    """The false positives a ranking by `risk` makes before it catches `caught` churners
    (ties broken at random, seeded); None when it never does."""
    y = np.asarray(y, bool)
    if caught <= 0:
        return 0
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(y)), -np.asarray(risk, float)))
    hits = np.cumsum(y[order])
    reach = np.flatnonzero(hits >= caught)
    if not len(reach):
        return None
    k = int(reach[0]) + 1
    return k - caught
