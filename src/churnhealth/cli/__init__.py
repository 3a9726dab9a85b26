"""The `churnhealth` command line: parses options, calls a job, renders its result.

Each command imports its job when it runs: the jobs together pull in MLflow, LightGBM, SHAP and
Ibis, and importing them up front would make every `churnhealth --help` wait for them.
"""

from __future__ import annotations

import os
import sys

from churnhealth.cli import data, model, scoring  # noqa: F401  (register the commands)
from churnhealth.cli.app import app
from churnhealth.errors import ChurnhealthError


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, no traceback."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        app()
    except ChurnhealthError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        sys.exit(2)


__all__ = ["app", "main"]
