"""Playbook outcomes: stable alert ids, outcomes recorded against them, the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from churnhealth.errors import ChurnhealthError
from churnhealth.scoring import outcomes, playbooks
from tests.conftest import cli, control_characters


def _alerts(path, rows=(("A1", "rapid_decline"), ("A2", "at_risk_intervention"))):
    frame = pd.DataFrame(
        {
            "account_id": [a for a, _ in rows],
            "as_of": pd.Timestamp("2026-11-01"),
            "health_score": 40,
            "tier": "at_risk",
            "arr": 1000.0,
            "renewal_date": pd.Timestamp("2027-01-01"),
            "segment": "smb",
            "health_change_30d": -20.0,
        }
    )
    config = playbooks.Playbooks(
        playbooks=[playbooks.Playbook(name=p, title=p) for p in dict.fromkeys(p for _, p in rows)]
    )
    hits = {
        pb.name: (frame.account_id.isin([a for a, p in rows if p == pb.name])).to_numpy()
        for pb in config.playbooks
    }
    alerts = playbooks.trigger(frame, config, playbooks.previous_alerts(path), hits)
    playbooks.append(path, alerts)
    return alerts


def test_alert_ids_are_stable_and_unique(tmp_path):
    log = tmp_path / "alerts.jsonl"
    first = _alerts(log)
    assert len({a["alert_id"] for a in first}) == 2
    again = _alerts(tmp_path / "other.jsonl")  # the same alerts raised elsewhere
    assert [a["alert_id"] for a in again] == [a["alert_id"] for a in first]
    other_day = playbooks.alert_id("A1", "rapid_decline", "2026-11-02")
    assert other_day != first[0]["alert_id"]
    # a log line written before alerts had ids gets the id it would have had
    old = {k: v for k, v in first[0].items() if k != "alert_id"}
    (tmp_path / "old.jsonl").write_text(json.dumps(old) + "\n")
    assert list(playbooks.previous_alerts(tmp_path / "old.jsonl").alert_id) == [
        first[0]["alert_id"]
    ]
    assert all(
        a["alert_id"] in m["blocks"][1]["text"]["text"]
        for m in [playbooks.slack_messages(first)[0]]
        for a in first[:1]
    )


def test_outcomes_are_appended_and_the_latest_counts(tmp_path):
    log, store = tmp_path / "alerts.jsonl", tmp_path / "history.duckdb"
    alerts = _alerts(log)
    a, b = (x["alert_id"] for x in alerts)
    outcomes.record(store, log, a, status="skipped", by="alice")
    outcomes.record(store, log, a, status="done", by="alice", note="call booked")
    outcomes.record(store, log, b, status="failed", by="bob", note="no answer")
    trail = outcomes.audit(store)
    assert list(trail.status) == ["skipped", "done", "failed"] and list(trail.seq) == [1, 2, 3]
    assert list(trail.account_id) == ["A1", "A1", "A2"]
    latest = outcomes.latest(store).set_index("alert_id")
    assert latest.status.to_dict() == {a: "done", b: "failed"}
    assert latest.note[a] == "call booked" and latest.playbook[b] == "at_risk_intervention"
    for kwargs, message in [
        ({"alert_id": "nope"}, "no such alert"),
        ({"status": "maybe"}, "expected one of done, skipped, failed"),
        ({"by": " "}, "--by is empty"),
    ]:
        args = {"alert_id": a, "status": "done", "by": "alice", **kwargs}
        with pytest.raises(ChurnhealthError, match=message):
            outcomes.record(store, log, args.pop("alert_id"), **args)
    assert len(outcomes.audit(store)) == 3


def test_outcome_through_the_cli(tmp_path):
    log, store = tmp_path / "alerts.jsonl", tmp_path / "history.duckdb"
    alert = _alerts(log)[0]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"predict": {"history": str(store), "alerts": str(log)}}))
    ok = cli(
        "outcome",
        alert["alert_id"],
        "--status",
        "done",
        "--note",
        "QBR booked",
        "--by",
        "carol",
        "--config",
        str(config),
    )
    assert ok.returncode == 0, ok.stderr
    assert f"alert {alert['alert_id']} (rapid decline for A1 as of 2026-11-01): done" in ok.stdout
    for args, message in [
        (("deadbeef0000", "--status", "done"), "no such alert"),
        ((alert["alert_id"], "--status", "maybe"), "expected one of"),
        ((alert["alert_id"],), "Missing option '--status'"),
    ]:
        bad = cli("outcome", *args, "--config", str(config))
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    assert len(outcomes.audit(store)) == 1


def test_an_outcome_note_is_printed_as_text_and_an_identical_retry_writes_nothing(tmp_path):
    log, store = tmp_path / "alerts.jsonl", tmp_path / "history.duckdb"
    alert = _alerts(log, rows=(("[/]\x1b[31m", "rapid_decline"),))[0]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"predict": {"history": str(store), "alerts": str(log)}}))
    args = ("outcome", alert["alert_id"], "--status", "done", "--note", "[/] \x1b]8;;x\x07y")
    runs = [cli(*args, "--by", "carol", "--config", str(config)) for _ in range(2)]
    for res in runs:
        assert res.returncode == 0 and res.stderr == "", res.stderr
        assert "[/]\\x1b[31m" in res.stdout and "[/] \\x1b]8;;x\\x07y" in res.stdout
        assert control_characters(res.stdout) == []
    retry = " ".join(runs[1].stdout.split())  # as one line, however the terminal wrapped it
    assert "already recorded as row 1 of the outcomes" in retry and "nothing written" in retry
    assert len(outcomes.audit(store)) == 1
    other = cli(*args[:3], "skipped", "--by", "carol", "--config", str(config))
    assert other.returncode == 0 and len(outcomes.audit(store)) == 2


def test_the_alert_log_feeds_the_plays_effects_measures(tmp_path):
    log, store = tmp_path / "alerts.jsonl", tmp_path / "history.duckdb"
    rows = (("A1", "rapid_decline"), ("A2", "at_risk_intervention"), ("A3", "rapid_decline"))
    a2 = {x["account_id"]: x["alert_id"] for x in _alerts(log, rows)}["A2"]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for line in lines:
        line["held_out"] = line["account_id"] == "A3"  # A3's alert was held out
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    outcomes.record(store, log, a2, status="skipped", by="bob")
    acts = outcomes.logged_actions(log, store).set_index("account_id")
    assert acts.source.to_dict() == {"A1": "alert", "A2": "alert", "A3": "holdout"}
    # a skipped alert was still alerted (intent to treat), but no play ran
    assert acts.worked.to_dict() == {"A1": True, "A2": False, "A3": False}
    assert set(acts.playbook) == {"rapid_decline", "at_risk_intervention"}
    assert (acts.date == pd.Timestamp("2026-11-01")).all()
    assert outcomes.logged_actions(tmp_path / "none.jsonl", store).empty
