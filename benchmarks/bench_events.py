"""Benchmark: the whole feature build from raw event logs (issue 2.4).

Target: 20 million raw events on 2 cores, the whole feature build (validation, the daily usage
derived from the events on the engine, every declared metric including the exact 30-day
distinct users, labels) in ≤ 60 s.

The company: the demo generator's accounts, contracts, engagement, support and billing for
`--accounts` accounts over `--years`, with its daily usage table replaced by `--events` raw
events generated in DuckDB (not timed): each event's account drawn with weight ∝ the account's
licenses, its time uniform over the history, its event name among the demo's features and its
user among the account's licenses. Run:
.venv/bin/python benchmarks/bench_events.py [--events 20000000 --accounts 5000 --years 2]
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from pathlib import Path

import duckdb


def company(path: Path, accounts: int, years: int, events: int) -> None:
    """The demo company with `events` raw events instead of daily usage (once, not timed)."""
    from churnhealth.synth import generate
    from churnhealth.synth.params import FEATURES

    generate(path, accounts=accounts, years=years, seed=0, truth_paths=1)
    names = ", ".join(f"'{f}'" for f in FEATURES)
    with duckdb.connect(str(path)) as con:
        con.execute("DROP TABLE usage")
        con.execute(
            """
            CREATE TEMP TABLE w AS
            SELECT account_id, greatest(licenses, 1) AS pool,
                   sum(greatest(licenses, 1)) OVER (ORDER BY account_id) AS hi,
                   sum(greatest(licenses, 1)) OVER () AS total
            FROM accounts
            """
        )
        con.execute(
            """
            CREATE TEMP TABLE span AS
            SELECT date_trunc('day', min(ts))::TIMESTAMP AS t0 FROM touchpoints
            """
        )
        con.execute(
            f"""
            CREATE TABLE events AS
            WITH r AS (
                SELECT i, hash(i) AS h1, hash(i * 7 + 1) AS h2, hash(i * 13 + 5) AS h3
                FROM range({events}) t(i)
            ), picked AS (
                SELECT r.*, (h1 % (SELECT max(total) FROM w)) + 1 AS slot FROM r
            )
            SELECT w.account_id,
                   (SELECT t0 FROM span) + to_seconds(
                       (h2 % (365 * {years} * 86400 - 86400))::BIGINT
                   ) AS ts,
                   [{names}][(h3 % {len(FEATURES)})::INT + 1] AS event,
                   'U' || ((h3 // 16) % w.pool)::VARCHAR AS user_id,
                   NULL::DOUBLE AS value
            FROM picked ASOF JOIN w ON picked.slot <= w.hi
            """
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("/tmp/churnhealth-events.duckdb"))
    args = parser.parse_args()
    if not args.data.exists():
        print(f"generating {args.data} ({args.events:,} events; not timed) ...", flush=True)
        t = time.perf_counter()
        company(args.data, args.accounts, args.years, args.events)
        print(f"generated in {time.perf_counter() - t:.0f} s", flush=True)

    from churnhealth.config import Config
    from churnhealth.data.load import open_validated
    from churnhealth.features import build_features
    from churnhealth.progress import stages

    cfg = Config()
    with duckdb.connect(str(args.data), read_only=True) as con:
        n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    with stages() as stage:
        done = stage("validating and deriving usage", 1)
        source = open_validated(args.data, cfg.data.segments)
        done()
        t1 = time.perf_counter()
        fs = build_features(source, cfg, stage=stage)
    t2, c2 = time.perf_counter(), time.process_time()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shares = fs.frame.usage_user_share_30d
    print(f"{n:,} raw events; {len(fs.frame):,} rows × {len(fs.features)} features")
    print(
        f"validation + usage derived {t1 - t0:.1f} s, metrics and labels {t2 - t1:.1f} s: "
        f"total {t2 - t0:.1f} s ({n / (t2 - t0):,.0f} events/s); CPU {c2 - c0:.1f} s; "
        f"peak RSS {peak:,.0f} MB; usage_user_share_30d non-null {shares.notna().mean():.0%}"
    )
    print(
        f"| {time.strftime('%Y-%m-%d')} | {platform.machine()}, 2 cores | {n:,} | "
        f"{len(fs.frame):,} × {len(fs.features)} | {t1 - t0:.1f} s | {t2 - t1:.1f} s | "
        f"{t2 - t0:.1f} s | {c2 - c0:.1f} s | {peak:,.0f} MB |"
    )


if __name__ == "__main__":
    main()
