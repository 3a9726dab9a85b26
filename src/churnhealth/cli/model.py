"""Commands on models: `train`, `promote`, `backtest`, `report`."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from churnhealth.cli.app import (
    ConfigOpt,
    DataOpt,
    SourcesOpt,
    app,
    as_of_option,
    committed,
    config,
    console,
    parse_date,
    repeated,
)
from churnhealth.cli.views import common as common_view
from churnhealth.cli.views import evaluation as evaluation_view
from churnhealth.cli.views import training as training_view
from churnhealth.progress import stages


@app.command()
def train(
    data: DataOpt = None,
    sources: SourcesOpt = None,
    as_of: Annotated[
        str | None,
        as_of_option(
            "Train as if today were this date: nothing dated on or after it is read (YYYY-MM-DD)."
        ),
    ] = None,
    config_path: ConfigOpt = None,
) -> None:
    """Train segment models, calibrate, evaluate against baselines, register in MLflow."""
    cfg = config(config_path, sources)
    from churnhealth.jobs.train import train as run

    t0 = time.perf_counter()
    with stages() as stage:
        res = run(cfg, data, parse_date(as_of, "--as-of"), stage, say=common_view.say)
    with committed("train"):
        training_view.training(
            res,
            cfg,
            time.perf_counter() - t0,
            reading=repeated(data=data, config=config_path, sources=sources),
            setting=repeated(config=config_path),
        )


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Registered model version to make champion.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Promote a version that failed the skill gate (needs --reason)."
        ),
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", help="Why, with --force: recorded on the version in the registry."
        ),
    ] = None,
    config_path: ConfigOpt = None,
) -> None:
    """Move the @champion alias to VERSION by hand and export it to models/champion/. A version
    that failed the skill gate needs --force and --reason; both are recorded in the registry."""
    cfg = config(config_path)
    from churnhealth.tracking import promote as run

    path = run(cfg, version, force=force, reason=reason)
    with committed("promote"):
        forced = " (forced past the skill gate; the reason is recorded)" if force else ""
        console.print(
            f"{cfg.mlflow.registered_model} v{version} is @champion{forced}; exported to {path}",
            highlight=False,
        )


@app.command()
def backtest(
    data: DataOpt = None,
    sources: SourcesOpt = None,
    start: Annotated[
        str | None,
        typer.Option(help="First origin, YYYY-MM-DD [config: backtest.start].", show_default=False),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Last origin, YYYY-MM-DD [config: backtest.end].", show_default=False),
    ] = None,
    step: Annotated[
        str | None,
        typer.Option(help="Origin spacing: 1M, 2W, 30D [config: 1M].", show_default=False),
    ] = None,
    config_path: ConfigOpt = None,
) -> None:
    """Rolling-origin backtest: train at each origin on what was known then, score the next
    period, check the out-of-time predictions against what happened."""
    cfg = config(config_path, sources)
    from churnhealth.evaluation.backtest_tables import tables
    from churnhealth.jobs.backtest import run_backtest, save

    first = parse_date(start, "--start") or cfg.backtest.start
    last = parse_date(end, "--end") or cfg.backtest.end
    t0 = time.perf_counter()
    with stages() as stage:
        res = run_backtest(cfg, data, first, last, step, stage)
    run_id = save(cfg, res, data)
    with committed("backtest"):
        evaluation_view.backtest(res, tables(res.report), run_id, cfg, time.perf_counter() - t0)


@app.command()
def report(data: DataOpt = None, sources: SourcesOpt = None, config_path: ConfigOpt = None) -> None:
    """Write reports/latest/report.html from the latest backtest, the champion's training run,
    the latest monitor run and the customer-success loop (overrides and playbook outcomes
    against the data); log it to MLflow."""
    from churnhealth.jobs.report import build_report

    res = build_report(config(config_path, sources), data)
    with committed("report"):
        console.print(f"Report written to {res.path} ({res.bytes / 1e3:.0f} kB)")
        common_view.notes(res.notes)
