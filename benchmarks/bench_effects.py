"""Benchmark: `churnhealth effects` on the demo company with its CS team; wall time and peak
memory, and synth's own time with the team (its truth gains each play's effect).

Target (issue 3.6): effects ≤ 2 minutes on the default demo on 2 cores.
Run: .venv/bin/python benchmarks/bench_effects.py [--accounts N] [--years Y]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import yaml

from churnhealth.config import load_config
from churnhealth.jobs.effects import estimate
from churnhealth.synth import generate
from churnhealth.synth.team import Team

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--years", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        generate(tmp / "team.duckdb", accounts=args.accounts, years=args.years, seed=0, team=Team())
        synth_s = time.perf_counter() - t0
        config = {
            "features": {"definitions": str(ROOT / "configs/features.yaml")},
            "mlflow": {"tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}"},
            "paths": {"reports_dir": str(tmp / "reports")},
            "predict": {"alerts": str(tmp / "alerts.jsonl"), "history": str(tmp / "h.duckdb")},
        }
        (tmp / "config.yaml").write_text(yaml.safe_dump(config))
        t0 = time.perf_counter()
        res = estimate(load_config(tmp / "config.yaml"), tmp / "team.duckdb", tmp / "fx.json")
        effects_s = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"| {time.strftime('%Y-%m-%d')} | {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores | {args.accounts:,} × {args.years} y | synth --team "
        f"{synth_s:.1f} s | effects {effects_s:.1f} s | {peak_mb:,.0f} MB | "
        f"{len(res.estimates)} estimates |"
    )


if __name__ == "__main__":
    main()
