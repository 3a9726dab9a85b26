"""Benchmark: false alarms of the drift monitor on companies without drift, across seeds.

For each seed: a 1,500-account, 3-year demo company without drift; a model trained as of
2026-05-01 (2 Optuna trials, no time budget, short validation and test windows, as in
tests/model/test_monitor_no_drift.py); the monitor at the end of the data (2026-11-01), when
three months of labels have matured. Prints one Markdown row per seed: live rows, the features
in warn and alert, the highest judged PSI, the score PSI, the ROC-AUC decay and its one-sided
95% lower bound, the triggers fired and the status. The test suite asserts "no alert" on three
of these seeds; this records the figures (docs/monitoring.md).

Run: .venv/bin/python benchmarks/bench_monitor.py [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import warnings
from pathlib import Path

from churnhealth.config import Config
from churnhealth.jobs.monitor import monitor
from churnhealth.jobs.train import train
from churnhealth.synth import generate

ROOT = Path(__file__).resolve().parents[1]


def run(seed: int, root: Path) -> str:
    cfg = Config().rooted(root)
    tuning = cfg.train.tuning.model_copy(update={"trials": 2})
    cfg = cfg.model_copy(
        update={
            "train": cfg.train.model_copy(
                update={"tuning": tuning, "test_days": 90, "val_days": 180}
            ),
            "features": cfg.features.model_copy(
                update={"definitions": ROOT / "configs/features.yaml"}
            ),
        }
    )
    cfg.data.path.parent.mkdir(parents=True, exist_ok=True)
    generate(cfg.data.path, accounts=1500, years=3, seed=seed, truth_paths=10)
    train(cfg, as_of=dt.date(2026, 5, 1))
    r = monitor(cfg, as_of=dt.date(2026, 11, 1)).report
    judged = [f for f in r["features"] if f["status"] != "expected"]
    warn = sum(f["status"] == "warn" for f in judged)
    alert = sum(f["status"] == "alert" for f in judged)
    p = r["performance"]
    fired = [t["name"] for t in r["triggers"] if t["fired"]] or ["none"]
    return (
        f"| {seed} | {r['sample']['live_rows']:,} | {warn} | {alert} | "
        f"{max(f['psi'] for f in judged):.3f} | {r['score']['psi']:.3f} | "
        f"{p.get('roc_auc_decay', float('nan')):+.3f} | "
        f"{p.get('roc_auc_decay_lower', float('nan')):+.3f} | {', '.join(fired)} | "
        f"{r['status']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    warnings.filterwarnings("ignore")
    print(
        "| seed | live rows | warn | alert | max PSI | score PSI | ROC-AUC decay | "
        "lower bound | triggers | status |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix=f"bench-monitor-{seed}-") as tmp:
            print(run(seed, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
