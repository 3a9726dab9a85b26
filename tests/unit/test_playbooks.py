"""Playbook triggers, cool-down, and webhook delivery against real local HTTP servers."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
from pydantic import ValidationError

from churnhealth.scoring.people import People
from churnhealth.scoring.playbooks import (
    Playbook,
    Playbooks,
    alert_id,
    append,
    conditions,
    deliver,
    load_playbooks,
    matches,
    previous_alerts,
    slack_messages,
    too_broad,
    trigger,
)

ROOT = Path(__file__).resolve().parents[2]


def scores(**over) -> pd.DataFrame:
    base = {
        "account_id": ["A", "B", "C"],
        "as_of": pd.Timestamp("2026-11-01"),
        "segment": "smb",
        "health_score": [60, 98, 65],
        "tier": ["critical", "healthy", "at_risk"],
        # A for its signals; C only for its contract (signals net positive)
        "at_risk_for": ["signals", None, "contract"],
        "effect_signals": [-12.0, 3.0, 0.4],
        "context": ["12-month term -7.0", "", "renewal in 45 days -9.0"],
        "momentum": ["declining", "improving", "stable"],
        "health_change_30d": [-20.0, 6.0, None],
        "days_to_renewal": [30, 200, 45],
        "term_months": [12, 12, 1],  # C: a monthly contract, always near its next decision
        "arr": [1000.0, 2000.0, 3000.0],
        "renewal_date": pd.Timestamp("2026-12-01"),
        "usage_license_share_30d": [0.1, 0.9, 0.5],
        "usage_events_mom": [-0.5, 0.1, 0.0],
        "risk_1_feature": ["usage_license_share_30d", None, "days_to_renewal"],
        "risk_1_value": ["0.1", None, "45"],
        "risk_2_feature": [None, None, None],
        "protective_1_feature": [None, "usage_breadth_30d", None],
        "protective_1_value": [None, "7", None],
        "protective_2_feature": [None] * 3,
        "expansion_score": [3, 34, 20],
        "expansion_tier": ["not_yet", "ready", "ready"],
        "expansion_1_feature": [None, "usage_license_share_30d", None],
        "expansion_1_value": [None, "0.9", None],
        "expansion_2_feature": [None] * 3,
    }
    base.update(over)
    return pd.DataFrame(base)


def test_default_playbooks_fire_on_their_conditions(tmp_path):
    config = load_playbooks(ROOT / "configs/playbooks.yaml")
    hits = {k: v.tolist() for k, v in matches(scores(), config).items()}
    assert hits == {
        "at_risk_intervention": [True, False, False],
        "renewal_exposure": [False, False, True],
        "rapid_decline": [True, False, False],
        "expansion_opportunity": [False, True, False],
        "renewal_risk": [True, False, False],  # not C: monthly, though at 65 and 45 days
    }
    alerts = trigger(scores(), config, previous_alerts(tmp_path / "alerts.jsonl"))
    first = next(a for a in alerts if a["account_id"] == "A")
    assert first["reason"].startswith(
        "Health 60 (critical, -20 in 30 days), pulled down most by usage license share 30d (0.1)"
    )
    assert {"account_id", "playbook", "reason", "arr", "renewal_date"} <= set(first)
    exposed = next(a for a in alerts if a["playbook"] == "renewal_exposure")
    assert exposed["account_id"] == "C"
    assert exposed["reason"].startswith(
        "Health 65 (at risk) for its contract, not its signals (signals +0.4 points; renewal in "
        "45 days -9.0): Low for its contract"
    )
    grow = next(a for a in alerts if a["playbook"] == "expansion_opportunity")
    assert grow["account_id"] == "B"  # C is ready to expand but at risk: not an opportunity
    assert grow["reason"].startswith(
        "Expansion score 34 (ready), health 98 (healthy, +6 in 30 days), lifted most by usage "
        "license share 30d (0.9)"
    )


def test_cooldown_stops_the_same_playbook_refiring(tmp_path):
    config = load_playbooks(ROOT / "configs/playbooks.yaml")
    path = tmp_path / "alerts.jsonl"
    first = trigger(scores(), config, previous_alerts(path))
    append(path, first)
    assert trigger(scores(), config, previous_alerts(path)) == []
    later = scores(as_of=pd.Timestamp("2026-11-01") + pd.Timedelta(days=31))
    assert len(trigger(later, config, previous_alerts(path))) == len(first)
    # the boundary: `cooldown_days` (30) after an alert it may fire again, a day before not
    # (monthly scoring has 30-day months: 1 April, then 1 May)
    days = config.cooldown_days
    edge = scores(as_of=pd.Timestamp("2026-11-01") + pd.Timedelta(days=days))
    assert len(trigger(edge, config, previous_alerts(path))) == len(first)
    inside = scores(as_of=pd.Timestamp("2026-11-01") + pd.Timedelta(days=days - 1))
    assert trigger(inside, config, previous_alerts(path)) == []


class Recorder(BaseHTTPRequestHandler):
    status = 200
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    servers = []

    def start(status: int):
        handler = type("Handler", (Recorder,), {"status": status, "received": []})
        srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/hook", handler

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_alerts_are_posted_as_slack_json(server, tmp_path):
    url, handler = server(200)
    alerts = trigger(
        scores(), load_playbooks(ROOT / "configs/playbooks.yaml"), previous_alerts(tmp_path / "a")
    )
    messages = slack_messages(alerts)
    delivered, errors = deliver(url, messages, backoff=0.01)
    assert delivered == len(messages) == 5 and errors == []
    assert [m["text"] for m in handler.received] == [m["text"] for m in messages]
    assert handler.received[0]["blocks"][0]["type"] == "header"


def test_a_failing_webhook_is_retried_then_reported(server):
    url, handler = server(500)
    delivered, errors = deliver(url, [{"text": "x", "blocks": []}], retries=3, backoff=0.01)
    assert delivered == 0 and len(handler.received) == 3
    assert errors == ["x: not delivered after 3 attempts (Internal Server Error)"]


def test_an_unreachable_webhook_is_reported(tmp_path):
    delivered, errors = deliver(
        "http://127.0.0.1:9/hook", [{"text": "y", "blocks": []}], retries=2, backoff=0.01, timeout=1
    )
    assert delivered == 0 and errors[0].startswith("y: not delivered after 2 attempts")


def test_a_corrupt_alert_log_is_one_line(tmp_path):
    from churnhealth.errors import ChurnhealthError

    path = tmp_path / "alerts.jsonl"
    path.write_text('{"account_id": "A", "playbook": "p", "as_of": "2026-01-01"}\nnot json\n')
    with pytest.raises(ChurnhealthError, match=r"alerts.jsonl: line 2 is not an alert"):
        previous_alerts(path)


def _alert(i: int, account: str, reason: str = "health 30 (critical)") -> dict:
    return {
        "alert_id": f"{i:012x}",
        "account_id": account,
        "playbook": "at_risk_intervention",
        "title": "At risk <b>&",
        "segment": "smb",
        "arr": 1000.0 + i,
        "renewal_date": "2026-12-01",
        "reason": reason,
    }


def test_account_text_reaches_slack_as_text_never_as_markup():
    evil = "<!channel> <https://evil.example/login|Click to renew>"
    alerts = [_alert(0, evil, reason="<!here> &lt; [x](y) \x1b[31m"), _alert(1, "A&B")]
    (message,) = slack_messages(alerts)
    section = message["blocks"][1]["text"]["text"]
    for text in (section, message["text"]):
        assert "<" not in text and ">" not in text and "\x1b" not in text
    assert "&lt;!channel&gt; &lt;https://evil.example/login|Click to renew&gt;" in section
    assert "A&amp;B" in section and "&amp;lt;" in section
    # the header is plain text, which Slack shows as it is: unescaped, but no control character
    assert message["blocks"][0]["text"]["text"] == "At risk <b>&: 2 accounts"


@pytest.mark.parametrize("reason_chars", [10, 150, 2000])
def test_a_cut_message_always_says_how_many_more_are_in_the_log(reason_chars):
    alerts = [_alert(i, f"A{i:05d}", reason="x" * reason_chars) for i in range(68)]
    (message,) = slack_messages(alerts, log="alerts.jsonl")
    lines = message["blocks"][1]["text"]["text"].split("\n")
    listed = [line for line in lines if line.startswith("• ")]
    assert len("\n".join(lines)) <= 3000
    assert lines[-1] == f"… and {68 - len(listed)} more in alerts.jsonl" and listed
    assert [line.split("*")[1] for line in listed] == [f"A{i:05d}" for i in range(len(listed))]
    whole = slack_messages(alerts[:3], log="alerts.jsonl")[0]["blocks"][1]["text"]["text"]
    assert "more in" not in whole and len(whole.split("\n")) == 3


def test_a_playbook_matching_too_much_of_the_book_is_named_with_its_conditions():
    """The warning names the playbook, its share and its conditions as one reads them; a
    playbook under the share raises none."""
    plays = Playbooks(
        playbooks=[
            Playbook(name="wide", title="Wide", when={"days_to_renewal": {"le": 60}}),
            Playbook(
                name="narrow",
                title="Narrow",
                when={"tier": ["at_risk", "critical"]},
                any={"momentum": "declining", "health_change_30d": {"le": -15}},
            ),
        ]
    )
    assert conditions(plays.playbooks[1]) == (
        "tier in at_risk, critical and (momentum = declining or health_change_30d ≤ -15)"
    )
    [line] = too_broad({"wide": 30, "narrow": 20}, 100, plays, 0.2)
    assert line.startswith("playbook wide matched 30 of 100 active accounts (30%, more than ")
    assert "on days_to_renewal ≤ 60:" in line
    assert too_broad({"wide": 20}, 100, plays, 0.2) == []  # at the share: no warning
    assert too_broad({}, 0, plays, 0.2) == []  # an empty book


def test_alerts_name_their_owner_and_due_date(tmp_path):
    """Issue 3.7 point 5: a play has an owner and a date; the webhook line says both."""
    config = load_playbooks(ROOT / "configs/playbooks.yaml")
    people = People(
        names={"A": "Novaleaf Health"},
        owners={"A": "csm_07", "C": "csm_02"},
        crm_url="https://crm.example.com/accounts/{account_id}/view",
    )
    alerts = trigger(scores(), config, previous_alerts(tmp_path / "a"), people=people)
    a = next(x for x in alerts if x["account_id"] == "A" and x["playbook"] == "rapid_decline")
    assert a["owner"] == "csm_07" and a["due"] == "2026-11-03"  # due_days: 2
    save = next(x for x in alerts if x["playbook"] == "at_risk_intervention")
    assert save["due"] == "2026-11-08"  # a week
    b = next(x for x in alerts if x["account_id"] == "B")
    assert b["owner"] is None  # no owner: said as none, never a placeholder
    text = slack_messages([a])[0]["blocks"][1]["text"]["text"]
    assert a["name"] == "Novaleaf Health" and b["name"] is None
    assert a["crm"] == "https://crm.example.com/accounts/A/view"
    assert text.startswith("• *Novaleaf Health · A* (")
    assert text.endswith(
        f"(alert {a['alert_id']}; owner csm_07; due 2026-11-03; "
        "<https://crm.example.com/accounts/A/view|CRM record>)"
    )


def test_a_segment_can_have_thresholds_of_its_own():
    """One playbook, per-segment thresholds: the segment's conditions replace `when`'s on the
    same column for its rows only."""
    pb = Playbook(
        name="renewal_watch",
        title="Renewal watch",
        when={"health_score": {"lt": 62}, "days_to_renewal": {"le": 60}},
        segments={"enterprise": {"health_score": {"lt": 70}}},
    )
    frame = scores(segment=["enterprise", "smb", "smb"], health_score=[65, 60, 65])
    hits = matches(frame, Playbooks(playbooks=[pb]))["renewal_watch"].tolist()
    # A: enterprise at 65 < 70 within 60 days; B: 200 days out; C: smb at 65, not < 62
    assert hits == [True, False, False]


def test_a_holdout_is_drawn_from_the_alert_id_alone():
    """Issue 3.6 point 2: the same alert is always decided the same way, the share held out
    is the configured one, and nothing else enters the draw."""
    from churnhealth.scoring.playbooks import held_out

    ids = [alert_id(f"A{i:05d}", "at_risk_intervention", "2026-11-01") for i in range(20_000)]
    drawn = [held_out(a, 0.2) for a in ids]
    assert abs(sum(drawn) / len(ids) - 0.2) < 0.01
    assert drawn == [held_out(a, 0.2) for a in ids]  # deterministic
    assert not any(held_out(a, 0.0) for a in ids)
    # a larger share holds out a superset: raising it never returns an account to the team
    assert all(held_out(a, 0.3) for a, d in zip(ids, drawn, strict=True) if d)
    # independent of the account: its neighbours in id order are drawn apart
    changes = sum(d1 != d2 for d1, d2 in itertools.pairwise(drawn))
    assert 0.1 < changes / len(ids) < 0.5


def test_held_out_alerts_are_marked_logged_and_read_back(tmp_path):
    from churnhealth.scoring.playbooks import hold_out

    config = Playbooks(
        playbooks=[
            Playbook(name="save", title="Save", capacity=True, holdout_share=0.5),
            Playbook(name="grow", title="Grow"),
        ]
    )
    alerts = [
        {
            "alert_id": alert_id(f"A{i}", pb, "2026-11-01"),
            "account_id": f"A{i}",
            "playbook": pb,
            "as_of": "2026-11-01",
            "reason": "r",
        }
        for i in range(200)
        for pb in ("save", "grow")
    ]
    marked = hold_out(alerts, config)
    out = [a for a in marked if a["held_out"]]
    assert out and all(a["playbook"] == "save" for a in out)  # only the playbook with a share
    assert 60 < len(out) < 140
    path = tmp_path / "alerts.jsonl"
    append(path, marked)
    back = previous_alerts(path)
    assert back.held_out.sum() == len(out)
    assert set(back.alert_id[back.held_out]) == {a["alert_id"] for a in out}
    with pytest.raises(ValidationError):
        Playbook(name="x", title="X", holdout_share=0.9)  # more than half: not a holdout
