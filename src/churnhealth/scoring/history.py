"""The health_history table: every score, keyed by (account_id, as_of, model_version).

Kept in a DuckDB file. Writes are upserts in one transaction: re-scoring an as-of date replaces
its rows, never duplicates them, and a failed write changes nothing. The key is kept by the
upsert itself rather than by a primary-key index, which made each write of a 80,000-account
portfolio take seconds instead of a fraction of one.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

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


def read(path: Path, model_version: str | None = None) -> pd.DataFrame:
    if not Path(path).exists():
        return pd.DataFrame(columns=COLUMNS).astype(
            {"as_of": "datetime64[s]", "health_score": "int64"}
        )
    with duckdb.connect(str(path), read_only=True) as con:
        where = "WHERE model_version = ?" if model_version else ""
        df = con.execute(
            f"SELECT * FROM health_history {where} ORDER BY as_of, account_id",
            [model_version] if model_version else [],
        ).df()
    df["as_of"] = pd.to_datetime(df.as_of)
    return df


def upsert(path: Path, scores: pd.DataFrame) -> int:
    """Replace the rows of these (as_of, model_version) pairs with `scores`; returns rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = scores[COLUMNS].assign(as_of=pd.to_datetime(scores.as_of).dt.date)
    if rows.duplicated(["account_id", "as_of", "model_version"]).any():
        raise ValueError("health history: scores repeat an (account_id, as_of, model_version)")
    with duckdb.connect(str(path)) as con:
        con.execute(_DDL)
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
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT count(*) FROM health_history").fetchone()[0]
