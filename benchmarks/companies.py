"""Large companies for the benchmarks, made by copying a generated one.

`churnhealth synth` spends most of its time and memory on the truth table's Monte Carlo (about
8 minutes and 10 GB for 100,000 accounts), so a company of 1,000,000 accounts is made instead by
copying a generated one N times under new ids: copy k (k ≥ 1) appends `-rk` to every id (account,
contact, invoice, subscription, ticket). Every copy keeps its rows' dates, so each table stays
in date order per copy and the engines see the same shape of data, N times over. The `truth`
table (the simulator's own probabilities) is not copied: nothing that is timed reads it.

    .venv/bin/python benchmarks/companies.py SOURCE.duckdb TIMES OUT.duckdb
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import duckdb

IDS = {"account_id", "contact_id", "invoice_id", "subscription_id", "ticket_id", "name"}
"""Columns that get the copy's suffix."""


def replicate(source: Path, times: int, out: Path) -> Path:
    """Write `source`'s contract tables `times` over into `out` (atomically: a partial file is
    never left under `out`'s name). Returns `out`."""
    if times < 1:
        raise ValueError("times must be ≥ 1")
    tmp = out.with_name(out.name + ".partial")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    con.execute("SET enable_progress_bar = false")
    try:
        con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_catalog = 'src' ORDER BY table_name"
            ).fetchall()
            if t != "truth"
        ]
        for table in tables:
            cols = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE "
                    "table_catalog = 'src' AND table_name = ? ORDER BY ordinal_position",
                    [table],
                ).fetchall()
            ]
            con.execute(f"CREATE TABLE main.{table} AS SELECT * FROM src.{table} LIMIT 0")
            for k in range(times):
                select = ", ".join(f"{c} || '-r{k}'" if k and c in IDS else c for c in cols)
                con.execute(f"INSERT INTO main.{table} SELECT {select} FROM src.{table}")
            print(f"{table}: ×{times}", flush=True)
        con.execute("DETACH src")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("times", type=int)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    t0 = time.perf_counter()
    replicate(args.source, args.times, args.out)
    size = args.out.stat().st_size / 2**30
    print(f"{args.out}: {size:.1f} GB in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
