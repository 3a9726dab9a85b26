"""Commands on accounts: `predict`, `explain`, `monitor`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from churnhealth.cli.app import (
    ConfigOpt,
    DataOpt,
    ModelOpt,
    SourcesOpt,
    app,
    as_of_option,
    committed,
    config,
    parse_date,
)
from churnhealth.cli.views import evaluation as evaluation_view
from churnhealth.cli.views import scoring as scoring_view
from churnhealth.progress import stages


@app.command()
def predict(
    data: DataOpt = None,
    sources: SourcesOpt = None,
    model: ModelOpt = None,
    as_of: Annotated[
        str | None,
        as_of_option("Score as of this date (YYYY-MM-DD) [default: the latest the data allows]."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Scores file, .parquet or .csv [default: outputs/scores-<as_of>.parquet].",
            show_default=False,
        ),
    ] = None,
    config_path: ConfigOpt = None,
) -> None:
    """Score every active account: health, tier, trend and drivers; update the history."""
    cfg = config(config_path, sources)
    from churnhealth.jobs.predict import predict as run

    with stages() as stage:
        res = run(cfg, data, model, parse_date(as_of, "--as-of"), out, stage)
    with committed("predict"):
        scoring_view.predict(res)


@app.command()
def explain(
    account_id: Annotated[str, typer.Argument(help="The account to explain.")],
    as_of: Annotated[
        str | None,
        as_of_option("As-of date (YYYY-MM-DD) [default: the latest the data allows]."),
    ] = None,
    data: DataOpt = None,
    sources: SourcesOpt = None,
    model: ModelOpt = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the explanation as JSON (docs/schemas/explanation.json) instead of tables.",
        ),
    ] = False,
    config_path: ConfigOpt = None,
) -> None:
    """Explain one account's health: tier, trend, each dimension's effect, the top drivers."""
    cfg = config(config_path, sources)
    from churnhealth.jobs.predict import explain as run

    e = run(cfg, account_id, data, model, parse_date(as_of, "--as-of"))
    if as_json:
        print(e.to_json())
    else:
        scoring_view.explanation(e)


@app.command()
def monitor(
    data: DataOpt = None,
    sources: SourcesOpt = None,
    model: ModelOpt = None,
    as_of: Annotated[
        str | None,
        as_of_option(
            "Monitor as of this date (YYYY-MM-DD): nothing dated on or after it is read "
            "[default: the latest the data allows]."
        ),
    ] = None,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain",
            help="When a trigger of monitor.retrain fires, train a challenger on recent data "
            "and promote it if it beats the champion on the same matured window.",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Report file [default: <paths.reports_dir>/monitor.json]; the PSI chart goes "
            "beside it.",
            show_default=False,
        ),
    ] = None,
    config_path: ConfigOpt = None,
) -> None:
    """Check the champion for drift and decay; exit code 0 even when alerts fire."""
    cfg = config(config_path, sources)
    from churnhealth.jobs.monitor import monitor as run

    with stages() as stage:
        res = run(cfg, data, model, parse_date(as_of, "--as-of"), retrain, out, stage)
    with committed("monitor"):
        evaluation_view.monitor(res.report, res.out)
