"""KDD Cup 2015 (XuetangX) → canonical tables, from either of its two forms in a folder:

- the release as published (``log_train.csv``, ``enrollment_train.csv``, ``truth_train.csv``,
  maybe ``date.csv``, ``object.csv`` and the ``test`` part; subfolders too): events at their
  logged time, learners hashed by username — see ``kddcup_raw``;
- the daily-count copy (``trainCourse<N>.csv`` + ``truth_train.csv``), read here:

- One enrolment per ``enrollment_id`` (the learner id is the enrolment id: this copy has no
  user ids); the course is the file name's ``<N>`` (``trainCourse<N>.csv``); the run starts on
  the course's first date and lasts the 30-day observation window; everyone enrols at the start.
- Daily counts → one event per enrolment, day and event kind with a count > 0, at 00:00 of the
  day, ``value`` = the count, ``event_type`` = the kind (access, discussion, navigate,
  page_close, problem, video, wiki).
- ``truth_train.csv`` (with or without its header) → ``dropped_out`` (1 = no activity in the
  10 days after the window, so the learner leaves at the window's end); there is no
  certification (left empty).

Ids and fields are trimmed (a blank or ``\\r`` splits no enrolment). A row that cannot be
imported stops the import, named by file, line and field; other files in the folder and
enrolments without a label are listed in ``import_problems.csv``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import duckdb

from mooc_risk.errors import InputError
from mooc_risk.features.sources import kddcup_raw
from mooc_risk.features.sources.csv_input import (
    Check,
    CsvFile,
    Findings,
    headerless,
    raise_for,
    run_reading,
    shown_value,
    with_header,
)
from mooc_risk.features.sources.kddcup_raw import KINDS, TRUTH, WINDOW_DAYS, is_truth_header
from mooc_risk.features.sources.staging import copy_to_parquet, duckdb_connection, quoted, require

__all__ = ["COLUMNS", "KINDS", "NEEDS_ID_SECRET", "STEPS", "WINDOW_DAYS", "convert", "needs_id_secret"]

NEEDS_ID_SECRET = True  # the release's usernames are hashed with the import key
COLUMNS = ["enrollment_id", "time", *[f"event_{k}" for k in KINDS]]
STEPS = 3
TRUTH_FILE = "truth_train.csv"
_DAILY = re.compile(r"trainCourse([0-9]+[A-Za-z]?)\.csv")


def needs_id_secret(src: Path) -> bool:
    """Whether importing ``src`` hashes usernames (the release does; the daily copy has none),
    so that a caller can leave the key alone for the daily copy."""
    return src.is_dir() and kddcup_raw.is_release(src)


def convert(src: Path, stage: Path, step: Callable[[str], None],
            secret: bytes | None = None) -> dict[str, int]:
    require(src, "KDD Cup 2015 folder")
    if not src.is_dir():
        raise InputError(f"{src}: not a folder (give the folder holding the KDD Cup 2015 files)")
    daily = [p for p in sorted(src.iterdir()) if p.is_file() and _DAILY.fullmatch(p.name)]
    if kddcup_raw.is_release(src):
        if daily:
            raise InputError(f"{src}: holds both the release (log_<part>.csv) and the daily copy "
                             "(trainCourse<N>.csv); import each from its own folder")
        if secret is None:
            raise ValueError("the KDD Cup 2015 release names learners by username: its import "
                             "needs the id key (secret=)")
        return kddcup_raw.convert(src, stage, step, secret)
    if not daily:
        names = sorted(p.name for p in src.iterdir())
        found = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise InputError(f"{src}: no KDD Cup 2015 files: neither the release (log_train.csv with "
                         "enrollment_train.csv) nor the daily copy (trainCourse<N>.csv with "
                         f"{TRUTH_FILE}); found {found or 'an empty folder'}")
    return _convert_daily(src, daily, stage, step)


def _convert_daily(src: Path, daily: list[Path], stage: Path,
                   step: Callable[[str], None]) -> dict[str, int]:
    findings = Findings()
    for path in sorted(src.iterdir()):
        if path.is_dir():
            findings.skip(path, "a folder (the daily copy is read from the top level)")
        elif path not in daily and path.name != TRUTH_FILE:
            findings.skip(path, f"not a file of the daily copy (trainCourse<N>.csv, {TRUTH_FILE})")
    truth_path = require(src / TRUTH_FILE, f"{TRUTH_FILE} (enrollment_id, label)")
    files: list[CsvFile] = []
    for number, path in enumerate(daily, 1):
        made = with_header(path, number, COLUMNS)
        if made is None:
            findings.add(path, None, None, "empty file")
        else:
            files.append(made)
    truth = headerless(truth_path, 0, TRUTH, is_truth_header)  # the copy's header, if any
    if truth is None:
        raise InputError(f"{truth_path}: empty file (expected enrollment_id,label rows, "
                         "label 1 = dropped out)")
    if not files:
        raise InputError(f"no events to import: every trainCourse<N>.csv in {src} is empty")
    con = duckdb_connection()
    courses = " UNION ALL ".join(
        f.rows_sql(COLUMNS, f", '{_DAILY.fullmatch(f.path.name)[1]}' AS course_id") for f in files)
    run_reading(con, f"CREATE TEMP TABLE raw AS {courses}", *(f.path for f in files))
    run_reading(con, f"CREATE TEMP TABLE truth AS {truth.rows_sql(TRUTH)}", truth.path)
    paths = ", ".join(f"({f.number}, {quoted(f.path)})" for f in [*files, truth])
    con.execute(f"CREATE TEMP TABLE files AS SELECT * FROM (VALUES {paths}) t(file, path)")
    _check(con, files, truth)
    con.execute(f"""
        CREATE TEMP TABLE daily AS
        SELECT course_id, enrollment_id AS learner_id,
               CAST(strptime(time, '%Y-%m-%d') AS TIMESTAMP) AS ts,
               {", ".join(f"CAST(event_{k} AS DOUBLE) AS {k}" for k in KINDS)}
        FROM raw""")
    events = " OR ".join(f"{k} > 0" for k in KINDS)
    if not con.execute(f"SELECT count(*) FROM daily WHERE {events}").fetchone()[0]:
        rows = con.execute("SELECT count(*) FROM daily").fetchone()[0]
        raise InputError(f"no events to import: the {rows:,} row(s) of the trainCourse<N>.csv files "
                         f"in {src} have only zero (or empty) counts")
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
               t.label = '1' AS dropped_out, last.last_active_at,
               CASE WHEN t.label = '1' THEN e.course_end END AS dropped_at
        FROM read_parquet({quoted(stage / 'enrolments.parquet')}) e
        LEFT JOIN (SELECT enrollment_id AS learner_id, label FROM truth) t USING (learner_id)
        LEFT JOIN (SELECT learner_id, course_id, max(ts) AS last_active_at
                   FROM read_parquet({quoted(stage / 'events.parquet')}) GROUP BY ALL) last
          USING (learner_id, course_id)""", stage / "outcomes.parquet")
    line, rows = con.execute("""
        SELECT min(line), count(*) FROM truth WHERE enrollment_id NOT IN (SELECT enrollment_id FROM raw)
        """).fetchone()
    if rows:  # a copy of fewer courses than the labels cover
        findings.add(truth.path, line, "enrollment_id",
                     "a label for no enrolment in the trainCourse<N>.csv files (not imported)", None, rows)
    unlabelled = con.execute("""
        SELECT count(DISTINCT enrollment_id), min(file), min_by(line, (file, line)) FROM raw
        WHERE enrollment_id NOT IN (SELECT enrollment_id FROM truth WHERE enrollment_id IS NOT NULL)
        """).fetchone()
    if unlabelled[0]:
        path = next(f.path for f in files if f.number == unlabelled[1])
        findings.add(path, unlabelled[2], "enrollment_id",
                     f"no label in {TRUTH_FILE} (dropped_out left empty)", None, unlabelled[0])
    step("outcomes")
    return findings.write(stage, counts)


def _check(con: duckdb.DuckDBPyConnection, files: list[CsvFile], truth: CsvFile) -> None:
    """Rows that cannot be imported name the file, the row's enrolment and day, the line and
    the field."""
    checks = [Check("checked", f"file = {f.number} AND width <> {f.width}", None,
                    f"not as many fields as the header ({f.width})", "width || ' fields'")
              for f in files]
    repeated = con.execute("""
        SELECT (SELECT count(*) FROM (SELECT enrollment_id FROM raw WHERE enrollment_id IS NOT NULL
                                      GROUP BY ALL HAVING count(DISTINCT file) > 1))
             + (SELECT count(*) FROM (SELECT file FROM raw WHERE enrollment_id IS NOT NULL
                                      GROUP BY file, enrollment_id, time HAVING count(*) > 1))
        """).fetchone()[0]
    if repeated:  # where the first rows are (windows over every row: only when needed)
        con.execute("""
            CREATE TEMP TABLE checked AS
            SELECT *, first_value(file) OVER (PARTITION BY enrollment_id ORDER BY file, line) AS first_file,
                   first_value(line) OVER (PARTITION BY enrollment_id, time ORDER BY file, line) AS day_line,
                   first_value(file) OVER (PARTITION BY enrollment_id, time ORDER BY file, line) AS day_file
            FROM raw""")
    else:
        con.execute("CREATE TEMP VIEW checked AS SELECT *, file AS first_file, line AS day_line, "
                    "file AS day_file FROM raw")
    checks += [
        Check("checked", "enrollment_id IS NULL", "enrollment_id", "empty"),
        Check("checked", "time IS NULL OR try_strptime(time, '%Y-%m-%d') IS NULL", "time",
              "not a date like 2014-06-11"),
        *[Check("checked", f"event_{k} IS NOT NULL AND NOT coalesce(try_cast(event_{k} AS DOUBLE) >= 0, "
                "false)", f"event_{k}", "not a count (a number ≥ 0)") for k in KINDS],
        Check("checked", "enrollment_id IS NOT NULL AND first_file <> file", "enrollment_id",
              "in more than one course file (an enrollment_id is one enrolment)",
              "'also in ' || (SELECT path FROM files WHERE files.file = first_file)"),
        Check("checked", "enrollment_id IS NOT NULL AND time IS NOT NULL AND day_file = file "
              "AND day_line <> line", "time", "a second row for this enrolment and day",
              "'first on line ' || day_line"),
    ]
    con.execute("""
        CREATE TEMP TABLE truth_checked AS
        SELECT *, first_value(line) OVER (PARTITION BY enrollment_id ORDER BY line) AS first_line
        FROM truth""")
    checks += [
        Check("truth_checked", f"width <> {truth.width}", None,
              f"not as many fields as enrollment_id,label ({truth.width})", "width || ' fields'"),
        Check("truth_checked", "enrollment_id IS NULL", "enrollment_id", "empty"),
        Check("truth_checked", "label IS NULL OR label NOT IN ('0', '1')", "label",
              "not 0 or 1 (1 = dropped out)", shown_value("label")),
        Check("truth_checked", "enrollment_id IS NOT NULL AND first_line <> line", "enrollment_id",
              "repeated: one label per enrolment", "'first on line ' || first_line"),
    ]
    rows = "'enrollment_id=' || coalesce(enrollment_id, '(empty)')"
    days = f"{rows} || ' time=' || coalesce({shown_value('time')}, '(empty)')"
    keyed = [_keyed(c, days if c.table == "checked" else rows) for c in checks]
    paths = {f.number: f.path for f in [*files, truth]}
    raise_for(con, keyed, paths, lambda path, _line, _check, note: f"{path}: {note}",
              "KDD Cup 2015 daily copy")


def _keyed(check: Check, key: str) -> Check:
    """The check with its rows named as the copy names them — by key, never a whole record:
    ``enrollment_id=… time='…' (line N, FIELD: REASON; NOTE)``."""
    field = f"{check.field}: " if check.field else ""
    said = f"{field}{check.reason}".replace("'", "''")
    note = (f"{key} || ' (line ' || line || ', {said}' || coalesce('; ' || ({check.note}), '') "
            "|| ')'")
    return dataclasses.replace(check, note=note)
