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

Keyed by user (issue 3.5, `--by-user`): the same events as Segment exports them, without the
account, through `configs/examples/segment-tracks.yaml`: `tracks.parquet` (user_id, event,
timestamp) and `groups.csv` (user_id, group_id, since), where every user belongs to its account
from 2000 on and one user in a hundred moves to another account halfway through the history.
The export is written once (not timed); the timed build adds the lookup in force at each event.
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


def by_user(db: Path, folder: Path) -> None:
    """The company's events as Segment exports them, in `folder` (once, not timed)."""
    folder.mkdir(parents=True)
    with duckdb.connect(str(db), read_only=True) as con:
        names = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        for name in names:
            if name not in ("events", "truth"):
                con.execute(f"COPY {name} TO '{folder / name}.parquet' (FORMAT parquet)")
        con.execute(
            "COPY (SELECT account_id || '/' || user_id AS user_id, event, ts AS timestamp, value "
            f"FROM events) TO '{folder}/tracks.parquet' (FORMAT parquet)"
        )
        con.execute(
            """
            CREATE TEMP TABLE u AS
            SELECT DISTINCT account_id || '/' || user_id AS user_id, account_id FROM events
            """
        )
        con.execute(
            f"""
            COPY (
                SELECT user_id, account_id AS group_id, TIMESTAMP '2000-01-01' AS since FROM u
                UNION ALL
                SELECT user_id, (SELECT min(account_id) FROM accounts) AS group_id,
                       (SELECT min(ts) + (max(ts) - min(ts)) / 2 FROM events) AS since
                FROM u WHERE hash(user_id) % 100 = 0
            ) TO '{folder}/groups.csv' (HEADER)
            """
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("/tmp/churnhealth-events.duckdb"))
    parser.add_argument("--by-user", action="store_true", help="events keyed by user (3.5)")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"generating {args.data} ({args.events:,} events; not timed) ...", flush=True)
        t = time.perf_counter()
        company(args.data, args.accounts, args.years, args.events)
        print(f"generated in {time.perf_counter() - t:.0f} s", flush=True)

    from churnhealth.config import Config
    from churnhealth.data.load import open_validated
    from churnhealth.data.mapping import load_mapping
    from churnhealth.features import build_features
    from churnhealth.progress import stages

    cfg = Config()
    with duckdb.connect(str(args.data), read_only=True) as con:
        n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    folder = args.data.with_suffix(".by-user")
    mapping = load_mapping(Path(__file__).parents[1] / "configs/examples/segment-tracks.yaml")
    if args.by_user and not folder.exists():
        print(f"writing {folder} (not timed) ...", flush=True)
        by_user(args.data, folder)
    t0, c0 = time.perf_counter(), time.process_time()
    with stages() as stage:
        done = stage("validating and deriving usage", 1)
        if args.by_user:
            source = open_validated(folder, cfg.data.segments, mapping=mapping)
        else:
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
        f"{len(fs.frame):,} × {len(fs.features)}{' (keyed by user)' * args.by_user} | "
        f"{t1 - t0:.1f} s | {t2 - t1:.1f} s | "
        f"{t2 - t0:.1f} s | {c2 - c0:.1f} s | {peak:,.0f} MB |"
    )


if __name__ == "__main__":
    main()
