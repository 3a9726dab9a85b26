"""A company whose text is hostile runs through every command as a user would run them.

Account ids, names, owners, churn reasons, override reasons and outcome notes hold HTML that
ends a script or opens a comment, Rich markup, Slack mentions and disguised links, terminal
escape sequences, bidirectional and zero-width characters, and very long strings. Every
command exits as documented, nothing reaches a terminal as a control character, the webhook
carries no live Slack markup, and the portfolio page still renders its table."""

from __future__ import annotations

import html
import json
import re
import subprocess
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from churnhealth.synth import generate
from tests.conftest import champion_or_forced, control_characters, run_cli, workspace_config
from tests.model.test_predict import probe_page
from tests.unit.test_playbooks import Recorder

HOSTILE = [
    "<!--<script>",
    "</script><script>alert(1)</script>",
    "[/]",
    "[bold red]boom[/]",
    "<!channel> <https://evil.example/login|Click to renew>",
    "\x1b[2J\x1b[31mred",
    "\u202eevil\u202c",
    "zero\u200bwidth",
    "[link=https://evil.example]renew[/link]",
    "A&B <b>",
    ":smile: \x07",
]
LONG = "L" * 100_000


def _hostile_company(path: Path) -> dict[str, str]:
    """A small two-year company in which every account id, name, owner and churn reason is
    hostile; one id is 2,000 characters, one name and one reason 100,000. Returns the map
    from the generated ids to the hostile ones."""
    generate(path, accounts=300, years=2, seed=11)
    con = duckdb.connect(str(path))
    old = [r[0] for r in con.execute("SELECT account_id FROM accounts ORDER BY 1").fetchall()]
    new = {a: f"{HOSTILE[i % len(HOSTILE)]}#{i}" for i, a in enumerate(old)}
    new[old[-1]] = "I" * 2_000
    con.register("ids", _frame(new))
    tables = [r[0] for r in con.execute("SHOW TABLES").fetchall() if r[0] != "ids"]
    for table in tables:
        cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        if "account_id" in cols:
            con.execute(
                f"UPDATE {table} SET account_id = ids.new FROM ids "
                f"WHERE {table}.account_id = ids.old"
            )
    con.execute(
        "UPDATE accounts SET name = account_id || ' ' || name, csm_owner = '<!here> [/]\x1b[1m'"
    )
    con.execute(f"UPDATE accounts SET name = '{LONG}' WHERE account_id = ?", [new[old[0]]])
    reasons = [*HOSTILE, LONG]
    rows = con.execute("SELECT rowid FROM churn_events ORDER BY rowid").fetchall()
    for i, (rowid,) in enumerate(rows):
        con.execute(
            "UPDATE churn_events SET reason = ? WHERE rowid = ?", [reasons[i % len(reasons)], rowid]
        )
    con.close()
    return new


def _frame(mapping: dict[str, str]):
    import pandas as pd

    return pd.DataFrame({"old": list(mapping), "new": list(mapping.values())})


@pytest.fixture(scope="module")
def receiver():
    handler = type("Hook", (Recorder,), {"status": 200, "received": []})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook", handler
    srv.shutdown()
    srv.server_close()


def test_hostile_text_goes_through_every_command_as_text(tmp_path_factory, receiver, monkeypatch):
    root = tmp_path_factory.mktemp("hostile")
    data = root / "company.duckdb"
    ids = _hostile_company(data)
    config = workspace_config(
        root,
        data={"path": str(data)},
        train={"tuning": {"trials": 1}},
        backtest={"tuning": {"trials": 1}, "step": "6M"},
    )
    url, hook = receiver
    monkeypatch.setenv("CHURNHEALTH_WEBHOOK_URL", url)
    runs: dict[str, subprocess.CompletedProcess] = {}

    def run(name: str, *args: str) -> subprocess.CompletedProcess:
        res = run_cli(*args, "--config", str(config))  # all a terminal would show
        runs[name] = res
        assert res.returncode == 0, f"{name}: exit {res.returncode}\n{res.stderr[-3000:]}"
        return res

    run("validate", "validate")
    trained = run("train", "train")
    assert "Registered" in trained.stdout
    champion_or_forced(trained, config, run=run_cli)
    run("predict", "predict")
    scores = next((root / "outputs").glob("scores-*.parquet"))
    import pandas as pd

    scored = pd.read_parquet(scores)
    assert set(scored.account_id) <= set(ids.values()) and len(scored) > 100
    for prefix, shown_as in (("\x1b", "\\x1b[2J"), ("\u202e", "\\u202e")):
        account = next(a for a in scored.account_id if a.startswith(prefix))
        shown = run(f"explain {account!r}", "explain", account)
        assert shown_as in shown.stdout
    alerts = [json.loads(x) for x in (root / "outputs" / "alerts.jsonl").read_text().splitlines()]
    assert alerts
    target = alerts[0]
    reason = f"[/] {HOSTILE[0]} {HOSTILE[5]} {LONG}"
    override = ("override", target["account_id"], "--health", "85", "--reason", reason)
    first = run("override", *override, "--by", "[/]")
    retry = run("override retry", *override, "--by", "[/]")
    assert "nothing written" in " ".join(retry.stdout.split())
    assert "nothing written" not in " ".join(first.stdout.split())
    run("override --list", "override", "--list", "--all")
    run("explain after override", "explain", target["account_id"])
    note = f"[/] {HOSTILE[4]} \x1b]8;;https://evil.example\x07x"
    run("outcome", "outcome", target["alert_id"], "--status", "done", "--note", note)
    run("outcome retry", "outcome", target["alert_id"], "--status", "done", "--note", note)
    run("backtest", "backtest", "--start", "2025-04-01", "--end", "2025-04-01")  # one origin
    run("report", "report")

    for name, res in runs.items():
        for stream in ("stdout", "stderr"):
            text = getattr(res, stream)
            assert "Traceback" not in text, f"{name} {stream}: {text[-2000:]}"
            assert control_characters(text) == [], f"{name} {stream}"
            assert "\x1b" not in text

    # the webhook: no live mention or link, a cut list says so
    assert hook.received
    for message in hook.received:
        section = message["blocks"][1]["text"]["text"]
        for text in (message["text"], section):
            assert "<" not in text and ">" not in text, text[:500]
        assert len(section) <= 3000
        listed = sum(line.startswith("• ") for line in section.split("\n"))
        count = int(re.search(r": (\d+) accounts?$", message["text"]).group(1))
        if listed < count:
            assert section.endswith(f"… and {count - listed} more in alerts.jsonl")

    # the report shows the churn reasons as text, not markup
    report = (root / "reports" / "report.html").read_text()
    assert "<!--<script>" not in report and "<script>alert(1)" not in report
    assert html.escape("<!--<script>") in report

    # the portfolio page renders its table in a real browser
    out = probe_page((root / "outputs" / "portfolio.html").read_text(), root)
    sections = ["summary", "bridge", "checked", "forecast", "tiers", "movers", "book"]
    assert out["sections"] == sections
    assert out["rows"] == len(scored) and out["opened"] == out["clicked"]
