"""Benchmark: scoring with exact SHAP explanations, model alone and `churnhealth predict`.

Target (issue 4/6): ≥ 2,000 accounts/s on 2 cores with exact SHAP values. Run after `make train`.

Model alone (default): the feature rows of the demo company's latest as-of date are resampled to
--accounts rows; the champion scores them (calibrated probability, health, tier), explains them
in health points (exact TreeSHAP) and picks the top drivers. `shap.TreeExplainer` alone on the
same rows and models is measured in the same run as the baseline.

    .venv/bin/python benchmarks/bench_predict.py [--accounts 100000]

End to end (--company): the real `churnhealth predict` command on a large company (generated
first with `churnhealth synth --accounts 100000 --years 1 --out PATH` if PATH is missing: about
8 minutes and 10 GB of memory on 2 cores, most of it the truth table's 12-month Monte Carlo), in
a scratch folder. A first run fills the empty history (backfill); then --repeat runs each start
from that history with an empty alert log, as a daily job re-run would. One more run in this
process times the stages.

    .venv/bin/python benchmarks/bench_predict.py --company /tmp/big100k.duckdb [--repeat 3]

A book of a million accounts: the 100,000-account company copied ten times under new ids
(`benchmarks/companies.py`; `synth` would need ~100 GB for the truth table), the first run
(backfill) and one daily run:

    .venv/bin/python benchmarks/bench_predict.py --company /tmp/big1m.duckdb \
        --copy-of /tmp/big100k.duckdb --copies 10 --repeat 1 --no-stages
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

CLI = (sys.executable, "-m", "churnhealth")


def model_alone(args: argparse.Namespace) -> None:
    import shap

    from churnhealth.config import Config
    from churnhealth.data.load import open_validated
    from churnhealth.features import data_window
    from churnhealth.models import hazard
    from churnhealth.scoring.scorer import Scorer
    from churnhealth.scoring.words import drivers
    from churnhealth.tracking import load_model

    cfg = Config()
    hm = load_model(cfg, args.model).model
    scorer = Scorer(model=hm, config=cfg)
    source = open_validated(args.data, cfg.data.segments)
    _, end = data_window(source)
    t0 = time.perf_counter()
    frame = scorer.features(source, [end])
    t_features = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    rows = frame.iloc[rng.integers(0, len(frame), args.accounts)].reset_index(drop=True)
    rows["account_id"] = [f"B{i:07d}" for i in range(len(rows))]

    t0 = time.perf_counter()
    scored = scorer.score(rows)
    effects, _ = scorer.explain(rows)
    scorer.dimensions(effects)
    drivers(effects, rows)
    t_ours = time.perf_counter() - t0

    X = hm.design(rows)
    inside, before = hazard.decisions(rows, hm.steps)
    routes = hm.route(rows.segment).to_numpy()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key in np.unique(routes):
            fm, r = hm.models[key], routes == key
            steps = hazard.step_design(X[r], hm.steps, inside[r], before[r])
            shap.TreeExplainer(fm.estimator.booster_).shap_values(fm.raw_input(steps))
    t_shap = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trees = {
        k: (
            m.kind,
            m.estimator.booster_.num_trees() if m.kind == "lightgbm" else "-",
            m.estimator.booster_.params.get("num_leaves", "-") if m.kind == "lightgbm" else "-",
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


def _scratch_config(workdir: Path):
    """The default config with its store and outputs under `workdir`, and its YAML file."""
    import yaml

    from churnhealth.config import Config

    cfg = Config().rooted(workdir)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return cfg, path


def _cli_run(company: Path, model: str, config: Path) -> dict:
    """One `churnhealth predict` in a subprocess: wall time, CPU time and that run's own peak
    RSS (`os.wait4` reports the one child, not the largest of all children so far)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, "predict", "--data", str(company), "--model", model, "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(stderr[-2000:])
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall": wall, "cpu": cpu, "peak_mb": usage.ru_maxrss / 1024}


def _restore(cfg) -> None:
    """Back to the history of the first run, with an empty alert log."""
    shutil.copy(_first_history(cfg), cfg.predict.history)
    cfg.predict.alerts.unlink(missing_ok=True)


def _first_history(cfg) -> Path:
    return cfg.predict.history.with_name("history.after-first-run.duckdb")


STAGES = {
    "validation": [("scorer", "open_configured")],
    "features": [("scorer", "build_features")],
    "model + SHAP + drivers": [
        ("Scorer", "curve"),
        ("Scorer", "score"),
        ("scorer", "explained_hazards"),
        ("scorer", "dimension_effects"),
        ("scorer", "drivers"),
    ],
    "expansion SHAP": [("scorer", "expansion_effects")],
    "trend + alerts": [("scorer", "trend"), ("playbooks", "matches"), ("playbooks", "trigger")],
    "forecast": [("job", "forecast")],
    "writing": [
        ("job", "write_frame"),
        ("history", "upsert"),
        ("playbooks", "append"),
        ("job", "write_json"),
    ],
    "model load + history read": [("tracking", "load_model"), ("history", "read")],
}


def _stage_times(cfg, company: Path, model: str) -> tuple[dict[str, float], float]:
    """Run predict in this process with the functions behind each stage timed."""
    from churnhealth import tracking
    from churnhealth.jobs import predict as job
    from churnhealth.scoring import history, playbooks, scorer

    owners = {
        "job": job,
        "scorer": scorer,
        "Scorer": scorer.Scorer,
        "tracking": tracking,
        "history": history,
        "playbooks": playbooks,
    }
    spent: dict[str, float] = defaultdict(float)

    def timed(fn, label):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[label] += time.perf_counter() - t0

        return wrapper

    for label, targets in STAGES.items():
        for owner, name in targets:
            setattr(owners[owner], name, timed(getattr(owners[owner], name), label))
    t0 = time.perf_counter()
    job.predict(cfg, company, model)
    return dict(spent), time.perf_counter() - t0


def end_to_end(args: argparse.Namespace) -> None:
    company = Path(args.company)
    if not company.exists() and args.copy_of:
        from companies import replicate

        print(f"copying {args.copy_of} {args.copies} times into {company} (not timed) ...")
        replicate(Path(args.copy_of), args.copies, company)
    if not company.exists():
        print(f"generating {company} (100,000 accounts × 1 year; not timed) ...", flush=True)
        subprocess.run(
            [*CLI, "synth", "--accounts", "100000", "--years", "1", "--out", str(company)],
            check=True,
        )
    import duckdb

    with duckdb.connect(str(company), read_only=True) as con:
        accounts = con.execute("SELECT count(*) FROM accounts").fetchone()[0]
        usage = con.execute("SELECT count(*) FROM usage").fetchone()[0]
    workdir = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    cfg, config = _scratch_config(workdir)
    if args.from_history:  # a first run's history kept from before: no backfill run
        cfg.predict.history.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.from_history, cfg.predict.history)
        first = None
    else:
        first = _cli_run(company, args.model, config)
    shutil.copy(cfg.predict.history, _first_history(cfg))
    runs = []
    for _ in range(args.repeat):
        _restore(cfg)
        runs.append(_cli_run(company, args.model, config))
    _restore(cfg)
    spent, total = _stage_times(cfg, company, args.model) if args.stages else ({}, 0.0)
    scores = next(cfg.predict.out_dir.glob("scores-*.parquet"))
    active = len(pd.read_parquet(scores, columns=["account_id"]))
    shutil.rmtree(workdir, ignore_errors=True)

    walls = sorted(r["wall"] for r in runs)
    best, median = walls[0], statistics.median(walls)
    cpu = statistics.median(r["cpu"] for r in runs)
    peak = max(r["peak_mb"] for r in runs)
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in spent.items())
    first_wall = f"{first['wall']:.0f} s" if first else "not run"
    other = total - sum(spent.values())
    print(f"company: {accounts:,} accounts, {usage:,} usage rows, {active:,} active on as-of")
    if first:
        print(
            f"first run (empty history, backfill): {first['wall']:.1f} s, "
            f"peak RSS {first['peak_mb']:,.0f} MB"
        )
    print(f"runs: {', '.join(f'{w:.1f}' for w in walls)} s; CPU (median) {cpu:.1f} s")
    print(
        f"| {time.strftime('%Y-%m-%d')} | {platform.machine()}, {os.cpu_count()} cores "
        f"| {active:,} | best {best:.1f} s, median {median:.1f} s ({len(runs)} runs) "
        f"| {active / best:,.0f} (median {active / median:,.0f}) "
        f"| {accounts / best:,.0f} (median {accounts / median:,.0f}) | {cpu:.1f} s "
        f"| {peak:,.0f} MB | {first_wall} |"
    )
    if args.stages:
        print(
            f"stages (one more run in-process, {total:.1f} s without start-up): {stages}, "
            f"other {other:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--data", default="data/demo.duckdb")
    parser.add_argument("--model", default="models/champion")
    parser.add_argument("--company", help="Large company for the end-to-end benchmark.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--copy-of",
        help="With --company missing: make it by copying this company --copies times "
        "(benchmarks/companies.py; how the 1,000,000-account company is made).",
    )
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument(
        "--from-history",
        help="Start from this health history (a first run's) instead of running the first "
        "run with its backfill.",
    )
    parser.add_argument(
        "--no-stages",
        dest="stages",
        action="store_false",
        help="Skip the last, in-process run that times the stages.",
    )
    args = parser.parse_args()
    if args.company:
        end_to_end(args)
    else:
        model_alone(args)


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    main()
