"""Features at T read only the rows their windows need, with the same values as reading all.

Built for T alone, each table is cut to the rows dated within its longest window before T, and
`days_since` reads older rows only as each account's latest time. Built together with as-of
dates from the start of the data, every row is read. Every feature at T must be the same —
including `days_since` for accounts whose last activity lies beyond every window.
"""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from churnhealth.config import Config
from churnhealth.data.source import open_source
from churnhealth.features import build_features, data_window
from churnhealth.features.build import lookback
from churnhealth.features.grid import schedule
from churnhealth.features.spec import load_metrics

T = pd.Timestamp("2025-10-01")
QUIET = 20
"""Accounts made quiet: no usage in the 200 days and no attended touchpoint in the 400 days
before T, so their days_since values come from rows outside every window."""


@pytest.fixture(scope="module")
def quiet_company(small_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("window") / "quiet.duckdb"
    shutil.copy(small_db, path)
    with duckdb.connect(str(path)) as con:
        # accounts with usage long before T and still using the product the month before it
        con.execute(f"""CREATE TEMP TABLE quiet AS SELECT account_id FROM (SELECT DISTINCT
            account_id FROM usage WHERE date < DATE '{T.date()}' - INTERVAL 250 DAY
            INTERSECT SELECT DISTINCT account_id FROM usage WHERE date < DATE '{T.date()}'
            AND date >= DATE '{T.date()}' - INTERVAL 30 DAY) ORDER BY account_id LIMIT {QUIET}""")
        con.execute(f"""DELETE FROM usage WHERE account_id IN (SELECT * FROM quiet)
            AND date >= DATE '{T.date()}' - INTERVAL 200 DAY""")
        con.execute(f"""UPDATE touchpoints SET attended = false WHERE account_id IN
            (SELECT * FROM quiet) AND ts >= TIMESTAMP '{T.date()}' - INTERVAL 400 DAY""")
    return path


def test_features_at_t_alone_equal_features_built_from_every_row(quiet_company):
    cfg = Config()
    source = open_source(quiet_company)
    start, _ = data_window(source)
    every = schedule((start + pd.Timedelta(days=1)).date(), T.date(), cfg.features.schedule)
    alone = build_features(source, cfg, dates=[T])
    wide = build_features(source, cfg, dates=every)
    assert len(every) > 20
    cols = list(alone.features)
    assert len(cols) > 30
    got = alone.frame.set_index("account_id")[cols].sort_index()
    want = wide.frame[wide.frame.as_of == T].set_index("account_id")[cols].sort_index()
    pd.testing.assert_frame_equal(got, want)

    windows = lookback(load_metrics(cfg.features.definitions, cfg.data.segments))
    assert windows["usage"] == 180 and windows["touchpoints"] == 365
    beyond_usage = got.usage_days_since_active > windows["usage"]
    beyond_touch = got.eng_days_since_touchpoint > windows["touchpoints"]
    assert beyond_usage.sum() >= QUIET // 2, got.usage_days_since_active.describe()
    assert beyond_touch.sum() >= QUIET // 2, got.eng_days_since_touchpoint.describe()
