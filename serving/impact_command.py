"""``mooc-risk impact``: the effect of interventions on re-engagement and completion
(``serving.impact``), written as a report folder.

Exit codes: 0 done; 2 bad input (a missing table or column, no interventions, no comparison
group, a bad database URL: our message, which names files and columns, never values); 1 any
other failure — one line on stderr with the error's type only, since a library's message
(pandas, EconML, a database driver) can quote data such as learner ids; ``--debug`` re-raises
it with the traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mooc_risk.features.commands import DataDir

EXIT_BAD_INPUT, EXIT_FAILURE = 2, 1


def impact(
    data: DataDir,
    out: Annotated[Path, typer.Option("--out", help="Report folder to write (impact.json, "
                                      "index.html, effects.png), replaced whole.")],
    course: Annotated[str | None, typer.Option("--course", help="Only this course; with no log "
                                               "in DATA, reads its interventions and holdout from "
                                               "the journal (MOOC_RISK_DB_URL).")] = None,
    interventions: Annotated[Path | None, typer.Option(
        "--interventions", help="The intervention log as .parquet, .csv or a folder of .parquet "
        "files (default: DATA's interventions table, else the journal).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="On a failure, show the error's message "
                                        "and traceback (may quote data).")] = False,
) -> None:
    """Measure whether the interventions help: randomised (treated vs held out) where a holdout
    exists, else observational (doubly robust, with its assumptions, overlap diagnostics and a
    warning); by suggested action and risk band. Exit 0 done, 2 bad input, 1 any other failure."""
    from mooc_risk.errors import InputError
    from mooc_risk.features.canonical.tables import find_table
    from mooc_risk.serving.impact import analyse, write_report

    journal = None
    try:
        in_data = find_table(Path(data), "interventions") is not None
        if course is not None and interventions is None and not in_data:
            from mooc_risk.serving.journal.journal import Journal
            from mooc_risk.settings import DatabaseSettings

            journal = Journal.open(DatabaseSettings.from_env().db_url)
        report = analyse(data, course, interventions, journal)
        write_report(report, out)
    except InputError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except Exception as exc:
        if debug:
            raise
        typer.secho(f"error: the impact report failed ({type(exc).__name__}); its message is "
                    "not shown as it may quote data — rerun with --debug to see it", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(EXIT_FAILURE) from None
    finally:
        if journal is not None:
            journal.close()
    overall = [e for e in report["estimates"] if e["group"] == "all"]
    typer.echo(f"{report['design']}: " + "; ".join(
        f"{e['outcome']} {e['verdict']}" + (f" ({e['effect']:+.3f} [{e['low']:+.3f}, {e['high']:+.3f}])"
                                           if e["effect"] is not None else "") for e in overall)
        + f" → {out / 'index.html'}")
    if report["design"] == "observational":
        typer.echo(report["warning"])


def register(app: typer.Typer) -> None:
    app.command()(impact)
