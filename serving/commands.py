"""Commands of the serving stage: serve, predict, ask (keys: ``key_commands``)."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mooc_risk.features.commands import DataDir
from mooc_risk.models.targets import Target
from mooc_risk.progress import progress_steps
from mooc_risk.serving import impact_command, key_commands, monitor_command, refresh_command
from mooc_risk.serving.journal import commands as journal_commands

SERVICE = "mooc_risk.serving.service:RiskService"


# --target of predict: each target, or "both"
TargetChoice = StrEnum("TargetChoice", {**{t.name: t.value for t in Target}, "BOTH": "both"})


def chosen_targets(choice: str) -> list[Target]:
    return list(Target) if choice == "both" else [Target(choice)]


def serve(
    data: DataDir,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
) -> None:
    """Start the HTTP service (BentoML) on the @champion models and the data in DATA: the
    course-team app at /app, the API (docs at /api-docs) and the landing page at /."""
    from mooc_risk.errors import InputError
    from mooc_risk.features.canonical.engine import connect
    from mooc_risk.features.canonical.tables import read_tables
    from mooc_risk.features.constructs import construct_map_for
    from mooc_risk.serving.follow import Follower
    from mooc_risk.serving.holdout import load_configs
    from mooc_risk.serving.roster import read_roster, roster_file
    from mooc_risk.settings import (
        DatabaseSettings,
        EngineSettings,
        PathSettings,
        ServiceSettings,
        TrackingSettings,
        WebSettings,
    )

    # a remote registry that does not answer is reported in seconds, not after minutes of retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    # fail fast, here and not in the service's worker: bad settings, bad data, nothing to serve
    tracking, paths = TrackingSettings.from_env(), PathSettings.from_env()
    service, engine = ServiceSettings.from_env(), EngineSettings.from_env()
    read_tables(data, connect(engine.backend), construct_map_for(data))
    logging.getLogger("mooc_risk.serving.follow").setLevel(logging.ERROR)  # one line, below
    follower = Follower(tracking, paths, service.model_copy(update={"data_dir": data}), engine)
    if not follower.load().scorers:
        typer.secho("error: nothing to serve: " + "; ".join(follower.problems.values()), err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(1)
    roster = roster_file(data)
    if roster is not None:
        read_roster(roster)  # a bad roster stops here, not on a course team's page
    load_configs(paths.holdout_file)  # a bad holdout file too
    DatabaseSettings.from_env(), WebSettings.from_env()
    env = {**os.environ, "MOOC_RISK_DATA": str(data.resolve()),  # the service reads the rest itself
           "BENTOML_DO_NOT_TRACK": os.environ.get("BENTOML_DO_NOT_TRACK", "True")}  # no usage reports
    bentoml = shutil.which("bentoml", path=str(Path(sys.executable).parent)) or shutil.which("bentoml")
    if bentoml is None:
        raise InputError("the `bentoml` command is not installed next to mooc-risk (run `make install`)")
    typer.echo(f"serving {data} on http://{host}:{port} (course teams: /app, API docs: /api-docs)",
               err=True)
    os.execve(bentoml, [bentoml, "serve", SERVICE, "--port", str(port), "--host", host], env)


def predict(
    data: DataDir,
    out: Annotated[Path, typer.Option("--out", help="Output file, .parquet or .csv.")],
    as_of: Annotated[int, typer.Option("--as-of", min=0, help="As-of day.")],
    course: Annotated[str | None, typer.Option("--course", help="One course id.")] = None,
    all_courses: Annotated[bool, typer.Option("--all", help="Every course in DATA.")] = False,
    run: Annotated[str | None, typer.Option("--run", help="With --course: this run (default: "
                                            "the course's running run, the one that started "
                                            "last by today, MOOC_RISK_NOW).")] = None,
    target: Annotated[TargetChoice, typer.Option("--target", help="What to predict.")] = "both",
    top_k: Annotated[int, typer.Option("--top-k", min=0, max=10, help="Reasons per learner "
                                       "(0: none, faster).")] = 3,
) -> None:
    """Score the learners of a course's running run (or of every course's) as of a day, with
    reasons, to a file; learners who unenrolled before the day are not listed."""
    from mooc_risk.features.canonical.engine import connect
    from mooc_risk.files import write_table
    from mooc_risk.models.bundle import BundleError
    from mooc_risk.serving.batch import batch_predictions
    from mooc_risk.serving.scoring import load_scorers, no_champion
    from mooc_risk.settings import EngineSettings, ServiceSettings, TrackingSettings

    if (course is None) == (not all_courses):
        raise typer.BadParameter("give exactly one of --course C or --all")
    if run is not None and course is None:
        raise typer.BadParameter("--run needs --course")
    if out.suffix not in (".parquet", ".csv"):
        raise typer.BadParameter(f"--out must end in .parquet or .csv, got {out.name!r}")
    tracking, engine = TrackingSettings.from_env(), EngineSettings.from_env()
    today = ServiceSettings.from_env().today()
    targets = chosen_targets(target)
    try:  # with both targets, score those that have a champion and name the others
        found, missing = load_scorers(tracking, targets, skip_missing=len(targets) > 1)
    except BundleError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    for skipped, why in missing.items():
        typer.secho(f"warning: {skipped} not predicted: {why}", err=True, fg=typer.colors.YELLOW)
    if not found:
        typer.secho(f"error: {no_champion(missing)}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    scorers = list(found.values())
    with progress_steps(2 + 2 * len(scorers), "predict") as step:
        frame = batch_predictions(
            data, connect(engine.backend), scorers, as_of, today, course, run, top_k, on_step=step,
            warn=lambda text: typer.secho(f"warning: {text}", err=True, fg=typer.colors.YELLOW))
        write_table(frame, out)
        step("written")
    typer.echo(f"{len(frame):,} predictions → {out}")
    learners = frame.drop_duplicates(["learner_id", "course_id", "run_id"])
    typer.echo(f"suggested actions for {len(learners):,} learners (one each, over the targets):")
    for action, n in learners["intervention"].value_counts().items():
        typer.echo(f"  {n:>7,} ({n / len(learners):4.0%})  {action}")


def ask(
    course: Annotated[str, typer.Option("--course", help="Course id.")],
    as_of: Annotated[int, typer.Option("--as-of", min=0, help="As-of day.")],
    key: Annotated[str, typer.Option("--key", envvar="MOOC_RISK_KEY", help="API key "
                                     "(or MOOC_RISK_KEY).")],
    url: Annotated[str, typer.Option("--url", help="Service URL.")] = "http://127.0.0.1:3000",
    top: Annotated[int, typer.Option("--top", min=1, max=100, help="How many learners.")] = 10,
    target: Annotated[Target, typer.Option("--target", help="What to predict.")] = Target.DROPOUT,
    wait: Annotated[int, typer.Option("--wait", min=0, help="Seconds to wait for the service "
                                      "to become ready.")] = 0,
) -> None:
    """Ask a running service which learners of a course are most at risk, and why."""
    from urllib.parse import quote

    import httpx

    from mooc_risk.serving.readiness import wait_until_ready

    if wait and not wait_until_ready(url, wait):
        typer.secho(f"error: {url} did not become ready within {wait} s", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    try:
        response = httpx.post(f"{url}/courses/{quote(course, safe='')}/predictions", timeout=300,
                              headers={"Authorization": f"Bearer {key}"},
                              json={"as_of_day": as_of, "page_size": top, "target": target,
                                    "top_k": 3})
    except httpx.HTTPError as exc:
        typer.secho(f"error: cannot reach {url} ({exc})", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    if response.status_code != 200:
        try:
            message = response.json().get("error")
        except ValueError:
            message = response.text[:200]
        typer.secho(f"error {response.status_code}: {message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    page = response.json()
    typer.echo(f"{course}, run {page['run_id']}, day {as_of}: {page['total']:,} learners; the "
               f"{len(page['rows'])} with the highest {target} risk:")
    for row in page["rows"]:
        reasons = "; ".join(row[f"reason_{n}_text"] for n in (1, 2, 3) if row.get(f"reason_{n}_text"))
        typer.echo(f"  {row['learner_id']} ({row['status']})  risk {row['risk']:.2f} "
                   f"[{row['risk_band']}]  {reasons}\n      → {row['intervention']}")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(predict)
    app.command()(ask)
    app.add_typer(key_commands.keys_app, name="keys")
    app.add_typer(journal_commands.interventions_app, name="interventions")
    refresh_command.register(app)
    impact_command.register(app)
    monitor_command.register(app)
