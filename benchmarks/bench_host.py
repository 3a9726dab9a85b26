"""Benchmark: how fast this machine is today, on a fixed workload like churnhealth's.

The wall-clock targets (`make train` ≤ 5 minutes, the suite ≤ 10 minutes) were measured on one
2-core host whose speed varied 2.5× over two days with the same code and data. A timing is
only comparable with another taken on an equally fast host, so record this row beside every
timing you record: the same fixed work (LightGBM boosting, a pandas group-by, a DuckDB
aggregation, NumPy algebra) on the same seeded data, whatever the commit.

Run alone (nothing else heavy on the machine): .venv/bin/python benchmarks/bench_host.py
"""

from __future__ import annotations

import os
import platform
import time
from datetime import date

import duckdb
import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier


def _timed(work) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def lightgbm() -> None:
    """200 trees on 100,000 rows × 30 features: the shape of a hazard model's fit."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100_000, 30))
    y = (x[:, :5].sum(axis=1) + rng.standard_normal(100_000) > 1.5).astype(int)
    LGBMClassifier(n_estimators=200, num_leaves=31, random_state=0, verbose=-1).fit(x, y)


def pandas_groupby() -> None:
    """A group-by and a merge on 5 million rows: the shape of feature building in pandas."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"account": rng.integers(0, 50_000, 5_000_000), "value": rng.random(5_000_000)}
    )
    means = frame.groupby("account", as_index=False).value.mean()
    frame.merge(means, on="account", suffixes=("", "_mean")).value_mean.sum()


def duckdb_aggregate() -> None:
    """A windowed aggregation over 10 million generated rows: the shape of the metric SQL."""
    con = duckdb.connect()
    con.sql(
        "SELECT account, avg(v) OVER (PARTITION BY account ORDER BY d ROWS 29 PRECEDING) AS m "
        "FROM (SELECT i % 20000 AS account, i // 20000 AS d, hash(i) % 1000 AS v "
        "FROM range(10000000) t(i))"
    ).aggregate("sum(m)").fetchall()


def numpy_algebra() -> None:
    """Five products of 1,500 × 1,500 matrices (BLAS)."""
    a = np.random.default_rng(2).standard_normal((1_500, 1_500))
    for _ in range(5):
        a = a @ a / 1_500


def main() -> None:
    parts = {
        "lightgbm": lightgbm,
        "pandas": pandas_groupby,
        "duckdb": duckdb_aggregate,
        "numpy": numpy_algebra,
    }
    seconds = {name: _timed(work) for name, work in parts.items()}
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    cells = " | ".join(f"{s:.1f} s" for s in seconds.values())
    print(f"| {date.today()} | {machine} | {cells} | {sum(seconds.values()):.1f} s |")


if __name__ == "__main__":
    main()
