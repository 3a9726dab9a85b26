"""Where the data is: a file or folder (a Path), or a database connection URL (a str).

Also the one place that knows what a secret in a URL looks like: `secrets` names them (a URL
that holds one is refused as a data location) and `redact` hides them in any text that is
shown, logged or stored (a tracking store's URL may carry a password MLflow needs)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
Location = Path | str

_SECRET_WORDS = {"password", "passwd", "pass", "pwd", "sslpassword", "token", "secret"}
_SECRET_WORDS |= {"apikey", "key", "credential", "credentials"}
"""Parts of a query or option name (split at `_`, `.` and `-`) that make its value a secret:
password, pwd, sslpassword, token, access_token, client_secret, api_key, aws_secret_access_key…"""
_SECRET_NAME = r"(?:[A-Za-z0-9.-]*[_.-]|ssl)?(?:pass(?:wd|word)?|pwd|token|secret|api_?key)"
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:?#]*):[^\s]*@")
_PAIR = re.compile(
    rf"(?P<head>\b{_SECRET_NAME}\b\s*[=:]\s*)(?P<value>'[^']*'|\"[^\"]*\"|[^\s&;,]+)", re.IGNORECASE
)
_QUERY_PAIR = re.compile(r"(?P<head>[?&](?P<name>[^=&#\s]+)=)(?P<value>[^&#\s]*)")
MASK = "***"


def location(value: str | Path) -> Location:
    """A `--data` or `data.path` value: a connection URL as it is, anything else as a path
    (a URL made a Path would lose its `//`)."""
    text = str(value)
    return text if _URL.match(text) else Path(text)


def is_url(value: object) -> bool:
    return isinstance(value, str) and bool(_URL.match(value))


def split(url: str) -> SplitResult:
    """`urlsplit`, except that `local[2]` (a Spark master) is a host, not a broken IPv6
    address; `netloc` keeps the brackets."""
    parts = urlsplit(url.replace("[", "%5B").replace("]", "%5D"))
    return parts._replace(netloc=unquote(parts.netloc), path=unquote(parts.path))


def _secret_name(name: str) -> bool:
    return bool(_SECRET_WORDS.intersection(re.split(r"[_.\-]", name.strip().lower())))


def secrets(url: str) -> list[str]:
    """Where `url` holds a secret: the user's password, or a query parameter such as
    `password`, `sslpassword`, `token` or `api_key` (also inside libpq's `options`)."""
    parts = split(url)
    found = ["the user's password"] if parts.password is not None else []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if _secret_name(name):
            found.append(f"query parameter {name.strip()}")
        elif _PAIR.search(value):
            found.append(f"a secret inside query parameter {name.strip()}")
    return found


def refuse_secrets(url: str) -> str | None:
    """The one-line reason a data location URL is refused, or None when it holds no secret."""
    found = secrets(url)
    if not found:
        return None
    return (
        f"{redact(url)}: the connection URL holds a secret ({', '.join(found)}); remove it and "
        "set PGPASSWORD or use ~/.pgpass or a service file (a secret in a configuration or a "
        "command line ends up in shell history, logs and the experiment store)"
    )


def redact(text: str) -> str:
    """`text` (a URL, or a message that quotes URLs or `password=…` pairs) with every secret
    replaced by ***: a URL's password, secret query parameters and name=value pairs."""
    text = str(text)
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)

    def query(m: re.Match) -> str:
        name = unquote(m["name"]).strip()
        if _secret_name(name) or _PAIR.search(unquote(m["value"])):
            return f"{m['head']}{MASK}"
        return m[0]

    text = _QUERY_PAIR.sub(query, text)
    return _PAIR.sub(lambda m: f"{m['head']}{MASK}", text)


def source_label(path: Path | str) -> str:
    """How a run names the data it read (a history's source, the reports' "source"): the
    absolute path, or the URL without its secrets."""
    return redact(path) if isinstance(path, str) else str(Path(path).resolve())
