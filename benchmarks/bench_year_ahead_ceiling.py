"""Benchmark (issue 2.2): is the 12-month gap to the oracle in the features, the learner or
the outcomes?

On a demo company (it has a `truth` table), at the year-ahead test's origin of `make train`
(same splits, same rows), several ways of learning the 12-month probability are scored on the
test rows by ROC-AUC at 12 months and on the early-warning rows (annual accounts 120–365 days
from renewal, against that renewal's outcome):

1. the product: the shipped fitter (hazard model, Optuna, segment guard, calibration);
2. the same LightGBM (the fitter's tuned global parameters) refitted on the training and the
   validation steps, so that it also sees months 8–12 of a curve;
3. the same on 50% and 75% of the accounts: the learning curve;
4. a temporal-difference fit (Maystre & Russo, 2022): P(churn within k months | as-of T) is
   learnt for k = 1..12 from the month's outcome plus the model's own P(within k − 1) at
   T + 1 month, so every as-of row whose first month is known teaches the year;
5. the ceiling of the features: a regression of the oracle's logit on the same features,
   taught by the truth (known for every row in a demo company) instead of by outcomes.

If 5 reaches the oracle's neighbourhood and 1–4 do not, the features hold the information and
what is missing is outcomes to learn it from.

Run: .venv/bin/python benchmarks/bench_year_ahead_ceiling.py data/demo.duckdb
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.metrics import roc_auc_score

from churnhealth.config import Config
from churnhealth.data.load import open_validated
from churnhealth.evaluation.horizons import YEAR, origin_splits, truth_for, within
from churnhealth.features import build_features
from churnhealth.models.estimators import lightgbm
from churnhealth.models.fitter import HealthModelFitter, TrainingData, prepare
from churnhealth.models.hazard import curve, decisions, step_design, step_ends, within_days

EARLY = (120, 365)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def hazard_p12(
    data: TrainingData, test: pd.DataFrame, params: dict, steps: np.ndarray
) -> np.ndarray:
    """12-month probability of the test rows from a LightGBM hazard fitted on `steps`."""
    y = data.steps.churned_in_step.to_numpy()
    w = data.steps.weight.to_numpy()
    model = lightgbm(params).fit(data.Xs[steps], y[steps], sample_weight=w[steps])
    inside, before = decisions(test)
    hz = model.predict_proba(step_design(data.X.loc[test.index], 12, inside, before))[:, 1]
    return within_days(test, curve(hz.reshape(12, -1).T), YEAR)


def temporal_difference(
    data: TrainingData, test_rows: np.ndarray, known_by: pd.Timestamp, gap: int
):
    """P(churn within 12 months) for every row, by 12 bootstrapped regressions."""
    f = data.frame.reset_index(drop=True)
    X = data.X.reset_index(drop=True)
    end1 = pd.Series(step_ends(f.as_of, 1)[:, 0].astype("datetime64[ns]"))
    known = ((end1 + pd.Timedelta(days=gap)) <= known_by).to_numpy() & ~test_rows
    first = ((f.churn_after > f.as_of) & (f.churn_after <= end1)).to_numpy()
    keys = f[["account_id", "as_of"]].reset_index().rename(columns={"index": "next"})
    nxt = (
        pd.DataFrame({"account_id": f.account_id, "as_of": end1})
        .merge(keys, on=["account_id", "as_of"], how="left")["next"]
        .to_numpy()
    )
    usable = known & (first | ~np.isnan(nxt))
    nxt = np.nan_to_num(nxt).astype(int)
    p = np.zeros(len(f))
    for _ in range(12):
        target = np.where(first, 1.0, p[nxt])
        reg = LGBMRegressor(
            objective="cross_entropy",
            n_estimators=300,
            learning_rate=0.03,
            num_leaves=8,
            max_depth=3,
            min_child_samples=100,
            subsample=0.9,
            subsample_freq=1,
            colsample_bytree=0.9,
            reg_lambda=10.0,
            random_state=0,
            n_jobs=2,
            verbose=-1,
        )
        p = np.clip(reg.fit(X[usable], target[usable]).predict(X), 1e-6, 1 - 1e-6)
    return p[test_rows]


def ceiling(data: TrainingData, truth: pd.DataFrame, col: str, train_rows: np.ndarray, test_rows):
    """A regression of the oracle's logit (`col`) on the features, on `train_rows`."""
    target = logit(truth[col].to_numpy())
    rows = train_rows & ~np.isnan(target)
    reg = LGBMRegressor(
        n_estimators=600,
        learning_rate=0.03,
        num_leaves=31,
        min_child_samples=50,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=0,
        n_jobs=2,
        verbose=-1,
    )
    return reg.fit(data.X[rows], target[rows]).predict(data.X[test_rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    cfg = Config()
    t0 = time.perf_counter()
    source = open_validated(args.data, cfg.data.segments)
    fs = build_features(source, cfg)
    splits = origin_splits(cfg, fs)
    data = prepare(cfg, source, fs, splits)
    test_rows = data.mask("test")
    test = data.frame[test_rows]
    truth = truth_for(source, data.frame)
    if truth is None:
        raise SystemExit(
            f"{args.data} has no truth table: make a demo company with churnhealth synth"
        )
    y12 = within(test, YEAR)
    early = ((test.term_months >= 12) & test.days_to_renewal.between(*EARLY)).to_numpy()
    y_early = (test.churn_after > test.as_of) & (test.churn_after <= test.renewal_date)
    y_early = y_early.to_numpy(int)[early]
    print(
        f"{args.data}: year-ahead test rows {len(test):,} (as-of {test.as_of.min().date()}.."
        f"{test.as_of.max().date()}), 12-month churn {y12.mean():.1%}; early-warning rows "
        f"{early.sum():,} ({y_early.sum():,} left at the renewal)"
    )
    results = []

    def add(name: str, p12: np.ndarray, p_early: np.ndarray | None = None) -> None:
        pe = p12[early] if p_early is None else p_early
        results.append((name, roc_auc_score(y12, p12), roc_auc_score(y_early, pe)))
        print(f"  {name:62s} 12m {results[-1][1]:.3f}   early {results[-1][2]:.3f}", flush=True)

    t_truth = truth.loc[test.index]
    add(
        "oracle (truth table)",
        t_truth.p_churn_12m.to_numpy(),
        np.nan_to_num(t_truth.p_churn_next_renewal.to_numpy()[early]),
    )
    fitter = HealthModelFitter(config=cfg).fit(data)
    add("1. product (shipped fitter)", within_days(test, fitter.model_.curve(test), YEAR))
    params = fitter.info_["global"]["lightgbm_params"]
    tr, va = data.step_mask("train"), data.step_mask("val")
    add(
        "2. its global LightGBM on train + validation steps",
        hazard_p12(data, test, params, tr | va),
    )
    accounts = data.frame.account_id.to_numpy()[data.steps.row.to_numpy()]
    pool = np.unique(accounts)
    rng = np.random.default_rng(0)
    for share in (0.5, 0.75):
        keep = np.isin(accounts, rng.choice(pool, int(share * len(pool)), replace=False))
        add(
            f"3. the same on {share:.0%} of the accounts",
            hazard_p12(data, test, params, (tr | va) & keep),
        )
    add(
        "4. temporal-difference fit",
        temporal_difference(data, test_rows, splits.t2, cfg.labels.resignup_gap_days),
    )
    before = (data.frame.as_of <= splits.t2).to_numpy() & ~test_rows
    add(
        "5. ceiling: the features taught by the truth",
        ceiling(data, truth, "p_churn_12m", before, test_rows),
        ceiling(data, truth, "p_churn_next_renewal", before, test_rows)[early],
    )
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
