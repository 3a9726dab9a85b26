"""The Typer application and the options every command shares."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import typer

from churnhealth.config import Config, load_config
from churnhealth.errors import ChurnhealthError, ConfigError
from churnhealth.location import location, redact
from churnhealth.sinks import TerminalConsole, visible

app = typer.Typer(
    help="Calibrated, explained customer health scores for B2B SaaS.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
console = TerminalConsole(width=None if sys.stdout.isatty() else 120)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="YAML configuration (default: configs/default.yaml).",
        dir_okay=False,
        show_default=False,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        help="Model URI (models:/churnhealth@champion, runs:/...) or MLflow model directory "
        "[default: the registry's @champion, else models/champion/].",
        show_default=False,
    ),
]
DataOpt = Annotated[
    Any,
    typer.Option(
        "--data",
        help="DuckDB file, folder of CSV/Parquet tables, or a database URL such as "
        "postgresql://user@host:5432/db/schema (default: data.path).",
        show_default=False,
        parser=location,
        metavar="PATH|URL",
    ),
]


SourcesOpt = Annotated[
    Path | None,
    typer.Option(
        "--sources",
        help="Source mapping (YAML) that reads an export shaped its own way (docs/mapping.md) "
        "[default: data.sources].",
        show_default=False,
        metavar="FILE",
    ),
]


def repeated(**options: object) -> str:
    """The options a command was given, as a suggested next command should repeat them:
    repeated(data=…, config=…, sources=…) → "--data … --config … --sources …" (unset ones
    left out, secrets in a URL hidden)."""
    return " ".join(
        f"--{k} {redact(str(v))}" for k, v in options.items() if v is not None and v != ""
    )


def as_of_option(text: str):
    """The `--as-of` option, as each command reads it."""
    return typer.Option("--as-of", help=text, show_default=False)


def parse_date(value: str | None, option: str) -> dt.date | None:
    """A YYYY-MM-DD option value, or one line naming the option."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ChurnhealthError(f"{option} {value!r}: expected a date as YYYY-MM-DD") from None


def config(path: Path | None, sources: Path | None = None) -> Config:
    """The validated configuration (`--config`, else configs/default.yaml, else defaults), with
    `--sources` as its data.sources when given."""
    cfg = load_config(path)
    if sources is None:
        return cfg
    if not Path(sources).is_file():
        raise ConfigError([f"--sources {sources}: no such source mapping file"])
    return cfg.model_copy(update={"data": cfg.data.model_copy(update={"sources": Path(sources)})})


@contextmanager
def committed(what: str) -> Iterator[None]:
    """Around what a command prints once its work is saved (a model registered, a row
    appended, outputs written): a failure to print is one line on stderr and leaves the exit
    status 0, so a scheduler never records a failure for a run that changed something."""
    try:
        yield
    except Exception as exc:  # the work is done; printing it must not undo that in a report
        with suppress(Exception):
            print(
                visible(
                    f"{what}: saved, but printing the summary failed "
                    f"({type(exc).__name__}: {str(exc)[:200]})"
                ),
                file=sys.stderr,
            )
