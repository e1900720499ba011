"""``mooc-risk refresh``: the nightly job (``serving.refresh``) as a command a scheduler runs.

Exit codes: 0 done; 2 bad input (bad logs or data, a date before any run, no ``@champion``,
a bad setting or option); 1 any other failure (one line on stderr; ``--debug`` shows the
traceback), including another refresh running on the same history folder and a DuckDB step
running out of memory under its limit (the line names the step, the limit and the option that
raises it: ``--import-memory`` for the log import, ``--feature-memory`` for building features;
both default to 40 % of the machine's memory, at least 512MB — ``serving.refresh``).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mooc_risk.features.commands import TABLE_SOURCES, DataDir, Source
from mooc_risk.memory import is_size
from mooc_risk.progress import progress_steps
from mooc_risk.serving.job_errors import one_line_on_failure

# --source of refresh: the event-log sources of `import`
LogSource = StrEnum("LogSource", {s.name: s.value for s in Source if s not in TABLE_SOURCES})


def _check_size(value: str | None, option: str) -> None:
    if value is not None and not is_size(value):
        raise typer.BadParameter(f"expected a size such as 512MB or 2GB, got {value!r}",
                                 param_hint=option)


def refresh(
    data: DataDir,
    logs: Annotated[list[Path] | None, typer.Option(
        "--logs", help="New platform logs to append to DATA first (files or folders, several after "
                       "one --logs or --logs repeated), as `import --append` does.")] = None,
    source: Annotated[LogSource | None, typer.Option(
        "--source", help="What the --logs are: edx, xapi, caliper or moodle.")] = None,
    day: Annotated[datetime | None, typer.Option(
        "--date", formats=["%Y-%m-%d"], help="The night to refresh, YYYY-MM-DD, scored as of "
        "00:00 UTC (default: today, MOOC_RISK_NOW or the clock).")] = None,
    import_memory: Annotated[str | None, typer.Option(
        "--import-memory", metavar="SIZE", help="DuckDB memory limit of the log import, e.g. 2GB "
        "(default: 40% of the machine's memory, at least 512MB; 512MB is too little for a "
        "folder with a million enrolments). Hitting it fails with exit 1.")] = None,
    feature_memory: Annotated[str | None, typer.Option(
        "--feature-memory", metavar="SIZE", help="DuckDB memory limit for building features, e.g. "
        "8GB; beyond it DuckDB spills to STORE/.spill (default: 40% of the machine's memory, at "
        "least 512MB; the pandas frames come on top). Hitting it fails with exit 1.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the result as JSON on stdout (the summary line goes to stderr).")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="On a failure, show the traceback.")] = False,
    more: Annotated[list[Path] | None, typer.Argument(
        metavar="PATH", help="More log paths after --logs (as a shell glob expands).",
        show_default=False)] = None,
) -> None:
    """The nightly job, idempotent per date: append the new logs (--logs), pin the data
    version, materialize the date's features of every running run into the feature store,
    score every listed learner with each @champion model, and write the date's partition of
    the predictions history (MOOC_RISK_HISTORY/date=YYYY-MM-DD/predictions.parquet) and its
    result (MOOC_RISK_HISTORY/_runs/YYYY-MM-DD.json). Running it again for the same date
    replaces that date's files. Exit 0 done, 2 bad input, 1 any other failure."""
    from mooc_risk.settings import EngineSettings, PathSettings, ServiceSettings, TrackingSettings

    logs = [*(logs or []), *(more or [])]
    if logs and source is None:
        raise typer.BadParameter("--logs needs --source edx|xapi|caliper|moodle", param_hint="--source")
    if source is not None and not logs:
        raise typer.BadParameter("--source is for --logs PATH", param_hint="--source")
    if import_memory is not None and not logs:
        raise typer.BadParameter("--import-memory is for --logs PATH", param_hint="--import-memory")
    _check_size(import_memory, "--import-memory")
    _check_size(feature_memory, "--feature-memory")
    if more and len(logs) == len(more):
        raise typer.BadParameter(f"unexpected argument {str(more[0])!r} (log paths go after --logs)")
    tracking, paths, engine = (TrackingSettings.from_env(), PathSettings.from_env(),
                               EngineSettings.from_env())
    night = day.date() if day is not None else ServiceSettings.from_env().today().date()
    with one_line_on_failure(f"refresh {night}", debug):  # a nightly job: one line, exit 1
        result = _run(data, night, logs, source, import_memory, feature_memory, tracking, paths,
                      engine)
    line = summary(result)
    if as_json:
        typer.echo(line, err=True)
        typer.echo(json.dumps(result, indent=1))
    else:
        typer.echo(line)


def _run(data: Path, night: date, logs: list[Path], source, import_memory: str | None,
         feature_memory: str | None, tracking, paths, engine) -> dict:
    from mooc_risk.errors import InputError
    from mooc_risk.models.targets import Target
    from mooc_risk.serving.holdout import load_configs
    from mooc_risk.serving.refresh import Logs, NightlyRefresh
    from mooc_risk.serving.scoring import load_scorers, no_champion

    def warn(text: str) -> None:
        typer.secho(f"warning: {text}", err=True, fg=typer.colors.YELLOW)

    job_logs = None
    if logs:
        from mooc_risk.features.sources.identity import secret_from
        from mooc_risk.settings import IdentitySettings

        identity = IdentitySettings.from_env()
        job_logs = Logs(source.value, logs, secret_from(identity.id_secret, identity.id_secret_file),
                        memory_limit=import_memory)
    scorers, missing = load_scorers(tracking, list(Target), skip_missing=True)
    if not scorers:
        raise InputError(no_champion(missing))
    holdouts = load_configs(paths.holdout_file)  # InputError for a bad file: before any work
    with NightlyRefresh(data, night, scorers, store_dir=paths.store_dir, history_dir=paths.history_dir,
                        backend=engine.backend, logs=job_logs,
                        feature_memory=feature_memory or engine.feature_memory, warn=warn,
                        draw_holdout=_holdout_drawer(holdouts, scorers) if holdouts else None) as job:
        for target, why in missing.items():
            job.warn(f"{target.value} not scored: {why}")
        with progress_steps(job.prepare_steps, f"refresh {night}: data") as step:
            job.prepare(step)
        with progress_steps(job.steps, f"refresh {night}: features and scores") as step:
            return job.run(step)


def _holdout_drawer(configs: dict, scorers: dict):
    """``draw_holdout`` for the night: in each course with a holdout, draw its learners with a
    suggested action (any target: the one action per learner) and record them in the journal
    (``MOOC_RISK_DB_URL``), as the app does when it shows the list — the same hash, so the same
    learners; the number held out now."""
    from mooc_risk.serving import holdout
    from mooc_risk.serving.journal.journal import Journal
    from mooc_risk.settings import DatabaseSettings

    none = next(iter(scorers.values())).catalogue.interventions.none

    def draw(frame, moment) -> int:
        rows = frame.drop_duplicates(["course_id", "run_id", "learner_id"])
        held = 0
        with Journal.open(DatabaseSettings.from_env().db_url) as journal:
            for course, listed in rows[rows["course_id"].isin(list(configs))].groupby("course_id"):
                drawn = holdout.assign_scored(journal, course, listed, configs, moment, none)
                held += sum(d.held_out and d.until > moment for d in drawn)
        return held

    return draw


def summary(result: dict) -> str:
    """The one-line summary of a result."""
    counts = result["counts"]
    scored = ", ".join(f"{t} {n:,}" for t, n in counts["learners_scored"].items())
    appended = ("" if counts["events_appended"] is None
                else f"{counts['events_appended']:,} events appended, ")
    warned = f", {len(result['warnings'])} warning(s)" if result["warnings"] else ""
    return (f"refresh {result['date']}: {appended}{counts['runs']} running run(s), learners scored: "
            f"{scored}; {counts['days_materialized']} feature day(s) ({counts['days_computed']} "
            f"computed); data {result['data_version'][:16]} → {result['partition']} "
            f"({result['seconds']['total']:.1f} s{warned})")


def register(app: typer.Typer) -> None:
    app.command()(refresh)
