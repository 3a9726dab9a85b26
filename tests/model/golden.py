"""The trained workspace the model tests share, built once per test run.

Under pytest-xdist every worker used to train the same 900-account company for itself. Now the
first worker to collect a test that needs it starts this module in a process of its own, as the
run begins; the workers go on with other tests and, when one needs the workspace, wait for it
and take a copy of their own (`tests/model/conftest.py`'s `trained`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPANY = {"accounts": 900, "years": 3, "seed": 2, "truth_paths": 40}  # the oracle is only shown


def start(root: Path) -> None:
    """Start building into `root` unless another worker already has (mkdir is the lock)."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        (root / "started").mkdir()
    except FileExistsError:
        return
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with open(root / "build.log", "w") as log:
        subprocess.Popen(
            [sys.executable, "-m", "tests.model.golden", str(root)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait(root: Path, timeout: float = 1800) -> Path:
    """`root` once built (starting the build if nobody has); an error naming the build's
    failure if it failed."""
    start(root)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (root / "done").exists():
            return root
        if (root / "failed").exists():
            raise RuntimeError(
                f"the shared trained workspace failed:\n{(root / 'failed').read_text()}"
            )
        time.sleep(0.5)
    raise TimeoutError(f"the shared trained workspace was not built in {timeout:.0f} s ({root})")


def build(root: Path) -> None:
    """Generate the company and train it as the model tests expect (`small_config`)."""
    import joblib

    from churnhealth.jobs.train import train
    from churnhealth.synth import generate
    from tests.model.conftest import small_config

    data = root / "company.duckdb"
    generate(data, **COMPANY)
    result = train(small_config(root), data)
    joblib.dump(result, root / "result.joblib")


if __name__ == "__main__":
    where = Path(sys.argv[1])
    try:
        build(where)
    except BaseException:
        (where / "failed").write_text(traceback.format_exc())
        raise
    (where / "done").write_text("built\n")
