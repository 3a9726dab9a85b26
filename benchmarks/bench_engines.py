"""Benchmark: the same declared features built on DuckDB, PostgreSQL and Spark (local).

Issue 2.5: the feature build (validation, then the observation grid, labels and every declared
metric at the monthly as-of dates) for a demo company at 1×, 4× and 10× its accounts, on each
engine: wall time, feature rows per second, peak memory of the Python process and how each
grows with the company. Only the feature frame comes back to Python; the rest runs where the
data is.

The 1× company is generated (`--accounts`, 3 years, seed 0); the larger ones copy it under new
ids (`companies.replicate`), so every size has the same shape. Each engine gets the tables as
it would hold them: the DuckDB file itself; a private PostgreSQL cluster on a loopback port
(tests/servers.py: the tables copied in, then ANALYZEd as any live database would be, no
indexes added); a folder of Parquet files for a local Spark session with `--spark-cores`
cores. Loading is not timed. Each measurement runs in its own process, so its peak RSS is its
own; PostgreSQL's server and Spark's JVM are other processes, reported apart where they start.

    .venv/bin/python benchmarks/bench_engines.py [--accounts 5000] [--sizes 1 4 10]
        [--engines duckdb postgres spark] [--data-dir /tmp/churnhealth-engines]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]


def measure(url: str) -> dict:
    """Validate and build the features from `url`, in this process."""
    from churnhealth.config import Config
    from churnhealth.data.load import open_configured
    from churnhealth.features import build_features

    cfg = Config()
    t0 = time.perf_counter()
    source = open_configured(cfg, url)
    t1 = time.perf_counter()
    fs = build_features(source, cfg)
    t2 = time.perf_counter()
    return {
        "rows": len(fs.frame),
        "features": len(fs.features),
        "validate_s": t1 - t0,
        "build_s": t2 - t1,
        "peak_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process's peak RSS since it started (VmHWM). Not `ru_maxrss`: that survives the
    fork and exec that started the process, so it would report the parent's size when larger."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def company(data_dir: Path, accounts: int, times: int) -> Path:
    """The demo company of `accounts` accounts, copied `times` over (made once)."""
    from companies import replicate

    from churnhealth.synth import generate

    base = data_dir / f"demo-{accounts}.duckdb"
    if not base.exists():
        print(f"generating {base} (not timed) ...", flush=True)
        generate(base, accounts=accounts, years=3, seed=0)
    if times == 1:
        return base
    out = data_dir / f"demo-{accounts}x{times}.duckdb"
    if not out.exists():
        replicate(base, times, out)
    return out


def parquet_folder(db: Path) -> Path:
    """The DuckDB file's contract tables as a folder of Parquet files (made once)."""
    import duckdb

    folder = db.with_suffix(".parquet.d")
    if folder.exists():
        return folder
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir(exist_ok=True)
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET enable_progress_bar = false")
        for (name,) in con.sql("SELECT table_name FROM information_schema.tables").fetchall():
            if name != "truth":
                con.sql(f"COPY \"{name}\" TO '{tmp / name}.parquet' (FORMAT parquet)")
    tmp.rename(folder)
    return folder


def run_one(url: str, env: dict | None = None) -> dict:
    """`measure(url)` in a fresh process."""
    done = subprocess.run(
        [sys.executable, __file__, "--measure", url],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if done.returncode:
        sys.exit(f"{url}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(engine: str, size: int, accounts: int, r: dict, base: dict | None, extra: str) -> str:
    grow = r["build_s"] / base["build_s"] / size if base else 1.0
    mem = r["peak_mb"] / base["peak_mb"] if base else 1.0
    return (
        f"| {time.strftime('%Y-%m-%d')} | {engine}{extra} | {size}× ({accounts * size:,}) | "
        f"{r['rows']:,} × {r['features']} | {r['validate_s']:.1f} s | {r['build_s']:.1f} s | "
        f"{r['rows'] / r['build_s']:,.0f} | {grow:.2f} | {r['peak_mb']:,.0f} MB ({mem:.1f}×) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 10])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "postgres", "spark"])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/churnhealth-engines"))
    parser.add_argument("--spark-cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--pg-indexes",
        action="store_true",
        help="Index PostgreSQL's dated tables on (account_id, date) after loading them.",
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"load before: {os.getloadavg()[0]:.1f}"
    )
    print(
        "| date | engine | accounts | rows × features | validation | feature build | rows/s "
        "| build time per account vs 1× | peak RSS of Python (vs 1×) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for engine in args.engines:
        base = None
        for size in args.sizes:
            db = company(args.data_dir, args.accounts, size)
            env, extra, server = None, "", None
            if engine == "duckdb":
                url = str(db)
            elif engine == "postgres":
                from tests import servers

                server = servers.start_postgres()
                t0 = time.perf_counter()
                servers.load_company(server, db, analyze=True, indexes=args.pg_indexes)
                extra = f" (tables loaded in {time.perf_counter() - t0:.0f} s, not timed)"
                extra += "; indexed on (account_id, date)" if args.pg_indexes else ""
                url, env = server.url, {"PGPASSWORD": servers.PASSWORD}
            else:
                url = f"spark://local[{args.spark_cores}]?path={parquet_folder(db)}"
            try:
                r = run_one(url, env)
            finally:
                if server:
                    server.stop()
            base = base or r
            print(row(engine, size, args.accounts, r, base, extra), flush=True)


if __name__ == "__main__":
    main()
