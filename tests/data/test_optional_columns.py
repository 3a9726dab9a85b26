"""Issue 3.5 point 4: what an export often lacks is optional. Without accounts.arr the ARR is
the subscriptions' (it always was); without usage.active_users the features that count users
are skipped with a note, and every other feature is the same."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd

from churnhealth.config import Config
from churnhealth.data.load import check, open_validated
from churnhealth.features import build_features
from churnhealth.jobs.doctor import diagnose

SEGMENTS = Config().data.segments


def test_an_export_without_account_arr_or_active_users_reads_and_says_what_it_skips(
    small_db, tmp_path
):
    data = tmp_path / "lean.duckdb"
    shutil.copy(small_db, data)
    with duckdb.connect(str(data)) as con:
        con.execute("ALTER TABLE accounts DROP COLUMN arr")
        con.execute("ALTER TABLE usage DROP COLUMN active_users")
    report = check(data, SEGMENTS)
    assert not any("arr" in n or "active_users" in n for n in report.notes)
    full = build_features(open_validated(small_db, SEGMENTS), Config())
    lean = build_features(open_validated(data, SEGMENTS), Config())
    gone = set(full.features) - set(lean.features)
    assert {"usage_license_share_30d", "usage_license_share_180d"} <= gone
    assert gone and all(f.startswith("usage_") for f in gone)
    (note,) = [n for n in lean.notes if n.startswith("usage.active_users: absent, so ")]
    assert "usage features are skipped" in note
    # every feature that does not count users is the same, and so is the ARR
    keys = ["account_id", "as_of"]
    same = [c for c in lean.features if c in full.features]
    a = full.frame.sort_values(keys).reset_index(drop=True)
    b = lean.frame.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[keys + same + ["arr"]], b[keys + same + ["arr"]])
    d = diagnose(
        Config().model_copy(update={"data": Config().data.model_copy(update={"path": data})})
    )
    skipped = d.features[d.features.enable == "add column usage.active_users"]
    assert set(skipped.feature) == {f for f in gone if f in set(d.features.feature)}
    assert (skipped.status == "skipped").all() and len(skipped)
