"""The `churnhealth` command line: parses options, calls a job, renders its result.

Each command imports its job when it runs, once its configuration is read: the jobs together
pull in MLflow, LightGBM, SHAP and Ibis (6.7 s to import on 2 cores), and importing them up front
would make every `churnhealth --help` (1.0–1.4 s), and every bad configuration's one-line error,
wait for them.
"""

from __future__ import annotations

import os
import sys

import typer

from churnhealth.cli import data, model, scoring, team  # noqa: F401  (register the commands)
from churnhealth.cli.app import app
from churnhealth.errors import ChurnhealthError
from churnhealth.location import redact
from churnhealth.sinks import visible


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2, no traceback.

    That holds for bad data and configuration (`ChurnhealthError`) and for bad command lines
    (an unknown option, a value of the wrong type): "synth: Invalid value for '--accounts':
    'abc' is not a valid integer. (see `churnhealth synth --help`)"."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:  # the list of commands, as Typer prints it
        app(args, prog_name="churnhealth")
    try:
        code = app(args, prog_name="churnhealth", standalone_mode=False)
    except ChurnhealthError as exc:
        for line in exc.lines():
            print(visible(redact(line)), file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:  # Click's usage errors: options, arguments, commands
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "churnhealth"
        message = " ".join(exc.format_message().split())
        print(visible(f"{where}: {message} (see `{where} --help`)"), file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except Exception as exc:
        if type(exc).__name__ != "OutOfMemoryException":  # DuckDB's, not imported up front
            raise
        print(
            "out of memory: the embedded DuckDB needed more than data.memory_limit for this "
            "data; raise data.memory_limit in the configuration (docs/engines.md)",
            file=sys.stderr,
        )
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
