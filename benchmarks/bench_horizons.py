"""Benchmark (issue 2.2 groundwork): how well can a 12-month churn score rank and calibrate,
measured honestly, against the oracle?

An origin O is chosen so that the as-of dates of the six months after it have their 12-month
outcome known by the end of the data (O = data end − re-signup gap − 18 months). A discrete-time
hazard model (`churnhealth.models.hazard`: monthly person-period rows censored at O, LightGBM
with fixed parameters, quiet steps — no renewal decision, no churn — subsampled and
re-weighted) learns from the as-of dates before O; it then scores the as-of dates of the six
months after O. Printed: 12-month and 90-day ROC-AUC and ECE against the truth table's
probabilities (the oracle), per segment; the early-warning figure of issue 2.2 (annual accounts
whose renewal is 120–365 days away, ranked by the 12-month probability, against the outcome of
that renewal); the share of accounts at health 100; and, for comparison, a direct 12-month
classifier on the rows whose 12 months had passed at O.

`--uncensored` lets the training rows see outcomes up to the end of the data (an upper bound
that leaks the test period's calendar: not a valid evaluation, it shows what censoring at the
origin costs).

Run: .venv/bin/python benchmarks/bench_horizons.py data/demo.duckdb [--quiet-share 0.25]
     [--params '{"num_leaves": 7}'] [--uncensored] [--features other-features.yaml]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from churnhealth.config import Config
from churnhealth.data.load import open_validated
from churnhealth.evaluation.metrics import expected_calibration_error as ece
from churnhealth.features import CATEGORICAL, build_features
from churnhealth.features.grid import LIFECYCLE_STAGES
from churnhealth.models.estimators import design, lightgbm
from churnhealth.models.hazard import STEP_FEATURES, curve, decisions, person_period, within_days

PARAMS = {
    "n_estimators": 600,
    "learning_rate": 0.03,
    "num_leaves": 7,
    "max_depth": 3,
    "min_child_samples": 200,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--quiet-share", type=float, default=0.25)
    parser.add_argument("--params", default="{}")
    parser.add_argument("--uncensored", action="store_true")
    parser.add_argument("--features", help="metric definitions to try instead of the default")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    cfg = Config()
    if args.features:
        defs = cfg.features.model_copy(update={"definitions": args.features})
        cfg = cfg.model_copy(update={"features": defs})
    gap = cfg.labels.resignup_gap_days
    source = open_validated(args.data, cfg.data.segments)
    fs = build_features(source, cfg)
    truth = source.tables["truth"].to_pandas()
    truth["as_of"] = pd.to_datetime(truth.as_of)
    frame = fs.frame.reset_index(drop=True).merge(truth, on=["account_id", "as_of"], how="left")
    end = fs.data_end
    o = end - pd.Timedelta(days=gap) - pd.DateOffset(months=18)
    origin = pd.Timestamp(o.year, o.month, 1)
    features = [f for f in fs.features if f != "renewals_in_horizon"]
    numeric = [f for f in features if f not in CATEGORICAL]
    cats = {"segment": list(cfg.data.segments), "lifecycle_stage": list(LIFECYCLE_STAGES)}

    train = frame[frame.as_of < origin].reset_index(drop=True)
    pp = person_period(train, train.churn_after, end if args.uncensored else origin, gap)
    rng = np.random.default_rng(0)
    quiet = ((pp.decisions_in_step == 0) & (pp.churned_in_step == 0)).to_numpy()
    keep = ~quiet | (rng.random(len(pp)) < args.quiet_share)
    weight = np.where(quiet, 1 / args.quiet_share, 1.0)[keep]
    pp = pp[keep].reset_index(drop=True)
    X = design(train, numeric, cats).iloc[pp.row.to_numpy()].reset_index(drop=True)
    for c in STEP_FEATURES:
        X[c] = pp[c].to_numpy()
    t0 = time.perf_counter()
    model = lightgbm({**PARAMS, **json.loads(args.params)})
    model.fit(X, pp.churned_in_step.to_numpy(), sample_weight=weight)
    fit_s = time.perf_counter() - t0

    test = frame[(frame.as_of > origin) & (frame.as_of <= origin + pd.DateOffset(months=6))]
    test = test.reset_index(drop=True)
    Xt = design(test, numeric, cats)
    inside, before = decisions(test)
    hazards = np.column_stack(
        [
            model.predict_proba(
                Xt.assign(
                    step=k + 1, decisions_in_step=inside[:, k], decisions_before_step=before[:, k]
                )
            )[:, 1]
            for k in range(inside.shape[1])
        ]
    )
    p = curve(hazards)
    p12, p90 = within_days(test, p, 365), within_days(test, p, 90)
    after = test.churn_after > test.as_of
    y12 = (after & (test.churn_after <= test.as_of + pd.Timedelta(days=365))).to_numpy(int)
    y90 = (after & (test.churn_after <= test.as_of + pd.Timedelta(days=90))).to_numpy(int)
    print(
        f"origin {origin.date()}, data end {end.date()}; {len(train):,} training rows → "
        f"{len(pp):,} person-period rows (fit {fit_s:.1f} s); {len(test):,} test rows"
    )
    print("| group | horizon | ROC-AUC | oracle | ECE | mean p | churn rate |")
    print("|---|---|---|---|---|---|---|")
    groups = [("all", np.arange(len(test)))]
    groups += [(s, g.index.to_numpy()) for s, g in test.groupby("segment")]
    for name, i in groups:
        for h, y, q, oracle in (
            ("12 months", y12, p12, test.p_churn_12m),
            ("90 days", y90, p90, test.p_churn_90d),
        ):
            print(
                f"| {name} | {h} | {roc_auc_score(y[i], q[i]):.3f} | "
                f"{roc_auc_score(y[i], oracle.to_numpy()[i]):.3f} | {ece(y[i], q[i]):.3f} | "
                f"{q[i].mean():.3f} | {y[i].mean():.3f} |"
            )
    annual = test[(test.term_months >= 12) & test.days_to_renewal.between(120, 365)]
    i = annual.index.to_numpy()
    yr = ((annual.churn_after > annual.as_of) & (annual.churn_after <= annual.renewal_date)).astype(
        int
    )
    model_auc = roc_auc_score(yr, p12[i])
    oracle_auc = roc_auc_score(yr, annual.p_churn_next_renewal.fillna(0))
    print(
        f"early warning: {len(annual):,} annual accounts 120–365 days from renewal, "
        f"{yr.mean():.1%} left at it; ROC-AUC of the 12-month score {model_auc:.3f}, "
        f"oracle (next renewal) {oracle_auc:.3f}"
    )
    print(f"health exactly 100: {(np.rint(100 * (1 - p12)) == 100).mean():.1%} of test rows")
    matured = frame[frame.as_of + pd.DateOffset(months=12) + pd.Timedelta(days=gap) <= origin]
    ym = (matured.churn_after > matured.as_of) & (
        matured.churn_after <= matured.as_of + pd.Timedelta(days=365)
    )
    direct = lightgbm({**PARAMS, **json.loads(args.params)})
    direct.fit(design(matured, numeric, cats), ym.astype(int))
    pd12 = direct.predict_proba(Xt)[:, 1]
    print(
        f"direct 12-month classifier on the {len(matured):,} rows matured at the origin: "
        f"ROC-AUC {roc_auc_score(y12, pd12):.3f}"
    )


if __name__ == "__main__":
    main()
