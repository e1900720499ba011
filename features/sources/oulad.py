"""OULAD (Open University Learning Analytics Dataset) → canonical tables.

- module → course, presentation → run. Presentations start on 1 February (``B``) or
  1 October (``J``) of their year (the data gives only day offsets from the start); the run ends
  ``module_presentation_length`` days later.
- studentInfo → enrolments (registration day → ``enrolled_at``, missing → the start) and survey
  demographics (gender, age band, highest education, disability, previous attempts); there
  are no Likert items. ``studied_credits`` (all credits the student takes that term) →
  ``hours_per_week_planned`` = credits × 10 study hours per credit ÷ the run's weeks (the OU's
  own workload rule; a few students register for so many credits that this exceeds the 168 hours
  of a week, capped there). Region and IMD band have no canonical column and are left out.
- studentVle daily clicks → events: ``event_type`` = the VLE activity type, ``object_id`` = the
  site, ``value`` = clicks, at 00:00 of the day (so a day's clicks count from the next as-of
  day). Rows for the same learner, site and day — including the 787,170 exact duplicates of
  the official file — are summed into one event: every logged click is kept, once.
- studentAssessment → ``assessment`` events with the score, on the day submitted;
  ``object_id`` = ``id_assessment``.
- assessments → the course calendar (``assessments``): ``assessment_id`` = ``id_assessment``
  (the submissions' ``object_id``), ``kind`` = ``assessment_type`` (TMA, CMA, Exam),
  ``due_at`` = the start + ``date`` days at 00:00, the same day arithmetic as the events (a
  submission on the due day has ``ts`` = ``due_at``: on time), empty where ``date`` is missing
  (most final exams), ``weight`` = the percent of the module score. Assessments of a
  presentation not in courses, or without learners, are left out (and counted).
- final_result → ``certified`` (Pass, Distinction) and ``dropped_out`` (Withdrawn, leaving on
  ``date_unregistration``).

Reading. Each table is ``NAME.parquet`` or ``NAME.csv`` (also under ``parquet/`` or ``csv/``;
studentVle also as a Hive-partitioned ``studentVle/`` folder). CSV files are the official format
(comma-separated, ``"``-quoted, UTF-8, a header line) and are read as text, then every column
the import uses is checked and cast here, as the dataset documents it:

- ``?`` (the official marker) and an empty cell both mean missing. Documented missing values:
  ``date_registration`` → the learner enrols at the start; ``date_unregistration`` → never
  unregistered; ``date_submitted`` → not submitted (no event); ``score`` → a submission without
  a recorded score (an ``assessment`` event without a value); an assessment's ``date`` → no
  known deadline (empty ``due_at``), its ``weight`` → unknown; ``imd_band`` and ``region`` are
  not used.
- Day offsets are whole days from the presentation's start, negative before it (registration
  before the start), within ±3650. Scores run from 0 to 100; clicks, credits and previous
  attempts are not negative; weights run from 0 to 100 (percent); ``final_result`` is Pass,
  Distinction, Fail or Withdrawn.
- Keys lose surrounding blanks and ``\\r`` (files saved on Windows); ids are whole numbers
  (``11391`` and ``11391.0`` are the same learner).
- Anything else stops the import with an InputError naming the file, the line (CSV, the header
  being line 1) or row (Parquet) and the column. A cell's value is shown only for numeric, day
  and code columns, never for learner ids or text (which may be personal).
- An import that yields no enrolments or no events stops, saying what the files hold instead.

studentVle (10 million rows) is only ever streamed through DuckDB. ``oulad_values`` reads the
files and checks each value, ``oulad_tables`` joins them into the canonical tables;
``csv_input`` holds the CSV rules shared with the other table imports.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from mooc_risk.errors import InputError
from mooc_risk.features.sources.oulad_tables import (
    ASSESSMENTS,
    ENROLMENTS,
    EVENTS,
    OUTCOMES,
    SURVEYS,
    check_clicks,
    check_enrolments,
    check_unique,
    create_runs,
    left_out,
    no_events,
)
from mooc_risk.features.sources.oulad_values import FIELDS, check_values, create_view, find_source
from mooc_risk.features.sources.staging import copy_to_parquet, duckdb_connection, quoted, require

STEPS = 4


def convert(src: Path, stage: Path, step: Callable[[str], None]) -> dict[str, int]:
    """Write enrolments, surveys, assessments (the calendar), events and outcomes of the OULAD
    folder ``src`` to ``stage`` as Parquet; return the rows written per table and what was left
    out (the summary's lines). InputError naming the file, line or row and column for a file
    that is missing, unreadable or holds a value the checks refuse."""
    require(src, "OULAD folder")
    con = duckdb_connection()
    sources = {name: find_source(src, name) for name in FIELDS}
    for name, source in sources.items():
        create_view(con, source, FIELDS[name])
    for name, source in sources.items():
        if name != "studentVle":
            check_values(con, source, FIELDS[name])
    check_unique(con, sources)
    create_runs(con)
    unplaced_clicks = check_clicks(con, sources)  # one pass over the 10 million rows
    check_enrolments(con, sources)
    step("read and checked")
    try:
        counts = {"enrolments": copy_to_parquet(con, ENROLMENTS, stage / "enrolments.parquet"),
                  "surveys": copy_to_parquet(con, SURVEYS, stage / "surveys.parquet"),
                  "assessments": copy_to_parquet(con, ASSESSMENTS, stage / "assessments.parquet")}
        step("enrolments, surveys and the calendar")
        counts["events"] = copy_to_parquet(con, EVENTS, stage / "events.parquet")
        if counts["events"] == 0:
            raise InputError(no_events(con, sources))
        step("events")
        con.execute("CREATE TEMP VIEW events AS SELECT * FROM "
                    f"read_parquet({quoted(stage / 'events.parquet')})")
        counts["outcomes"] = copy_to_parquet(con, OUTCOMES, stage / "outcomes.parquet")
        counts.update(left_out(con, unplaced_clicks))
    except duckdb.Error as exc:  # the checks above should leave nothing for DuckDB to refuse
        raise InputError(f"{src}: OULAD import stopped on a value the checks did not catch "
                         f"({type(exc).__name__}); please report it") from None
    step("outcomes")
    return counts


