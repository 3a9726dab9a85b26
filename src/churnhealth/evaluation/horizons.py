"""The year-ahead test: how health ranks and calibrates twelve months out, on outcomes no fitted
model could have seen.

The model `train` registers learns from every step known by its validation window's end, so
its own test window is too recent for twelve-month outcomes. So training also fits, with the same
fitter and search, an *evaluation model* at an earlier origin O = data end − re-signup gap −
12 months − test window: it learns from the steps known by O and scores the as-of dates of the
test window after O, whose twelve months have all passed by the end of the data. Its figures
measure the procedure that produced the registered model.

Figures, overall and per segment, at 90 days and 12 months: ROC-AUC, ECE, log loss, mean
probability against the churn rate, and on the demo company the oracle's ROC-AUC (its `truth`
table). Each ECE comes with a 95% interval, and against the oracle with the oracle's own ECE on
the same rows, the model's excess over it and the ROC-AUC gap, all resampling accounts: a few
thousand accounts over a few as-of dates make a year-ahead ECE uncertain by about ±0.01, and
even the true probabilities do not score 0 on them. Then the early warning (annual accounts
120–365 days from renewal, ranked by health, against that renewal's outcome); the realised
recall of the at-risk tiers a year on; the share of accounts at health 100.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth.config import Config
from churnhealth.data.source import Source
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation import judged
from churnhealth.evaluation.metrics import (
    N_BOOT,
    expected_calibration_error,
    grouped_auc,
    ranking_auc,
    score_metrics,
    too_small,
)
from churnhealth.evaluation.metrics import intervals as window_intervals
from churnhealth.features import FeatureSet
from churnhealth.models.fitter import HealthModelFitter, prepare
from churnhealth.models.hazard import within_days
from churnhealth.models.routed import HealthModel
from churnhealth.models.split import MIN_SPAN_DAYS, Splits
from churnhealth.models.tiers import FLAGGED, health_score
from churnhealth.models.tune import OnTrial
from churnhealth.progress import Stage, no_stage

YEAR = 365
EARLY = (120, 365)
"""Days to renewal of the accounts the early-warning figure ranks."""


def origin_splits(cfg: Config, fs: FeatureSet) -> Splits:
    """Splits of the evaluation model: test as-of dates (O, O + test], validation steps known
    in (O − val, O], training steps known by O − val (windows sized like `time_splits`)."""
    lab = cfg.labels
    frame = fs.frame
    last = fs.data_end - pd.Timedelta(days=YEAR + lab.resignup_gap_days)
    first = frame.as_of.min()
    span = (last - first).days
    if span < MIN_SPAN_DAYS:
        raise ChurnhealthError(
            f"as-of dates with a known 12-month outcome span {max(span, 0)} days; the year-ahead "
            f"test needs {MIN_SPAN_DAYS} (about {(90 + MIN_SPAN_DAYS + YEAR) // 30 + 1} months "
            "of history)"
        )
    test = min(cfg.train.test_days, span // 4)
    val = min(cfg.train.val_days, span // 3)
    t3 = last
    t2 = t3 - pd.Timedelta(days=test)
    return Splits(t2 - pd.Timedelta(days=val), t2, t3, lab.horizon_days, lab.resignup_gap_days)


def within(frame: pd.DataFrame, days: int) -> np.ndarray:
    """1 when the account's first churn after the as-of date came within `days`."""
    after = frame.churn_after
    return ((after > frame.as_of) & (after <= frame.as_of + pd.Timedelta(days=days))).to_numpy(int)


def truth_for(source: Source, frame: pd.DataFrame) -> pd.DataFrame | None:
    """The demo company's true probabilities for the given rows, when a truth table exists."""
    if "truth" not in source.tables:
        return None
    truth = source.tables["truth"].to_pandas()
    truth["as_of"] = pd.to_datetime(truth.as_of)
    m = frame[["account_id", "as_of"]].merge(truth, on=["account_id", "as_of"], how="left")
    return m.set_index(frame.index)


def evaluate(
    cfg: Config,
    source: Source,
    fs: FeatureSet,
    *,
    on_trial: OnTrial | None = None,
    stage: Stage = no_stage,
) -> tuple[dict, HealthModelFitter | None]:
    """Fit the evaluation model and measure it; returns the figures (or why there are none)
    and the fitter (its `info_` carries the searched parameters), None when skipped."""
    try:
        splits = origin_splits(cfg, fs)
        data = prepare(cfg, source, fs, splits)
    except ChurnhealthError as err:
        return {"status": "skipped", "reason": str(err)}, None
    fitter = HealthModelFitter(config=cfg, on_trial=on_trial, stage=stage).fit(data)
    test = data.frame[data.mask("test")]
    done = stage("year-ahead test", 1)
    out = {
        "status": "ok",
        "origin": str(splits.t2.date()),
        "test_window": {
            "first": str(test.as_of.min().date()),
            "last": str(test.as_of.max().date()),
            "rows": len(test),
        },
        "routes": fitter.model_.routes,
        "models": fitter.info_,
        "notes": fitter.notes_,
        **figures(cfg, source, fitter.model_, test),
        "judged": judged.evaluate(cfg, data, fitter.model_),
    }
    done()
    return out, fitter


EARLIER_TEST_DAYS = 90
"""How far the earlier origin lies before the last as-of date followed past its horizon: the
test window `prepare` checks for churners (the judged rows are every as-of date after the
origin, each followed until the data's end)."""
EARLIER_MIN_DAYS = 180
"""Fewest days of as-of dates before the earlier origin to fit a model on (a third of them
validate)."""


def earlier_origin(
    cfg: Config,
    source: Source,
    fs: FeatureSet,
    needed: list[str],
    *,
    on_trial: OnTrial | None = None,
    stage: Stage = no_stage,
) -> dict:
    """When the history is too short for the year-ahead test: judge the longer horizons with
    a model fitted at an earlier origin, the latest from which `EARLIER_TEST_DAYS` of as-of
    dates can be followed past the horizon.

    For each `needed` horizon (those the registered model's rows could not judge), longest
    first, O = data end − re-signup gap − horizon − `EARLIER_TEST_DAYS`; the first whose O
    leaves `EARLIER_MIN_DAYS` of as-of dates to learn from gets a model, fitted with its own
    search on the steps known by O (nothing later, not even the registered model's parameters),
    then judged at every horizon like the registered model (`judged.evaluate`; `by` names it).
    `skipped` says why each longer one got none; with no model, `horizons` is empty."""
    lab = cfg.labels
    follow_end = fs.data_end - pd.Timedelta(days=lab.resignup_gap_days)
    first = fs.frame.as_of.min()
    skipped = {}  # why no earlier origin judges a longer horizon
    for label, days in sorted(judged.HORIZONS.items(), key=lambda kv: -kv[1]):
        if label not in needed:
            continue
        t3 = follow_end - pd.Timedelta(days=days + 1)
        t2 = t3 - pd.Timedelta(days=EARLIER_TEST_DAYS)
        learn = (t2 - first).days
        if learn < EARLIER_MIN_DAYS:
            more = int(np.ceil((EARLIER_MIN_DAYS - learn) / 30.44))
            skipped[label] = (
                f"a model fitted early enough to follow rows past {label} would have "
                f"{max(learn, 0)} days of as-of dates to learn from (needs {EARLIER_MIN_DAYS}: "
                f"about {more} more month{'s' if more != 1 else ''} of history)"
            )
            continue
        val = min(cfg.train.val_days, learn // 3)
        t1 = t2 - pd.Timedelta(days=val)
        splits = Splits(t1, t2, t3, lab.horizon_days, lab.resignup_gap_days)
        try:
            data = prepare(cfg, source, fs, splits)
            fitter = HealthModelFitter(config=cfg, on_trial=on_trial, stage=stage).fit(data)
        except ChurnhealthError as err:  # too few churners that early: try a later origin
            skipped[label] = f"a model fitted at {t2.date()} to judge it could not train: {err}"
            continue
        done = stage("earlier-origin model", 1)
        out = judged.evaluate(cfg, data, fitter.model_)
        done()
        return {**out, "by": "earlier-origin model", "skipped": skipped}
    return {"from": None, "horizons": {}, "by": "earlier-origin model", "skipped": skipped}


def figures(cfg: Config, source: Source, hm: HealthModel, test: pd.DataFrame) -> dict:
    """Every year-ahead figure of `hm` on `test` (as-of rows whose 12 months have passed)."""
    truth = truth_for(source, test)
    c = hm.curve(test)  # one curve per row, read at each horizon
    p12, p90 = within_days(test, c, YEAR), within_days(test, c, 90)
    y12, y90 = within(test, YEAR), within(test, 90)
    health = health_score(within_days(test, c, hm.horizon_days))
    tiers = hm.tiers(test, health)
    seg = test.segment.to_numpy()
    accounts = test.account_id.to_numpy()

    def block(rows: np.ndarray) -> dict:
        out = {}
        for name, y, p, col in (("12m", y12, p12, "p_churn_12m"), ("90d", y90, p90, "p_churn_90d")):
            m = score_metrics(y[rows], p[rows])
            out[name] = {
                "roc_auc": m["roc_auc"],
                "ece": expected_calibration_error(y[rows], p[rows]),
                "log_loss": m["log_loss"],
                "mean_probability": float(p[rows].mean()),
                "churn_rate": float(y[rows].mean()),
                "rows": int(rows.sum()),
                "churners": int(y[rows].sum()),
            }
            oracle = truth[col].to_numpy()[rows] if truth is not None and col in truth else None
            if oracle is not None:
                out[name]["oracle_roc_auc"] = ranking_auc(y[rows], oracle)
            out[name].update(intervals(accounts[rows], y[rows], p[rows], oracle))
            ranked = window_intervals(accounts[rows], y[rows], risk=p[rows], seed=cfg.train.seed)
            out[name].update(ranked)  # roc_auc_lo, roc_auc_hi
            out[name]["too_small"] = too_small(accounts[rows], y[rows])
        flagged = np.isin(tiers[rows], FLAGGED)
        churned = y12[rows] == 1
        flag = window_intervals(accounts[rows], y12[rows], flagged=flagged, seed=cfg.train.seed)
        out["tiers_12m"] = {
            "recall": float(flagged[churned].mean()) if churned.any() else float("nan"),
            "recall_target": cfg.tiers.recall_at_risk,
            "flagged_share": float(flagged.mean()),
            "precision": float(churned[flagged].mean()) if flagged.any() else float("nan"),
            **flag,  # recall_lo, recall_hi, precision_lo, precision_hi
        }
        out["health_100_share"] = float((health[rows] == 100).mean())
        return out

    result = {
        "overall": block(np.ones(len(test), bool)),
        "segments": {s: block(seg == s) for s in cfg.data.segments if (seg == s).any()},
    }
    result["early_warning"] = early_warning(test, p12, truth)
    return result


def intervals(
    accounts: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    oracle: np.ndarray | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> dict[str, float]:
    """95% intervals resampling accounts (an account's as-of rows share one future, so they are
    not independent): `ece_lo`/`ece_hi`; with the true probabilities `oracle`, also their ECE
    on the same rows (`oracle_ece`), the model's excess over it (`ece_excess`, `_lo`, `_hi`)
    and the ROC-AUC the model gives up to them (`auc_gap`, `_lo`, `_hi`), paired on the same
    resamples."""
    y = np.asarray(y, int)
    if not 0 < y.sum() < len(y):
        return {}
    codes, uniq = pd.factorize(np.asarray(accounts))
    rank_p = np.unique(p, return_inverse=True)[1]
    rank_o = None if oracle is None else np.unique(oracle, return_inverse=True)[1]

    def stats(w: np.ndarray) -> tuple[float, ...]:
        idx = np.repeat(np.arange(len(y)), w)  # integer weights: each drawn account's rows
        ece = expected_calibration_error(y[idx], p[idx])
        if oracle is None:
            return (ece,)
        excess = ece - expected_calibration_error(y[idx], oracle[idx])
        return ece, excess, grouped_auc(rank_o, y, w) - grouped_auc(rank_p, y, w)

    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, len(uniq), len(uniq)), minlength=len(uniq))[codes]
        if 0 < (w * y).sum() < w.sum():
            draws.append(stats(w))
    point = stats(np.ones(len(y), np.int64))
    lo, hi = np.percentile(np.array(draws), [2.5, 97.5], axis=0)
    out = {"ece_lo": float(lo[0]), "ece_hi": float(hi[0])}
    if oracle is not None:
        out["oracle_ece"] = point[0] - point[1]
        for i, key in ((1, "ece_excess"), (2, "auc_gap")):
            out[key], out[f"{key}_lo"], out[f"{key}_hi"] = point[i], float(lo[i]), float(hi[i])
    return out


def early_warning(test: pd.DataFrame, p12: np.ndarray, truth: pd.DataFrame | None) -> dict:
    """Annual accounts 120–365 days from their renewal, ranked by the 12-month probability,
    against whether they left at that renewal (and the oracle's next-renewal probability)."""
    rows = ((test.term_months >= 12) & test.days_to_renewal.between(*EARLY)).to_numpy()
    t = test[rows]
    y = ((t.churn_after > t.as_of) & (t.churn_after <= t.renewal_date)).to_numpy(int)
    out = {
        "accounts": int(rows.sum()),
        "left_at_renewal": int(y.sum()),
        "roc_auc": ranking_auc(y, p12[rows]) if 0 < y.sum() < len(y) else float("nan"),
    }
    if truth is not None and "p_churn_next_renewal" in truth and 0 < y.sum() < len(y):
        oracle = truth.p_churn_next_renewal.to_numpy()[rows]
        out["oracle_roc_auc"] = ranking_auc(y, np.nan_to_num(oracle))
    return out


def flat(h: dict) -> dict[str, float]:
    """MLflow metrics from the figures: `h12_roc_auc`, `h90_ece`, `h12_mid_market_roc_auc`…"""
    if h.get("status") != "ok":
        return {}
    out = {}
    for scope, b in [("", h["overall"]), *((f"{s}_", v) for s, v in h["segments"].items())]:
        for name in ("12m", "90d"):
            for k, v in b[name].items():
                out[f"h{name[:-1]}_{scope}{k}"] = v
        out[f"h12_{scope}tier_recall"] = b["tiers_12m"]["recall"]
    for k, v in h["early_warning"].items():
        out[f"early_warning_{k}"] = v
    return {
        k: float(v)
        for k, v in out.items()
        if isinstance(v, int | float | np.number) and np.isfinite(v)  # not too_small's text
    }
