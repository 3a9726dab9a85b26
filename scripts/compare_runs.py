"""Compare what `make train && make predict` wrote in two workspaces: same figures, same scores?

    python scripts/compare_runs.py BEFORE AFTER [--tolerance 0]

Each workspace is a project folder after `make train && make predict` (and, optionally,
`make report`): its reports/latest/metrics.json, outputs/scores-*.parquet, outputs/summary.json
and outputs/alerts.jsonl are compared, and reports/latest/backtest.json, monitor.json and the
backtest's predictions when either workspace has them. Run ids and the times a file or model
was written are ignored, and each workspace's own folder in a path reads as "<workspace>";
every other value must be equal (within `--tolerance` for numbers, exactly by default). Prints
each difference and exits 1 if any. Used to show that a refactoring changed no result (issues
2.1 and 3.2).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

IGNORED = {"run_id", "mlflow_run_id", "generated_at", "trained_at"}
OPTIONAL = ("reports/latest/backtest.json", "reports/latest/monitor.json")
PREDICTIONS = "reports/latest/backtest_predictions.parquet"


def _diff(a, b, path: str, tol: float, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in IGNORED:
                continue
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'after' if k not in a else 'before'}")
            else:
                _diff(a[k], b[k], f"{path}.{k}", tol, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items before, {len(b)} after")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{path}[{i}]", tol, out)
    elif isinstance(a, int | float) and isinstance(b, int | float):
        both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
        if not both_nan and abs(a - b) > tol:
            out.append(f"{path}: {a!r} before, {b!r} after")
    elif a != b:
        out.append(f"{path}: {a!r} before, {b!r} after")


def _read(root: Path, rel: str):
    """A JSON result with the workspace's own folder in its paths replaced by "<workspace>"."""
    text = (root / rel).read_text().replace(json.dumps(str(root.resolve()))[1:-1], "<workspace>")
    return json.loads(text.replace(json.dumps(str(root))[1:-1], "<workspace>"))


def compare(before: Path, after: Path, tol: float = 0.0) -> list[str]:
    """Every difference between the two workspaces' results, one line each."""
    out: list[str] = []
    present = [rel for rel in OPTIONAL if (before / rel).exists() or (after / rel).exists()]
    for rel in ("reports/latest/metrics.json", "outputs/summary.json", *present):
        missing = [str(root) for root in (before, after) if not (root / rel).exists()]
        if missing:
            out.append(f"{rel}: missing in {', '.join(missing)}")
            continue
        a, b = (_read(root, rel) for root in (before, after))
        _diff(a, b, rel, tol, out)
    scores = sorted(p.name for p in (before / "outputs").glob("scores-*.parquet"))
    if scores != sorted(p.name for p in (after / "outputs").glob("scores-*.parquet")):
        out.append("outputs/scores-*.parquet: different files")
    frames = [f"outputs/{name}" for name in scores]
    if (before / PREDICTIONS).exists() or (after / PREDICTIONS).exists():
        frames.append(PREDICTIONS)
    for rel in frames:
        try:
            a, b = (pd.read_parquet(root / rel) for root in (before, after))
            pd.testing.assert_frame_equal(a, b, check_exact=tol == 0, atol=tol, rtol=0)
        except (AssertionError, OSError) as err:
            out.append(f"{rel}: {str(err).splitlines()[0]}")
    lines = [(root / "outputs/alerts.jsonl").read_text().splitlines() for root in (before, after)]
    if lines[0] != lines[1]:
        out.append(f"outputs/alerts.jsonl: {len(lines[0])} alerts before, {len(lines[1])} after")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.0)
    args = parser.parse_args()
    diffs = compare(args.before, args.after, args.tolerance)
    for d in diffs:
        print(d)
    print(
        f"{len(diffs)} difference(s) between {args.before} and {args.after}"
        if diffs
        else f"identical: {args.before} and {args.after} (metrics.json, scores, summary, alerts"
        + "".join(f", {Path(r).name}" for r in OPTIONAL if (args.before / r).exists())
        + ")"
    )
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
