"""Handing freed memory back to the operating system between the stages of a large run.

glibc keeps memory freed by Python, NumPy and pandas in its heap for reuse; after a few passes
over a million-account feature frame the process holds gigabytes it no longer uses, and the
next pass adds its own on top. `release()` asks glibc to return what is free (`malloc_trim`,
as Dask's workers do); elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache


@cache
def _trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


def release() -> None:
    """Collect garbage and return the free heap to the operating system (glibc only)."""
    gc.collect()
    trim = _trim()
    if trim is not None:
        trim(0)
