"""Where the data is: a file or folder (a Path), or a database connection URL (a str)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
Location = Path | str


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


def redact(url: str) -> str:
    """The URL without a password, for messages."""
    parts = split(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()
