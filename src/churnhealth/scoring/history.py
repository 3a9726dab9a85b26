"""The health_history table: every score, keyed by (account_id, as_of, model_version).

Kept in a DuckDB file. Writes are upserts in one transaction: re-scoring an as-of date replaces
its rows, never duplicates them, and a failed write changes nothing. The key is kept by the
upsert itself rather than by a primary-key index, which made each write of a 80,000-account
portfolio take seconds instead of a fraction of one. A file that is not a readable history is
reported in one line; it is never overwritten. Concurrent runs are kept apart by the caller
(`predict` holds the history's lock, see `churnhealth.locks`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from churnhealth.errors import ChurnhealthError

COLUMNS = [
    "account_id",
    "as_of",
    "model_version",
    "segment",
    "churn_probability",
    "health_score",
    "tier",
    "arr",
]
_DDL = """CREATE TABLE IF NOT EXISTS health_history (
    account_id VARCHAR NOT NULL, as_of DATE NOT NULL, model_version VARCHAR NOT NULL,
    segment VARCHAR, churn_probability DOUBLE, health_score INTEGER, tier VARCHAR,
    arr DOUBLE)"""


@contextmanager
def _connect(path: Path, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the history store; one line when the file is not a usable history."""
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise ChurnhealthError(
            f"predict.history {path}: not a readable DuckDB database "
            f"({str(exc).strip().splitlines()[0][:200]}); move it aside to start a new history"
        ) from None
    try:
        yield con
    finally:
        con.close()


def _unusable(path: Path, exc: Exception) -> ChurnhealthError:
    return ChurnhealthError(
        f"predict.history {path}: not a churnhealth health history "
        f"({str(exc).strip().splitlines()[0][:200]}); move it aside to start a new history"
    )


def read(path: Path, model_version: str | None = None) -> pd.DataFrame:
    """The history's rows (of one model version, when given), by as-of date and account."""
    if not Path(path).exists():
        return pd.DataFrame(columns=COLUMNS).astype(
            {"as_of": "datetime64[s]", "health_score": "int64"}
        )
    with _connect(path, read_only=True) as con:
        where = "WHERE model_version = ?" if model_version else ""
        try:
            df = con.execute(
                f"SELECT {', '.join(COLUMNS)} FROM health_history {where} "
                "ORDER BY as_of, account_id",
                [model_version] if model_version else [],
            ).df()
        except duckdb.Error as exc:
            raise _unusable(path, exc) from None
    df["as_of"] = pd.to_datetime(df.as_of)
    return df


def upsert(path: Path, scores: pd.DataFrame) -> int:
    """Replace the rows of these (as_of, model_version) pairs with `scores`; returns rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = scores[COLUMNS].assign(as_of=pd.to_datetime(scores.as_of).dt.date)
    if rows.duplicated(["account_id", "as_of", "model_version"]).any():
        raise ValueError("health history: scores repeat an (account_id, as_of, model_version)")
    with _connect(path, read_only=False) as con:
        try:
            con.execute(_DDL)
        except duckdb.Error as exc:
            raise _unusable(path, exc) from None
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("incoming", rows)
            con.execute("""DELETE FROM health_history h USING (SELECT DISTINCT as_of,
                model_version FROM incoming) i WHERE h.as_of = i.as_of
                AND h.model_version = i.model_version""")
            con.execute("INSERT INTO health_history SELECT * FROM incoming")
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return len(rows)


def count(path: Path) -> int:
    if not Path(path).exists():
        return 0
    with _connect(path, read_only=True) as con:
        return con.execute("SELECT count(*) FROM health_history").fetchone()[0]
