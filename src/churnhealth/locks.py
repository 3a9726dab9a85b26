"""File locks that keep concurrent runs consistent: the health history and models/champion/.

Two `predict` runs on the same history, or a `predict` loading models/champion/ while `train`,
`promote` or the monitor exports a new champion, would otherwise interleave their reads and
writes. A protected path is locked through the folder that holds it (outputs/ for the history,
models/ for the champion export): writers hold the lock exclusively for their whole
read-modify-write, readers share it. A run that has to wait says so on stderr once; after
`timeout_s` it gives up with one line.

POSIX advisory locks (`fcntl.flock` on the folder): every churnhealth process honours them, no
lock file is left behind, and the operating system releases them when a process dies, so a
crashed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from churnhealth.errors import ChurnhealthError

TIMEOUT_S = 600.0
"""How long a run waits for another one before giving up."""


@contextmanager
def locked(
    path: Path | str, *, shared: bool = False, what: str = "", timeout_s: float = TIMEOUT_S
) -> Iterator[None]:
    """Hold the lock of `path` (shared for readers, exclusive for writers) inside the block.

    The folder holding `path` is created if needed; one line when it cannot be."""
    folder = Path(path).resolve().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
    except OSError as err:
        raise ChurnhealthError(
            f"{what or path}: cannot use the folder {folder} ({err.strerror}); pick a writable "
            "location"
        ) from None
    try:
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        start, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= timeout_s:
                    raise ChurnhealthError(
                        f"{what or path}: another churnhealth run has held {folder} for "
                        f"{waited:.0f} s; try again when it has finished"
                    ) from None
                if not told:
                    print(
                        f"waiting for another churnhealth run using {path} ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    told = True
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
