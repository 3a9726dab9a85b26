"""Benchmark: the skill gate on demo companies and on their no-signal controls, across seeds.

For each seed: a 1,000-account, 2-year demo company and its no-signal control
(`churnhealth synth --no-signal`: the same accounts, contracts and churn rate, churn at random),
each trained from scratch in a workspace of its own with the default configuration (the
Optuna budget can be lowered with --trials). Prints one Markdown row per seed and company: the
horizon the gate judged, its ROC-AUC and 95% interval, the advantage over the best baseline and
its interval, and whether the model was promoted; then the promotion rate of each. Issue 3.3's
figures: the control promoted on at most 1 seed of 20, the demo on at least 19.

Run: .venv/bin/python benchmarks/bench_gate.py [--seeds 0 1 2 …] [--trials 15]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

from churnhealth.config import Config
from churnhealth.jobs.train import train
from churnhealth.synth import generate

ROOT = Path(__file__).resolve().parents[1]


def run(seed: int, no_signal: bool, trials: int | None, root: Path) -> tuple[str, bool]:
    cfg = Config().rooted(root)
    tuning = cfg.train.tuning.model_copy(update={"trials": trials or cfg.train.tuning.trials})
    cfg = cfg.model_copy(
        update={
            "train": cfg.train.model_copy(update={"tuning": tuning}),
            "features": cfg.features.model_copy(
                update={"definitions": ROOT / "configs/features.yaml"}
            ),
            "expansion": cfg.expansion.model_copy(update={"enabled": False}),
        }
    )
    cfg.data.path.parent.mkdir(parents=True, exist_ok=True)
    generate(cfg.data.path, accounts=1000, years=2, seed=seed, truth_paths=10, no_signal=no_signal)
    t0 = time.perf_counter()
    res = train(cfg)
    g = res.report.gate
    kind = "no-signal control" if no_signal else "demo"
    promoted = res.alias == "champion"
    if g.horizon is None:
        figures = f"none judged | – | – | {g.reason}"
    else:
        figures = (
            f"{g.horizon} | {g.roc_auc:.3f} [{g.roc_auc_lo:.3f}, {g.roc_auc_hi:.3f}] | "
            f"{g.best_baseline} | {g.vs_best_roc_auc_diff_lo:+.3f}"
        )
    row = (
        f"| {seed} | {kind} | {figures} | {'promoted' if promoted else 'refused'} | "
        f"{time.perf_counter() - t0:.0f} s |"
    )
    return row, promoted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(20)))
    ap.add_argument("--trials", type=int, default=None, help="Optuna trials per model search")
    args = ap.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    warnings.filterwarnings("ignore")
    print(
        "| seed | company | gate horizon | ROC-AUC [95%] | best baseline | advantage lower "
        "end | verdict | train |"
    )
    print("|---|---|---|---|---|---|---|---|")
    promoted = {False: 0, True: 0}
    for seed in args.seeds:
        for no_signal in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                row, ok = run(seed, no_signal, args.trials, Path(tmp))
            promoted[no_signal] += ok
            print(row, flush=True)
    n = len(args.seeds)
    print(
        f"\ndemo promoted on {promoted[False]} of {n}; no-signal control on {promoted[True]} of {n}"
    )


if __name__ == "__main__":
    main()
