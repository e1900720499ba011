"""The canonical tables of a log import, from ``parsed``, ``names`` and ``ids``.

Events: the usable rows (not voided, and not voiding statements), with learner ids, course and
run from the course key (``course_keys``), and the vocabulary's event type (a scored problem is
an ``assessment`` with its score). An event is
identified by its platform id where the platform gives one (xAPI statement id, Caliper event
id) and otherwise by what is stored of it (learner, course, run, time to the microsecond,
event name, object, score): an event seen twice (in two files, or twice in one) is kept
once, and with ``--append`` the folder's events are kept and not added again. Enrolments and
outcomes come from all events, through one row per enrolment (``learners``): enrolled at the
first enrolment event (else the first event), ``dropped_out`` when the last enrolment event
is an unenrolment, ``certified`` from the last pass/fail event. With ``--append`` the
folder's surveys and course calendar (``assessments``), which no log carries, are kept as they
are (``keep_tables``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from mooc_risk.errors import InputError
from mooc_risk.features.sources.course_keys import course_and_run
from mooc_risk.features.sources.staging import copy_to_parquet, has_table, quoted
from mooc_risk.features.sources.vocabulary import case_sql

QUIET_DAYS = 14


VOIDED_FILE = "voided_statements.parquet"  # ids of voided xAPI statements, kept for --append
MANIFEST = "import_manifest.json"  # how the folder's ids were made, checked by --append
# 2: xAPI agents by IFI, course keys trimmed and parsed by their grammar (course_keys), voiding
# 3: edX names mask other users' path segments, edX keys in API paths, Caliper isPartOf as course
IDENTITY_RULES = 3


# the canonical tables a log import never makes, which the folder may hold beside the events
# (added by hand or by another tool): ``--append`` keeps them as they are, with the instrument
# that scores the surveys
KEPT_TABLES = ("surveys", "assessments")
INSTRUMENT = "instrument.yaml"  # constructs.INSTRUMENT_FILE (not imported here: it loads ibis)


def keep_tables(append_to: Path | None, stage: Path) -> list[str]:
    """On ``--append`` (``append_to`` the folder appended to), copy the folder's ``KEPT_TABLES``
    (each as ``NAME.parquet``, ``NAME.csv`` or a ``NAME/`` folder of Parquet files, whichever
    it holds) and its ``instrument.yaml`` into ``stage`` unchanged; return the names of the
    tables kept. Without ``--append`` nothing is kept: a new import starts from its own files.
    OSError when a file cannot be copied (the folder is left as it was)."""
    if append_to is None:
        return []
    kept = []
    for name in KEPT_TABLES:
        for path in (append_to / f"{name}.parquet", append_to / f"{name}.csv", append_to / name):
            if path.is_dir():
                shutil.copytree(path, stage / path.name)
            elif path.is_file():
                shutil.copy2(path, stage / path.name)
            else:
                continue
            kept.append(name)
    if (append_to / INSTRUMENT).is_file():
        shutil.copy2(append_to / INSTRUMENT, stage / INSTRUMENT)
    return list(dict.fromkeys(kept))


def write_manifest(stage: Path, platform: str) -> None:
    """Record the platform and the identity rules the folder's ids were made with
    (``--append`` checks them)."""
    import json

    (stage / MANIFEST).write_text(json.dumps({"identity_rules": IDENTITY_RULES,
                                              "platform": platform}) + "\n")


def check_append(folder: Path, platform: str) -> None:
    """Refuse ``--append`` onto a folder whose ids were made by older rules (new events would
    split its learners and courses) or from another source (a platform's user 5 is not
    another platform's user 5, but their keyed hashes are equal).

    Raises:
        InputError: naming the folder and what to do instead.
    """
    import json

    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        rules, made_from = int(manifest.get("identity_rules", 0)), manifest.get("platform")
    except (OSError, ValueError, AttributeError):
        rules, made_from = 0, None
    if rules < IDENTITY_RULES and (folder / "events.parquet").exists():
        raise InputError(f"{folder}: its events were imported by an older mooc-risk that "
                         "identified learners, courses or events differently (so new events would "
                         "split them); import all the logs again without --append")
    if made_from is not None and made_from != platform:
        raise InputError(f"{folder}: holds {made_from} events; --append of {platform} events would "
                         f"mix two platforms' user ids (user 5 of one is not user 5 of the other). "
                         "Import them into a folder of their own")


def voided_statements(con: duckdb.DuckDBPyConnection, append_to: Path | None) -> None:
    """``voided``: the ids of statements voided by a voiding statement in the input, or in an
    earlier import of the folder (so a voided statement that arrives later stays out)."""
    earlier = ""
    if append_to is not None and (append_to / VOIDED_FILE).exists():
        earlier = f"UNION SELECT event_id FROM read_parquet({quoted(append_to / VOIDED_FILE)})"
    con.execute(f"""CREATE TABLE voided AS
                    SELECT voids AS event_id FROM parsed WHERE voids IS NOT NULL AND bad IS NULL
                    {earlier}""")


def write_tables(con: duckdb.DuckDBPyConnection, stage: Path, append_to: Path | None,
                 lifecycle: list[tuple[str, str]], platform: str, final: bool) -> dict[str, int]:
    events = stage / "events.parquet"
    counts = {"events": copy_to_parquet(con, _events_sql(con, append_to, platform), events)}
    if con.execute("SELECT count(*) FROM voided").fetchone()[0]:
        copy_to_parquet(con, "SELECT DISTINCT event_id FROM voided ORDER BY ALL", stage / VOIDED_FILE)
    con.execute(f"CREATE VIEW all_events AS SELECT * FROM read_parquet({quoted(events)})")
    con.execute(_learners_sql(case_sql("event_name", lifecycle)))
    _run_dates(con)
    counts["enrolments"] = copy_to_parquet(con, _enrolments_sql(platform), stage / "enrolments.parquet")
    counts["outcomes"] = copy_to_parquet(con, _outcomes_sql(final), stage / "outcomes.parquet")
    return counts


# an event without a platform id is identified by what is stored of it (not its score or type,
# which depend on the vocabulary); one with an id by the id alone
STORED = ("learner_id", "course_id", "run_id", "ts", "event_name", "object_id")
_PARSED_STORED = ("user_raw", "course_raw", "ts", "event_name", "object_id")


def _identity(stored: tuple[str, ...], table: str = "") -> list[str]:
    """The identity as key expressions (compared NULL-safe): the id, and the stored columns
    only where there is no id."""
    t = f"{table}." if table else ""
    return [f"{t}event_id", *(f"CASE WHEN {t}event_id IS NULL THEN {t}{c} END" for c in stored)]


def _events_sql(con: duckdb.DuckDBPyConnection, append_to: Path | None, platform: str) -> str:
    _repeated_rows(con)
    _courses(con)
    scored = "p.score IS NOT NULL AND n.kind IN ('problem', 'assessment')"
    new = f"""
        SELECT {"p.row, " if append_to is not None else ""}i.learner_id, c.course_id, c.run_id,
               CAST(p.ts AS TIMESTAMP) AS ts,
               CASE WHEN {scored} THEN 'assessment' ELSE n.kind END AS event_type,
               p.object_id, CASE WHEN {scored} THEN greatest(p.score, 0) END AS value,
               nullif(p.event_name, '') AS event_name, p.event_id
        FROM parsed p JOIN ids i USING (user_raw) JOIN courses c USING (course_raw)
             JOIN names n USING (event_name) ANTI JOIN repeated r USING (row)
             ANTI JOIN voided v ON p.event_id = v.event_id
        WHERE p.bad IS NULL AND p.voids IS NULL"""
    if append_to is None:
        return new
    existing = append_to / "events.parquet"
    if not existing.exists() or not _written_by_a_log_import(con, existing):
        raise InputError(f"{append_to}: --append needs a folder written by a log import "
                         "(events.parquet with event names and ids)")
    check_append(append_to, platform)
    if _has_edx_hashes(con, existing):
        raise InputError(f"{append_to}: its events were imported by an older mooc-risk that "
                         "identified learners, courses or events differently (so new events would "
                         "split them); import all the logs again without --append")
    old = f"""(SELECT * FROM read_parquet({quoted(existing)}) o
                ANTI JOIN voided v ON lower(o.event_id) = v.event_id)"""
    same = " AND ".join(f"{n} IS NOT DISTINCT FROM {o}"
                        for n, o in zip(_identity(STORED, "new"), _identity(STORED, "old"), strict=True))
    # the new events not in the folder yet, kept with their rows for the per-file report
    con.execute(f"CREATE TABLE appended AS SELECT new.* FROM ({new}) new ANTI JOIN {old} old ON {same}")
    return f"""SELECT * EXCLUDE (row) FROM appended UNION ALL BY NAME SELECT * FROM {old}"""


def _repeated_rows(con: duckdb.DuckDBPyConnection) -> None:
    """``repeated``: the rows of events already seen at an earlier row. Candidates are found
    by a 64-bit hash of the identity first (a small hash table, so memory stays flat), then
    compared in full."""
    identity = ", ".join(_identity(_PARSED_STORED))
    con.execute(f"""
        CREATE TABLE repeated AS
        SELECT row FROM (
            SELECT row, row_number() OVER (PARTITION BY {identity} ORDER BY row) AS seen
            FROM parsed
            WHERE bad IS NULL AND hash({identity}) IN (
                SELECT h FROM (SELECT hash({identity}) AS h FROM parsed WHERE bad IS NULL)
                GROUP BY h HAVING count(*) > 1))
        WHERE seen > 1""")


def _courses(con: duckdb.DuckDBPyConnection) -> None:
    """``courses``: each distinct course identifier → course and run (``course_keys``)."""
    keys = [r[0] for r in con.execute(
        "SELECT DISTINCT course_raw FROM parsed WHERE course_raw IS NOT NULL").fetchall()]
    con.execute("CREATE TABLE courses (course_raw VARCHAR, course_id VARCHAR, run_id VARCHAR)")
    if keys:  # literals, not bound parameters: those make DuckDB import pandas (0.4 s)
        rows = ", ".join(f"({', '.join(quoted(v) for v in (key, *course_and_run(key)))})" for key in keys)
        con.execute(f"INSERT INTO courses VALUES {rows}")


def _has_edx_hashes(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Whether ``path`` holds edX events with the record hashes an earlier version wrote as
    ids (edX names have no space; xAPI and Caliper names always do)."""
    return con.execute(f"""SELECT count(*) > 0 FROM read_parquet({quoted(path)})
                           WHERE event_id IS NOT NULL AND NOT contains(coalesce(event_name, ''), ' ')
                                 AND regexp_full_match(event_id, '[0-9a-f]{{32}}')""").fetchone()[0]


def _written_by_a_log_import(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    table = f"read_parquet({quoted(path)})"
    columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()]
    return "event_name" in columns and "event_id" in columns


def _learners_sql(life: str) -> str:
    """One row per enrolment with what enrolments and outcomes need."""
    return f"""
        CREATE TABLE learners AS
        SELECT learner_id, course_id, run_id, min(ts) AS first_at, max(ts) AS last_at,
               min(ts) FILTER (WHERE lc = 'enrol') AS enrolled_event_at,
               -- the mode at enrolment: a later upgrade (mode_changed) is not known at day 0
               arg_min(object_id, ts) FILTER (WHERE lc = 'enrol' AND object_id IS NOT NULL)
                   AS credential_type,
               arg_max(lc, ts) FILTER (WHERE lc IN ('pass', 'fail')) AS graded,
               arg_max(lc, ts) FILTER (WHERE lc IN ('enrol', 'unenrol')) AS enrolment,
               max(ts) FILTER (WHERE lc = 'unenrol') AS unenrolled_at
        FROM all_events
             LEFT JOIN (SELECT event_name, CAST({life} AS VARCHAR) AS lc
                        FROM (SELECT DISTINCT event_name FROM all_events)) USING (event_name)
        GROUP BY learner_id, course_id, run_id"""


def _run_dates(con: duckdb.DuckDBPyConnection) -> None:
    """``runs``: course_id, run_id, course_start, course_end — from the source's ``run_dates``
    table (by course key) when its ``prepare`` made one, else none (self-paced runs)."""
    if not has_table(con, "run_dates"):
        con.execute("""CREATE TABLE runs (course_id VARCHAR, run_id VARCHAR,
                                          course_start TIMESTAMP, course_end TIMESTAMP)""")
        return
    con.execute("""CREATE TABLE runs AS
                   SELECT c.course_id, c.run_id, min(CAST(d.course_start AS TIMESTAMP)) AS course_start,
                          max(CAST(d.course_end AS TIMESTAMP)) AS course_end
                   FROM run_dates d JOIN courses c USING (course_raw) GROUP BY ALL""")


def _enrolments_sql(platform: str) -> str:
    return f"""
        SELECT learner_id, course_id, run_id, coalesce(enrolled_event_at, first_at) AS enrolled_at,
               r.course_start, r.course_end,
               '{platform}' AS platform, credential_type,
               CAST(NULL AS DOUBLE) AS credential_cost, CAST(NULL AS VARCHAR) AS paid_by
        FROM learners LEFT JOIN runs r USING (course_id, run_id)"""


def _outcomes_sql(final: bool) -> str:
    """Labels from lifecycle events. Without ``final`` an unknown label stays empty (the run
    may go on); with it, a learner without a pass is not certified, and one who is not
    certified and has no activity in the run's last ``QUIET_DAYS`` days of logs dropped out.
    ``dropped_at`` is the unenrolment only: going quiet is a label, not a date at which the
    learner left (that would be knowledge from after the day; ``features.population``)."""
    certified = "CASE graded WHEN 'pass' THEN true WHEN 'fail' THEN false END"
    unenrolled = "enrolment = 'unenrol'"
    if final:
        quiet = f"last_at < run_end - INTERVAL {QUIET_DAYS} DAY"
        certified = f"coalesce({certified}, false)"
        dropped = f"coalesce({unenrolled}, false) OR (NOT {certified} AND {quiet})"
    else:
        dropped = f"CASE WHEN {unenrolled} THEN true END"
    left = f"CASE WHEN {unenrolled} THEN unenrolled_at END"
    return f"""
        SELECT learner_id, course_id, run_id, {certified} AS certified, {dropped} AS dropped_out,
               last_at AS last_active_at, {left} AS dropped_at
        FROM (SELECT *, max(last_at) OVER (PARTITION BY course_id, run_id) AS run_end FROM learners)"""
