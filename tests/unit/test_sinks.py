"""Text from data escaped for each place it goes (`churnhealth.sinks`)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from churnhealth.sinks import TerminalConsole, html_text, script_json, slack, terminal, visible
from tests.conftest import invisible

HOSTILE = [
    "<!--<script>",
    "</script>",
    "[/]",
    "[bold red]x[/]",
    "[link=https://evil.example]renew[/link]",
    "<!channel> <https://evil.example/login|Click to renew>",
    "\x1b[2J\x1b[31mred",
    "\u202eevil\u202c",
    "zero\u200bwidth",
    ":smile:",
    "a & b",
]


def _invisible(ch: str) -> bool:
    return invisible(ch, keep="\t\n")


def test_every_control_and_format_character_is_made_visible():
    every = [chr(c) for c in range(sys.maxunicode + 1) if _invisible(chr(c))]
    assert len(every) > 150
    out = visible("".join(every))
    assert not any(_invisible(ch) for ch in out)
    assert visible("\x1b[31m") == "\\x1b[31m" and visible("\u202e") == "\\u202e"
    assert visible("a\nb\tc") == "a\\x0ab\\x09c" and visible("a\nb", lines=True) == "a\nb"
    assert visible("Åsa Öberg 東京 😀") == "Åsa Öberg 東京 😀"  # ordinary text is left alone


def test_the_terminal_console_shows_data_as_text_and_no_control_character():
    out = io.StringIO()
    console = TerminalConsole(file=out, width=200, force_terminal=False)
    for text in HOSTILE:
        console.print(f"account {text} done")  # no exception: markup is not interpreted
    printed = out.getvalue()
    assert "[/]" in printed and "[bold red]x[/]" in printed and ":smile:" in printed
    assert "\\x1b[2J" in printed and "\\u202e" in printed and "\\u200b" in printed
    assert not any(_invisible(ch) for ch in printed)


def test_terminal_escapes_data_inside_a_styled_line_and_cuts_long_values():
    out = io.StringIO()
    console = TerminalConsole(file=out, width=300, force_terminal=False)
    for text in HOSTILE:
        console.print(f"[bold]{terminal(text)}[/] ok", markup=True)
    printed = out.getvalue()
    assert "[link=https://evil.example]renew[/link]" in printed and "[/]" in printed
    long = terminal("x" * 100_000)
    assert long.startswith("x" * 200) and "99,800 more characters" in long and len(long) < 300


@pytest.mark.parametrize("text", HOSTILE)
def test_slack_text_carries_no_live_markup(text):
    out = slack(text)
    assert "<" not in out and ">" not in out
    assert "&" not in out.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    assert not any(_invisible(ch) for ch in out)


def test_json_for_a_script_element_has_no_character_html_reads_and_the_same_values():
    data = {"ids": HOSTILE, "n": 1.5, "sep": "a\u2028b\u2029c"}
    out = script_json(data)
    assert not {"<", ">", "&", "\u2028", "\u2029"} & set(out)
    assert json.loads(out) == data


def test_html_text_escapes_markup_and_quotes():
    assert html_text('<b a="1">&\'') == "&lt;b a=&quot;1&quot;&gt;&amp;&#x27;"
