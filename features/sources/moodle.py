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

Any other file (``mdl_user.csv``, a ``user_enrolments`` table without ``courseid``, a
``*_history`` table) is skipped and listed with its reason; so is a CSV row that cannot be
read (more or fewer fields than the header, not UTF-8): it is reported by its line, and the
rest of the file is imported.

Whose event it is: ``userid`` is who acted, ``relateduserid`` the user acted on. An event is a
learner's activity only when the learner did it (``userid``). When someone else acts on a
learner (``userid`` ≠ ``relateduserid``: a teacher, an admin, cron) the event is kept, for the
learner in ``relateduserid``, only when it records a fact about the learner (``FACT_EVENTS``:
enrolment, unenrolment, grade, course completion, role) or a module completion made by the
learner or by the system (``origin`` cli, user 0 or -1, not a teacher ticking it off); any other
such event is skipped with its own reason, as are teaching-level events (``edulevel`` 1) that
name no learner and script events (``origin`` cli) that are not facts. Users given a staff role
in a course (``STAFF_ROLE_IDS``, from ``\\core\\event\\role_assigned``, whose ``objectid`` is the
role; at the site or a category level: in every course) are not learners there while they hold
it: their events in that course from ``STAFF_GRACE`` seconds before the role was given (the
enrolment it came with is logged just before it) until a later ``role_unassigned`` of the same
role are skipped; their events before it stay theirs as a learner (a student made a teaching
assistant on day 60 keeps days 0-59). An event's time for this rule is when it was recorded:
``timecreated`` (an enrolment export's too, not ``timestart``). The roles are kept in the data
folder (``STAFF_FILE``, users by their learner-id hash) so that ``--append`` knows them. Not
attributed to anyone either: anonymous events, events done while another user was logged in as
the learner (``realuserid``), and copies restored from a course backup (``origin`` restore).
User 0 (not logged in) and -1 (system) are no user; course 0 and 1 (the site) are no course (a
course context's ``contextinstanceid`` is the fallback for an empty ``courseid``). Moodle has
no runs: every course has the run ``default``. The object is the course module
(``cm-<contextinstanceid>``) of events in a module's context.

A grade (``\\core\\event\\user_graded``) has a score when ``other`` is JSON with a
``finalgrade`` and the item's range is known (``grademax``/``grademin`` in ``other``, else from
a grade-item export): 100 · (finalgrade − min) / (max − min). ``other`` in PHP's serialised form
(older Moodle) gives no score. ``other`` is read for that and nothing else; ``ip`` is never used
(the CSV reader only checks that each row's fields are text).

``prepare`` reads every file once (role changes, course dates, grade ranges, and the rows a
CSV reader rejects) into tables on the import's connection, which ``file_rows`` then uses;
``finish`` writes the staff roles into the data folder.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import duckdb

from mooc_risk.errors import InputError
from mooc_risk.features.sources.documents import MAX_LINE, compression
from mooc_risk.features.sources.identity import pseudonym_sql
from mooc_risk.features.sources.inputs import TABLE_SUFFIXES, is_gzip
from mooc_risk.features.sources.staging import copy_to_parquet, duckdb_connection, engine_words, quoted

PLATFORM = "moodle"
SUFFIXES = TABLE_SUFFIXES

ENROLLED = r"\core\event\user_enrolment_created"
GRADED = r"\core\event\user_graded"
ROLE_ASSIGNED = r"\core\event\role_assigned"
ROLE_UNASSIGNED = r"\core\event\role_unassigned"
COMPLETION = r"\core\event\course_module_completion_updated"
# facts about the user in relateduserid, whoever recorded them (a teacher, an admin, cron)
FACT_EVENTS = (ENROLLED, r"\core\event\user_enrolment_deleted", r"\core\event\user_enrolment_updated",
               GRADED, r"\core\event\grade_deleted", r"\core\event\course_completed",
               ROLE_ASSIGNED, ROLE_UNASSIGNED)
# Moodle's default staff roles: manager, course creator, editing teacher, teacher (student: 5)
STAFF_ROLE_IDS = (1, 2, 3, 4)
# a staff role counts from this many seconds before it was given: Moodle logs the enrolment a
# role comes with just before the role (in the same request, maybe a second earlier)
STAFF_GRACE = 60
# the staff role changes of every import into a folder (user_id: the learner-id hash; course_raw
# NULL: the site or a category; changed_at; assigned: false for role_unassigned), kept for --append
STAFF_FILE = "moodle_staff.parquet"
NO_USER = ("0", "-1")  # not logged in, system
SITE = ("0", "1")  # no course, the site's front page
# why an event is no one's: hints that start with NOT_ATTRIBUTED are the shared report's reason
NOT_ATTRIBUTED = "not attributed: "
STAFF_ACTION = f"{NOT_ATTRIBUTED}a user acting on another (staff on a learner: not the learner's activity)"
SCRIPT_ACTION = f"{NOT_ATTRIBUTED}a script acting on a learner (origin cli: not the learner's activity)"
SCRIPT_ALONE = f"{NOT_ATTRIBUTED}a script (origin cli) acting on no learner"
TEACHING_ALONE = f"{NOT_ATTRIBUTED}a teaching-level event (edulevel 1) acting on no learner"
LOGGED_IN_AS = f"{NOT_ATTRIBUTED}done while another user was logged in as this one (realuserid)"
RESTORED = f"{NOT_ATTRIBUTED}a copy from a course backup (origin restore)"
IN_STAFF = f"{NOT_ATTRIBUTED}staff in this course (role "  # + the role id + ")"
# tables ``prepare`` makes on the connection, read by ``file_rows`` (and ``finish``): STAFF holds
# the spans of time users hold a staff role (``_staff_sql``), ROLES the role changes they are made
# from, EARLIER the folder's STAFF_FILE (on --append)
GRADE_ITEMS, STAFF, REJECTED = "moodle_grade_items", "moodle_staff", "moodle_rejected"
ROLES, EARLIER = "moodle_role_changes", "moodle_staff_earlier"
_SITE_WIDE = "*"  # STAFF's course_raw of a role at the site or a category level
# a timecreated that is not Unix seconds becomes this text, which no timestamp parser accepts
# (so the shared code reports it as an unparseable timestamp)
_NOT_A_TIME = "0000-00-00T00:00:00+00:00"

# the columns each kind of file must have, and the ones read when present
COLUMNS = {
    "log": (("id", "eventname", "userid", "courseid", "relateduserid", "anonymous", "timecreated"),
            ("edulevel", "contextlevel", "contextinstanceid", "objectid", "origin", "realuserid",
             "other")),
    "enrolment": (("userid", "courseid", "timestart", "timecreated"), ()),
    "course": (("id", "startdate"), ("enddate",)),
    "grade item": (("id", "grademax"), ("grademin",)),
}
_MARKS = (("eventname", "log"), ("grademax", "grade item"), ("startdate", "course"),
          ("timestart", "enrolment"))  # the column that tells what a file is, in this order
_DELIMITERS = (",", ";", "\t", "|")
_FIELD_LIMIT = MAX_LINE  # the longest field Python's CSV reader splits (a row is at most a line)


@dataclass(frozen=True)
class _File:
    path: Path
    kind: str
    names: dict[str, str]  # lower-case column name → the file's spelling
    delimiter: str | None  # None: Parquet


class _NotMoodle(InputError):
    """A file that is not one of the files this source reads (it is skipped, with this reason)."""


def prepare(con: duckdb.DuckDBPyConnection, files: list[Path], append_to: Path | None = None
            ) -> tuple[list[Path], list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Read every file once: make ``run_dates`` from course exports, the grade-item table, the
    staff table (role changes in the logs, and on ``--append`` those kept in ``append_to``) and
    the table of CSV rows that cannot be read. The connection holds ``hmac_keys`` when
    ``append_to`` keeps staff roles (they are matched to this import's users by their hash).

    Returns:
        The files that hold events (logs and enrolment exports), in order; the files skipped,
        with why; the files read that hold no events (course and grade-item exports), with what
        they gave.

    Raises:
        InputError: a file cannot be read at all, a log lacks a column it needs, or no file
            holds events (the message says what each file was).
    """
    found, skipped = [], []
    for path in map(Path, files):
        try:
            found.append(_open(path))
        except _NotMoodle as exc:
            skipped.append((path, str(exc)))
    con.execute(f"CREATE TEMP TABLE {REJECTED} (path VARCHAR, line BIGINT, reason VARCHAR)")
    roles, courses, items = [], [], []
    for number, file in enumerate(found):
        rejects = f"moodle_rejects_{number}" if file.delimiter else None
        if file.kind == "log":
            roles.append(_table(con, f"moodle_roles_{number}", _roles_sql(file, rejects), file))
        elif file.kind == "course":
            courses.append(_table(con, f"moodle_courses_{number}", _course_sql(file, rejects), file))
        elif file.kind == "grade item":
            items.append(_table(con, f"moodle_items_{number}", _grade_items_sql(file, rejects), file))
        else:  # an enrolment export: read now only for its unreadable rows
            _table(con, f"moodle_scan_{number}", f"SELECT count(*) FROM ({_scan(file, rejects)})", file)
        if rejects:
            _collect_rejects(con, file, rejects)
    if courses:  # else no run_dates: the runs have no dates (self-paced)
        _create(con, "run_dates", f"""
            SELECT course_raw, course_start,
                   CASE WHEN course_end > course_start THEN course_end END AS course_end
            FROM ({_union(courses, "")})
            WHERE course_raw IS NOT NULL AND course_raw NOT IN {SITE} AND course_start IS NOT NULL""")
    _create(con, GRADE_ITEMS, f"""
        SELECT itemid, max(grademax) AS grademax, min(grademin) AS grademin
        FROM ({_union(items, "NULL::VARCHAR AS itemid, NULL::DOUBLE AS grademax, NULL::DOUBLE AS grademin")})
        WHERE itemid IS NOT NULL GROUP BY itemid""")
    staff = ", ".join(map(str, STAFF_ROLE_IDS))
    _create(con, ROLES, f"""
        SELECT DISTINCT user_raw, course_raw, role, changed_at, assigned
        FROM ({_union(roles, "NULL::VARCHAR AS user_raw, NULL::VARCHAR AS course_raw, NULL::INT AS role, "
                             "NULL::TIMESTAMP AS changed_at, NULL::BOOLEAN AS assigned")})
        WHERE role IN ({staff}) AND user_raw IS NOT NULL AND user_raw NOT IN {NO_USER}""")
    _earlier_staff(con, append_to, [f for f in found if f.kind in ("log", "enrolment")])
    _create(con, STAFF, _staff_sql())
    no_events = [(f.path, _what_it_gave(con, f, table)) for f, table in (*courses, *items)]
    events = [f.path for f in found if f.kind in ("log", "enrolment")]
    if not events:
        what = [*(f"{p}: {why}" for p, why in skipped), *(f"{p}: {gave}" for p, gave in no_events)]
        raise InputError(f"no Moodle log or enrolment export among {', '.join(map(str, files))} "
                         f"({'; '.join(what)})")
    return events, skipped, no_events


def finish(con: duckdb.DuckDBPyConnection, stage: Path) -> None:
    """Keep the staff role changes, this import's and (on ``--append``) the folder's, in
    ``stage`` as ``STAFF_FILE``, for a later ``--append``. Users are kept as the hash that is
    their learner id (``hmac_keys``), never by their Moodle id; no file when there are none."""
    kept = sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (ROLES, EARLIER))
    if kept:
        copy_to_parquet(con, f"""
            SELECT DISTINCT * FROM (
                SELECT {pseudonym_sql("r.user_raw")} AS user_id, r.course_raw, r.role, r.changed_at,
                       r.assigned
                FROM {ROLES} r, hmac_keys
                UNION ALL SELECT * FROM {EARLIER})
            ORDER BY ALL""", stage / STAFF_FILE)


def file_rows(path: Path) -> str:
    """The fields of a log or an enrolment export, one row per data row (a row the CSV reader
    rejected, recorded by ``prepare``, is a record that is not ``ok``, with its reason as hint)."""
    file = _open(path)
    if file.kind == "log":
        rows = _log_rows(file)
    elif file.kind == "enrolment":
        rows = _enrolment_rows(file)
    else:
        raise InputError(f"{path}: a Moodle {file.kind} export holds no events")
    if file.delimiter is None:
        return f"{rows} ORDER BY line"
    return f"""
    SELECT * FROM ({rows})
    UNION ALL BY NAME
    SELECT line, false AS blank, false AS ok, NULL::VARCHAR AS user_raw, NULL::VARCHAR AS course_raw,
           NULL::VARCHAR AS ts_raw, NULL::VARCHAR AS event_name, NULL::VARCHAR AS object_id,
           NULL::DOUBLE AS score, NULL::VARCHAR AS event_id, NULL::VARCHAR AS fallback,
           NULL::VARCHAR AS voids, reason AS hint
    FROM {REJECTED} WHERE path = {quoted(file.path)}
    ORDER BY line"""  # the file's order, which the joins do not keep


def _log_rows(file: _File) -> str:
    facts = ", ".join(map(quoted, FACT_EVENTS))
    graded = quoted(GRADED)
    return f"""
    SELECT line, false AS blank, true AS ok,
           CASE WHEN skip IS NULL AND role IS NULL AND learner NOT IN {NO_USER} THEN learner END AS user_raw,
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
                     THEN 'no relateduserid (a grade, enrolment, completion or role for no one)'
                WHEN learner IS NULL THEN 'no userid'
                WHEN learner = '0' THEN who || ' 0 (not logged in)'
                WHEN learner = '-1' THEN who || ' -1 (system)'
                WHEN role IS NOT NULL THEN {quoted(IN_STAFF)} || role || ')'
                WHEN course IS NULL THEN 'no courseid'
                WHEN course IN {SITE} THEN 'courseid 0 or 1 (a site-level event)'
                WHEN ts_raw IS NULL THEN 'no timecreated'
                WHEN ts_raw = '{_NOT_A_TIME}' THEN 'a timecreated that is not Unix seconds'
           END AS hint
    FROM (
      SELECT n.*, least(s.role, a.role) AS role,
             CASE WHEN g[3] IS NOT NULL THEN {_score("g[2]", "g[3]", "coalesce(g[4], '0')")}
                  ELSE {_score("g[2]", "i.grademax", "coalesce(i.grademin, 0)")} END AS score
      FROM (
        SELECT *, CASE WHEN subject THEN relateduserid ELSE userid END AS learner,
               CASE WHEN subject THEN 'relateduserid' ELSE 'userid' END AS who,
               CASE WHEN lower(anonymous) IN ('1', 'true') THEN 'anonymous event (not attributed)'
                    WHEN {_a_user("realuserid")} THEN {quoted(LOGGED_IN_AS)}
                    WHEN origin = 'restore' THEN {quoted(RESTORED)}
                    WHEN subject THEN NULL
                    WHEN origin = 'cli' AND related THEN {quoted(SCRIPT_ACTION)}
                    WHEN origin = 'cli' THEN {quoted(SCRIPT_ALONE)}
                    WHEN on_other THEN {quoted(STAFF_ACTION)}
                    WHEN edulevel = '1' AND NOT related THEN {quoted(TEACHING_ALONE)}
               END AS skip
        FROM (
          SELECT *,
                 -- relateduserid's: a fact, or a module completion by the learner or the system
                 eventname IN ({facts}) OR (eventname = {quoted(COMPLETION)}
                                            AND (NOT on_other OR coalesce(origin = 'cli', false)))
                     AS subject
          FROM (
            SELECT *, {_a_user("relateduserid")} AS related,
                   {_a_user("userid")} AND {_a_user("relateduserid")} AND userid <> relateduserid
                       AS on_other,
                   coalesce(courseid, CASE WHEN contextlevel = '50' THEN contextinstanceid END) AS course,
                   {_iso("timecreated")} AS ts_raw,
                           {_timestamp("timecreated")} AS recorded_at,
                   CASE WHEN eventname = {graded} THEN try(json_extract_string(other,
                        ['$.itemid', '$.finalgrade', '$.grademax', '$.grademin'])) END AS g
            FROM ({_normalised(file)})))) n
        LEFT JOIN {GRADE_ITEMS} i ON n.g[1] = i.itemid
        {_staff_joins("n.learner", "n.course", "n.recorded_at")})"""


def _a_user(column: str) -> str:
    """Whether ``column`` names a user (not empty, not 0 or -1)."""
    return f"coalesce({column} NOT IN {NO_USER}, false)"


def _staff_joins(user: str, course: str, at: str) -> str:
    """``s.role``: the user's staff role in the course at the time ``at``; ``a.role``: at the
    site or a category. (A user's spans in ``STAFF`` do not overlap: one row joins at most.)"""
    held = "{t}.user_raw = {user} AND {at} >= {t}.since AND ({t}.until IS NULL OR {at} < {t}.until)"
    return f"""LEFT JOIN {STAFF} s ON {held.format(t="s", user=user, at=at)} AND s.course_raw = {course}
               LEFT JOIN {STAFF} a ON {held.format(t="a", user=user, at=at)}
                                      AND a.course_raw = '{_SITE_WIDE}'"""


def _staff_sql() -> str:
    """``STAFF``: each user's staff role in a course (``_SITE_WIDE``: at the site or a category
    level) from ``since`` until ``until`` (NULL: on), the least role id among the roles held then;
    spans without one are left out. A role is held from ``STAFF_GRACE`` seconds before its
    ``role_assigned`` (always, when that has no time) until the first later ``role_unassigned``
    of the same role in the same place."""
    return f"""
    WITH held AS (
      SELECT a.user_raw, coalesce(a.course_raw, '{_SITE_WIDE}') AS course_raw, a.role,
             coalesce(a.changed_at - INTERVAL {STAFF_GRACE} SECOND, TIMESTAMP '0001-01-01') AS since,
             (SELECT min(u.changed_at) FROM {ROLES} u
              WHERE NOT u.assigned AND u.user_raw = a.user_raw AND u.role = a.role
                    AND u.course_raw IS NOT DISTINCT FROM a.course_raw AND u.changed_at > a.changed_at)
                 AS until
      FROM {ROLES} a WHERE a.assigned),
    changes AS (SELECT user_raw, course_raw, since FROM held
                UNION SELECT user_raw, course_raw, until FROM held WHERE until IS NOT NULL)
    SELECT * FROM (
      SELECT *, lead(since) OVER (PARTITION BY user_raw, course_raw ORDER BY since) AS until
      FROM (SELECT c.user_raw, c.course_raw, c.since, min(h.role) AS role
            FROM changes c LEFT JOIN held h
                 ON h.user_raw = c.user_raw AND h.course_raw = c.course_raw AND h.since <= c.since
                    AND (h.until IS NULL OR c.since < h.until)
            GROUP BY ALL))
    WHERE role IS NOT NULL"""


def _earlier_staff(con: duckdb.DuckDBPyConnection, append_to: Path | None, files: list[_File]) -> None:
    """``EARLIER``: the staff role changes kept in ``append_to`` (none without it). Those of the
    users in ``files`` (this import's logs and enrolment exports) are added to ``ROLES``: the
    folder keeps users only as their hash, so the ids in the files are hashed to find them."""
    kept = None if append_to is None else Path(append_to) / STAFF_FILE
    if kept is None or not kept.exists():
        _create(con, EARLIER, """SELECT NULL::VARCHAR AS user_id, NULL::VARCHAR AS course_raw,
                                        NULL::INT AS role, NULL::TIMESTAMP AS changed_at,
                                        NULL::BOOLEAN AS assigned WHERE false""")
        return
    try:
        _create(con, EARLIER, f"""
            SELECT CAST(user_id AS VARCHAR) AS user_id, CAST(course_raw AS VARCHAR) AS course_raw,
                   CAST(role AS INT) AS role, CAST(changed_at AS TIMESTAMP) AS changed_at,
                   CAST(assigned AS BOOLEAN) AS assigned
            FROM read_parquet({quoted(kept)})""")
    except duckdb.Error as exc:
        raise InputError(f"{kept}: cannot read the staff roles an earlier import kept there "
                         f"({engine_words(exc)}); import all the logs again without --append") from None
    if not con.execute(f"SELECT count(*) FROM {EARLIER}").fetchone()[0]:
        return
    con.execute("CREATE TEMP TABLE moodle_users (user_raw VARCHAR)")
    for file in files:  # one file per query: each CSV scan has its own rejects table
        ids = "unnest([userid, relateduserid])" if file.kind == "log" else "userid"
        _table(con, "moodle_users", f"SELECT DISTINCT {ids} FROM ({_scan(file)})", file, insert=True)
    con.execute(f"""
        INSERT INTO {ROLES}
        SELECT u.user_raw, e.course_raw, e.role, e.changed_at, e.assigned
        FROM {EARLIER} e
             JOIN (SELECT user_raw, {pseudonym_sql("user_raw")} AS user_id
                   FROM (SELECT DISTINCT user_raw FROM moodle_users
                         WHERE user_raw IS NOT NULL AND user_raw NOT IN {NO_USER}), hmac_keys) u
             USING (user_id)
        EXCEPT SELECT * FROM {ROLES}""")


def _enrolment_rows(file: _File) -> str:
    start = "TRY_CAST(timestart AS DOUBLE) > 0"
    return f"""
    SELECT line, false AS blank, true AS ok,
           CASE WHEN userid NOT IN {NO_USER} AND role IS NULL THEN userid END AS user_raw,
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
                WHEN role IS NOT NULL THEN {quoted(IN_STAFF)} || role || ')'
                WHEN courseid IS NULL THEN 'no courseid'
                WHEN courseid IN {SITE} THEN 'courseid 0 or 1 (the site)'
                WHEN ts_raw IS NULL THEN 'no timestart or timecreated'
                WHEN ts_raw = '{_NOT_A_TIME}' THEN 'a timestart/timecreated that is not Unix seconds'
           END AS hint
    FROM (SELECT n.*, least(s.role, a.role) AS role
          FROM (SELECT *, CASE WHEN {start} THEN {_iso("timestart")} ELSE {_iso("timecreated")} END AS ts_raw,
                       -- when the row was recorded (not timestart, which may be set back to the
                       -- day's or the course's start): for the staff rule
                       coalesce({_timestamp("timecreated")},
                                CASE WHEN {start} THEN {_timestamp("timestart")} END) AS recorded_at
                FROM ({_normalised(file)})) n
          {_staff_joins("n.userid", "n.courseid", "n.recorded_at")})"""


def _roles_sql(file: _File, rejects: str | None) -> str:
    """The roles assigned and unassigned in a log: user, course (NULL: the site or a category),
    role, time and whether it was assigned. A role in one activity or block (context level 70,
    80: a student moderating a forum) is not one in the course."""
    return f"""SELECT relateduserid AS user_raw, CASE WHEN course NOT IN {SITE} THEN course END AS course_raw,
                      TRY_CAST(objectid AS INTEGER) AS role, {_timestamp("timecreated")} AS changed_at,
                      eventname = {quoted(ROLE_ASSIGNED)} AS assigned
               FROM (SELECT *, coalesce(courseid, CASE WHEN contextlevel = '50' THEN contextinstanceid END)
                                   AS course
                     FROM ({_scan(file, rejects)}))
               WHERE eventname IN ({quoted(ROLE_ASSIGNED)}, {quoted(ROLE_UNASSIGNED)})
                     AND coalesce(contextlevel NOT IN ('70', '80'), true)"""


def _course_sql(file: _File, rejects: str | None) -> str:
    return f"""SELECT id AS course_raw, {_timestamp("startdate")} AS course_start,
                      {_timestamp("enddate")} AS course_end
               FROM ({_scan(file, rejects)})"""


def _grade_items_sql(file: _File, rejects: str | None) -> str:
    return f"""SELECT id AS itemid, TRY_CAST(grademax AS DOUBLE) AS grademax,
                      TRY_CAST(grademin AS DOUBLE) AS grademin
               FROM ({_scan(file, rejects)})"""


def _what_it_gave(con: duckdb.DuckDBPyConnection, file: _File, table: str) -> str:
    """What a course or grade-item export gave, for the per-file report."""
    if file.kind == "course":
        n = con.execute(f"""SELECT count(DISTINCT course_raw) FROM {table}
                            WHERE course_raw NOT IN {SITE} AND course_start IS NOT NULL""").fetchone()[0]
        text = f"a course export: the dates of {n:,} course{'s' * (n != 1)}"
    else:
        n = con.execute(f"SELECT count(DISTINCT itemid) FROM {table} WHERE grademax IS NOT NULL"
                        ).fetchone()[0]
        text = f"a grade-item export: the ranges of {n:,} grade item{'s' * (n != 1)}"
    bad = con.execute(f"""SELECT count(*), arg_min(line, line), arg_min(reason, line) FROM {REJECTED}
                          WHERE path = {quoted(file.path)}""").fetchone()
    if bad[0]:
        text += f"; {bad[0]:,} unreadable row{'s' * (bad[0] != 1)} skipped (first: line {bad[1]}: {bad[2]})"
    return text


# -- reading the files -------------------------------------------------------------------------

def _open(path: Path) -> _File:
    """What ``path`` is, from its columns (a CSV file's first line, a Parquet file's schema).

    Raises:
        _NotMoodle: the file is none of the files this source reads, or an export that lacks a
            column it needs (the file is skipped).
        InputError: the file cannot be read, or a log lacks a column it needs (the message
            names the columns, not what the first line held: in a file without a header that
            would be a record).
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
    kind = next((k for column, k in _MARKS if column in lower), None)
    if kind is None:
        raise _NotMoodle(f"not a Moodle log or export: no column {', '.join(c for c, _ in _MARKS)} "
                         f"({len(names)} columns; the first line must name them)")
    if "oldid" in lower:
        raise _NotMoodle("a Moodle history table (column oldid), not a log or export")
    missing = [c for c in COLUMNS[kind][0] if c not in lower]
    if missing and kind != "log":
        mark = next(c for c, k in _MARKS if k == kind)
        raise _NotMoodle(f"not a Moodle {kind} export: it has {mark} but no column(s) "
                         f"{', '.join(map(repr, missing))}")
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}: not a Moodle "
                         f"standard log (logstore_standard_log) ({len(names)} columns; the first "
                         "line must name them)")
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


def _reader(file: _File, rejects: str | None = None) -> str:
    """The file as a DuckDB relation: every column as text (CSV: a quoted dialect, quotes
    doubled inside a field; a row that cannot be read is left out, and recorded in the table
    ``rejects`` when it is named) or as stored (Parquet).

    Rows are left out with ``store_rejects`` even where none is to be recorded (then at most one
    is, in a table no one reads): with ``ignore_errors`` instead, DuckDB 1.5 drops every row after
    a misplaced quote without a word."""
    if file.delimiter is None:
        return f"read_parquet({quoted(file.path)}, file_row_number = true)"
    columns = ", ".join(f"{quoted(name)}: 'VARCHAR'" for name in file.names.values())
    table, limit = (rejects, 0) if rejects else ("moodle_unread", 1)
    errors = (f"store_rejects = true, rejects_table = '{table}', rejects_scan = '{table}_scan', "
              f"rejects_limit = {limit}")
    return f"""read_csv({quoted(file.path)}, header = true, auto_detect = false, all_varchar = true,
                        columns = {{{columns}}}, delim = {quoted(file.delimiter)}, quote = '"',
                        escape = '"', compression = '{compression(file.path)}',
                        max_line_size = {MAX_LINE}, {errors})"""


_AS_TEXT = ("eventname", "origin", "anonymous", "other")  # the rest are numbers


def _scan(file: _File, rejects: str | None = None) -> str:
    """The columns of the file's kind by their Moodle names as trimmed text (empty, NULL and
    \\N are NULL; a number loses a trailing ``.0``, as a float column writes it).

    A CSV file's every column is read (the filter on their hash keeps the engine from reading
    only the ones used): which rows it rejects (not UTF-8) then does not depend on the query,
    so ``prepare``'s scan and ``file_rows``' agree, and DuckDB's rejects table is not used with
    a partial projection (that failed with an internal error in DuckDB 1.5)."""
    required, optional = COLUMNS[file.kind]
    values = []
    for column in (*required, *optional):
        name = file.names.get(column)
        value = "NULL::VARCHAR" if name is None else _text(_identifier(name))
        if column not in _AS_TEXT:
            value = f"regexp_replace({value}, '\\.0+$', '')"
        values.append(f"{value} AS {column}")
    if file.delimiter is None:
        return f"SELECT file_row_number + 1 AS line, {', '.join(values)} FROM {_reader(file)}"
    every = ", ".join(map(_identifier, file.names.values()))
    return f"SELECT {', '.join(values)} FROM {_reader(file, rejects)} WHERE hash({every}) IS NOT NULL"


def _normalised(file: _File) -> str:
    """``_scan`` with ``line``: CSV, the line in the file (the header being line 1), counting
    the rows the reader rejected (``REJECTED``, made by ``prepare``); Parquet, the row, from 1."""
    if file.delimiter is None:
        return _scan(file)
    # the i-th rejected row (at line r) has r - i - 1 rows kept before it
    shifts = f"""(SELECT kept_before, max(i) AS before
                  FROM (SELECT line - i - 1 AS kept_before, i
                        FROM (SELECT line, row_number() OVER (ORDER BY line) AS i
                              FROM {REJECTED} WHERE path = {quoted(file.path)}))
                  GROUP BY kept_before)"""
    return f"""SELECT k + 1 + coalesce(r.before, 0) AS line, kept.* EXCLUDE (k)
               FROM (SELECT row_number() OVER () AS k, * FROM ({_scan(file)})) kept
                    ASOF LEFT JOIN {shifts} r ON kept.k > r.kept_before"""


def _collect_rejects(con: duckdb.DuckDBPyConnection, file: _File, rejects: str) -> None:
    """The rows of ``file`` the reader rejected, one per line with its reason, into ``REJECTED``;
    the rejects tables (which hold the rows' text) are dropped first. A row whose fields do not
    match the header has them counted here, as Python's CSV reader splits the line (the engine's
    count stops at the first misplaced quote, as in JSON written without quotes)."""
    rows = con.execute(f"""
        SELECT line, bool_or(error_type IN ('UNQUOTED VALUE', 'TOO MANY COLUMNS', 'MISSING COLUMNS')),
               bool_or(error_type LIKE 'INVALID%'), bool_or(error_type LIKE 'LINE SIZE%')
        FROM {rejects} GROUP BY line ORDER BY line""").fetchall()
    con.execute(f"DROP TABLE {rejects}; DROP TABLE {rejects}_scan")
    if not rows:
        return
    header = len(file.names)
    counts = _field_counts(file, {line for line, fields, _, _ in rows if fields})
    reasons = []
    for line, fields, encoding, size in rows:
        n = counts.get(line)
        if fields and n is not None and n != header:
            reason = f"row with {n} fields where the header has {header}" + (
                " (a value holding the delimiter, not in double quotes?)" if n > header else "")
        elif fields:
            reason = ("row with a misplaced double quote (a value holding one must be in double "
                      "quotes, its quotes doubled)")
        elif encoding:
            reason = "not valid UTF-8 (a line cut inside a character?)"
        elif size:
            reason = "line longer than the 4 MiB limit"
        else:
            reason = "unreadable row"
        reasons.append(f"({quoted(file.path)}, {line}, {quoted(reason)})")
    for first in range(0, len(reasons), 10_000):  # literals: bound parameters make DuckDB import pandas
        con.execute(f"INSERT INTO {REJECTED} VALUES {', '.join(reasons[first:first + 10_000])}")


def _field_counts(file: _File, lines: set[int]) -> dict[int, int]:
    """How many fields Python's CSV reader finds on each of ``lines`` (the text is not kept); a
    line it cannot split either is left out. Fields up to ``_FIELD_LIMIT`` long are read (the
    reader's own limit, 128 KiB, is raised for the call and put back)."""
    counts: dict[int, int] = {}
    if not lines:
        return counts
    last = max(lines)
    opener = gzip.open if is_gzip(file.path) else open
    limit = csv.field_size_limit(_FIELD_LIMIT)
    try:
        with opener(file.path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if number in lines:
                    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                    try:
                        counts[number] = len(next(csv.reader([text], delimiter=file.delimiter), []))
                    except csv.Error:  # its message may quote the row: not kept
                        pass
                if number >= last:
                    break
    finally:
        csv.field_size_limit(limit)
    return counts


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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


def _table(con: duckdb.DuckDBPyConnection, table: str, sql: str, file: _File, insert: bool = False
           ) -> tuple[_File, str]:
    """``sql`` (a scan of ``file``) as the temporary table ``table`` (``insert``: added to it)."""
    try:
        con.execute(f"INSERT INTO {table} {sql}" if insert else f"CREATE TEMP TABLE {table} AS {sql}")
    except duckdb.Error as exc:
        raise InputError(f"{file.path}: cannot read: {engine_words(exc)}") from None
    return file, table


def _union(tables: list[tuple[_File, str]], empty: str) -> str:
    """The rows of ``tables``, or none (with the columns of ``empty``)."""
    return " UNION ALL ".join(f"SELECT * FROM {t}" for _, t in tables) or f"SELECT {empty} WHERE false"


def _create(con: duckdb.DuckDBPyConnection, table: str, sql: str) -> None:
    con.execute(f"CREATE TABLE {table} AS {sql}")
