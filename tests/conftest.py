"""Shared fixtures: small demo companies generated once per test session (per worker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from churnhealth.synth import generate


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `churnhealth` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "churnhealth", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC by the rank-sum formula, with ties given half credit."""
    y = np.asarray(y, dtype=bool)
    order = np.argsort(score, kind="mergesort")
    s = np.asarray(score)[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = y.sum()
    neg = len(y) - pos
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


@pytest.fixture(scope="session")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 accounts over 2 years (seed 1): fast enough for every data test."""
    path = tmp_path_factory.mktemp("small") / "small.duckdb"
    generate(path, accounts=300, years=2, seed=1, truth_paths=20)
    return path
