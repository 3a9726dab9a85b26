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
