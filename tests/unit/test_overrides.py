"""CSM overrides: an audit trail in the history store, resolved per as-of date, and the CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from churnhealth.errors import ChurnhealthError
from churnhealth.scoring import history, overrides
from tests.conftest import cli, control_characters

D = dt.date


def _history(path: Path, accounts=("A1", "A2", "A3")) -> None:
    """A history in which `accounts` were scored on 2026-10-01 (what override checks)."""
    n = len(accounts)
    history.upsert(
        path,
        pd.DataFrame(
            {
                "account_id": list(accounts),
                "as_of": pd.Timestamp("2026-10-01"),
                "model_version": "1",
                "segment": "smb",
                "churn_probability": 0.3,
                "health_score": np.full(n, 70),
                "tier": "moderate",
                "arr": 1000.0,
            }
        ),
    )


def _set(path, account, health, start, until=None, by="alice", reason="knows the customer"):
    return overrides.record(
        path, account, health=health, reason=reason, by=by, valid_from=start, valid_until=until
    )


def test_an_override_holds_from_its_date_until_it_expires_or_is_cleared(tmp_path):
    path = tmp_path / "history.duckdb"
    _history(path)
    _set(path, "A1", 90, D(2026, 10, 1), D(2026, 10, 31))
    _set(path, "A2", 20, D(2026, 10, 15))

    def forced(day: str) -> dict:
        f = overrides.in_force(path, pd.Timestamp(day))
        return f.csm_health.to_dict()

    assert forced("2026-09-30") == {}
    assert forced("2026-10-01") == {"A1": 90}
    assert forced("2026-10-20") == {"A1": 90, "A2": 20}
    assert forced("2026-11-01") == {"A2": 20}  # A1's expired on 2026-10-31
    overrides.record(
        path, "A2", health=None, reason="renewed", by="bob", valid_from=D(2026, 11, 15)
    )
    assert forced("2026-11-14") == {"A2": 20}
    assert forced("2026-11-15") == {}  # cleared from its date on
    assert forced("2026-10-20") == {"A1": 90, "A2": 20}  # the past is what held then
    _set(path, "A2", 55, D(2026, 12, 1), reason="new budget owner", by="carol")
    row = overrides.in_force(path, pd.Timestamp("2026-12-02")).loc["A2"]
    assert (row.csm_health, row.override_by, row.override_reason) == (
        55,
        "carol",
        "new budget owner",
    )

    status = overrides.latest(path, D(2026, 11, 20)).set_index("account_id").status.to_dict()
    assert status == {"A1": "expired", "A2": "scheduled"}
    assert overrides.latest(path, D(2026, 12, 2)).set_index("account_id").status["A2"] == "in force"


def test_the_audit_trail_only_grows(tmp_path):
    path = tmp_path / "history.duckdb"
    _history(path)
    _set(path, "A1", 90, D(2026, 10, 1))
    first = overrides.audit(path)
    _set(path, "A1", 40, D(2026, 10, 5), by="bob")
    overrides.record(path, "A1", health=None, reason="done", by="bob", valid_from=D(2026, 10, 9))
    trail = overrides.audit(path)
    assert list(trail.seq) == [1, 2, 3] and list(trail.action) == ["set", "set", "clear"]
    pd.testing.assert_frame_equal(trail.iloc[:1], first, check_dtype=False)  # untouched
    assert list(trail.recorded_by) == ["alice", "bob", "bob"]
    assert trail.recorded_at.notna().all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"account_id": "A9"}, "no such account"),
        ({"health": 101}, "expected 0–100"),
        ({"health": -1}, "expected 0–100"),
        ({"reason": "  "}, "--reason is empty"),
        ({"by": ""}, "--by is empty"),
        ({"valid_until": D(2026, 9, 1)}, "is before --from"),
        ({"health": None}, "no override in force"),
    ],
)
def test_bad_overrides_are_one_line_and_write_nothing(tmp_path, kwargs, message):
    path = tmp_path / "history.duckdb"
    _history(path)
    args = {
        "account_id": "A1",
        "health": 80,
        "reason": "why",
        "by": "alice",
        "valid_from": D(2026, 10, 1),
        "valid_until": None,
        **kwargs,
    }
    with pytest.raises(ChurnhealthError, match=message) as err:
        overrides.record(path, args.pop("account_id"), **args)
    assert "\n" not in str(err.value)
    assert overrides.audit(path).empty


def _scores() -> pd.DataFrame:
    return pd.DataFrame(
        {"account_id": ["A1", "A2"], "health_score": [30, 80], "tier": ["critical", "healthy"]}
    )


def test_the_csm_health_drives_the_tier_only_when_it_wins(tmp_path):
    path = tmp_path / "history.duckdb"
    _history(path)
    _set(path, "A1", 85, D(2026, 10, 1), D(2026, 12, 31))
    forced = overrides.in_force(path, pd.Timestamp("2026-11-01"))

    def tiers(health):
        return np.where(np.asarray(health) >= 75, "healthy", "critical")

    won = overrides.apply(_scores(), forced, tiers, wins=True)
    assert list(won.health_score) == [85, 80] and list(won.tier) == ["healthy", "healthy"]
    assert list(won.model_health) == [30, 80] and list(won.model_tier) == ["critical", "healthy"]
    assert list(won.health_source) == ["csm", "model"]
    assert won.csm_health.iloc[0] == 85 and pd.isna(won.csm_health.iloc[1])
    assert won.override_by.iloc[0] == "alice"
    assert won.override_until.iloc[0] == pd.Timestamp("2026-12-31")
    shown = overrides.apply(_scores(), forced, tiers, wins=False)
    assert list(shown.health_score) == [30, 80] and list(shown.tier) == ["critical", "healthy"]
    assert list(shown.health_source) == ["model", "model"] and shown.csm_health.iloc[0] == 85
    none = overrides.apply(
        _scores(), overrides.in_force(path, pd.Timestamp("2027-01-01")), tiers, wins=True
    )
    assert none.csm_health.isna().all() and list(none.health_score) == [30, 80]


def test_override_through_the_cli_set_list_expire_clear(tmp_path):
    store = tmp_path / "outputs" / "history.duckdb"
    _history(store)
    later = history.read(store).assign(as_of=pd.Timestamp("2026-11-01"))
    history.upsert(store, later)  # the data's today: its latest scores, not the clock's
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"predict": {"history": str(store)}}))

    def override(*args):
        return cli("override", *args, "--config", str(config))

    ok = override(
        "A1",
        "--health",
        "85",
        "--reason",
        "sponsor confirmed",
        "--from",
        "2026-10-01",
        "--until",
        "2026-10-31",
        "--by",
        "alice",
    )
    assert ok.returncode == 0, ok.stderr
    assert "A1: health 85 from 2026-10-01 until 2026-10-31" in ok.stdout
    budget = ("--health", "40", "--reason", "budget cut", "--from", "2026-10-01")
    assert override("A2", *budget).returncode == 0
    listed = override("--list")
    assert listed.returncode == 0 and "A1" in listed.stdout and "A2" in listed.stdout
    assert "expired" in listed.stdout  # A1's ended on 2026-10-31, before the data's today
    assert "in force" in listed.stdout
    # without --from an override starts on the latest scored as-of date, not the clock's today
    assert override("A3", "--health", "20", "--reason", "lost the sponsor").returncode == 0
    a3 = overrides.audit(store)
    assert str(a3[a3.account_id == "A3"].valid_from.iloc[-1])[:10] == "2026-11-01"
    cleared = override("A2", "--clear", "--from", "2026-10-20", "--by", "bob")
    assert cleared.returncode == 0, cleared.stderr
    trail = override("--list", "--all")
    assert trail.returncode == 0 and trail.stdout.count(" set ") + trail.stdout.count("│ set") >= 2
    assert "clear" in trail.stdout and "bob" in trail.stdout
    assert list(overrides.audit(store).action) == ["set", "set", "set", "clear"]
    for args, message in [
        (("A9", "--health", "50", "--reason", "x"), "no such account"),
        (("A1", "--health", "50"), "--reason is required"),
        (("A1", "--health", "50", "--reason", "x", "--until", "31/12/2026"), "expected a date"),
        (("A1",), "give either --health N or --clear"),
        (("--list", "A1"), "takes no account"),
        (("--all",), "goes with --list"),
        (("A1", "--health", "500", "--reason", "x"), "expected 0–100"),
    ]:
        bad = override(*args)
        assert bad.returncode == 2, (args, bad.stderr)
        assert message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert "Traceback" not in bad.stderr
    assert len(overrides.audit(store)) == 4  # nothing written by the bad ones


@pytest.mark.parametrize(
    ("store", "alerts", "args", "message"),
    [
        (
            "corrupt.duckdb",
            None,
            ("override", "A1", "--health", "5", "--reason", "x"),
            "not a readable DuckDB database",
        ),
        ("corrupt.duckdb", None, ("override", "--list"), "not a readable DuckDB database"),
        (
            "file/sub/h.duckdb",
            None,
            ("override", "A1", "--health", "5", "--reason", "x"),
            "cannot use the folder",
        ),
        ("h.duckdb", "missing.jsonl", ("outcome", "abc", "--status", "done"), "0 alerts logged"),
        ("h.duckdb", "bad.jsonl", ("outcome", "abc", "--status", "done"), "line 1 is not an alert"),
    ],
)
def test_unusable_stores_are_one_line_and_exit_2(tmp_path, store, alerts, args, message):
    (tmp_path / "corrupt.duckdb").write_text("not a database")
    (tmp_path / "file").write_text("a file where a folder should be")
    (tmp_path / "bad.jsonl").write_text('{"broken\n')
    predict = {"history": str(tmp_path / store)}
    if alerts:
        predict["alerts"] = str(tmp_path / alerts)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"predict": predict}))
    before = sorted(p.name for p in tmp_path.iterdir())
    res = cli(*args, "--config", str(config))
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


HOSTILE_REASON = "[/] [link=https://evil.example]renew[/link] \x1b[2J\x1b[31mred\u202e <!channel>"


def test_override_text_is_printed_as_text_and_an_identical_retry_writes_nothing(tmp_path):
    # on 3cb4c56, '[/]' in a reason crashed override after writing its row (exit 1), and then
    # every `override --list` and `explain` of the account; escapes reached the terminal raw
    store = tmp_path / "history.duckdb"
    _history(store, accounts=("A1", "[/]<b>"))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"predict": {"history": str(store)}}))
    args = ("--health", "85", "--reason", HOSTILE_REASON, "--from", "2026-10-01", "--by", "[/]")
    runs = [
        cli("override", account, *args, "--config", str(config))
        for account in ("A1", "A1", "[/]<b>")
    ]
    for res in runs:
        assert res.returncode == 0 and res.stderr == "", res.stderr
        assert (
            control_characters(res.stdout) == []
            and "[link=https://evil.example]renew[/link]" in res.stdout
        )
        assert "\\x1b[2J" in res.stdout and "\\u202e" in res.stdout
    assert "recorded as row 1 " in runs[0].stdout
    retry = " ".join(runs[1].stdout.split())  # as one line, however the terminal wrapped it
    assert "already recorded as row 1 of the overrides" in retry and "nothing written" in retry
    assert "[/]<b>: health 85" in runs[2].stdout
    assert list(overrides.audit(store).account_id) == ["A1", "[/]<b>"]
    # a retry after a change of mind is a new row
    other = cli("override", "A1", *args[:2], "--reason", "new", "--config", str(config))
    assert other.returncode == 0 and len(overrides.audit(store)) == 3
    listed = cli("override", "--list", "--all", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    assert control_characters(listed.stdout) == [] and "[/]<b>" in listed.stdout
