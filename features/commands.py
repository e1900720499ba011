"""Commands of the data and feature stages: import, generate, features, survey-report; and the
options every stage's commands share (the data folder, the instrument, as-of days)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mooc_risk.days import parse_days
from mooc_risk.memory import is_size
from mooc_risk.progress import progress_steps
from mooc_risk.settings import Backend

DataDir = Annotated[
    Path, typer.Option("--data", help="Folder with enrolments, events, surveys, outcomes "
                       "(.parquet, .csv or a folder of Parquet files).")
]
Constructs = Annotated[
    Path | None,
    typer.Option("--constructs", help="Construct map YAML of the survey instrument "
                 "(default: the six-construct enrolment instrument)."),
]
BackendOption = Annotated[Backend, typer.Option("--backend", help="Feature engine.")]


class TableFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"


class Source(StrEnum):
    """What ``mooc-risk import`` reads: a public data set's folder or platform event logs."""

    OULAD = "oulad"
    KDDCUP2015 = "kddcup2015"
    DATAEDU = "dataedu"
    EDX = "edx"
    XAPI = "xapi"
    CALIPER = "caliper"
    MOODLE = "moodle"


TABLE_SOURCES = {Source.OULAD: "oulad", Source.KDDCUP2015: "kddcup", Source.DATAEDU: "dataedu"}


def as_of_days(text: str, option: str = "--as-of") -> list[int]:
    """An ``--as-of`` value as days (``mooc_risk.days.parse_days``), or a usage error (exit 2)."""
    try:
        return parse_days(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the tables to.")],
    learners: Annotated[int, typer.Option("--learners", min=1, help="Number of learners.")] = 20000,
    courses: Annotated[int, typer.Option("--courses", min=1, help="Number of courses.")] = 8,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Runs per course.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same data.")] = 42,
    fmt: Annotated[TableFormat, typer.Option("--format", help="File format of the tables.")] = (
        TableFormat.PARQUET),
    constructs: Constructs = None,
    plant_reengage: Annotated[float | None, typer.Option(
        "--plant-reengage", min=0.0, max=1.0, help="Simulate a course team acting on at-risk "
        "learners with this effect on re-engagement within 7 days (probability points, e.g. 0.1); "
        "writes interventions, holdout, at_risk and planted_effects too.")] = None,
    plant_complete: Annotated[float | None, typer.Option(
        "--plant-complete", min=0.0, max=1.0, help="The simulated actions' effect on completion "
        "(probability points).")] = None,
    holdout_share: Annotated[float | None, typer.Option(
        "--holdout-share", min=0.0, max=0.99, help="With a planted effect: share of the at-risk "
        "learners held out at random (default 0.3); not with --confounded.")] = None,
    intervention_day: Annotated[int, typer.Option(
        "--intervention-day", min=0, help="With a planted effect: the course day the team acts.")] = 14,
    confounded: Annotated[bool, typer.Option(
        "--confounded", help="With a planted effect: no holdout; the team acts more on the "
        "riskiest (data for the observational estimate); not with --holdout-share.")] = False,
) -> None:
    """Write a synthetic MOOC data set (deterministic by seed) in the canonical layout."""
    from mooc_risk.features.constructs import load_construct_map
    from mooc_risk.features.synthetic.generate import generate as write_synthetic
    from mooc_risk.features.synthetic.interventions import InterventionPlan

    if confounded and holdout_share is not None:
        raise typer.BadParameter("--confounded and --holdout-share exclude each other: a "
                                 "confounded plan has no holdout", param_hint="--holdout-share")
    plan = None
    if plant_reengage is not None or plant_complete is not None:
        share = {} if holdout_share is None else {"holdout_share": holdout_share}
        plan = InterventionPlan.uniform(plant_reengage or 0.0, plant_complete or 0.0,
                                        as_of_day=intervention_day, confounded=confounded, **share)
    with progress_steps(3, "generate") as step:
        counts = write_synthetic(out, learners, courses, seed, load_construct_map(constructs),
                                 runs=runs, fmt=fmt.value, on_step=step, interventions=plan)
    typer.echo(", ".join(f"{n:,} {name}" for name, n in counts.items()) + f" → {out}")


def features(
    data: DataDir,
    out: Annotated[Path, typer.Option("--out", help="Output file, .parquet or .csv.")],
    as_of: Annotated[str, typer.Option("--as-of", help="As-of days, e.g. 7,14,28.")] = "0,7,14,28",
    constructs: Constructs = None,
    event_types: Annotated[
        str | None,
        typer.Option("--event-types", help="Event types with their own count column, comma "
                     "separated (default: the 12 most frequent in the data)."),
    ] = None,
    backend: BackendOption = Backend.DUCKDB,
) -> None:
    """Build one feature row per enrolment × as-of day (leakage-free) and write it to a file."""
    from mooc_risk.features.build import FeatureSpec, build_features, default_spec
    from mooc_risk.features.canonical.engine import connect
    from mooc_risk.features.canonical.tables import read_tables
    from mooc_risk.features.clickstream import ClickstreamSpec
    from mooc_risk.features.constructs import construct_map_for
    from mooc_risk.files import write_table

    days = as_of_days(as_of)
    if out.suffix not in (".parquet", ".csv"):
        raise typer.BadParameter(f"--out must end in .parquet or .csv, got {out.name!r}")
    cmap = construct_map_for(data, constructs)
    with progress_steps(3, "features") as step:
        tables = read_tables(data, connect(backend), cmap)
        step("input validated")
        if event_types:
            spec = FeatureSpec(ClickstreamSpec(tuple(t.strip() for t in event_types.split(","))), cmap)
        else:
            spec = default_spec(tables, cmap)
        frame = build_features(tables, days, spec)
        if frame.empty:
            from mooc_risk.errors import InputError

            enrolled = tables.enrolments.count().execute()
            raise InputError(f"{data}: no feature rows to write ({enrolled:,} enrolments, "
                             f"{tables.events.count().execute():,} events; as-of days {as_of}). "
                             "Was the import empty, or do the runs start after these days?")
        step(f"{len(days)} as-of day(s) built")
        write_table(frame, out)
        step("written")
    typer.echo(f"{len(frame):,} rows × {frame.shape[1]} columns → {out}")


def survey_report(data: DataDir, constructs: Constructs = None) -> None:
    """Construct scores and Cronbach's alpha of the enrolment survey in DATA."""
    from rich.console import Console
    from rich.table import Table

    from mooc_risk.features.canonical.engine import connect
    from mooc_risk.features.canonical.tables import read_tables
    from mooc_risk.features.constructs import construct_map_for, reliability_report

    cmap = construct_map_for(data, constructs)
    tables = read_tables(data, connect(), cmap)
    surveys = tables.surveys.to_pandas()
    report = reliability_report(surveys, cmap)
    table = Table(title=f"{cmap.instrument}: {len(surveys):,} survey rows")
    for column in ("construct", "items", "reverse_keyed", "scored", "complete", "mean", "alpha"):
        table.add_column(column, justify="left" if column == "construct" else "right", no_wrap=True)
    for row in report.itertuples(index=False):
        table.add_row(row.construct, str(row.items), str(row.reverse_keyed), f"{row.scored:,}",
                      f"{row.complete:,}", f"{row.mean:.2f}", f"{row.alpha:.3f}")
    Console(width=None if sys.stdout.isatty() else 120).print(table)


def import_data(
    source: Annotated[Source, typer.Option("--source", help="Data set (oulad, kddcup2015 daily or "
                                           "raw release, dataedu) or event logs (edx, xapi, "
                                           "caliper, moodle).")],
    inputs: Annotated[list[Path], typer.Option("--in", help="The source's folder; for event logs "
                                               "files or folders, several after one --in "
                                               "(--in logs/*.gz) or --in repeated.")],
    out: Annotated[Path, typer.Option("--out", help="Data folder to write (replaced only when "
                                      "the import succeeds).")],
    append: Annotated[bool, typer.Option("--append", help="Event logs: add to the events already "
                                         "in OUT (events seen before are not added twice).")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Event logs: stop at the first bad "
                                         "event instead of counting it.")] = False,
    vocabulary: Annotated[Path | None, typer.Option("--vocabulary", help="Event logs: your own "
                                                    "event vocabulary YAML.")] = None,
    final: Annotated[bool, typer.Option("--final", help="Event logs cover whole course runs: "
                                        "no pass means not certified; no activity in a run's last "
                                        "14 days of logs means dropped out.")] = False,
    max_bad_share: Annotated[float, typer.Option(
        "--max-bad-share", min=0.0, max=1.0,
        help="Event logs: fail when more than this share of the records cannot be used "
             "(an import that keeps nothing always fails).")] = 0.5,
    memory: Annotated[str | None, typer.Option(
        "--memory", metavar="SIZE", help="Event logs: DuckDB's memory limit for the import, e.g. "
        "4GB; beyond it DuckDB spills to disk (default: 40% of the machine's memory, at least "
        "512MB).")] = None,
    more: Annotated[list[Path] | None, typer.Argument(
        metavar="PATH", help="More input paths after --in (as a shell glob expands).",
        show_default=False)] = None,
) -> None:
    """Convert a data set or platform event logs to the canonical tables in OUT."""
    from mooc_risk.features.sources.staging import staged_output

    inputs = [*inputs, *(more or [])]
    if memory is not None and not is_size(memory):
        raise typer.BadParameter(f"expected a size such as 512MB or 4GB, got {memory!r}",
                                 param_hint="--memory")
    if source not in TABLE_SOURCES:
        _import_logs(source, inputs, out, append, strict, vocabulary, final, max_bad_share, memory)
        return
    if len(inputs) != 1 or append or strict or final or vocabulary or max_bad_share != 0.5 or memory:
        raise typer.BadParameter(f"--source {source} reads one folder (--in PATH); --append, "
                                 "--strict, --final, --vocabulary, --max-bad-share and --memory are "
                                 "for event logs")
    import importlib

    adapter = importlib.import_module(f"mooc_risk.features.sources.{TABLE_SOURCES[source]}")
    options = {}
    needs = getattr(adapter, "needs_id_secret", lambda _path: True)
    if getattr(adapter, "NEEDS_ID_SECRET", False) and needs(inputs[0]):  # ids hashed as the logs'
        options["secret"] = _id_secret()
    with progress_steps(adapter.STEPS + 1, f"import {source}") as step:
        with staged_output(out) as stage:
            counts = adapter.convert(inputs[0], stage, step, **options)
        step("validated")
    typer.echo(", ".join(f"{n:,} {name}" for name, n in counts.items()) + f" → {out}")


def _import_logs(source: Source, inputs: list[Path], out: Path, append: bool, strict: bool,
                 vocabulary: Path | None, final: bool, max_bad_share: float, memory: str | None) -> None:
    import duckdb

    from mooc_risk.errors import ResourceError
    from mooc_risk.features.sources.inputs import LOG_SUFFIXES, input_files
    from mooc_risk.features.sources.logs import LogImport, convert_logs, source_module
    from mooc_risk.features.sources.staging import staged_output
    from mooc_risk.memory import default_memory

    files = input_files(inputs, getattr(source_module(source.value), "SUFFIXES", LOG_SUFFIXES)).read
    job = LogImport(source.value, inputs, _id_secret(),
                    append_to=out if append and out.exists() else None, strict=strict,
                    vocabulary=vocabulary, final=final, max_bad_share=max_bad_share,
                    memory_limit=memory)
    with progress_steps(len(files) + 1, f"import {source}") as step:
        # the import's SQL fixes the tables' types and values; `features` validates on reading
        with staged_output(out, validate=False) as stage:
            try:
                counts, problems = convert_logs(job, stage, step)
            except duckdb.OutOfMemoryException as exc:  # a later step than reading the files
                raise ResourceError(f"the log import hit its DuckDB memory limit "
                                    f"({memory or default_memory()}); raise it with --memory SIZE, "
                                    "or run where there is more memory") from exc
        step("written")
    typer.echo(", ".join(f"{n:,} {name}" for name, n in counts.items()) + f" → {out}")
    typer.echo(problems.report())
    if problems.counts:
        typer.echo(f"problems: {problems.summary()}")
    typer.echo(f"per file and line: {out / 'import_problems.csv'}")


def _id_secret() -> bytes:
    """The HMAC key for learner ids, from the identity settings (read here, at the entry point)."""
    from mooc_risk.features.sources.identity import secret_from
    from mooc_risk.settings import IdentitySettings

    identity = IdentitySettings.from_env()
    return secret_from(identity.id_secret, identity.id_secret_file)


def register(app: typer.Typer) -> None:
    app.command("import")(import_data)
    app.command()(generate)
    app.command()(features)
    app.command("survey-report")(survey_report)
