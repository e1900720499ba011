"""KDD Cup 2015 as released (XuetangX click logs) → canonical tables.

The release (https://biendata.com/competition/kddcup2015/) holds, per part (``train``,
``test``): ``log_<part>.csv`` (``enrollment_id, time, source, event, object``; some copies also
carry ``username, course_id``), ``enrollment_<part>.csv`` (``enrollment_id, username,
course_id``) and, for ``train``, ``truth_<part>.csv`` (``enrollment_id,label`` without a
header; 1 = dropped out: no activity in the 10 days after the course's window); and
``date.csv`` (``course_id, from, to``: each course's 30-day window, ``to`` its last day) and
``object.csv`` (``course_id, module_id, category, children, start``: the module tree).

- ``learner_id`` = the keyed hash of ``username`` (``identity``), so a learner keeps one id
  across courses, as in the log imports; ``enrollment_id`` only joins the log and the labels.
- One run per course: ``date.csv``'s ``from`` to the end of ``to``, else the first day the
  course's log shows and 30 days; every learner is enrolled at the window's start (the
  release gives no enrolment time; a first event is not one, and would take learners who
  start late off the early days' lists).
- Events at their logged time, kept as given (the release names no time zone; the windows
  and labels are counted in the same clock): ``event_type`` = the event (``nagivate``, as
  released, → ``navigate``; an unknown event → ``other``), ``object_id`` = the object,
  ``value`` empty (one click), ``event_name`` = ``<source>.<event>`` as released.
- ``dropped_out`` = label 1, leaving at the window's end (``dropped_at``); no certification.

Ids and fields are trimmed (a blank, a quote or a ``\\r`` splits no learner or course). Rows
that cannot be imported stop the import, named by file, line and field (never a username):
an unparseable or empty time, an empty event, a log row of no enrolment, repeated enrolments
or labels, a label other than 0/1, a course without a window. What is imported anyway, or
left out harmlessly, is listed in ``import_problems.csv`` (``file, line, field, reason,
value, rows``): unknown events or sources, events outside their window, enrolments without a
label, labels of no enrolment, object.csv's bad rows, empty and skipped files. The files are
read line by line, and problems checked and listed, with ``csv_input`` (shared with the daily
copy, ``kddcup``).
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from mooc_risk.errors import InputError
from mooc_risk.features.sources.csv_input import (
    Check,
    CsvFile,
    Findings,
    at_line,
    headerless,
    raise_for,
    run_reading,
    shown_value,
    with_header,
)
from mooc_risk.features.sources.identity import create_keys_table, pseudonym_sql
from mooc_risk.features.sources.staging import copy_to_parquet, duckdb_connection, quoted

KINDS = ["access", "discussion", "navigate", "page_close", "problem", "video", "wiki"]
SPELLINGS = {"nagivate": "navigate"}  # the release's spelling → the event kind
SOURCES = ("browser", "server")
WINDOW_DAYS = 30
PLATFORM = "xuetangx"
MEMORY_LIMIT = "1GB"  # DuckDB spills to the work folder beyond this
TIME_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
DATE_FORMATS = ["%Y-%m-%d", *TIME_FORMATS]
TIME_EXAMPLE = "2014-06-14T09:38:29"

LOG = ["enrollment_id", "time", "source", "event", "object"]
LOG_CHECKED = ["username", "course_id"]  # in some copies of the log; must match the enrolment
ENROLMENT = ["enrollment_id", "username", "course_id"]
TRUTH = ["enrollment_id", "label"]
DATES = ["course_id", "from", "to"]
OBJECTS = ["course_id", "module_id", "category", "children", "start"]
KNOWN_COLUMNS = {*LOG, *LOG_CHECKED, *ENROLMENT, *TRUTH, *DATES, *OBJECTS}

_PART_FILE = re.compile(r"(log|enrollment|truth)_([A-Za-z0-9]+)\.csv", re.IGNORECASE)


# --- the release's files ------------------------------------------------------------------
@dataclass
class Part:
    name: str
    log: Path
    enrolments: Path
    truth: Path | None = None


@dataclass
class Release:
    parts: list[Part]
    dates: Path | None
    objects: Path | None
    skipped: list[tuple[Path, str]]


def is_release(src: Path) -> bool:
    """Whether ``src`` holds the release's logs (``log_<part>.csv``, in subfolders too)."""
    return any(_PART_FILE.fullmatch(p.name) and p.name.lower().startswith("log_")
               for p in _files(src))


def find_release(src: Path) -> Release:
    by_kind: dict[tuple[str, str], list[Path]] = {}
    singles: dict[str, list[Path]] = {"date.csv": [], "object.csv": []}
    skipped = []
    for path in _files(src):
        match = _PART_FILE.fullmatch(path.name)
        if match:
            by_kind.setdefault((match[1].lower(), match[2].lower()), []).append(path)
        elif path.name.lower() in singles:
            singles[path.name.lower()].append(path)
        else:
            skipped.append((path, "not a file of the KDD Cup 2015 release"))
    for paths in [*by_kind.values(), *singles.values()]:
        if len(paths) > 1:
            raise InputError(f"{src}: {paths[0].name} is given more than once "
                             f"({', '.join(map(str, paths))}); keep one")
    parts = []
    for (kind, name), (path,) in sorted(by_kind.items(), key=lambda item: item[0][1]):
        if kind != "log":
            if ("log", name) not in by_kind:
                skipped.append((path, f"no log_{name}.csv to go with it"))
            continue
        enrolments = by_kind.get(("enrollment", name))
        if not enrolments:
            raise InputError(f"{path}: missing enrollment_{name}.csv (enrollment_id, username, "
                             "course_id), which says whose and which course each enrolment is")
        parts.append(Part(name, path, enrolments[0], (by_kind.get(("truth", name)) or [None])[0]))
    one = {k: (v[0] if v else None) for k, v in singles.items()}
    return Release(parts, one["date.csv"], one["object.csv"], skipped)


def _files(src: Path) -> list[Path]:
    return sorted(p for p in src.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(src).parts))


# --- the import ---------------------------------------------------------------------------
def convert(src: Path, stage: Path, step: Callable[[str], None], secret: bytes) -> dict[str, int]:
    release = find_release(src)
    findings = Findings()
    for path, reason in release.skipped:
        findings.skip(path, reason)
    work = stage / ".work"
    work.mkdir()
    con = duckdb_connection()
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'; SET temp_directory = {quoted(work)}")
    try:
        files = _read(con, release, findings, work)
        _check(con, release, files)
        _note(con, release, files, findings)
        step("read and checked")
        create_keys_table(con, secret)
        con.execute(f"""CREATE TEMP TABLE ids AS
                        SELECT username, {pseudonym_sql("username")} AS learner_id
                        FROM (SELECT DISTINCT username FROM enrol), hmac_keys""")
        counts = _write(con, stage, step)
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
    return findings.write(stage, counts)


def _read(con: duckdb.DuckDBPyConnection, release: Release, findings: Findings,
          work: Path) -> dict[str, CsvFile]:
    """Temporary tables ``enrol``, ``truth``, ``dates``, ``objects`` (each with ``file, line,
    width`` and its trimmed fields) and ``files``, and the view ``log`` (the logs, read once
    into a Parquet file in ``work``: they may be millions of rows); returns the files read by
    their role (``enrollment:train``, ``log:train``, ``truth:train``, ``date``, ``object``)."""
    files: dict[str, CsvFile] = {}
    numbers = itertools.count(1)

    def read(key: str, path: Path, columns: list[str], optional: Iterable[str] = ()) -> CsvFile | None:
        number = next(numbers)
        if key.startswith("truth:"):
            made = headerless(path, number, columns, is_truth_header)
        else:
            made = with_header(path, number, columns, optional, KNOWN_COLUMNS)
        if made is None:
            findings.add(path, None, None, "empty file")
        else:
            files[key] = made
        return made

    enrol, log, truth = [], [], []
    for part in release.parts:
        made = read(f"enrollment:{part.name}", part.enrolments, ENROLMENT)
        if made is None:
            raise InputError(f"{part.enrolments}: empty file (expected the header "
                             f"{','.join(ENROLMENT)} and one row per enrolment)")
        enrol.append(made.rows_sql(ENROLMENT, f", '{part.name}' AS part"))
        made = read(f"log:{part.name}", part.log, LOG, LOG_CHECKED)
        if made is not None:
            checked = [c for c in LOG_CHECKED if c in made.positions]
            nulls = "".join(f", NULL::VARCHAR AS log_{c}" for c in LOG_CHECKED if c not in checked)
            # numbered first (one thread, in file order), then parsed (in parallel)
            lines = f"log_lines_{made.number}"
            run_reading(con, f"CREATE TEMP TABLE {lines} AS {made.lines_sql()}", part.log)
            log.append(made.rows_sql([*LOG, *checked], f", '{part.name}' AS part{nulls}",
                                     {c: f"log_{c}" for c in checked}, f"SELECT * FROM {lines}"))
        if part.truth is not None:
            made = read(f"truth:{part.name}", part.truth, TRUTH)
            if made is None:
                raise InputError(f"{part.truth}: empty file (expected enrollment_id,label rows, "
                                 "label 1 = dropped out; leave the file out if there are no labels)")
            truth.append(made.rows_sql(TRUTH, f", '{part.name}' AS part"))
    run_reading(con, "CREATE TEMP TABLE enrol AS " + " UNION ALL ".join(enrol),
            *(p.enrolments for p in release.parts))
    if not log:
        raise InputError(_nothing_found(con, release, "the log files are empty"))
    parsed = work / "log.parquet"
    run_reading(con, f"""COPY (SELECT * REPLACE (CASE WHEN ts IS NULL THEN time END AS time)
                           FROM (SELECT *, try_strptime(time, {TIME_FORMATS}) AS ts
                                 FROM ({" UNION ALL BY NAME ".join(f"({sql})" for sql in log)})))
                     TO {quoted(parsed)} (FORMAT parquet)""", *(p.log for p in release.parts))
    for made in files.values():
        con.execute(f"DROP TABLE IF EXISTS log_lines_{made.number}")
    con.execute(f"CREATE VIEW log AS SELECT * FROM read_parquet({quoted(parsed)})")
    if not con.execute("SELECT count(*) FROM log").fetchone()[0]:
        raise InputError(_nothing_found(con, release, "the log files have no rows after the header"))
    run_reading(con, "CREATE TEMP TABLE truth AS " + " UNION ALL ".join(truth or [
        "SELECT NULL::INTEGER AS file, NULL::BIGINT AS line, NULL::BIGINT AS width, NULL::VARCHAR "
        "AS enrollment_id, NULL::VARCHAR AS label, NULL::VARCHAR AS part WHERE false"]),
            *(p.truth for p in release.parts if p.truth))
    if release.dates is not None:
        dates = read("date", release.dates, DATES)
        if dates is None:
            raise InputError(f"{release.dates}: empty file (expected the header course_id,from,to and "
                             "a row per course; leave the file out to start each course on the first "
                             "day its log shows)")
        run_reading(con, f"""CREATE TEMP TABLE dates AS
                         SELECT *, date_trunc('day', try_strptime("from", {DATE_FORMATS})) AS from_day,
                                date_trunc('day', try_strptime("to", {DATE_FORMATS})) AS to_day
                         FROM ({dates.rows_sql(DATES)})""", release.dates)
    if release.objects is not None:
        objects = read("object", release.objects, OBJECTS)
        if objects is not None:
            run_reading(con, f"CREATE TEMP TABLE objects AS {objects.rows_sql(OBJECTS)}", release.objects)
    paths = ", ".join(f"({f.number}, {quoted(f.path)})" for f in files.values())
    con.execute(f"CREATE TEMP TABLE files AS SELECT * FROM (VALUES {paths}) t(file, path)")
    return files


def is_truth_header(fields: list[str]) -> bool:
    """A first line that is a header rather than ``enrollment_id,label``: its label is not a
    number and neither is its id (``enrollment_id,label`` or ``enrollment_id,dropout``)."""
    return len(fields) >= 2 and not fields[1].isdigit() and not fields[0].isdigit()


def _nothing_found(con: duckdb.DuckDBPyConnection, release: Release, why: str) -> str:
    enrolments = con.execute("SELECT count(*) FROM enrol").fetchone()[0]
    logs = ", ".join(str(p.log) for p in release.parts)
    found = [f"{enrolments:,} enrolment(s) in " + ", ".join(p.enrolments.name for p in release.parts)]
    found += [f"{p.name} skipped" for p, _ in release.skipped[:5]]
    return f"no events to import: {why} ({logs}); found {'; '.join(found)}"


def _first(key: str, name: str) -> str:
    """SQL columns ``{name}_file, {name}_line``: where the first row with the same ``key`` is."""
    window = f"OVER (PARTITION BY {key} ORDER BY file, line)"
    return f"first_value(file) {window} AS {name}_file, first_value(line) {window} AS {name}_line"


def _repeated(name: str) -> tuple[str, str]:
    """SQL condition (a later row of a repeated key) and note (where its first row is) for the
    ``_first`` columns ``name``."""
    where = f"NOT ({name}_file = file AND {name}_line = line)"
    note = (f"CASE WHEN {name}_file = file THEN 'first on line ' || {name}_line ELSE 'first at ' "
            f"|| (SELECT path FROM files WHERE files.file = {name}_file) || ':' || {name}_line END")
    return where, note


def _enrolment_file(part: str, release: Release) -> str:
    """SQL: the name of the enrolment file of the part in column ``part``."""
    cases = " ".join(f"WHEN '{p.name}' THEN {quoted(p.enrolments.name)}" for p in release.parts)
    return f"CASE {part} {cases} END"


def _check(con: duckdb.DuckDBPyConnection, release: Release, files: dict[str, CsvFile]) -> None:
    """Stop when a row cannot be imported, naming every kind of problem found."""
    checks = []
    tables = {"enrollment": "enrol", "log": "log", "truth": "truth", "date": "dates"}
    for key, made in files.items():
        table = tables.get(key.split(":")[0])
        if table:
            checks.append(Check(table, f"file = {made.number} AND width <> {made.width}", None,
                                f"not as many fields as the header ({made.width})",
                                "width || ' fields'"))
    con.execute(f"""CREATE TEMP TABLE enrol_checked AS
                    SELECT *, {_first("enrollment_id", "id")}, {_first("username, course_id", "pair")}
                    FROM enrol""")
    again_id, first_id = _repeated("id")
    again_pair, first_pair = _repeated("pair")
    checks += [
        Check("enrol_checked", "enrollment_id IS NULL", "enrollment_id", "empty"),
        Check("enrol_checked", "username IS NULL", "username", "empty"),
        Check("enrol_checked", "course_id IS NULL", "course_id", "empty"),
        Check("enrol_checked", f"enrollment_id IS NOT NULL AND {again_id}", "enrollment_id",
              "repeated: one row per enrolment", first_id),
        Check("enrol_checked", f"username IS NOT NULL AND course_id IS NOT NULL AND NOT ({again_id}) "
              f"AND {again_pair}", "username",
              "the same username and course_id as another enrolment (one per learner and course)",
              first_pair),
    ]
    con.execute(f"""CREATE TEMP VIEW log_checked AS
                    SELECT l.file, l.line, l.enrollment_id, l.time, l.ts, l.event,
                           {_enrolment_file("l.part", release)} AS enrol_file,
                           e.enrollment_id IS NOT NULL AS known,
                           l.log_username IS NOT NULL AND l.log_username <> e.username AS other_user,
                           l.log_course_id IS NOT NULL AND l.log_course_id <> e.course_id AS other_course
                    FROM log l LEFT JOIN enrol e ON e.enrollment_id = l.enrollment_id AND e.part = l.part""")
    checks += [
        Check("log_checked", "enrollment_id IS NULL", "enrollment_id", "empty"),
        Check("log_checked", "enrollment_id IS NOT NULL AND NOT known", "enrollment_id",
              "no such enrolment", "enrollment_id || ' is not in ' || enrol_file"),
        Check("log_checked", "time IS NULL AND ts IS NULL", "time", "empty"),
        Check("log_checked", "time IS NOT NULL AND ts IS NULL", "time",
              f"not a time like {TIME_EXAMPLE}", shown_value("time")),
        Check("log_checked", "event IS NULL", "event", "empty"),
        Check("log_checked", "known AND other_user", "username",
              "not the username of this enrollment_id in the enrolment file"),
        Check("log_checked", "known AND other_course", "course_id",
              "not the course_id of this enrollment_id in the enrolment file"),
    ]
    con.execute(f"""CREATE TEMP TABLE truth_checked AS
                    SELECT *, {_first("enrollment_id", "id")} FROM truth""")
    checks += [
        Check("truth_checked", "enrollment_id IS NULL", "enrollment_id", "empty"),
        Check("truth_checked", f"enrollment_id IS NOT NULL AND {again_id}", "enrollment_id",
              "repeated: one label per enrolment", first_id),
        Check("truth_checked", "label IS NULL OR label NOT IN ('0', '1')", "label",
              "not 0 or 1 (1 = dropped out)", shown_value("label")),
    ]
    if "date" in files:
        con.execute(f"""CREATE TEMP TABLE dates_checked AS
                        SELECT *, {_first("course_id", "course")} FROM dates""")
        again, first = _repeated("course")
        checks += [
            Check("dates_checked", "course_id IS NULL", "course_id", "empty"),
            Check("dates_checked", "from_day IS NULL", "from", "not a date like 2014-06-12",
                  shown_value('"from"')),
            Check("dates_checked", "to_day IS NULL", "to", "not a date like 2014-07-11",
                  shown_value('"to"')),
            Check("dates_checked", "to_day < from_day", "to", "before from"),
            Check("dates_checked", f"course_id IS NOT NULL AND {again}", "course_id",
                  "repeated: one window per course", first),
        ]
        window = "the course has no row in date.csv"
        known = "SELECT course_id FROM dates WHERE course_id IS NOT NULL"
    else:
        window = "the course has no event in the logs and there is no date.csv: its window is unknown"
        known = """SELECT DISTINCT e.course_id FROM log l JOIN enrol e USING (enrollment_id)
                   WHERE l.ts IS NOT NULL AND e.course_id IS NOT NULL"""
    con.execute(f"""CREATE TEMP TABLE courses_checked AS
                    SELECT file, line, course_id, course_id NOT IN ({known}) AS unplaced
                    FROM (SELECT DISTINCT ON (course_id) file, line, course_id FROM enrol
                          WHERE course_id IS NOT NULL ORDER BY course_id, file, line)""")
    checks.append(Check("courses_checked", "unplaced", "course_id", window, shown_value("course_id")))
    paths = {f.number: f.path for f in files.values()}
    raise_for(con, checks, paths, at_line, "KDD Cup 2015 release")


def _note(con: duckdb.DuckDBPyConnection, release: Release, files: dict[str, CsvFile],
          findings: Findings) -> None:
    """List what is imported with a problem: log files without rows, unknown events and
    sources, events outside their course's window, enrolments without a label, and
    object.csv's bad rows (checked, not imported)."""
    paths = {f.number: str(f.path) for f in files.values()}
    read = dict(con.execute("SELECT file, count(*) FROM log GROUP BY file").fetchall())
    for key, made in files.items():
        if key.startswith("log:") and not read.get(made.number):
            findings.add(made.path, None, None, "no rows after the header")
    known = ", ".join(f"'{k}'" for k in [*KINDS, *SPELLINGS])
    for fld, where, reason in [
        ("event", f"lower(event) NOT IN ({known})", "unknown event (imported as other)"),
        ("source", f"source IS NULL OR lower(source) NOT IN ({', '.join(map(repr, SOURCES))})",
         "unknown source (imported)"),
    ]:
        for file, line, value, rows in con.execute(f"""
                SELECT file, min(line), {fld}, count(*) FROM log WHERE {where}
                GROUP BY file, {fld} ORDER BY file, min(line)""").fetchall():
            findings.add(paths[file], line, fld, reason, value, rows)
    _runs(con, "date" in files)
    for file, line, reason, rows in con.execute("""
            SELECT l.file, min(l.line), CASE WHEN l.ts < r.course_start THEN 'before' ELSE 'after' END
                   || ' the course''s window (imported)', count(*)
            FROM log l JOIN enrol e USING (enrollment_id) JOIN runs r USING (course_id)
            WHERE l.ts < r.course_start OR l.ts >= r.course_end
            GROUP BY l.file, 3 ORDER BY 1, 2""").fetchall():
        findings.add(paths[file], line, "time", reason, None, rows)
    for part in release.parts:
        enrol_file = files[f"enrollment:{part.name}"]
        if part.truth is None:
            rows = con.execute(f"SELECT count(*) FROM enrol WHERE file = {enrol_file.number}").fetchone()[0]
            findings.add(part.enrolments, None, None,
                         f"no truth_{part.name}.csv: dropped_out left empty", None, rows)
            continue
        line, rows = con.execute(f"""
            SELECT min(line), count(*) FROM truth t
            WHERE file = {files[f"truth:{part.name}"].number} AND NOT EXISTS
                  (SELECT 1 FROM enrol e WHERE e.enrollment_id = t.enrollment_id AND e.part = t.part)
            """).fetchone()
        if rows:  # labels of enrolments left out of the enrolment file
            findings.add(part.truth, line, "enrollment_id",
                         f"a label for no enrolment in {part.enrolments.name} (not imported)", None, rows)
        line, rows = con.execute(f"""
            SELECT min(line), count(*) FROM enrol e
            WHERE file = {enrol_file.number}
              AND NOT EXISTS (SELECT 1 FROM truth t
                              WHERE t.enrollment_id = e.enrollment_id AND t.part = e.part)""").fetchone()
        if rows:
            findings.add(part.enrolments, line, "enrollment_id",
                         f"no label in {part.truth.name} (dropped_out left empty)", None, rows)
    if "object" in files:
        made = files["object"]
        start_ok = (f"start IS NULL OR lower(start) = 'null' "
                    f"OR try_strptime(start, {TIME_FORMATS}) IS NOT NULL")
        for fld, where, reason in [
            (None, f"width <> {made.width}", f"not as many fields as the header ({made.width})"),
            ("course_id", "course_id IS NULL", "empty"),
            ("module_id", "module_id IS NULL", "empty"),
            ("start", f"NOT ({start_ok})", f"neither null nor a time like {TIME_EXAMPLE}"),
        ]:
            line, rows = con.execute(f"SELECT min(line), count(*) FROM objects WHERE {where}").fetchone()
            if rows:
                findings.add(made.path, line, fld, f"{reason} (object.csv is checked, not imported)",
                             None, rows)


def _runs(con: duckdb.DuckDBPyConnection, dated: bool) -> None:
    """One run per course: date.csv's window (``to`` is its last day), else 30 days from the
    first day the course's log shows."""
    if dated:
        window = """SELECT course_id, from_day AS course_start, to_day + INTERVAL 1 DAY AS course_end
                    FROM dates"""
    else:
        window = f"""SELECT e.course_id, date_trunc('day', min(l.ts)) AS course_start,
                            date_trunc('day', min(l.ts)) + INTERVAL {WINDOW_DAYS} DAY AS course_end
                     FROM log l JOIN enrol e USING (enrollment_id) GROUP BY e.course_id"""
    con.execute(f"""CREATE TEMP TABLE runs AS
                    SELECT course_id, strftime(course_start, '%Y-%m') AS run_id,
                           CAST(course_start AS TIMESTAMP) AS course_start,
                           CAST(course_end AS TIMESTAMP) AS course_end
                    FROM ({window}) WHERE course_id IN (SELECT course_id FROM enrol)""")


def _write(con: duckdb.DuckDBPyConnection, stage: Path, step: Callable[[str], None]) -> dict[str, int]:
    enrolments = "enrol e JOIN ids i USING (username) JOIN runs r USING (course_id)"
    counts = {"enrolments": copy_to_parquet(con, f"""
        SELECT i.learner_id, e.course_id, r.run_id, r.course_start AS enrolled_at, r.course_start,
               r.course_end, '{PLATFORM}' AS platform
        FROM {enrolments}""", stage / "enrolments.parquet")}
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    spelt = " ".join(f"WHEN lower(l.event) = '{s}' THEN '{k}'" for s, k in SPELLINGS.items())
    counts["events"] = copy_to_parquet(con, f"""
        SELECT i.learner_id, e.course_id, r.run_id, l.ts,
               CASE {spelt} WHEN lower(l.event) IN ({kinds}) THEN lower(l.event) ELSE 'other' END
                   AS event_type,
               l.object AS object_id, CAST(NULL AS DOUBLE) AS value,
               coalesce(l.source, '') || '.' || l.event AS event_name
        FROM log l JOIN {enrolments} USING (enrollment_id)""", stage / "events.parquet")
    step("enrolments and events")
    counts["outcomes"] = copy_to_parquet(con, f"""
        SELECT i.learner_id, e.course_id, r.run_id, CAST(NULL AS BOOLEAN) AS certified,
               t.label = '1' AS dropped_out, a.last_active_at,
               CASE WHEN t.label = '1' THEN r.course_end END AS dropped_at
        FROM {enrolments}
        LEFT JOIN truth t ON t.enrollment_id = e.enrollment_id AND t.part = e.part
        LEFT JOIN (SELECT enrollment_id, max(ts) AS last_active_at FROM log GROUP BY ALL) a
          ON a.enrollment_id = e.enrollment_id""", stage / "outcomes.parquet")
    step("outcomes")
    return counts
