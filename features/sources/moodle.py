"""Moodle's standard log and its course, enrolment and grade-item exports → the shared
log-import columns (see ``logs.py``).

Files are CSV (a header line; comma-, semicolon-, tab- or pipe-separated; fields in double
quotes where needed, quotes doubled; maybe gzipped) or Parquet, told apart by their columns:

- the log (``logstore_standard_log``, has ``eventname``): one event per row;
- an enrolment export (``user_enrolments`` joined with ``enrol``, has ``timestart``): one
  ``\\core\\event\\user_enrolment_created`` event per row, at ``timestart`` (else, when it is
  0, at ``timecreated``);
- a course export (``course``, has ``startdate``): no events; its start and end dates
  (``enddate`` 0 = none) become the runs' dates (``run_dates``);
- a grade-item export (``grade_items``, has ``grademax``): no events; the items' ranges turn
  grades into scores.

Who the learner is follows Moodle's meaning of ``userid`` (who acted) and ``relateduserid``
(the user acted on): the learner is ``relateduserid`` for enrolment, grade and completion
events (``SUBJECT_EVENTS``), for an event whose ``target`` is a user and that names one in
``relateduserid``, for teaching-level events (``edulevel`` 1: staff acting on a learner) and
for events run by a script (``origin`` cli: cron, enrolment sync); otherwise it is ``userid``
(``origin`` web and ws, the mobile app). Not attributed to anyone: anonymous events, events
done while another user was logged in as the learner (``realuserid``), and copies restored
from a course backup (``origin`` restore). User 0 (not logged in) and -1 (system) are no user;
course 0 and 1 (the site) are no course (a course context's ``contextinstanceid`` is the
fallback for an empty ``courseid``). Moodle has no runs: every course has the run ``default``.
The object is the course module (``cm-<contextinstanceid>``) of events in a module's context.

A grade (``\\core\\event\\user_graded``) has a score when ``other`` is JSON with a
``finalgrade`` and the item's range is known (``grademax``/``grademin`` in ``other``, else from
a grade-item export): 100 · (finalgrade − min) / (max − min). ``other`` in PHP's serialised form
(older Moodle) gives no score. ``other`` is read for that and nothing else; ``ip`` is never read.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import duckdb

from mooc_risk.errors import InputError
from mooc_risk.features.sources.documents import MAX_LINE, compression
from mooc_risk.features.sources.inputs import TABLE_SUFFIXES, is_gzip
from mooc_risk.features.sources.staging import duckdb_connection, engine_words, quoted

PLATFORM = "moodle"
SUFFIXES = TABLE_SUFFIXES

ENROLLED = r"\core\event\user_enrolment_created"
GRADED = r"\core\event\user_graded"
# events about the user in relateduserid, whoever triggered them (a teacher, an admin, cron)
SUBJECT_EVENTS = (ENROLLED, r"\core\event\user_enrolment_deleted", r"\core\event\user_enrolment_updated",
                  GRADED, r"\core\event\grade_deleted", r"\core\event\course_completed",
                  r"\core\event\course_module_completion_updated")
NO_USER = ("0", "-1")  # not logged in, system
SITE = ("0", "1")  # no course, the site's front page
GRADE_ITEMS = "moodle_grade_items"  # made by ``prepare``, read by the log's rows
# a timecreated that is not Unix seconds becomes this text, which no timestamp parser accepts
# (so the shared code reports it as an unparseable timestamp)
_NOT_A_TIME = "0000-00-00T00:00:00+00:00"

# the columns each kind of file must have, and the ones read when present
COLUMNS = {
    "log": (("id", "eventname", "userid", "courseid", "relateduserid", "anonymous", "timecreated"),
            ("target", "edulevel", "contextlevel", "contextinstanceid", "origin", "realuserid",
             "other")),
    "enrolment": (("userid", "courseid", "timestart", "timecreated"), ()),
    "course": (("id", "startdate"), ("enddate",)),
    "grade item": (("id", "grademax"), ("grademin",)),
}
_MARKS = (("eventname", "log"), ("grademax", "grade item"), ("startdate", "course"),
          ("timestart", "enrolment"))  # the column that tells what a file is, in this order
_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class _File:
    path: Path
    kind: str
    names: dict[str, str]  # lower-case column name → the file's spelling
    delimiter: str | None  # None: Parquet


def prepare(con: duckdb.DuckDBPyConnection, files: list[Path]) -> list[Path]:
    """Check every file, make ``run_dates`` from course exports and the grade-item table, and
    return the files that hold events (logs and enrolment exports), in order."""
    found = [_open(path) for path in files]
    courses = [f for f in found if f.kind == "course"]
    items = [f for f in found if f.kind == "grade item"]
    if courses:
        _create(con, "run_dates", f"""
            SELECT course_raw, course_start,
                   CASE WHEN course_end > course_start THEN course_end END AS course_end
            FROM ({" UNION ALL ".join(_course_sql(f) for f in courses)})
            WHERE course_raw IS NOT NULL AND course_raw NOT IN {SITE} AND course_start IS NOT NULL""",
                courses)
    none = "SELECT NULL::VARCHAR AS itemid, NULL::DOUBLE AS grademax, NULL::DOUBLE AS grademin WHERE false"
    _create(con, GRADE_ITEMS, f"""
        SELECT itemid, max(grademax) AS grademax, min(grademin) AS grademin
        FROM ({" UNION ALL ".join(_grade_items_sql(f) for f in items) or none})
        WHERE itemid IS NOT NULL GROUP BY itemid""", items)
    events = [f.path for f in found if f.kind in ("log", "enrolment")]
    if not events:
        raise InputError(f"no Moodle log or enrolment export among {', '.join(map(str, files))} "
                         "(course and grade-item exports hold no events)")
    return events


def file_rows(path: Path) -> str:
    """The fields of a log or an enrolment export, one row per data row."""
    file = _open(path)
    if file.kind == "log":
        return _log_rows(file)
    if file.kind == "enrolment":
        return _enrolment_rows(file)
    raise InputError(f"{path}: a Moodle {file.kind} export holds no events")


def _log_rows(file: _File) -> str:
    subjects = ", ".join(map(quoted, SUBJECT_EVENTS))
    graded = quoted(GRADED)
    return f"""
    SELECT line, false AS blank, true AS ok,
           CASE WHEN skip IS NULL AND learner NOT IN {NO_USER} THEN learner END AS user_raw,
           CASE WHEN course NOT IN {SITE} THEN course END AS course_raw,
           ts_raw, eventname AS event_name,
           CASE WHEN contextlevel = '70' THEN 'cm-' || contextinstanceid END AS object_id,  -- module
           score,
           'moodle-log-' || id AS event_id,
           CASE WHEN courseid IS NULL AND course IS NOT NULL
                THEN 'contextinstanceid (course context)' END AS fallback,
           NULL::VARCHAR AS voids,
           CASE WHEN skip IS NOT NULL THEN skip
                WHEN learner IS NULL AND subject
                     THEN 'no relateduserid (staff or a script acting on no learner)'
                WHEN learner IS NULL THEN 'no userid'
                WHEN learner = '0' THEN who || ' 0 (not logged in)'
                WHEN learner = '-1' THEN who || ' -1 (system)'
                WHEN course IS NULL THEN 'no courseid'
                WHEN course IN {SITE} THEN 'courseid 0 or 1 (a site-level event)'
                WHEN ts_raw IS NULL THEN 'no timecreated'
                WHEN ts_raw = '{_NOT_A_TIME}' THEN 'a timecreated that is not Unix seconds'
           END AS hint
    FROM (
      SELECT *, CASE WHEN subject THEN relateduserid ELSE userid END AS learner,
             CASE WHEN subject THEN 'relateduserid' ELSE 'userid' END AS who,
             coalesce(courseid, CASE WHEN contextlevel = '50' THEN contextinstanceid END) AS course,
             CASE WHEN g[3] IS NOT NULL THEN {_score("g[2]", "g[3]", "coalesce(g[4], '0')")}
                  ELSE {_score("g[2]", "i.grademax", "coalesce(i.grademin, 0)")} END AS score
      FROM (
        SELECT *,
               coalesce(eventname IN ({subjects}) OR edulevel = '1' OR origin = 'cli'
                        OR (target = 'user' AND relateduserid IS NOT NULL), false) AS subject,
               CASE WHEN lower(anonymous) IN ('1', 'true') THEN 'anonymous event (not attributed)'
                    WHEN realuserid NOT IN {NO_USER}
                    THEN 'realuserid set (another user logged in as this one)'
                    WHEN origin = 'restore' THEN 'origin restore (a copy from a course backup)'
               END AS skip,
               {_iso("timecreated")} AS ts_raw,
               CASE WHEN eventname = {graded} THEN try(json_extract_string(other,
                    ['$.itemid', '$.finalgrade', '$.grademax', '$.grademin'])) END AS g
        FROM ({_normalised(file)})) n
        LEFT JOIN {GRADE_ITEMS} i ON n.g[1] = i.itemid)
    ORDER BY line"""  # the file's order, which the join does not keep


def _enrolment_rows(file: _File) -> str:
    start = "TRY_CAST(timestart AS DOUBLE) > 0"
    return f"""
    SELECT line, false AS blank, true AS ok,
           CASE WHEN userid NOT IN {NO_USER} THEN userid END AS user_raw,
           CASE WHEN courseid NOT IN {SITE} THEN courseid END AS course_raw,
           ts_raw, {quoted(ENROLLED)} AS event_name, NULL::VARCHAR AS object_id,
           NULL::DOUBLE AS score,
           -- identified by what is stored: an id made from the row would carry the user id
           NULL::VARCHAR AS event_id,
           CASE WHEN NOT coalesce({start}, false) AND ts_raw IS NOT NULL
                THEN 'timecreated (timestart is 0)' END AS fallback,
           NULL::VARCHAR AS voids,
           CASE WHEN userid IS NULL THEN 'no userid'
                WHEN userid = '0' THEN 'userid 0 (not logged in)'
                WHEN userid = '-1' THEN 'userid -1 (system)'
                WHEN courseid IS NULL THEN 'no courseid'
                WHEN courseid IN {SITE} THEN 'courseid 0 or 1 (the site)'
                WHEN ts_raw IS NULL THEN 'no timestart or timecreated'
                WHEN ts_raw = '{_NOT_A_TIME}' THEN 'a timestart/timecreated that is not Unix seconds'
           END AS hint
    FROM (SELECT *, CASE WHEN {start} THEN {_iso("timestart")} ELSE {_iso("timecreated")} END AS ts_raw
          FROM ({_normalised(file)}))"""


def _course_sql(file: _File) -> str:
    return f"""SELECT id AS course_raw, {_timestamp("startdate")} AS course_start,
                      {_timestamp("enddate")} AS course_end
               FROM ({_normalised(file)})"""


def _grade_items_sql(file: _File) -> str:
    return f"""SELECT id AS itemid, TRY_CAST(grademax AS DOUBLE) AS grademax,
                      TRY_CAST(grademin AS DOUBLE) AS grademin
               FROM ({_normalised(file)})"""


# -- reading the files -------------------------------------------------------------------------

def _open(path: Path) -> _File:
    """What ``path`` is, from its columns (a CSV file's first line, a Parquet file's schema).

    Raises:
        InputError: a column its kind needs is missing (the message names the columns, not
            what the first line held: in a file without a header that would be a record).
    """
    path = Path(path)
    delimiter = None
    if _is_parquet(path):
        con = duckdb_connection()
        try:
            names = [r[0] for r in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet({quoted(path)})").fetchall()]
        except duckdb.Error as exc:
            raise InputError(f"{path}: cannot read as Parquet: {engine_words(exc)}") from None
        finally:
            con.close()
    else:
        names, delimiter = _csv_header(path)
    lower = {name.strip().lower(): name for name in names}
    kind = next((k for column, k in _MARKS if column in lower), "log")
    missing = [c for c in COLUMNS[kind][0] if c not in lower]
    if missing:
        what = (f"a Moodle {kind} export" if kind != "log" else "a Moodle standard log "
                "(logstore_standard_log) or a course, enrolment or grade-item export")
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}: not {what} "
                         f"({len(names)} columns; the first line must name them)")
    return _File(path, kind, lower, delimiter)


def _is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _csv_header(path: Path) -> tuple[list[str], str]:
    """The column names on the first line, and the delimiter (the most frequent of
    ``_DELIMITERS`` on that line). Only the first line is read."""
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rb") as handle:
            first = handle.readline(MAX_LINE)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    line = first.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    delimiter = max(_DELIMITERS, key=line.count)
    names = next(csv.reader([line], delimiter=delimiter), [])
    return [name.strip() for name in names], delimiter


def _reader(file: _File) -> str:
    """The file as a DuckDB relation: every column as text (CSV: a quoted dialect, quotes
    doubled inside a field) or as stored (Parquet)."""
    if file.delimiter is None:
        return f"read_parquet({quoted(file.path)}, file_row_number = true)"
    columns = ", ".join(f"{quoted(name)}: 'VARCHAR'" for name in file.names.values())
    return f"""read_csv({quoted(file.path)}, header = true, auto_detect = false, all_varchar = true,
                        columns = {{{columns}}}, delim = {quoted(file.delimiter)}, quote = '"',
                        escape = '"', compression = '{compression(file.path)}',
                        max_line_size = {MAX_LINE})"""


_AS_TEXT = ("eventname", "target", "origin", "anonymous", "other")  # the rest are numbers


def _normalised(file: _File) -> str:
    """``line`` (CSV: the line in the file, the header being line 1; Parquet: the row, from 1)
    and the columns of the file's kind by their Moodle names as trimmed text (empty, NULL and
    \\N are NULL; a number loses a trailing ``.0``, as a float column writes it)."""
    required, optional = COLUMNS[file.kind]
    values = []
    for column in (*required, *optional):
        name = file.names.get(column)
        value = "NULL::VARCHAR" if name is None else _text('"' + name.replace('"', '""') + '"')
        if column not in _AS_TEXT:
            value = f"regexp_replace({value}, '\\.0+$', '')"
        values.append(f"{value} AS {column}")
    line = "file_row_number + 1" if file.delimiter is None else "row_number() OVER () + 1"
    return f"SELECT {line} AS line, {', '.join(values)} FROM {_reader(file)}"


def _text(column: str) -> str:
    return f"nullif(nullif(nullif(trim(CAST({column} AS VARCHAR)), ''), 'NULL'), '\\N')"


def _score(grade: str, high: str, low: str) -> str:
    """100 · (grade − low) / (high − low), when the range is known."""
    g, h, lo = (f"TRY_CAST({x} AS DOUBLE)" for x in (grade, high, low))
    return f"CASE WHEN {h} > {lo} THEN 100 * ({g} - {lo}) / ({h} - {lo}) END"


def _timestamp(column: str) -> str:
    """Unix seconds → TIMESTAMP (UTC); 0, negative or not a number → NULL."""
    s = f"TRY_CAST({column} AS DOUBLE)"
    return f"CASE WHEN {s} > 0 AND {s} < 1e11 THEN make_timestamp(CAST(round({s} * 1e6) AS BIGINT)) END"


def _iso(column: str) -> str:
    """Unix seconds → ISO 8601 text in UTC; a value that is not a positive number → a text
    no parser accepts (``_NOT_A_TIME``)."""
    return f"""CASE WHEN {column} IS NULL THEN NULL
                    WHEN {_timestamp(column)} IS NOT NULL
                    THEN strftime({_timestamp(column)}, '%Y-%m-%dT%H:%M:%S.%f') || '+00:00'
                    ELSE '{_NOT_A_TIME}' END"""


def _create(con: duckdb.DuckDBPyConnection, table: str, sql: str, files: list[_File]) -> None:
    try:
        con.execute(f"CREATE TABLE {table} AS {sql}")
    except duckdb.Error as exc:
        names = ", ".join(str(f.path) for f in files)
        raise InputError(f"{names}: cannot read: {engine_words(exc)}") from None
