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
- studentAssessment → ``assessment`` events with the score, on the day submitted.
- final_result → ``certified`` (Pass, Distinction) and ``dropped_out`` (Withdrawn, leaving on
  ``date_unregistration``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from mooc_risk.errors import InputError
from mooc_risk.features.sources.staging import (
    copy_to_parquet,
    duckdb_connection,
    quoted,
    require,
    require_columns,
)

TABLES = {
    "courses": ["code_module", "code_presentation", "module_presentation_length"],
    "vle": ["id_site", "code_module", "code_presentation", "activity_type"],
    "studentInfo": ["code_module", "code_presentation", "id_student", "gender", "age_band",
                    "highest_education", "disability", "num_of_prev_attempts", "studied_credits",
                    "final_result"],
    "studentRegistration": ["code_module", "code_presentation", "id_student",
                            "date_registration", "date_unregistration"],
    "assessments": ["code_module", "code_presentation", "id_assessment"],
    "studentAssessment": ["id_assessment", "id_student", "date_submitted", "score"],
}
CLICKS = ["id_student", "id_site", "date", "sum_click", "code_module", "code_presentation"]
STEPS = 4


def _source(folder: Path, name: str) -> str:
    for candidate in (folder / f"{name}.parquet", folder / "parquet" / f"{name}.parquet"):
        if candidate.exists():
            return f"read_parquet({quoted(candidate)})"
    for candidate in (folder / f"{name}.csv", folder / "csv" / f"{name}.csv"):
        if candidate.exists():
            return f"read_csv({quoted(candidate)}, nullstr='?', header=true)"
    raise InputError(f"{folder}: missing OULAD table {name} ({name}.parquet or {name}.csv)")


def _clicks(folder: Path) -> str:
    for base in (folder / "studentVle", folder / "parquet" / "studentVle"):
        if base.is_dir():
            return f"read_parquet({quoted(base / '**' / '*.parquet')}, hive_partitioning=true)"
    for path in (folder / "studentVle.parquet", folder / "studentVle.csv"):
        if path.exists():
            reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
            return f"{reader}({quoted(path)})"
    raise InputError(f"{folder}: missing OULAD studentVle (a studentVle/ Parquet folder or file)")


def convert(src: Path, stage: Path, step: Callable[[str], None]) -> dict[str, int]:
    require(src, "OULAD folder")
    con = duckdb_connection()
    for name, columns in TABLES.items():
        relation = _source(src, name)
        require_columns(con, relation, f"{src}/{name}", columns)
        con.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {relation}")
    clicks = _clicks(src)
    require_columns(con, clicks, f"{src}/studentVle", CLICKS)
    con.execute(f"CREATE TEMP VIEW clicks AS SELECT * FROM {clicks}")
    _runs(con)
    step("read and checked")
    counts = {"enrolments": copy_to_parquet(con, ENROLMENTS, stage / "enrolments.parquet"),
              "surveys": copy_to_parquet(con, SURVEYS, stage / "surveys.parquet")}
    step("enrolments and surveys")
    counts["events"] = copy_to_parquet(con, EVENTS, stage / "events.parquet")
    step("events")
    con.execute(f"CREATE TEMP VIEW events AS SELECT * FROM read_parquet({quoted(stage / 'events.parquet')})")
    counts["outcomes"] = copy_to_parquet(con, OUTCOMES, stage / "outcomes.parquet")
    step("outcomes")
    return counts


def _runs(con: duckdb.DuckDBPyConnection) -> None:
    bad = con.execute("""SELECT code_module, code_presentation FROM courses
                         WHERE NOT regexp_matches(code_presentation, '^[0-9]{4}[BJ]$') LIMIT 3""").fetchall()
    if bad:
        raise InputError(f"courses: code_presentation must look like 2013B or 2014J; first: {bad}")
    con.execute("""
        CREATE TEMP TABLE runs AS
        SELECT code_module AS course_id, code_presentation AS run_id,
               make_timestamp(CAST(left(code_presentation, 4) AS INTEGER),
                              CASE right(code_presentation, 1) WHEN 'B' THEN 2 ELSE 10 END,
                              1, 0, 0, 0) AS course_start,
               CAST(module_presentation_length AS INTEGER) AS length_days
        FROM courses""")


_ID = "CAST(CAST({} AS BIGINT) AS VARCHAR)"
_DAY = "r.course_start + to_days(CAST({} AS INTEGER))"

ENROLMENTS = f"""
    SELECT {_ID.format('i.id_student')} AS learner_id, i.code_module AS course_id,
           i.code_presentation AS run_id,
           {_DAY.format('coalesce(g.date_registration, 0)')} AS enrolled_at,
           r.course_start, r.course_start + to_days(r.length_days) AS course_end,
           'open-university' AS platform, 'module-credit' AS credential_type,
           CAST(NULL AS DOUBLE) AS credential_cost, CAST(NULL AS VARCHAR) AS paid_by
    FROM studentInfo i
    JOIN runs r ON r.course_id = i.code_module AND r.run_id = i.code_presentation
    LEFT JOIN studentRegistration g USING (code_module, code_presentation, id_student)"""

SURVEYS = f"""
    SELECT {_ID.format('i.id_student')} AS learner_id, i.code_module AS course_id,
           i.code_presentation AS run_id, i.gender, i.age_band,
           i.highest_education AS education_level, i.disability,
           CAST(i.num_of_prev_attempts AS INTEGER) AS prior_attempts,
           least(round(i.studied_credits * 10 / (r.length_days / 7.0), 1), 168)
               AS hours_per_week_planned
    FROM studentInfo i
    JOIN runs r ON r.course_id = i.code_module AND r.run_id = i.code_presentation"""

EVENTS = f"""
    SELECT {_ID.format('c.id_student')} AS learner_id, c.code_module AS course_id,
           c.code_presentation AS run_id, {_DAY.format('c.date')} AS ts,
           coalesce(v.activity_type, 'other') AS event_type,
           {_ID.format('c.id_site')} AS object_id, sum(c.sum_click) AS value
    FROM clicks c
    JOIN runs r ON r.course_id = c.code_module AND r.run_id = c.code_presentation
    LEFT JOIN vle v ON v.id_site = c.id_site AND v.code_module = c.code_module
                   AND v.code_presentation = c.code_presentation
    GROUP BY ALL
    UNION ALL
    SELECT {_ID.format('s.id_student')}, a.code_module, a.code_presentation,
           {_DAY.format('s.date_submitted')}, 'assessment', {_ID.format('s.id_assessment')},
           s.score
    FROM studentAssessment s
    JOIN assessments a USING (id_assessment)
    JOIN runs r ON r.course_id = a.code_module AND r.run_id = a.code_presentation
    JOIN studentInfo i ON i.id_student = s.id_student AND i.code_module = a.code_module
                      AND i.code_presentation = a.code_presentation
    WHERE s.date_submitted IS NOT NULL"""

OUTCOMES = f"""
    SELECT {_ID.format('i.id_student')} AS learner_id, i.code_module AS course_id,
           i.code_presentation AS run_id,
           i.final_result IN ('Pass', 'Distinction') AS certified,
           i.final_result = 'Withdrawn' AS dropped_out,
           last.last_active_at,
           CASE WHEN i.final_result = 'Withdrawn' AND g.date_unregistration IS NOT NULL
                THEN {_DAY.format('g.date_unregistration')} END AS dropped_at
    FROM studentInfo i
    JOIN runs r ON r.course_id = i.code_module AND r.run_id = i.code_presentation
    LEFT JOIN studentRegistration g USING (code_module, code_presentation, id_student)
    LEFT JOIN (SELECT learner_id, course_id, run_id, max(ts) AS last_active_at FROM events
               GROUP BY ALL) last
      ON last.learner_id = {_ID.format('i.id_student')} AND last.course_id = i.code_module
     AND last.run_id = i.code_presentation"""
