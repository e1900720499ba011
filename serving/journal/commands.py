"""``mooc-risk interventions``: the intervention log (and the feedback on predictions) for
analysts, read from the database at ``MOOC_RISK_DB_URL``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

interventions_app = typer.Typer(
    help="The intervention log and the feedback on predictions (database: MOOC_RISK_DB_URL).",
    no_args_is_help=True,
)


@interventions_app.command("export")
def export(
    course: Annotated[str, typer.Option("--course", help="Course id.")],
    out: Annotated[Path | None, typer.Option("--out", help="Output file, .csv or .parquet "
                                             "(default: CSV on standard output).")] = None,
    feedback: Annotated[bool, typer.Option("--feedback", help="Export the feedback on "
                                           "predictions instead of the interventions.")] = False,
) -> None:
    """Export a course's interventions (or, with --feedback, its feedback), oldest first, one
    row each with every column; a file is written whole or not at all."""
    from mooc_risk.errors import InputError
    from mooc_risk.files import FORMATS, write_table
    from mooc_risk.serving.journal.journal import Journal
    from mooc_risk.settings import DatabaseSettings

    if out is not None and out.suffix not in FORMATS:
        raise InputError(f"{out}: output must end in {' or '.join(FORMATS)}")
    with Journal.open(DatabaseSettings.from_env().db_url) as journal:
        frame = journal.feedback_frame(course) if feedback else journal.interventions_frame(course)
    if out is None:
        import io

        import pyarrow as pa
        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), buffer)
        typer.echo(buffer.getvalue().decode(), nl=False)
    else:
        write_table(frame, out)
    what = ("feedback entry" if len(frame) == 1 else "feedback entries") if feedback else (
        "intervention" if len(frame) == 1 else "interventions")
    typer.echo(f"{len(frame)} {what} for course {course} → {out or 'standard output'}", err=True)
