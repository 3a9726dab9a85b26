"""Benchmark: the point-in-time feature build on the demo company at 1×, 2× and 4× accounts.

Target (issue 2/6): the default (5,000 accounts, monthly as-of over 3 years) in ≤ 30 s on 2
cores, cost growing no faster than linearly with accounts. Each size runs in its own process so
peak memory is its own. Demo companies are generated once into --data-dir (not timed).
Run: .venv/bin/python benchmarks/bench_features.py [--sizes 5000 10000 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def one(accounts: int, data_dir: Path) -> dict:
    from churnhealth.config import Config
    from churnhealth.data.load import open_validated
    from churnhealth.features import build_features
    from churnhealth.synth import generate

    path = data_dir / f"demo-{accounts}.duckdb"
    if not path.exists():
        generate(path, accounts=accounts, years=3, seed=0)
    cfg = Config()
    t0 = time.perf_counter()
    source = open_validated(path, cfg.data.segments)
    t1 = time.perf_counter()
    fs = build_features(source, cfg)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "accounts": accounts,
        "rows": len(fs.frame),
        "features": len(fs.features),
        "validate_s": t1 - t0,
        "build_s": t2 - t1,
        "peak_mb": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/churnhealth-bench"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(one(args.one, args.data_dir)))
        return
    base = None
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--data-dir", str(args.data_dir)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        base = base or r["build_s"] / r["accounts"]
        scale = r["build_s"] / r["accounts"] / base
        print(
            f"| {time.strftime('%Y-%m-%d')} | {platform.machine()}, {os.cpu_count()} cores | "
            f"{n:,} | {r['rows']:,} × {r['features']} | {r['build_s']:.1f} s | "
            f"{r['rows'] / r['build_s']:,.0f} | {scale:.2f} | {r['peak_mb']:,.0f} MB | "
            f"{r['validate_s']:.1f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
