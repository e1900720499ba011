"""KDD Cup 2015 daily event counts (XuetangX, per-course files) → canonical tables.

- One enrolment per ``enrollment_id`` (the learner id is the enrolment id: this copy has no
  user ids); the course is the file name's ``<N>`` (``trainCourse<N>.csv``); the run starts on
  the course's first date and lasts the 30-day observation window; everyone enrols at the start.
- Daily counts → one event per enrolment, day and event kind with a count > 0, at 00:00 of the
  day, ``value`` = the count, ``event_type`` = the kind (access, discussion, navigate,
  page_close, problem, video, wiki).
- ``truth_train.csv`` → ``dropped_out`` (1 = no activity in the 10 days after the window, so
  the learner leaves at the window's end); there is no certification (left empty).
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

KINDS = ["access", "discussion", "navigate", "page_close", "problem", "video", "wiki"]
COLUMNS = ["enrollment_id", "time", *[f"event_{k}" for k in KINDS]]
WINDOW_DAYS = 30
STEPS = 3


def convert(src: Path, stage: Path, step: Callable[[str], None]) -> dict[str, int]:
    require(src, "KDD Cup 2015 folder")
    files = sorted(src.glob("trainCourse*.csv"))
    if not files:
        raise InputError(f"{src}: no trainCourse<N>.csv files")
    truth = require(src / "truth_train.csv", "truth_train.csv (enrollment_id, label)")
    con = duckdb_connection()
    for path in files:
        require_columns(con, f"read_csv({quoted(path)}, header=true)", str(path), COLUMNS)
    require_columns(con, f"read_csv({quoted(truth)}, header=true)", str(truth),
                    ["enrollment_id", "label"])
    listing = ", ".join(quoted(p) for p in files)
    con.execute(f"""
        CREATE TEMP TABLE raw AS
        SELECT regexp_extract(filename, 'trainCourse([0-9]+[A-Za-z]?)\\.csv$', 1) AS course_id,
               CAST(enrollment_id AS VARCHAR) AS learner_id, time,
               {", ".join(f"event_{k}" for k in KINDS)}, filename
        FROM read_csv([{listing}], header=true, filename=true, all_varchar=true,
                      union_by_name=true)""")
    _check(con)
    con.execute(f"""
        CREATE TEMP TABLE daily AS
        SELECT course_id, learner_id, CAST(strptime(time, '%Y-%m-%d') AS TIMESTAMP) AS ts,
               {", ".join(f"CAST(event_{k} AS DOUBLE) AS {k}" for k in KINDS)}
        FROM raw""")
    con.execute("""
        CREATE TEMP TABLE runs AS
        SELECT course_id, strftime(min(ts), '%Y-%m') AS run_id, min(ts) AS course_start
        FROM daily GROUP BY course_id""")
    step("read and checked")
    counts = {"enrolments": copy_to_parquet(con, f"""
        SELECT DISTINCT d.learner_id, d.course_id, r.run_id, r.course_start AS enrolled_at,
               r.course_start, r.course_start + INTERVAL {WINDOW_DAYS} DAY AS course_end,
               'xuetangx' AS platform
        FROM daily d JOIN runs r USING (course_id)""", stage / "enrolments.parquet")}
    unpivot = " UNION ALL ".join(
        f"SELECT learner_id, course_id, ts, '{k}' AS event_type, {k} AS value FROM daily "
        f"WHERE {k} > 0" for k in KINDS)
    counts["events"] = copy_to_parquet(con, f"""
        SELECT e.learner_id, e.course_id, r.run_id, e.ts, e.event_type, e.value
        FROM ({unpivot}) e JOIN runs r USING (course_id)""", stage / "events.parquet")
    step("enrolments and events")
    counts["outcomes"] = copy_to_parquet(con, f"""
        SELECT e.learner_id, e.course_id, e.run_id, CAST(NULL AS BOOLEAN) AS certified,
               t.label = 1 AS dropped_out, last.last_active_at,
               CASE WHEN t.label = 1 THEN e.course_end END AS dropped_at
        FROM read_parquet({quoted(stage / 'enrolments.parquet')}) e
        JOIN (SELECT CAST(enrollment_id AS VARCHAR) AS learner_id, TRY_CAST(label AS INTEGER) AS label
              FROM read_csv({quoted(truth)}, header=true, all_varchar=true)) t USING (learner_id)
        LEFT JOIN (SELECT learner_id, course_id, max(ts) AS last_active_at
                   FROM read_parquet({quoted(stage / 'events.parquet')}) GROUP BY ALL) last
          USING (learner_id, course_id)""", stage / "outcomes.parquet")
    step("outcomes")
    return counts


def _check(con: duckdb.DuckDBPyConnection) -> None:
    """Unparseable dates or counts name the file and the row's enrolment."""
    counts = " OR ".join(f"(event_{k} IS NOT NULL AND try_cast(event_{k} AS DOUBLE) IS NULL)"
                         for k in KINDS)
    bad = con.execute(f"""
        SELECT filename, learner_id, time FROM raw
        WHERE try_strptime(time, '%Y-%m-%d') IS NULL OR learner_id IS NULL OR {counts}
        LIMIT 3""").fetchall()
    if bad:
        shown = "; ".join(f"{Path(f).name}: enrollment_id={e} time={t!r}" for f, e, t in bad)
        raise InputError(f"KDD Cup files: rows with a bad date, id or count; first: {shown}")
    twice = con.execute("""SELECT learner_id, count(DISTINCT course_id) FROM raw
                           GROUP BY learner_id HAVING count(DISTINCT course_id) > 1 LIMIT 3""").fetchall()
    if twice:
        raise InputError(f"KDD Cup files: enrollment_id in more than one course file: {twice}")
