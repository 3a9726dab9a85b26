"""`synth --messy`: each defect of a real export, and what churnhealth does with it
(docs/messy-data.md), one at a time against the same company written clean."""

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from churnhealth.data.contract import contract
from churnhealth.data.load import open_validated
from churnhealth.data.mapping import load_mapping
from churnhealth.features.labels import churn_dates
from churnhealth.synth import generate
from tests.conftest import cli, workspace_config

REPO = Path(__file__).resolve().parents[2]
MAPPING = REPO / "configs/examples/messy-demo.yaml"
SEGMENTS = ["enterprise", "mid_market", "smb"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("messy")
    size = dict(accounts=300, years=2, seed=1, truth_paths=20)
    clean = generate(root / "clean.duckdb", **size).path
    res = generate(root / "messy.duckdb", **size, messy=True)
    return clean, res.path, res.defects.set_index(["defect", "table"])


@pytest.fixture(scope="module")
def opened(pair):
    clean, messy, _ = pair
    return (
        open_validated(clean, SEGMENTS),
        open_validated(messy, SEGMENTS, mapping=load_mapping(MAPPING)),
        open_validated(messy, SEGMENTS, mapping=load_mapping(MAPPING), repair=False),
    )


def _rows(path: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.sql(sql).df()


def test_the_relabelled_segment_is_rejected_in_one_line_naming_the_rows(pair, tmp_path):
    _, messy, defects = pair
    r = cli("validate", "--data", str(messy))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    n = defects.loc[("segment relabelled", "accounts"), "rows"]
    assert f"accounts.segment: value outside the allowed set in {n} rows" in line
    assert "segment=Mid-Market" in line


def test_with_the_mapping_every_defect_is_repaired_or_said(pair, tmp_path):
    clean, messy, defects = pair
    cfg = workspace_config(tmp_path, data={"path": str(messy), "sources": str(MAPPING)})
    r = cli("validate", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())  # rich wraps long notes
    twice = defects.xs("exact duplicates", level="defect").rows
    own = _rows(
        clean,
        "select count(*) - (select count(*) from (select distinct * from touchpoints)) n "
        "from touchpoints",
    ).n[0]
    assert f"usage: dropped {twice['usage']:,} exact duplicate rows" in out
    assert f"touchpoints: dropped {twice['touchpoints'] + own:,} exact duplicate rows" in out
    outage = defects.loc[("logging outage", "usage"), "detail"]  # "… from A to B"
    first, last = outage.split(" from ")[1].split(" to ")
    assert f"usage: a logging outage from {first} to {last}" in out
    change = defects.loc[("logging change", "usage"), "detail"].split(" from ")[1].split()[0]
    assert f"usage: a logging change on {change}: events per active user ×" in out
    assert "churn_events:" in out and "days after the coverage ended" in out
    assert "tickets: opened_at, closed_at carry a time zone: converted to UTC" in out
    assert "contacts: absent, its features will be skipped" in out


def test_the_outage_is_filled_for_the_accounts_it_hid(pair, opened):
    _, _, defects = pair
    first, last = (
        defects.loc[("logging outage", "usage"), "detail"].split(" from ")[1].split(" to ")
    )
    spec = contract(SEGMENTS)["usage"]
    month = []
    for source in opened:
        u = source.typed(spec)
        u = u.filter((u.date >= pd.Timestamp(first).date()) & (u.date <= pd.Timestamp(last).date()))
        month.append(u.group_by("account_id").aggregate(users=u.active_users.sum()).execute())
    clean, repaired, raw = (m.set_index("account_id").users for m in month)
    hidden = clean.index.difference(raw.index)
    assert len(hidden) > 30
    # repaired: the hidden accounts have a month of usage again, of the clean month's size
    back = repaired.reindex(hidden).dropna()
    assert len(back) >= 0.8 * len(hidden)
    ratio = back.sum() / clean.reindex(back.index).sum()
    assert 0.8 < ratio < 1.25


def test_the_logging_change_is_rescaled_to_the_new_scale(pair, opened):
    _, _, defects = pair
    change = pd.Timestamp(
        defects.loc[("logging change", "usage"), "detail"].split(" from ")[1][:10]
    )
    spec = contract(SEGMENTS)["usage"]
    totals = []
    for source in opened[:2]:
        u = source.typed(spec)
        u = u.filter(u.date < (change - pd.Timedelta(days=60)).date())  # far from the outage
        totals.append(u.events.sum().execute())
    clean, repaired = totals
    assert abs(repaired / (3 * clean) - 1) < 0.05


def test_ticket_times_in_another_zone_read_as_the_clean_company_s(opened):
    spec = contract(SEGMENTS)["tickets"]
    a, b = (s.typed(spec).order_by("ticket_id").execute() for s in opened[:2])
    pd.testing.assert_series_equal(a.opened_at, b.opened_at, check_dtype=False)
    pd.testing.assert_series_equal(a.closed_at, b.closed_at, check_dtype=False)


def test_late_churn_records_leave_every_churn_date_as_the_clean_company_s(opened):
    spec = contract(SEGMENTS)["subscriptions"]
    dates = [
        churn_dates(s.typed(spec).execute()).sort_values(["account_id", "churn_date"])
        for s in opened[:2]
    ]
    pd.testing.assert_frame_equal(dates[0].reset_index(drop=True), dates[1].reset_index(drop=True))


def test_the_cli_writes_a_messy_folder_and_says_what_it_did(tmp_path):
    out = tmp_path / "messy"
    r = cli("synth", "--messy", "--accounts", "60", "--years", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "Defects written" in text and "logging outage" in text
    defects = pd.read_parquet(out / "defects.parquet")
    assert len(defects) == 8 and (defects.rows > 0).all()
    assert not (out / "contacts.parquet").exists()
    tickets = pd.read_parquet(out / "tickets.parquet")
    assert str(tickets.opened_at.dt.tz) == "Asia/Tokyo"
