"""Source mappings: the demo company exported in two other shapes (the shipped examples) reads
back, through the mapping alone, into exactly the same features; problems are said in the
export's own names; a bad mapping is one line."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from churnhealth.data.load import check, open_validated
from churnhealth.data.mapping import load_mapping
from churnhealth.data.source import open_source
from churnhealth.errors import ConfigError, DataError
from tests.conftest import champion_or_forced, cli, workspace_config
from tests.data.conftest import SEGMENTS, features

ROOT = Path(__file__).resolve().parents[2]
CRM = ROOT / "configs/examples/crm-export.yaml"
WAREHOUSE = ROOT / "configs/examples/warehouse-tables.yaml"
TIER = {"enterprise": "Enterprise", "mid_market": "Growth", "smb": "Starter"}
PERIOD = {1: "monthly", 12: "annual", 24: "biennial", 36: "triennial"}


def day_first(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).dt.strftime("%d/%m/%Y")


def crm_export(small: dict[str, pd.DataFrame], folder: Path) -> Path:
    """The company as the CRM example's files: other names, day-first dates, tiers and billing
    periods instead of segments and months, two internal test accounts."""
    folder.mkdir()
    a = small["accounts"]
    customers = pd.DataFrame(
        {
            "customer_id": a.account_id,
            "company": a["name"],
            "tier": a.segment.map(TIER),
            "sector": a.industry,
            "signup": day_first(a.created_at),
            "seats": a.licenses,
            "annual_value": a.arr,
            "owner": a.csm_owner,
            "is_test": False,
        }
    )
    tests = customers.head(2).assign(customer_id=["TEST1", "TEST2"], tier="Internal", is_test=True)
    pd.concat([customers, tests]).to_csv(folder / "customers.csv", index=False)
    s = small["subscriptions"]
    pd.DataFrame(
        {
            "contract_id": s.subscription_id,
            "customer": s.account_id,
            "start": day_first(s.start_date),
            "billing_period": s.term_months.map(PERIOD),
            "end": day_first(s.end_date).where(s.end_date.notna(), ""),
            "value": s.arr,
            "product": s.plan,
            "seats": s.licenses,
        }
    ).to_csv(folder / "contracts.csv", index=False)
    small["usage"].rename(
        columns={
            "account_id": "acct",
            "date": "day",
            "feature": "module",
            "active_users": "users",
            "events": "actions",
        }
    ).to_parquet(folder / "daily_usage.parquet")
    t = small["touchpoints"]
    t.assign(
        type=t.kind.map(lambda k: "QBR" if k == "qbr" else k.capitalize()),
        outcome=t.attended.map({True: "answered", False: "no answer"}),
    ).rename(columns={"account_id": "account", "ts": "logged_at"})[
        ["account", "logged_at", "type", "outcome"]
    ].to_parquet(folder / "activities.parquet")
    for name in ("surveys", "tickets", "contacts", "invoices", "churn_events"):
        small[name].to_parquet(folder / f"{name}.parquet")
    return folder


def warehouse(small: dict[str, pd.DataFrame], path: Path) -> Path:
    """The company as the warehouse example's tables in a DuckDB file."""
    code = {"enterprise": "ENT", "mid_market": "MM", "smb": "SMB"}
    urgency = {"p1": "urgent", "p2": "high", "p3": "normal", "p4": "low"}
    frames = {
        "dim_customer": small["accounts"]
        .assign(customer_segment=lambda d: d.segment.map(code))
        .rename(
            columns={
                "account_id": "customer_key",
                "created_at": "first_contract_date",
                "csm_owner": "csm_email",
            }
        )
        .drop(columns=["segment", "industry"]),
        "fct_contract": small["subscriptions"]
        .rename(
            columns={
                "subscription_id": "contract_key",
                "account_id": "customer_key",
                "start_date": "valid_from",
                "end_date": "valid_to",
                "arr": "arr_usd",
                "licenses": "seat_count",
            }
        )
        .drop(columns=["plan"]),
        "fct_feature_usage_daily": small["usage"].rename(
            columns={
                "account_id": "customer_key",
                "date": "usage_date",
                "feature": "feature_name",
                "active_users": "daily_active_users",
                "events": "event_count",
            }
        ),
        "fct_support_ticket": small["tickets"]
        .assign(priority=lambda d: d.priority.map(urgency))
        .rename(columns={"account_id": "customer_key", "ticket_id": "ticket_key"}),
    }
    for name in ("touchpoints", "surveys", "contacts", "invoices", "churn_events"):
        frames[name] = small[name]
    with duckdb.connect(str(path)) as con:
        for name, df in frames.items():
            con.register("_df", df)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _df")
            con.unregister("_df")
    return path


@pytest.mark.parametrize("shape", ["crm", "warehouse"])
def test_the_examples_read_the_company_back_exactly(small, expected, tmp_path, shape):
    if shape == "crm":
        path, mapping = crm_export(small, tmp_path / "exports"), load_mapping(CRM)
    else:
        path, mapping = warehouse(small, tmp_path / "warehouse.duckdb"), load_mapping(WAREHOUSE)
    got = features(open_validated(path, SEGMENTS, mapping=mapping))
    pd.testing.assert_frame_equal(got, expected)


def test_validate_and_doctor_run_through_the_mapping(small, tmp_path):
    path = crm_export(small, tmp_path / "exports")
    config = workspace_config(tmp_path, data={"path": str(path), "sources": str(CRM)})
    res = cli("validate", "--config", str(config), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"OK {path}: accounts 300 ")
    res = cli("doctor", "--config", str(config), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ready to train")
    # issue 3.5 point 5: --sources on the command line, and the suggested command repeats it
    # (from the repository: the default configuration's relative paths; doctor writes nothing)
    res = cli("doctor", "--data", str(path), "--sources", str(CRM), cwd=ROOT)
    assert res.returncode == 0, res.stderr
    flat = " ".join(res.stdout.split())
    assert flat.startswith(f"ready to train: `churnhealth train --data {path} --sources {CRM}`")
    res = cli("validate", "--data", str(path), "--sources", str(tmp_path / "nope.yaml"), cwd=ROOT)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip() == (
        f"config error: --sources {tmp_path / 'nope.yaml'}: no such source mapping file"
    )


def test_problems_are_said_in_the_export_s_names(small, tmp_path):
    path = crm_export(small, tmp_path / "exports")
    customers = pd.read_csv(path / "customers.csv")
    customers.loc[5, "tier"] = "Platinum"
    customers.loc[7, "signup"] = "31/02/2024"
    customers.to_csv(path / "customers.csv", index=False)
    with pytest.raises(DataError) as err:
        check(path, SEGMENTS, mapping=load_mapping(CRM))
    (line,) = err.value.problems
    assert line == (
        "customers.csv: signup (accounts.created_at): not a date in the format %d/%m/%Y in 1 "
        "row; e.g. 31/02/2024"
    )
    customers.loc[7, "signup"] = "28/02/2024"
    customers.to_csv(path / "customers.csv", index=False)
    with pytest.raises(DataError) as err:
        check(path, SEGMENTS, mapping=load_mapping(CRM))
    (line,) = err.value.problems
    assert line.startswith(
        "customers.csv: tier (accounts.segment): value outside the allowed set in 1 row"
    ), line
    assert "Platinum" in line


def test_a_bad_mapping_is_one_line_per_problem(tmp_path, small_db):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "tables": {
                    "accounts": {"from": "accounts", "columns": {"segmnt": "tier"}},
                    "customers": {"from": "x.csv"},
                }
            }
        )
    )
    with pytest.raises(ConfigError) as err:
        load_mapping(bad)
    assert len(err.value.problems) == 2
    assert any("tables.customers: not a contract table" in p for p in err.value.problems)
    assert any(
        "tables.accounts.columns.segmnt: not a column of accounts" in p for p in err.value.problems
    )
    typo = tmp_path / "typo.yaml"
    typo.write_text(
        yaml.safe_dump(
            {"tables": {"accounts": {"from": "accounts", "columns": {"segment": "tier"}}}}
        )
    )
    with pytest.raises(DataError) as err:
        open_source(small_db, load_mapping(typo))
    (line,) = err.value.problems
    assert line.startswith("accounts: no column tier (for accounts; it has account_id, name, ")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such source mapping file"),
        (bytes(range(256)) * 4, "not a readable YAML file"),
        (b"tables: [unclosed", "not a readable YAML file"),
        (b"tables: {accounts: {from: a.csv, colums: {}}}", "tables.accounts.colums: Extra inputs"),
    ],
    ids=["missing", "binary", "corrupt", "bad-key"],
)
def test_a_bad_mapping_file_is_one_line_exit_2_and_nothing_written(
    tmp_path, small_db, content, expected
):
    mapping = tmp_path / "sources.yaml"
    if content is not None:
        mapping.write_bytes(content)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": {"sources": str(mapping)}}))
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in ("validate", "doctor"):
        res = cli(command, "--data", str(small_db), "--config", str(config), cwd=tmp_path)
        assert res.returncode == 2, res.stderr
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"config error: {mapping}: ")
        assert expected in lines[0] and "Traceback" not in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.slow  # trains and scores: end to end, in `make test` but not `make test-fast`
def test_train_and_predict_read_the_export_through_the_mapping_alone(small, tmp_path):
    """The 2-year company as the CRM's files: `train` and `predict` with the default
    configuration plus the mapping (and a workspace of its own, a small search)."""
    path = crm_export(small, tmp_path / "exports")
    config = workspace_config(
        tmp_path,
        data={"path": str(path), "sources": str(CRM)},
        train={"tuning": {"trials": 1}},
    )
    res = cli("train", "--config", str(config), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Registered churnhealth v1" in " ".join(res.stdout.split())
    champion_or_forced(res, config, cwd=tmp_path)
    res = cli("predict", "--config", str(config), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    (written,) = (tmp_path / "outputs").glob("scores-*.parquet")
    scores = pd.read_parquet(written)
    active = small["subscriptions"].end_date.isna()
    assert set(scores.account_id) <= set(small["accounts"].account_id)
    assert len(scores) >= active.sum() * 0.9 and scores.health_score.between(0, 100).all()
    assert not scores.account_id.str.startswith("TEST").any()


def test_local_times_are_read_in_their_declared_zone(small, tmp_path):
    """Naive times written in New York (UTC−5 in January, −4 in July) come out in UTC; times
    that carry their own offset need no declaration and refuse one."""
    tk = small["tickets"].head(200).copy()
    utc = pd.to_datetime(tk.opened_at)
    local = utc.dt.tz_localize("UTC").dt.tz_convert("America/New_York").dt.tz_localize(None)
    folder = tmp_path / "export"
    folder.mkdir()
    tk.assign(opened_at=local.dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
        folder / "support.csv", index=False
    )
    tk.assign(opened_at=utc.dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo")).to_parquet(
        folder / "zoned.parquet", index=False
    )
    for name in ("accounts", "subscriptions"):
        small[name].to_csv(folder / f"{name}.csv", index=False)
    m = tmp_path / "m.yaml"
    spec = {"from": "support.csv", "dates": {"opened_at": "%Y-%m-%d %H:%M:%S"}}
    m.write_text(
        yaml.safe_dump(
            {"tables": {"tickets": {**spec, "timezones": {"opened_at": "America/New_York"}}}}
        )
    )
    got = open_source(folder, load_mapping(m)).tables["tickets"].execute()
    assert (pd.to_datetime(got.opened_at) == utc.to_numpy()).all()
    assert not (local == utc).all()  # the declaration did something
    m.write_text(
        yaml.safe_dump(
            {
                "tables": {
                    "tickets": {"from": "zoned.parquet", "timezones": {"opened_at": "Asia/Tokyo"}}
                }
            }
        )
    )
    with pytest.raises(DataError, match="carry a time zone already"):
        open_source(folder, load_mapping(m))
    m.write_text(yaml.safe_dump({"tables": {"tickets": {"from": "zoned.parquet"}}}))
    report = check(folder, ["enterprise", "mid_market", "smb"], mapping=load_mapping(m))
    assert "tickets: opened_at carry a time zone: converted to UTC" in " ".join(report.notes)


@pytest.mark.parametrize(
    ("zones", "expected"),
    [
        ({"opened_at": "Mars/Olympus"}, "timezones: opened_at: 'Mars/Olympus' is not a time zone"),
        ({"priority": "UTC"}, "tables.tickets.timezones.priority: not a timestamp column"),
        ({"opend_at": "UTC"}, "tables.tickets.timezones.opend_at: not a column of tickets"),
    ],
)
def test_a_bad_time_zone_is_one_line(tmp_path, zones, expected):
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump({"tables": {"tickets": {"from": "t.csv", "timezones": zones}}}))
    with pytest.raises(ConfigError) as err:
        load_mapping(m)
    (line,) = err.value.problems
    assert expected in line


def by_subscription(small: dict[str, pd.DataFrame], folder: Path) -> Path:
    """The company with its usage kept per seat block, not per account (as product analytics
    keyed by subscription keep it): each day's row of an account split over two blocks of the
    account, events divided between them, each block seeing the account's active users; a
    file of blocks says which account each belongs to. Three usage rows name no block. The
    other tables are as they are."""
    folder.mkdir()
    u = small["usage"]
    half = u.events // 2
    a = u.assign(block=u.account_id + "-a", events=half)
    b = u.assign(block=u.account_id + "-b", events=u.events - half)
    stray = u.head(3).assign(block="nobody")
    pd.concat([a, b, stray]).drop(columns="account_id").to_parquet(folder / "usage_blocks.parquet")
    ids = small["accounts"].account_id
    pd.DataFrame({"block_id": [*(ids + "-a"), *(ids + "-b")], "account_id": [*ids, *ids]}).to_csv(
        folder / "blocks.csv", index=False
    )
    for name, df in small.items():
        if name not in ("usage", "truth"):
            df.to_parquet(folder / f"{name}.parquet")
    return folder


BLOCKS = {
    "tables": {
        "usage": {
            "from": "usage_blocks.parquet",
            "lookup": {"from": "blocks.csv", "on": {"block": "block_id"}, "take": ["account_id"]},
            "aggregate": {"events": "sum", "active_users": "max"},
        }
    }
}


def test_a_lookup_and_an_aggregate_read_usage_kept_per_subscription(small, expected, tmp_path):
    """Issue 3.5: the account comes from another file by key, rows of one account, day and
    feature combine as declared, and the company's features come back exactly; the rows the
    lookup cannot place are counted in a note."""
    path = by_subscription(small, tmp_path / "exports")
    m = tmp_path / "blocks.yaml"
    m.write_text(yaml.safe_dump(BLOCKS))
    source = open_validated(path, SEGMENTS, mapping=load_mapping(m))
    pd.testing.assert_frame_equal(features(source), expected)
    rows = 2 * len(small["usage"]) + 3
    assert f"usage: 3 of {rows:,} rows of usage_blocks.parquet have no block in blocks.csv" in (
        " ".join(source.notes)
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"lookup": {"from": "dup.csv", "on": {"block": "block_id"}, "take": ["account_id"]}},
            "dup.csv: block_id A00001-a matches 2 rows (a lookup takes one row per key); 1 key",
        ),
        (
            {"lookup": {"from": "blocks.csv", "on": "block", "take": ["account_id"]}},
            "blocks.csv: no column block (for the lookup of usage; it has block_id, account_id)",
        ),
        (
            {"aggregate": {"events": "sum"}},
            "usage_blocks.parquet: aggregate: say how rows sharing account_id, date, feature "
            "combine active_users",
        ),
        (
            {"lookup": {"from": "other.csv", "on": {"block": "block_id"}, "take": ["account_id"]}},
            "usage_blocks.parquet: none of its",
        ),
    ],
)
def test_a_lookup_or_aggregate_that_cannot_work_is_one_line(small, tmp_path, change, expected):
    path = by_subscription(small, tmp_path / "exports")
    blocks = pd.read_csv(path / "blocks.csv")
    pd.concat([blocks, blocks.head(1)]).to_csv(path / "dup.csv", index=False)
    blocks.assign(block_id="x" + blocks.block_id).to_csv(path / "other.csv", index=False)
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump({"tables": {"usage": {**BLOCKS["tables"]["usage"], **change}}}))
    with pytest.raises(DataError) as err:
        open_validated(path, SEGMENTS, mapping=load_mapping(m))
    (line,) = err.value.problems
    assert line.startswith(expected), line


def test_an_aggregate_on_a_key_column_is_refused_in_the_mapping(tmp_path):
    m = tmp_path / "m.yaml"
    usage = {"from": "u.csv", "aggregate": {"date": "max"}}
    m.write_text(yaml.safe_dump({"tables": {"usage": usage}}))
    with pytest.raises(ConfigError) as err:
        load_mapping(m)
    assert "tables.usage.aggregate.date: part of the key rows are combined by" in str(
        err.value.problems
    )
    m.write_text(
        yaml.safe_dump({"tables": {"surveys": {"from": "s.csv", "aggregate": {"score": "max"}}}})
    )
    with pytest.raises(ConfigError) as err:
        load_mapping(m)
    assert "tables.surveys.aggregate: surveys has no key to combine rows by" in str(
        err.value.problems
    )


def test_notes_agree_and_say_duplicates_are_the_same_only_in_the_mapped_columns(small, tmp_path):
    """Issue 3.5 point 6: two export rows that differ only in a column the mapping does not keep
    are 'the same in every mapped column'; usage derived from events is not also 'absent'."""
    path = by_subscription(small, tmp_path / "exports")
    t = small["touchpoints"]
    twice = pd.concat([t, t.head(1)], ignore_index=True)
    twice.assign(export_id=range(len(twice))).to_parquet(path / "activities.parquet")
    m = tmp_path / "m.yaml"
    m.write_text(
        yaml.safe_dump(
            {"tables": {**BLOCKS["tables"], "touchpoints": {"from": "activities.parquet"}}}
        )
    )
    notes = open_validated(path, SEGMENTS, mapping=load_mapping(m)).notes
    assert "touchpoints: dropped 1 exact duplicate row (the same in every mapped column)" in notes
    events = tmp_path / "events"
    events.mkdir()
    for name in ("accounts", "subscriptions"):
        small[name].to_parquet(events / f"{name}.parquet")
    u = small["usage"].head(50)
    pd.DataFrame(
        {
            "account_id": u.account_id,
            "ts": pd.to_datetime(u.date),
            "event": u.feature,
            "user_id": "u1",
        }
    ).to_parquet(events / "events.parquet")
    report = check(events, SEGMENTS)
    assert any(n.startswith("usage: derived from 50 raw events") for n in report.notes)
    assert not any(n.startswith("usage: absent") for n in report.notes)


SEGMENT = ROOT / "configs/examples/segment-tracks.yaml"


def test_the_segment_example_reads_tracks_keyed_by_user_back_exactly(small, tmp_path):
    """Issue 3.5 point 7: the company's product events as Segment exports them (tracks keyed by
    user, group records tying users to accounts over time, one user moving account) give the
    features the same events give with their accounts on them."""
    from tests.data.test_events import raw_events

    keep = set(small["accounts"].account_id.sort_values().head(100))  # a third: enough, faster
    small = {
        n: df[df.account_id.isin(keep)] if "account_id" in df else df for n, df in small.items()
    }
    e = raw_events(small["usage"])
    e = e.assign(user_id=e.account_id + "/" + e.user_id)
    mover = e.user_id.value_counts().index[0]
    old = e.account_id[e.user_id == mover].iloc[0]
    new = next(a for a in e.account_id.unique() if a != old)
    moved_at = e.ts[e.user_id == mover].sort_values().iloc[(e.user_id == mover).sum() // 2]
    e.loc[(e.user_id == mover) & (e.ts >= moved_at), "account_id"] = new
    contract_db = tmp_path / "contract.duckdb"
    frames = {n: df for n, df in small.items() if n not in ("usage", "truth")}
    with duckdb.connect(str(contract_db)) as con:
        for name, df in {**frames, "events": e}.items():
            con.register("_df", df)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _df")
            con.unregister("_df")
    folder = tmp_path / "exports"
    folder.mkdir()
    for name, df in frames.items():
        df.to_parquet(folder / f"{name}.parquet")
    e.drop(columns="account_id").rename(columns={"ts": "timestamp"}).to_parquet(
        folder / "tracks.parquet"
    )
    first = e.sort_values("ts").groupby("user_id").account_id.first().reset_index()
    pd.concat(
        [
            first.assign(since=pd.Timestamp("2000-01-01")),
            pd.DataFrame({"user_id": [mover], "account_id": [new], "since": [moved_at]}),
        ]
    ).rename(columns={"account_id": "group_id"}).to_csv(folder / "groups.csv", index=False)
    want = features(open_validated(contract_db, SEGMENTS))
    got = features(open_validated(folder, SEGMENTS, mapping=load_mapping(SEGMENT)))
    pd.testing.assert_frame_equal(got, want)
    assert want.usage_user_share_30d.notna().any()  # users counted from the events
