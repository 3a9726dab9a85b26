"""The Typer application and the options every command shares."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from churnhealth.config import Config, load_config
from churnhealth.errors import ChurnhealthError
from churnhealth.location import location

app = typer.Typer(
    help="Calibrated, explained customer health scores for B2B SaaS.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
console = Console(width=None if sys.stdout.isatty() else 120)

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


def config(path: Path | None) -> Config:
    """The validated configuration (`--config`, else configs/default.yaml, else defaults)."""
    return load_config(path)
