"""Atomic writes: a file is written beside its target and renamed over it only when complete,
so a failed run never leaves a half-written output.

`check_writable` is called before any work starts, so a run that could not save its result
fails at once, with one line, instead of after minutes of computation.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from churnhealth.errors import ChurnhealthError


def write_with(path: Path, write: Callable[[str], None]) -> Path:
    """Call `write(tmp_path)`, then rename the temporary file to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _umask() -> int:
    """The process umask (mkstemp creates files readable by their owner only)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: Path, payload: dict) -> Path:
    def dump(tmp: str) -> None:
        Path(tmp).write_text(json.dumps(payload, indent=2, default=str))

    return write_with(path, dump)


def write_frame(path: Path, frame: pd.DataFrame) -> Path:
    """Parquet, or CSV when the path ends in .csv."""
    if Path(path).suffix == ".csv":
        return write_with(path, lambda tmp: frame.to_csv(tmp, index=False))
    return write_with(path, lambda tmp: frame.to_parquet(tmp, index=False))


def _existing_parent(path: Path) -> Path:
    """The nearest ancestor of `path` that exists."""
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path("/")


def check_writable(path: Path | str, what: str, suffixes: tuple[str, ...] = ()) -> Path:
    """Raise one line unless a file can be created at `path` (its folder is made if needed).

    `what` names the option or setting in the message (e.g. "--out"); `suffixes` restricts the
    file types accepted. Nothing is left behind: a folder made for the check is removed again.
    """
    path = Path(path)
    if suffixes and not any(path.name.endswith(s) for s in suffixes):
        raise ChurnhealthError(f"{what} {path}: expected a {' or '.join(suffixes)} file")
    if path.is_dir():
        raise ChurnhealthError(f"{what} {path}: is a folder, expected a file")
    check_folder_writable(path.parent, what, shown=path)
    return path


def check_folder_writable(folder: Path | str, what: str, shown: Path | None = None) -> Path:
    """Raise one line unless files can be created inside `folder` (made if needed)."""
    folder = Path(folder)
    shown = shown or folder
    base = _existing_parent(folder) if not folder.exists() else folder
    if not base.is_dir():
        raise ChurnhealthError(f"{what} {shown}: not writable ({base} is not a folder)")
    try:
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".churnhealth-check.", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise ChurnhealthError(
            f"{what} {shown}: not writable ({exc.strerror or type(exc).__name__})"
        ) from None
    if created:
        _remove_created(folder, base)
    return folder


def _remove_created(folder: Path, existed: Path) -> None:
    """Remove the empty folders between `existed` and `folder` that the check created."""
    for p in [folder, *folder.parents]:
        if p == existed or p in existed.parents:
            break
        try:
            p.rmdir()
        except OSError:
            break
