"""Benchmark: generate the default demo company; wall time, peak memory and size on disk.

Target (issue 1/6): 5,000 accounts × 3 years in ≤ 60 s on 2 cores, into ≤ 300 MB.
Run: .venv/bin/python benchmarks/bench_synth.py [--accounts N] [--years Y] [--team]

`--team` generates the company with its customer-success team, as `make train` does; its plays'
true effects are then computed in a second process, whose memory the peak RSS adds.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from churnhealth.synth import generate
from churnhealth.synth.team import Team


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--team", action="store_true", help="with the customer-success team")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo.duckdb"
        t0 = time.perf_counter()
        team = Team() if args.team else None
        result = generate(out, accounts=args.accounts, years=args.years, seed=0, team=team)
        elapsed = time.perf_counter() - t0
        size_mb = out.stat().st_size / 1e6
    peak_mb = sum(
        resource.getrusage(who).ru_maxrss / 1024
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    rows = sum(result.rows.values())
    size = f"{args.accounts:,} × {args.years} y" + (" with its team" if args.team else "")
    print(
        f"| {time.strftime('%Y-%m-%d')} | {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores | {size} | {elapsed:.1f} s | "
        f"{peak_mb:,.0f} MB | {size_mb:.0f} MB | {rows:,} |"
    )


if __name__ == "__main__":
    main()
