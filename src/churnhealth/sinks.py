"""Text escaped for where it goes: one function per sink, used wherever that sink is written.

Account ids, names, churn reasons, override reasons and notes come from users' data and reach
four places that each give some characters a meaning: the terminal (Rich markup, escape
sequences, bidirectional and invisible characters), Slack's mrkdwn (`<!channel>`, `<url|label>`),
JSON inside an HTML `<script>` (`</script>`, `<!--`) and HTML text. Data never gets that meaning.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from rich.console import Console
from rich.markup import escape as _markup_escape
from rich.text import Text

_INVISIBLE = re.compile(
    "["
    "\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 and C1 controls (ESC among them), DEL; not \t or \n
    "\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
    "]"
)
"""Control, format (bidirectional overrides, zero-width characters) and line-separator
characters: Unicode's categories Cc, Cf, Zl and Zp, apart from tab and newline."""
_NEWLINES = re.compile("[\t\n]")


def _code(m: re.Match) -> str:
    n = ord(m[0])
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def visible(text: object, *, lines: bool = False) -> str:
    """`text` with every control and invisible character written as its escape (`\\x1b`,
    `\\u202e`); tabs and newlines too unless `lines` (a message of several lines)."""
    out = _INVISIBLE.sub(_code, str(text))
    return out if lines else _NEWLINES.sub(_code, out)


def terminal(text: object, *, limit: int = 200) -> str:
    """A data value for a line printed with Rich markup: visible, cut to `limit` characters
    (saying how many were left out) and with `[` escaped so it styles nothing."""
    out = visible(text)
    if len(out) > limit:
        out = f"{out[:limit]}… ({len(out) - limit:,} more characters)"
    return _markup_escape(out)


class TerminalConsole(Console):
    """A Rich console that interprets no markup and no emoji codes unless a call asks for
    markup, and shows every control character of what it prints as an escape, so text from
    data cannot restyle, move the cursor, clear the screen or link anywhere."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        kwargs.setdefault("emoji", False)
        kwargs.setdefault("highlight", False)
        super().__init__(**kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(visible(text, lines=True), **kwargs)


def slack(text: object, *, limit: int = 300) -> str:
    """A data value for Slack's mrkdwn: `&`, `<` and `>` escaped as Slack asks (so no
    `<!channel>` or disguised link), controls visible, at most `limit` characters."""
    out = visible(text)
    if len(out) > limit:
        out = f"{out[:limit]}…"
    return out.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def script_json(data: Any) -> str:
    """`data` as JSON to embed in an HTML `<script>` element: `<`, `>` and `&` (and the two
    JavaScript line separators) as `\\u` escapes, so no `</script>` or `<!--` can change how
    the page is parsed. The text is still JSON, with the same values."""
    out = json.dumps(data, separators=(",", ":"))
    for ch in "<>&\u2028\u2029":
        out = out.replace(ch, f"\\u{ord(ch):04x}")
    return out


def html_text(text: object) -> str:
    """A value for HTML text or a quoted attribute."""
    return html.escape(str(text), quote=True)
