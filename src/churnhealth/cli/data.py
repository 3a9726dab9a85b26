"""Commands on the data: `synth`, `validate`, `features`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from churnhealth.cli.app import (
    ConfigOpt,
    DataOpt,
    SourcesOpt,
    app,
    as_of_option,
    config,
    parse_date,
    repeated,
)
from churnhealth.cli.views import data as data_view
from churnhealth.errors import ChurnhealthError
from churnhealth.progress import stages

# The jobs are imported inside each command: together they pull in MLflow, LightGBM, SHAP and
# Ibis (6.7 s to import on 2 cores), and `churnhealth --help` (1.0–1.4 s) would wait for them.


@app.command()
def synth(
    out: Annotated[
        Path, typer.Option(help="Output: a .duckdb file, or else a folder of Parquet files.")
    ] = Path("data/demo.duckdb"),
    accounts: Annotated[
        int | None,
        typer.Option(help="Accounts ever created [config: 5000].", show_default=False, min=10),
    ] = None,
    years: Annotated[
        int | None,
        typer.Option(help="Years of history [config: 3].", show_default=False, min=1, max=10),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed [config: 0].", show_default=False, min=0)
    ] = None,
    drift: Annotated[
        list[str] | None,
        typer.Option(
            help="Inject drift from a date: usage_shift@YYYY-MM-DD (measured usage drops, churn "
            "does not change) or concept_shift@YYYY-MM-DD (what drives churn changes). "
            "Repeatable.",
            show_default=False,
        ),
    ] = None,
    messy: Annotated[
        bool,
        typer.Option(
            "--messy",
            help="Write it as real exports come: duplicates, a logging outage and a logging "
            "change in usage, late churn records, a relabelled segment, ticket times in another "
            "time zone, a missing table (docs/messy-data.md).",
        ),
    ] = False,
    no_signal: Annotated[
        bool,
        typer.Option(
            "--no-signal",
            help="The no-signal control: the same accounts, contracts and churn rate, but each "
            "account leaves at random, independently of everything the tables hold. No model "
            "should pass the skill gate on it.",
        ),
    ] = False,
    monthly_share: Annotated[
        float | None,
        typer.Option(
            "--monthly-share",
            help="Share of accounts on monthly contracts in every segment, 0..1 [default: the "
            "segments' own: 0 enterprise, 0.2 mid-market, 0.6 SMB].",
            min=0,
            max=1,
            show_default=False,
        ),
    ] = None,
    team: Annotated[
        bool | None,
        typer.Option(
            "--team/--no-team",
            help="A customer-success team runs plays on the accounts it finds worrying, and "
            "holds out a random share of them at the end (--experiment-months): writes "
            "cs_actions and each play's true effect in truth. --no-team: nobody works the "
            "accounts [default: on; config: synth.team].",
            show_default=False,
        ),
    ] = None,
    experiment_months: Annotated[
        int | None,
        typer.Option(
            "--experiment-months",
            help="With the team: it holds out a random share of its plays from this many months "
            "before the end (0: never) [config: synth.experiment_months, 24].",
            min=0,
            max=120,
            show_default=False,
        ),
    ] = None,
    config_path: ConfigOpt = None,
) -> None:
    """Generate the demo company: a synthetic B2B SaaS business with ground truth."""
    cfg = config(config_path).synth
    from churnhealth.synth import Drift, Team, generate

    drifts = tuple(Drift.parse(d) for d in drift or ())
    n, y, s = accounts or cfg.accounts, years or cfg.years, cfg.seed if seed is None else seed
    months = cfg.experiment_months if experiment_months is None else experiment_months
    on = cfg.team if team is None else team
    if not on and experiment_months is not None:
        raise ChurnhealthError(
            "synth --experiment-months: goes with the team, and --no-team "
            "(or synth.team: false) turns it off"
        )
    t0 = time.perf_counter()
    with stages() as start:
        res = generate(
            out,
            n,
            y,
            s,
            cfg.start,
            drifts,
            cfg.truth_paths,
            on_stage=start,
            messy=messy,
            no_signal=no_signal,
            monthly_share=monthly_share,
            team=Team(experiment_months=months) if on else None,
        )
    data_view.synth(res, time.perf_counter() - t0, s, y, drifts)


@app.command()
def validate(
    data: DataOpt = None,
    sources: SourcesOpt = None,
    as_of: Annotated[
        str | None,
        as_of_option("Also reject rows dated on or after this date (YYYY-MM-DD)."),
    ] = None,
    config_path: ConfigOpt = None,
) -> None:
    """Check the tables against the data contract; one line per problem, exit code 2."""
    cfg = config(config_path, sources)
    from churnhealth.data.load import check
    from churnhealth.data.mapping import load_mapping

    report = check(
        data or cfg.data.path,
        cfg.data.segments,
        parse_date(as_of, "--as-of"),
        cfg.labels.resignup_gap_days,
        load_mapping(cfg.data.sources),
        cfg.data.repair_usage,
        cfg.data.memory_limit,
    )
    data_view.validation(report)


@app.command()
def doctor(
    data: DataOpt = None,
    sources: SourcesOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the diagnosis as JSON instead of tables.")
    ] = False,
    config_path: ConfigOpt = None,
) -> None:
    """What your data supports, before training: history, windows, churners per segment,
    features computed or skipped, suggested configuration. Writes nothing."""
    cfg = config(config_path, sources)
    from churnhealth.jobs.doctor import diagnose

    options = repeated(data=data, config=config_path, sources=sources)
    with stages() as stage:
        diagnosis = diagnose(cfg, data, stage, options or None)
    data_view.doctor(diagnosis, as_json)


@app.command()
def features(
    data: DataOpt = None,
    sources: SourcesOpt = None,
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).")] = Path(
        "outputs/features.parquet"
    ),
    start: Annotated[
        str | None, typer.Option(help="First as-of date (YYYY-MM-DD).", show_default=False)
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Last as-of date (YYYY-MM-DD).", show_default=False)
    ] = None,
    config_path: ConfigOpt = None,
) -> None:
    """Build point-in-time features and churn labels for every account and as-of date."""
    cfg = config(config_path, sources)
    from churnhealth.jobs.features import build

    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    with stages() as stage:
        res = build(cfg, out, data, first, last, stage)
    data_view.features(res, cfg)
