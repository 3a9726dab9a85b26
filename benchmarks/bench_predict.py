"""Benchmark: scoring with exact SHAP explanations for 100,000 accounts.

Target (issue 4/6): ≥ 2,000 accounts/s on 2 cores with exact SHAP values. The feature rows of
the demo company's latest as-of date are resampled to --accounts rows; the champion model scores
them (calibrated probability, health, tier), explains them in health points (TreeExplainer,
exact), and picks the top drivers. `shap.TreeExplainer` alone on the same rows and models is
measured in the same run as the baseline. Feature building is timed separately per as-of date.
Run after `make train`: .venv/bin/python benchmarks/bench_predict.py [--accounts 100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import warnings

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--data", default="data/demo.duckdb")
    parser.add_argument("--model", default="models/champion")
    args = parser.parse_args()

    import shap

    from churnhealth.config import Config
    from churnhealth.data.validate import open_validated
    from churnhealth.explain import dimension_effects, health_effects
    from churnhealth.features import build_features, data_window
    from churnhealth.features.spec import check_metrics
    from churnhealth.predict import _drivers, load_model

    cfg = Config()
    lm = load_model(cfg, args.model)
    hm = lm.model
    source = open_validated(args.data, cfg.data.segments)
    _, end = data_window(source)
    metrics = check_metrics(hm.metadata["definitions"], cfg.data.segments)
    t0 = time.perf_counter()
    frame = build_features(source, cfg, metrics, dates=[end]).frame
    t_features = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    rows = frame.iloc[rng.integers(0, len(frame), args.accounts)].reset_index(drop=True)
    rows["account_id"] = [f"B{i:07d}" for i in range(len(rows))]

    t0 = time.perf_counter()
    scored = hm.score(rows)
    effects, _ = health_effects(hm, rows)
    dimension_effects(hm, effects)
    _drivers(effects, rows)
    t_ours = time.perf_counter() - t0

    X = hm.design(rows)
    routes = hm.route(rows.segment).to_numpy()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key in np.unique(routes):
            fm = hm.models[key]
            shap.TreeExplainer(fm.estimator).shap_values(fm.raw_input(X[routes == key]))
    t_shap = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trees = {
        k: (
            m.kind,
            getattr(m.estimator, "n_estimators", "-"),
            getattr(m.estimator, "num_leaves", "-"),
        )
        for k, m in hm.models.items()
    }
    n = len(rows)
    assert len(scored) == n
    print(f"models: {trees}")
    print(
        f"| {time.strftime('%Y-%m-%d')} | {platform.machine()}, {os.cpu_count()} cores | {n:,} "
        f"| {t_ours:.1f} s | {n / t_ours:,.0f} | {t_shap:.1f} s | {n / t_shap:,.0f} | "
        f"{peak:,.0f} MB | {len(frame):,} rows in {t_features:.1f} s |"
    )


if __name__ == "__main__":
    pd.options.mode.copy_on_write = True
    main()
