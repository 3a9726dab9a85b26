"""Benchmark (issue 2.2): early warning, out of time, with the product's own fitter and scorer.

Train as `churnhealth train --as-of DATE` would (nothing dated on or after DATE is read; the
fitter's Optuna search, segment guard and calibration as configured), score that day, and rank
the annual accounts whose renewal is 120–365 days away by health against the outcome of that
renewal, read from the full data. On a demo company the truth table's probability of leaving at
the next renewal is the oracle.

Run: .venv/bin/python benchmarks/bench_early_warning.py data/demo4.duckdb 2026-08-01
     (make the company with `churnhealth synth --out data/demo4.duckdb --years 4 --seed 7
     --accounts 3000`)
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from churnhealth.config import Config
from churnhealth.data.load import open_validated
from churnhealth.evaluation.horizons import early_warning, truth_for
from churnhealth.features import build_features, data_window
from churnhealth.models.fitter import HealthModelFitter, prepare
from churnhealth.scoring.scorer import Scorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("as_of", type=pd.Timestamp)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    cfg = Config()
    day = args.as_of
    t0 = time.perf_counter()
    known = open_validated(args.data, cfg.data.segments, truncate_at=day.date())
    fs = build_features(known, cfg, end=day.date())
    fitter = HealthModelFitter(config=cfg).fit(prepare(cfg, known, fs))
    fit_s = time.perf_counter() - t0
    scorer = Scorer(model=fitter.model_, config=cfg)
    today = scorer.features(known, [day])
    scores = scorer.score_batch(today).scores
    full = open_validated(args.data, cfg.data.segments)
    _, end = data_window(full)
    if day + pd.Timedelta(days=365 + cfg.labels.resignup_gap_days) > end:
        raise SystemExit(
            f"{day.date()}: renewals up to a year later are not all decided by the end of the "
            f"data ({end.date()}); pick a date at least 395 days before it"
        )
    outcome = build_features(full, cfg, dates=[day]).frame
    rows = today[["account_id", "as_of"]].merge(
        outcome[["account_id", "as_of", "churn_after"]], on=["account_id", "as_of"], how="left"
    )
    frame = today.assign(churn_after=rows.churn_after.to_numpy())
    figures = early_warning(frame, scores.churn_probability.to_numpy(), truth_for(full, frame))
    share100 = float((scores.health_score == 100).mean())
    print(
        f"{args.data}, trained as of {day.date()} ({fit_s:.0f} s; routes {fitter.model_.routes});"
        f" scored {len(scores):,} active accounts that day"
    )
    print(
        f"early warning: {figures['accounts']:,} annual accounts 120–365 days from renewal, "
        f"{figures['left_at_renewal']:,} left at it; ROC-AUC of health "
        f"{figures['roc_auc']:.3f}, oracle {figures.get('oracle_roc_auc', np.nan):.3f}; "
        f"health exactly 100: {share100:.1%} of the book"
    )


if __name__ == "__main__":
    main()
