"""The health_history table: every score, keyed by (account_id, as_of, model_version).

Kept in a DuckDB file. Writes are upserts in one transaction: re-scoring an as-of date replaces
its rows, never duplicates them, and a failed write changes nothing. The key is kept by the
upsert itself rather than by a primary-key index, which made each write of a 80,000-account
portfolio take seconds instead of a fraction of one. A file that is not a readable history is
reported in one line; it is never overwritten. Concurrent runs are kept apart by the caller
(`predict` holds the history's lock, see `churnhealth.locks`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
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


_CONFIG = {"memory_limit": "512MB"}
"""The store's queries are small next to the scoring around them: what does not fit spills."""


@contextmanager
def connect(path: Path, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the history store (the scores' history, and the CSM overrides and
    alert outcomes kept beside it); one line when the file is not a usable history."""
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=_CONFIG)
    except duckdb.Error as exc:
        raise ChurnhealthError(
            f"predict.history {path}: not a readable DuckDB database "
            f"({str(exc).strip().splitlines()[0][:200]}); move it aside to start a new history"
        ) from None
    try:
        yield con
    finally:
        con.close()


def unusable(path: Path, exc: Exception) -> ChurnhealthError:
    return ChurnhealthError(
        f"predict.history {path}: not a churnhealth health history "
        f"({str(exc).strip().splitlines()[0][:200]}); move it aside to start a new history"
    )


def read(
    path: Path, model_version: str | None = None, account_id: str | None = None
) -> pd.DataFrame:
    """The history's rows (of one model version, of one account, when given), by as-of date
    and account."""
    if not Path(path).exists():
        return pd.DataFrame(columns=COLUMNS).astype(
            {"as_of": "datetime64[s]", "health_score": "int64"}
        )
    where, params = [], []
    for column, value in (("model_version", model_version), ("account_id", account_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    with connect(path, read_only=True) as con:
        try:
            df = con.execute(
                f"SELECT {', '.join(COLUMNS)} FROM health_history "
                f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY as_of, account_id",
                params,
            ).df()
        except duckdb.Error as exc:
            raise unusable(path, exc) from None
    df["as_of"] = pd.to_datetime(df.as_of)
    return df


TREND_COLUMNS = ["health_30d", "health_90d", "n", "t", "h", "th", "tt"]


def trend_inputs(
    path: Path, model_version: str, day: pd.Timestamp, account_id: str | None = None
) -> pd.DataFrame:
    """What the trend of scores at `day` needs from the history, per account (index), computed
    in the store rather than by reading every past row (a daily job on a million accounts
    keeps ~90 million of them for the window alone).

    `health_30d`, `health_90d`: the latest health at least 25 and 85 days before `day` (the
    references of the 30- and 90-day changes); `n`, `t`, `h`, `th`, `tt`: count and sums of
    t, health, t × health and t² over the scores of the 95 days before `day`, t in days from
    `day` (a least-squares slope with today's score added, see `trend`)."""
    empty = pd.DataFrame(columns=TREND_COLUMNS, index=pd.Index([], name="account_id"))
    if not Path(path).exists():
        return empty.astype(float)
    d = pd.Timestamp(day).date()
    one = "AND account_id = ?" if account_id is not None else ""
    window = "FILTER (WHERE as_of >= ?::DATE - 95)"
    sql = f"""
        SELECT account_id,
            arg_max(health_score, as_of) FILTER (WHERE as_of <= ?::DATE - 25) AS health_30d,
            arg_max(health_score, as_of) FILTER (WHERE as_of <= ?::DATE - 85) AS health_90d,
            count(*) {window} AS n,
            sum(t) {window} AS t, sum(h) {window} AS h,
            sum(t * h) {window} AS th, sum(t * t) {window} AS tt
        FROM (SELECT account_id, as_of, health_score, CAST(health_score AS DOUBLE) AS h,
                CAST(as_of - ?::DATE AS DOUBLE) AS t
              FROM health_history WHERE model_version = ? AND as_of < ? {one})
        GROUP BY account_id"""
    params = [d, d, *[d] * 5, d, model_version, d]
    if account_id is not None:
        params.append(account_id)
    with connect(path, read_only=True) as con:
        try:
            df = con.execute(sql, params).df()
        except duckdb.Error as exc:
            raise unusable(path, exc) from None
    return df.set_index("account_id")[TREND_COLUMNS].astype(float)


def points(
    path: Path, model_version: str, accounts: list[str], since: pd.Timestamp, until: pd.Timestamp
) -> pd.DataFrame:
    """The health scores of `accounts` (one model version) dated in [since, until): what a
    trend line of them draws. Filtered in the store, so a large history is never read whole."""
    empty = pd.DataFrame({"account_id": [], "as_of": [], "health_score": []})
    if not Path(path).exists() or not accounts:
        return empty
    with connect(path, read_only=True) as con:
        try:
            con.register("wanted", pd.DataFrame({"account_id": list(accounts)}))
            df = con.execute(
                """SELECT h.account_id, h.as_of, h.health_score FROM health_history h
                   JOIN wanted w USING (account_id)
                   WHERE h.model_version = ? AND h.as_of >= ? AND h.as_of < ?
                   ORDER BY h.account_id, h.as_of""",
                [model_version, pd.Timestamp(since).date(), pd.Timestamp(until).date()],
            ).df()
        except duckdb.Error as exc:
            raise unusable(path, exc) from None
    df["as_of"] = pd.to_datetime(df.as_of)
    return df


@contextmanager
def _writing(path: Path, ddl: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection inside one transaction on a table created by `ddl` when missing: committed
    when the block ends, rolled back (nothing written) when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with connect(path, read_only=False) as con:
        try:
            con.execute(ddl)
        except duckdb.Error as exc:
            raise unusable(path, exc) from None
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise


def upsert(path: Path, scores: pd.DataFrame) -> int:
    """Replace the rows of these (as_of, model_version) pairs with `scores`; returns rows."""
    rows = scores[COLUMNS].assign(as_of=pd.to_datetime(scores.as_of).dt.date)
    if rows.duplicated(["account_id", "as_of", "model_version"]).any():
        raise ValueError("health history: scores repeat an (account_id, as_of, model_version)")
    with _writing(path, _DDL) as con:
        con.register("incoming", rows)
        con.execute("""DELETE FROM health_history h USING (SELECT DISTINCT as_of,
            model_version FROM incoming) i WHERE h.as_of = i.as_of
            AND h.model_version = i.model_version""")
        con.execute("INSERT INTO health_history SELECT * FROM incoming")
    return len(rows)


_SOURCE_DDL = """CREATE TABLE IF NOT EXISTS history_source (
    source VARCHAR NOT NULL, since TIMESTAMP NOT NULL)"""
SAME_ACCOUNTS = 0.8
"""A store whose latest scored accounts are at least this much in the data a run reads (the
same id in the same segment) holds that data's scores, whatever its path (a folder moved, a
DuckDB file copied). Ids alone would not do: companies numbered alike (A00001, …) share them,
and their segments then agree about half the time."""


def check_source(path: Path, source: str, accounts: pd.DataFrame) -> str | None:
    """Refuse (one line) to add the scores of `source` (a `source_label`, whose accounts are
    `accounts`: account_id, segment) to a history holding another data source's; None when the
    store is empty or holds this source's, a note when it holds the same accounts under another
    path.

    The store records its source at its first run; one written before that is judged by its
    accounts alone."""
    if not Path(path).exists():
        return None
    recorded = recorded_source(path)
    if recorded == source:
        return None
    with connect(path, read_only=True) as con:
        try:
            tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
            if "health_history" not in tables:
                return None
            latest = con.execute(
                "SELECT account_id, segment FROM health_history "
                "WHERE as_of = (SELECT max(as_of) FROM health_history)"
            ).df()
            span = con.execute(
                "SELECT count(*), min(as_of), max(as_of) FROM health_history"
            ).fetchone()
        except duckdb.Error as exc:
            raise unusable(path, exc) from None
    if latest.empty:
        return None
    known = set(zip(accounts.account_id, accounts.segment, strict=True))
    pairs = zip(latest.account_id, latest.segment, strict=True)
    shared = float(np.mean([pair in known for pair in pairs]))
    held = recorded or "an unrecorded source"
    if shared >= SAME_ACCOUNTS:
        return (
            f"predict.history {path}: its scores came from {held}; this run reads {source}, "
            f"which holds {shared:.0%} of the accounts it last scored: taken for the same data, "
            "now recorded as the history's source"
        )
    raise ChurnhealthError(
        f"predict.history {path} holds the scores of another data source ({held}: {span[0]:,} "
        f"rows, {span[1]} to {span[2]}; {shared:.0%} of the accounts it last scored are in "
        f"{source}): point predict.history at a store of this source's own (e.g. "
        f"outputs/<name>/history.duckdb), or move the file aside"
    )


def recorded_source(path: Path) -> str | None:
    """The data source the history's scores (and so predict's alert log) came from, if any."""
    if not Path(path).exists():
        return None
    with connect(path, read_only=True) as con:
        try:
            tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
            if "history_source" not in tables:
                return None
            row = con.execute("SELECT source FROM history_source").fetchone()
        except duckdb.Error as exc:
            raise unusable(path, exc) from None
    return None if row is None else row[0]


def record_source(path: Path, source: str) -> None:
    """Record `source` as the history's data source (after `check_source` let it in)."""
    with _writing(path, _SOURCE_DDL) as con:
        con.execute(_DDL)  # a store is never left without its history table
        con.execute("DELETE FROM history_source")
        con.execute("INSERT INTO history_source VALUES (?, now())", [source])


def count(path: Path, model_version: str | None = None) -> int:
    """Rows in the history (of one model version, when given)."""
    if not Path(path).exists():
        return 0
    where = "WHERE model_version = ?" if model_version else ""
    with connect(path, read_only=True) as con:
        try:
            return con.execute(
                f"SELECT count(*) FROM health_history {where}",
                [model_version] if model_version else [],
            ).fetchone()[0]
        except duckdb.Error as exc:
            raise unusable(path, exc) from None


def latest_as_of(path: Path) -> dt.date | None:
    """The latest as-of date the history holds scores for (any model), None when empty: the
    data's today, which lags the clock's when the data is a day or a month old."""
    df = select(path, "health_history", "SELECT max(as_of) AS d FROM health_history")
    if df is None or df.empty or pd.isna(df.d.iloc[0]):
        return None
    return pd.Timestamp(df.d.iloc[0]).date()


def as_of_dates(path: Path, model_version: str) -> set[pd.Timestamp]:
    """The as-of dates the history holds scores of `model_version` for."""
    if not Path(path).exists():
        return set()
    with connect(path, read_only=True) as con:
        try:
            rows = con.execute(
                "SELECT DISTINCT as_of FROM health_history WHERE model_version = ?",
                [model_version],
            ).fetchall()
        except duckdb.Error as exc:
            raise unusable(path, exc) from None
    return {pd.Timestamp(r[0]) for r in rows}


def append(
    path: Path, ddl: str, table: str, row: dict, *, key: tuple[str, ...] = ()
) -> tuple[int, bool]:
    """Append `row` to an audit table of the store (created by `ddl` when missing), numbered
    by its `seq` column in one transaction; rows are never updated or deleted. Returns the
    row's seq and whether it was written: when the latest row with the same `key` columns
    holds the same values (all but `recorded_at`), the call is a retry and writes nothing.
    The caller holds the history's lock."""
    with _writing(path, ddl) as con:
        if key:
            same = [c for c in row if c != "recorded_at"]
            latest = con.execute(
                f"SELECT seq, {', '.join(f'{c} IS NOT DISTINCT FROM ?' for c in same)} "
                f"FROM {table} WHERE {' AND '.join(f'{c} = ?' for c in key)} "
                "ORDER BY seq DESC LIMIT 1",
                [*(row[c] for c in same), *(row[c] for c in key)],
            ).fetchone()
            if latest is not None and all(latest[1:]):
                return int(latest[0]), False
        seq = con.execute(f"SELECT coalesce(max(seq), 0) + 1 FROM {table}").fetchone()[0]
        cols = ["seq", *row]
        con.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [seq, *row.values()],
        )
    return int(seq), True


def select(path: Path, table: str, sql: str, params: list | None = None) -> pd.DataFrame | None:
    """The result of `sql` on the store, or None when the store or `table` does not exist yet."""
    if not Path(path).exists():
        return None
    with connect(path, read_only=True) as con:
        try:
            known = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
            ).fetchone()[0]
            return con.execute(sql, params or []).df() if known else None
        except duckdb.Error as exc:
            raise unusable(path, exc) from None


def scored(path: Path, account_id: str) -> bool:
    """Whether `account_id` has ever been scored into the history (by any model)."""
    df = select(
        path,
        "health_history",
        "SELECT 1 FROM health_history WHERE account_id = ? LIMIT 1",
        [account_id],
    )
    return df is not None and len(df) > 0


def trend(scores: pd.DataFrame, inputs: pd.DataFrame, band: float) -> pd.DataFrame:
    """Changes over 30 and 90 days, momentum and a 90-day projection from the history.

    `inputs`: per account (index) the history's summary before the as-of date
    (`scoring.history.trend_inputs`): the references of the 30- and 90-day changes (the latest
    health at least 25 and 85 days back) and the least-squares sums over the last 95 days.
    Momentum is stable while the 30-day change stays within ± `band`, and "new" for an account
    without a score 25 days back or more: no trend is claimed that the history has not seen.
    The projection extends the slope of those 95 days' health, today's included, by 90 days.
    """
    out = pd.DataFrame(index=scores.index)
    past = inputs.reindex(scores.account_id.to_numpy())
    health = scores.health_score.to_numpy(float)
    for days in (30, 90):
        out[f"health_change_{days}d"] = health - past[f"health_{days}d"].to_numpy(float)
    change = out.health_change_30d
    out["momentum"] = np.select(
        [change > band, change < -band], ["improving", "declining"], "stable"
    )
    out.loc[change.isna(), "momentum"] = "new"
    sums = past[["n", "t", "h", "th", "tt"]].fillna(0.0).to_numpy(float)
    n, t, h, th, tt = sums.T
    n, h = n + 1, h + health  # today's score: t = 0 adds nothing to t, th and tt
    denom = n * tt - t**2
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(denom > 0, (n * th - t * h) / denom, 0.0)
    projected = health + 90 * slope
    out["projected_health_90d"] = np.clip(projected, 0, 100).round().astype(int)
    return out
