"""Real servers for the tests: a private, throw-away PostgreSQL cluster on a loopback port.

Never a system cluster: `initdb` into a temporary folder, `pg_ctl start` with its own port and
socket folder, listening on 127.0.0.1 only, fsync off; password authentication, so the tests
exercise how churnhealth receives a password (PGPASSWORD) and prove it never shows it. As root
the server runs as the `postgres` user (PostgreSQL refuses root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg

from churnhealth.data.contract import contract

USER = "churn"
PASSWORD = "pl4nted-Secret-7f3a"  # the tests grep every output for it
INSTALL = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
    "(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) or put their "
    "folder on PATH — .ci/run installs them"
)
_PG_TYPES = {
    "VARCHAR": "text",
    "DATE": "date",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TINYINT": "smallint",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
}


def _pg_type(duck: str) -> str:
    """The PostgreSQL type for a DuckDB column type (TIMESTAMP_S, _MS, _NS are timestamps)."""
    if duck.startswith("TIMESTAMP"):
        return "timestamptz" if "TIME ZONE" in duck else "timestamp"
    if duck not in _PG_TYPES:
        raise ValueError(f"no PostgreSQL type for DuckDB's {duck}")
    return _PG_TYPES[duck]


def _bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )
    if not found:
        raise RuntimeError(INSTALL)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Postgres:
    root: Path
    port: int
    owner: str | None

    @property
    def url(self) -> str:
        """The URL a user would configure: no password (it comes from PGPASSWORD)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = ["runuser", "-u", self.owner, "--", *args] if self.owner else list(args)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr.strip()[-500:]}")

    def stop(self) -> None:
        """Stop the server and delete the cluster."""
        try:
            self._run(_bin("pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=USER, password=PASSWORD, dbname="postgres"
        )


def start_postgres() -> Postgres:
    """Create and start a cluster in a new folder under the system's temporary folder (one the
    `postgres` user can reach, unlike pytest's); the caller stops it."""
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="churnhealth-pg-"))
    server = Postgres(root, _free_port(), owner)
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if owner:
        shutil.chown(root, owner)
        shutil.chown(pwfile, owner)
    server._run(
        _bin("initdb"),
        "-D",
        str(root / "data"),
        "-U",
        USER,
        f"--pwfile={pwfile}",
        "-A",
        "scram-sha-256",
        "-E",
        "UTF8",
        "--no-sync",
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {server.port} -k {root} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    server._run(
        _bin("pg_ctl"),
        "-D",
        str(root / "data"),
        "-o",
        options,
        "-l",
        str(root / "log"),
        "-w",
        "start",
    )
    return server


def load_company(
    server: Postgres,
    db: Path,
    schema: str = "public",
    analyze: bool = False,
    indexes: bool = False,
) -> None:
    """Copy every table of the DuckDB file `db` into `schema` (COPY from CSV: seconds); with
    `indexes`, index each dated table on (account_id, its date); with `analyze`, gather the
    planner's statistics afterwards, as a live database has them."""
    src = duckdb.connect(str(db), read_only=True)
    tmp = server.root / "csv"
    tmp.mkdir(exist_ok=True)
    if server.owner:
        shutil.chown(tmp, server.owner)
    with server.connect() as pg, pg.cursor() as cur:
        cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for (name,) in src.sql("SELECT table_name FROM information_schema.tables").fetchall():
            cols = src.sql(f'DESCRIBE "{name}"').fetchall()
            ddl = ", ".join(f'"{c[0]}" {_pg_type(c[1])}' for c in cols)
            cur.execute(f'DROP TABLE IF EXISTS "{schema}"."{name}"')
            cur.execute(f'CREATE TABLE "{schema}"."{name}" ({ddl})')
            path = tmp / f"{name}.csv"
            src.sql(f"COPY \"{name}\" TO '{path}' (HEADER, DELIMITER ',')")
            with (
                path.open("rb") as f,
                cur.copy(f'COPY "{schema}"."{name}" FROM STDIN (FORMAT csv, HEADER true)') as copy,
            ):
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            path.unlink()
        if indexes:
            loaded = {
                r[0] for r in src.sql("SELECT table_name FROM information_schema.tables").fetchall()
            }
            for name, spec in contract(["enterprise", "mid_market", "smb"]).items():
                if name in loaded and spec.time and "account_id" in [c.name for c in spec.columns]:
                    cur.execute(
                        f'CREATE INDEX IF NOT EXISTS "{name}_account_time" '
                        f'ON "{schema}"."{name}" (account_id, "{spec.time}")'
                    )
        pg.commit()
    if analyze:
        with server.connect() as pg:
            pg.autocommit = True
            pg.execute("ANALYZE")
    src.close()
