"""``mooc-risk monitor``: drift and decay of the ``@champion`` models (``serving.monitor``) as a
command a scheduler runs, the report in REPORT_DIR (``serving.monitor_report``).

Exit codes: 0 no rule fired; 3 a rule fired (the report names it and the model version carries
the MLflow tag ``retrain_signal``); 2 bad input (a missing data folder or table, an unknown
course, no ``@champion``, a bad thresholds file or setting: ``InputError``, which the CLI root
prints and turns into 2); 1 any other failure (one line on stderr; ``--debug`` shows the
traceback).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from mooc_risk.features.commands import DataDir
from mooc_risk.serving.job_errors import one_line_on_failure

EXIT_RETRAIN = 3


def monitor(
    data: DataDir,
    out: Annotated[Path, typer.Option("--out", help="Report folder (index.html, monitor.json, "
                                      "figures, Evidently's drift reports); replaced whole.")],
    course: Annotated[str | None, typer.Option("--course", help="One course only (default: all).")] = None,
    day: Annotated[datetime | None, typer.Option(
        "--date", formats=["%Y-%m-%d"], help="Monitor the runs running on this date, as of 00:00 "
        "UTC (default: today, MOOC_RISK_NOW or the clock).")] = None,
    thresholds: Annotated[Path | None, typer.Option(
        "--thresholds", help="Thresholds YAML (default: the packaged models/monitor.yaml).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="On a failure, show the traceback.")] = False,
) -> None:
    """Drift of the running runs' features and scores against each @champion's training
    reference, and decay of the predictions issued (MOOC_RISK_HISTORY) once outcomes arrive.
    Exit 0 nothing fired, 3 a retrain rule fired (tag retrain_signal set on the model version),
    2 bad input, 1 any other failure."""
    from mooc_risk.settings import EngineSettings, PathSettings, ServiceSettings, TrackingSettings

    tracking, paths, engine = (TrackingSettings.from_env(), PathSettings.from_env(),
                               EngineSettings.from_env())
    night = day.date() if day is not None else ServiceSettings.from_env().today().date()
    with one_line_on_failure(f"monitor {night}", debug):
        result, tagged, run_id = _run(data, night, course, thresholds, out, tracking, paths, engine)
    for report in result.targets:
        for note in report.notes:
            typer.echo(f"{report.target}: {note}", err=True)
    signals = result.signals
    fired = "; ".join(f"{s.target}: {s.text}" for s in signals) or "no rule fired"
    typer.echo(f"monitor {night}: {fired} → {out / 'index.html'} (MLflow run {run_id})")
    if signals:
        for target, text in tagged.items():
            typer.echo(f"tagged {target} retrain_signal={text}", err=True)
        raise typer.Exit(EXIT_RETRAIN)


def _run(data, night, course, thresholds_file, out, tracking, paths, engine):
    from mooc_risk.serving.monitor import load_thresholds, monitor, set_signal_tags
    from mooc_risk.serving.monitor_report import log_to_mlflow, write_report
    from mooc_risk.serving.monitor_status import write_status

    thresholds = load_thresholds(thresholds_file)
    result = write_report(out, lambda stage: monitor(
        data, night, tracking, paths.history_dir, course=course, thresholds=thresholds,
        backend=engine.backend, html_dir=stage))
    run_id = log_to_mlflow(tracking, result, out)
    tagged = set_signal_tags(tracking, result)
    write_status(paths.history_dir, result, out)  # what the app shows a course team
    return result, tagged, run_id


def register(app: typer.Typer) -> None:
    app.command()(monitor)
