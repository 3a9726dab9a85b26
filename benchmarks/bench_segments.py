"""Benchmark: does segmenting pay, and does the answer depend on the demo company's seed?

For each seed, generates the default-size demo company, trains exactly as `make train` does but
with a fixed number of Optuna trials and no time budget (so the result does not depend on how
busy the machine is), and prints one Markdown row per segment: the routed model minus the global
model on the test window, ROC-AUC and log loss, with 95% intervals from the bootstrap over
accounts.

Target (issue 3/6): segment models beat the global model in at least two of the three segments
on the default demo company (seed 0).
Run: .venv/bin/python benchmarks/bench_segments.py [--seeds 0 1 2 3] [--trials 15]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from churnhealth.config import Config
from churnhealth.jobs.train import train
from churnhealth.synth import generate


def run(seed: int, trials: int, root: Path) -> list[str]:
    cfg = Config().rooted(root)
    tuning = cfg.train.tuning.model_copy(update={"trials": trials})
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"tuning": tuning})})
    cfg.data.path.parent.mkdir(parents=True, exist_ok=True)
    generate(cfg.data.path, seed=seed)
    t0 = time.perf_counter()
    res = train(cfg)
    secs = time.perf_counter() - t0
    rows, wins = [], 0
    for s, m in res.report.segments.items():
        d_auc, d_ll = m["vs_global_roc_auc_diff"], m["vs_global_log_loss_diff"]
        wins += d_auc > 0 and d_ll < 0
        rows.append(
            f"| {seed} | {s} | {res.report.routes[s]} | {m['roc_auc']:.3f} / "
            f"{m['global_model_roc_auc']:.3f} | {d_auc:+.4f} "
            f"[{m['vs_global_roc_auc_diff_lo']:+.4f}, {m['vs_global_roc_auc_diff_hi']:+.4f}] | "
            f"{m['log_loss']:.4f} / {m['global_model_log_loss']:.4f} | {d_ll:+.4f} "
            f"[{m['vs_global_log_loss_diff_lo']:+.4f}, {m['vs_global_log_loss_diff_hi']:+.4f}] |"
        )
    o = res.report.overall
    rows.append(
        f"| {seed} | **{wins} of {len(res.report.segments)} won** | overall ROC-AUC "
        f"{o['roc_auc']:.3f} (global {o['global_model_roc_auc']:.3f}, oracle "
        f"{o['oracle_roc_auc']:.3f}) | | | | train {secs:.0f} s |"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    if args.one is not None:
        warnings.filterwarnings("ignore")
        with tempfile.TemporaryDirectory() as tmp:
            print("\n".join(run(args.one, args.trials, Path(tmp))), flush=True)
        return
    print(
        "| seed | segment | model | ROC-AUC: segment model / global | difference [95% interval] "
        "| log loss: segment model / global | difference [95% interval] |"
    )
    print("|---|---|---|---|---|---|---|", flush=True)
    for seed in args.seeds:  # one process per company, as `make train` runs
        cmd = [sys.executable, __file__, "--one", str(seed), "--trials", str(args.trials)]
        done = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            sys.exit(f"seed {seed} failed:\n{done.stderr[-3000:]}")


if __name__ == "__main__":
    main()
