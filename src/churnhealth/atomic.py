"""Atomic writes: a file is written beside its target and renamed over it only when complete,
so a failed run never leaves a half-written output."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd


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
