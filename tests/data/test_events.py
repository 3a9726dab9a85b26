"""Raw event logs: the daily usage table derived from them exactly, distinct users counted
exactly over a window (what a daily table cannot do), nothing after T seen at T."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from churnhealth.config import Config
from churnhealth.data.load import open_validated
from churnhealth.features import build_features
from churnhealth.jobs.doctor import diagnose
from churnhealth.synth import generate

SEGMENTS = Config().data.segments
T = pd.Timestamp("2024-07-01")


def raw_events(usage: pd.DataFrame) -> pd.DataFrame:
    """One row per event from daily rows, scaled down: a day's a users become max(1, a // 20)
    distinct users (ids cycling through a pool per account, so a month sees more users than a
    day), each acting once, plus `events % 3` more events by the day's first user."""
    u = usage.sort_values(["account_id", "date", "feature"]).reset_index(drop=True)
    users = np.maximum(1, u.active_users.to_numpy() // 20)
    extra = u.events.to_numpy() % 3
    n = users + extra
    row = np.repeat(np.arange(len(u)), n)
    k = np.arange(len(row)) - np.repeat(np.cumsum(n) - n, n)  # event index within its row
    day = pd.to_datetime(u.date).to_numpy()
    day_no = (day - day.min()).astype("timedelta64[D]").astype(int)
    slot = np.where(k < users[row], k, 0)
    pool = 3 * users.max()
    user = (day_no[row] * 7 + slot) % pool
    return pd.DataFrame(
        {
            "account_id": u.account_id.to_numpy()[row],
            "ts": day[row] + (9 * 3600 + k * 61).astype("timedelta64[s]"),
            "event": u.feature.to_numpy()[row],
            "user_id": np.char.add("U", user.astype(str)),
            "value": np.nan,
        }
    )


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """40 accounts over a year whose usage comes as raw events only."""
    folder = tmp_path_factory.mktemp("events")
    path = folder / "events.duckdb"
    generate(path, accounts=40, years=1, seed=5, truth_paths=5)
    with duckdb.connect(str(path)) as con:
        events = raw_events(con.table("usage").df())
        con.execute("DROP TABLE usage")
        con.register("_e", events)
        con.execute("CREATE TABLE events AS SELECT * FROM _e")
    return path, events


def test_usage_is_derived_from_the_events_exactly(company):
    path, events = company
    source = open_validated(path, SEGMENTS)
    assert source.notes[-1] == (
        f"usage: derived from {len(events):,} raw events (distinct users and events per "
        "account, day and event name)"
    )
    got = source.tables["usage"].to_pandas().sort_values(["account_id", "date", "feature"])
    e = events.assign(date=events.ts.dt.normalize(), feature=events.event)
    want = (
        e.groupby(["account_id", "date", "feature"])
        .agg(active_users=("user_id", "nunique"), events=("user_id", "size"))
        .reset_index()
    )
    assert len(got) == len(want)
    np.testing.assert_array_equal(got.active_users.to_numpy(), want.active_users.to_numpy())
    np.testing.assert_array_equal(got.events.to_numpy(), want.events.to_numpy())
    assert (pd.to_datetime(got.date).to_numpy() == want.date.to_numpy()).all()


def test_distinct_users_over_a_month_are_counted_exactly(company):
    path, events = company
    fs = build_features(open_validated(path, SEGMENTS), Config(), dates=[T])
    f = fs.frame.set_index("account_id")
    seen = events[(events.ts >= T - pd.Timedelta(days=30)) & (events.ts < T)]
    users = seen.groupby("account_id").user_id.nunique()
    want = (users.reindex(f.index).fillna(0) / f.licenses).rename("usage_user_share_30d")
    pd.testing.assert_series_equal(f.usage_user_share_30d, want)
    # the month's users exceed the busiest day's: what the sum or max of daily rows cannot say
    assert (users.reindex(f.index).fillna(0) >= f.usage_peak_users_30d).all()
    assert (users.reindex(f.index).fillna(0) > f.usage_peak_users_30d).mean() > 0.5


def test_events_from_t_on_change_nothing_at_t(company, tmp_path):
    path, _ = company
    later = tmp_path / "later.duckdb"
    shutil.copy(path, later)
    with duckdb.connect(str(later)) as con:
        n = con.execute(f"DELETE FROM events WHERE ts >= TIMESTAMP '{T}'").fetchone()[0]
    assert n > 0

    def at_t(p: Path) -> pd.DataFrame:
        fs = build_features(open_validated(p, SEGMENTS), Config(), dates=[T])
        return fs.frame.set_index("account_id")[list(fs.features)].sort_index()

    pd.testing.assert_frame_equal(at_t(later), at_t(path))


def test_the_doctor_sees_every_usage_feature(company):
    d = diagnose(Config(), company[0])
    assert (d.features.status == "computed").all(), d.features[d.features.status != "computed"]
    derived = f"usage: derived from {len(company[1]):,} raw events"
    assert any(n.startswith(derived) for n in d.notes), d.notes


def test_events_keyed_by_user_take_the_account_in_force_at_each_event(company, tmp_path):
    """Issue 3.5 point 3: a product-analytics export keyed by user (no account on the event)
    reads through identify records (user → account, since when) as of each event, so a user
    who moved to another account counts for the old one before and the new one after; the
    derived usage equals that of the same events carrying their accounts."""
    import yaml

    from churnhealth.data.mapping import load_mapping

    path, events = company
    e = events.assign(user_id=events.account_id + ":" + events.user_id.astype(str))
    mover = e.user_id.value_counts().index[0]
    old = e.account_id[e.user_id == mover].iloc[0]
    new = next(a for a in e.account_id.unique() if a != old)
    moved_at = e.ts[e.user_id == mover].sort_values().iloc[len(e[e.user_id == mover]) // 2]
    direct = e.copy()
    direct.loc[(direct.user_id == mover) & (direct.ts >= moved_at), "account_id"] = new
    folder = tmp_path / "export"
    folder.mkdir()
    with duckdb.connect(str(path), read_only=True) as con:
        for (name,) in con.execute("SHOW TABLES").fetchall():
            if name not in ("events", "truth"):
                con.table(name).df().to_parquet(folder / f"{name}.parquet")
    direct.drop(columns="account_id").to_parquet(folder / "tracks.parquet")
    users = e.groupby("user_id").account_id.first().reset_index()
    identify = pd.concat(
        [
            users.assign(since=pd.Timestamp("2000-01-01")),
            pd.DataFrame({"user_id": [mover], "account_id": [new], "since": [moved_at]}),
        ]
    )
    identify.to_csv(folder / "identify.csv", index=False)
    mapping = {
        "tables": {
            "events": {
                "from": "tracks.parquet",
                "lookup": {
                    "from": "identify.csv",
                    "on": "user_id",
                    "take": ["account_id"],
                    "at": {"ts": "since"},
                },
            }
        }
    }
    m = tmp_path / "segment.yaml"
    m.write_text(yaml.safe_dump(mapping))
    want_db = tmp_path / "direct.duckdb"
    shutil.copy(path, want_db)
    with duckdb.connect(str(want_db)) as con:
        con.register("_e", direct)
        con.execute("CREATE OR REPLACE TABLE events AS SELECT * FROM _e")
    keys = ["account_id", "date", "feature"]

    def usage(source) -> pd.DataFrame:
        u = source.tables["usage"].to_pandas()
        return u.sort_values(keys).reset_index(drop=True)[[*keys, "active_users", "events"]]

    got = usage(open_validated(folder, SEGMENTS, mapping=load_mapping(m)))
    want = usage(open_validated(want_db, SEGMENTS))
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert (got.account_id == new).any() and len(got) == len(want)
