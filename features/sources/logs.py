"""Import platform event logs (Open edX tracking logs, xAPI, Caliper) into canonical tables.

One pass per input file in DuckDB (streamed, spilling to disk under a memory limit) turns each
event into the same columns; then the shared steps run: bad events are counted by file and
line, learner ids become keyed hashes, event names map to the vocabulary, ``--append`` merges
with the events already in the folder (deduplicated by event id), and enrolments and outcomes
are derived from all events: enrolled at the first enrolment event (else the first event),
``dropped_out`` when the last enrolment event is an unenrolment, ``certified`` from the last
pass/fail event. Log imports know no run dates, so runs are self-paced (anchored at enrolment).
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from features.errors import InputError
from features.sources.documents import documents_sql, input_files, layout
from features.sources.identity import pseudonym
from features.sources.staging import copy_to_parquet, duckdb_connection, quoted
from features.sources.vocabulary import case_sql, load_vocabulary

_ZONE = r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"
_TIME = r"[0-9]{2}:[0-9]{2}"  # a date alone ("2024-01-31") would read its day as an offset


@dataclass(frozen=True)
class LogImport:
    source: str
    inputs: list[Path]
    secret: bytes
    append_to: Path | None = None  # the folder whose events to keep (``--append``)
    strict: bool = False
    vocabulary: Path | None = None
    final: bool = False  # the logs cover whole runs: no pass = not certified, quiet = dropped
    memory_limit: str = "512MB"


@dataclass(frozen=True)
class Problems:
    counts: dict[str, int]  # reason → events
    examples: dict[str, list[str]]  # reason → "file:line" of the first few

    def summary(self) -> str:
        if not self.counts:
            return "no problems"
        return "; ".join(f"{n:,} {reason} (first: {', '.join(self.examples[reason])})"
                         for reason, n in self.counts.items())


STATUS = f"""CASE
    WHEN NOT ok THEN 'malformed JSON'
    WHEN user_raw IS NULL THEN 'event without a user'
    WHEN course_raw IS NULL THEN 'event without a course'
    WHEN ts_raw IS NULL THEN 'event without a timestamp'
    WHEN NOT regexp_matches(ts_raw, '{_TIME}') THEN 'timestamp without a time of day'
    WHEN NOT regexp_matches(ts_raw, '{_ZONE}') THEN 'timestamp without a time zone'
    WHEN TRY_CAST(ts_raw AS TIMESTAMPTZ) IS NULL THEN 'unparseable timestamp'
    WHEN kind = 'other' THEN 'unknown event name (kept as other)'
END"""
UNKNOWN = "unknown event name (kept as other)"


def convert_logs(job: LogImport, stage: Path, step: Callable[[str], None]) -> tuple[dict, Problems]:
    module = importlib.import_module(f"features.sources.{job.source}")
    vocabulary = load_vocabulary(job.source, job.vocabulary)
    work = stage / ".work"
    work.mkdir()
    con = duckdb_connection()
    con.execute(f"SET memory_limit = '{job.memory_limit}'; SET temp_directory = {quoted(work)};"
                "SET preserve_insertion_order = true")
    kind = case_sql("event_name", vocabulary.types, "'other'")
    con.execute("""CREATE TABLE parsed (file VARCHAR, line BIGINT, user_raw VARCHAR,
                   course_raw VARCHAR, ts_raw VARCHAR, event_name VARCHAR, object_id VARCHAR,
                   score DOUBLE, event_id VARCHAR, kind VARCHAR, status VARCHAR)""")
    for path in input_files(job.inputs):
        try:
            _parse_file(con, module, path, kind)
        except duckdb.Error as exc:
            raise InputError(f"{path}: cannot read as {job.source} events ({exc})") from None
        step(path.name)
    problems = _problems(con, job.strict)
    _identities(con, job.secret)
    counts = {"events": copy_to_parquet(con, _events_sql(job.append_to), stage / "events.parquet")}
    con.execute(f"CREATE VIEW all_events AS SELECT * FROM read_parquet({quoted(stage / 'events.parquet')})")
    life = case_sql("event_name", vocabulary.lifecycle)
    counts["enrolments"] = copy_to_parquet(con, _enrolments_sql(life, module.PLATFORM),
                                           stage / "enrolments.parquet")
    counts["outcomes"] = copy_to_parquet(con, _outcomes_sql(life, job.final),
                                         stage / "outcomes.parquet")
    if problems.counts:
        con.sql("SELECT * FROM problems ORDER BY file, line").write_csv(
            str(stage / "import_problems.csv"))
    con.close()
    shutil.rmtree(work)
    return counts, problems


def _parse_file(con: duckdb.DuckDBPyConnection, module, path: Path, kind: str) -> None:
    """One file into ``parsed``, with file line numbers (blank lines counted, not kept).

    Lines are numbered by a window over the file's rows in order. A source with a fast reader
    (edX) tries it first: it applies to clean JSON-lines files, and its record numbers are
    kept only when they are line numbers (the file has as many records as lines) or when no
    event of the file needs reporting. Otherwise the file is read line by line.
    """
    if getattr(module, "records_fast", None) and layout(path) == "lines":
        try:
            _insert(con, path, module.fields_sql(f"({module.records_fast(path)})"), kind)
            if not _needs_lines(con, path) or _number_records(con, path):
                return
        except duckdb.InvalidInputException:
            pass  # a malformed line or a logger prefix: read line by line
        con.execute(f"DELETE FROM parsed WHERE file = {quoted(path)}")
    docs = documents_sql(path)
    if module.EXPANDS:
        numbered = f"(SELECT row_number() OVER () AS line, text FROM ({docs}))"
        rows = module.fields_sql(f"({_expanded(numbered, module.ENVELOPE)})")
    else:
        lines = f"(SELECT row_number() OVER () AS line, text FROM ({docs}))"
        rows = module.fields_sql(f"({module.records_lines(lines)})")
    _insert(con, path, rows, kind)


def _insert(con: duckdb.DuckDBPyConnection, path: Path, rows: str, kind: str) -> None:
    con.execute(f"""
        INSERT INTO parsed
        SELECT {quoted(path)}, line, user_raw, course_raw, ts_raw, event_name, object_id, score,
               event_id, kind, {STATUS} AS status
        FROM (SELECT *, {kind} AS kind FROM ({rows})) WHERE NOT blank""")


def _needs_lines(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    return con.execute(f"SELECT count(*) FROM parsed WHERE file = {quoted(path)} "
                       "AND status IS NOT NULL").fetchone()[0] > 0


def _number_records(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Give the file's rows to report their line numbers, when records are lines (no blank
    lines): rows are stored in file order, so a row's line is its position in the file's rows."""
    first, records = con.execute(f"SELECT min(rowid), count(*) FROM parsed "
                                 f"WHERE file = {quoted(path)}").fetchone()
    lines = con.execute(f"SELECT count(*) FROM ({documents_sql(path)})").fetchone()[0]
    if records != lines:
        return False
    con.execute(f"UPDATE parsed SET line = rowid - {first} + 1 "
                f"WHERE file = {quoted(path)} AND status IS NOT NULL")
    return True


def _expanded(numbered: str, envelope: str | None) -> str:
    """One row per event: arrays (and envelopes' event lists) are unnested; the line stays."""
    wrapped = ""
    if envelope:
        wrapped = (f"WHEN try(json_type(text, '{envelope[:-3]}')) = 'ARRAY' "
                   f"THEN CAST(json_extract(text, '{envelope}') AS VARCHAR[]) ")
    return f"""
        SELECT line, unnest(CASE WHEN starts_with(ltrim(text), '[') AND try(json_valid(text))
                                 THEN CAST(json_extract(text, '$[*]') AS VARCHAR[])
                                 {wrapped}ELSE [text] END) AS text
        FROM {numbered}"""


def _problems(con: duckdb.DuckDBPyConnection, strict: bool) -> Problems:
    con.execute("CREATE TABLE problems AS SELECT file, line, status AS reason FROM parsed "
                "WHERE status IS NOT NULL")
    rows = con.execute("""SELECT reason, count(*), list(file || ':' || line ORDER BY file, line)[1:5]
                          FROM problems GROUP BY reason ORDER BY min(file), min(line)""").fetchall()
    problems = Problems({r: int(n) for r, n, _ in rows}, {r: list(ex) for r, _, ex in rows})
    if strict and rows:
        first = con.execute("SELECT file, line, reason FROM problems ORDER BY file, line LIMIT 1").fetchone()
        raise InputError(f"{first[0]}:{first[1]}: {first[2]} (--strict stops at the first bad event; "
                         f"{sum(problems.counts.values()):,} in all)")
    return problems


def _identities(con: duckdb.DuckDBPyConnection, secret: bytes) -> None:
    query = "SELECT DISTINCT user_raw FROM parsed WHERE user_raw IS NOT NULL"
    users = [u for (u,) in con.execute(query).fetchall()]
    ids = pd.DataFrame({"user_raw": users, "learner_id": [pseudonym(secret, u) for u in users]})
    con.register("ids_frame", ids)
    con.execute("CREATE TABLE ids AS SELECT * FROM ids_frame")
    con.unregister("ids_frame")


def _events_sql(append_to: Path | None) -> str:
    scored = "p.score IS NOT NULL AND p.kind IN ('problem', 'assessment')"
    new = f"""
        SELECT i.learner_id, c.course_id, c.run_id,
               CAST(CAST(p.ts_raw AS TIMESTAMPTZ) AS TIMESTAMP) AS ts,
               CASE WHEN {scored} THEN 'assessment' ELSE p.kind END AS event_type,
               p.object_id, CASE WHEN {scored} THEN greatest(p.score, 0) END AS value,
               p.event_name, p.event_id
        FROM (SELECT * FROM parsed WHERE status IS NULL OR status = '{UNKNOWN}') p
        JOIN ids i USING (user_raw)
        JOIN ({_COURSES}) c USING (course_raw)"""
    if append_to is not None:
        existing = append_to / "events.parquet"
        if not existing.exists() or not _has_event_ids(existing):
            raise InputError(f"{append_to}: --append needs a folder written by a log import "
                             "(events.parquet with event ids)")
        new = f"SELECT * FROM ({new}) UNION ALL BY NAME SELECT * FROM read_parquet({quoted(existing)})"
    return f"SELECT DISTINCT ON (event_id) * FROM ({new})"


def _has_event_ids(path: Path) -> bool:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    if "event_id" not in schema.names:
        return False
    ids = pq.read_table(path, columns=["event_id"]).column("event_id")
    return ids.null_count == 0


# course keys: course-v1:ORG+COURSE+RUN (or ccx-v1:…) and ORG/COURSE/RUN → (ORG+COURSE, RUN)
_COURSES = r"""
    SELECT course_raw,
           CASE WHEN len(v1) >= 3 THEN v1[1] || '+' || v1[2]
                WHEN len(slash) = 3 THEN slash[1] || '/' || slash[2] ELSE key END AS course_id,
           CASE WHEN len(v1) >= 3 THEN v1[3] WHEN len(slash) = 3 THEN slash[3]
                ELSE 'default' END AS run_id
    FROM (SELECT course_raw, key,
                 CASE WHEN regexp_matches(key, '^[a-z]+-v1:') THEN
                      string_split(regexp_replace(key, '^[a-z]+-v1:', ''), '+') ELSE [] END AS v1,
                 string_split(key, '/') AS slash
          FROM (SELECT DISTINCT course_raw,
                       CASE WHEN course_raw LIKE '%/course/%'
                            THEN regexp_extract(course_raw, '/course/([^/?#]+)', 1)
                            ELSE course_raw END AS key
                FROM parsed WHERE course_raw IS NOT NULL))"""


def _enrolments_sql(life: str, platform: str) -> str:
    return f"""
        SELECT learner_id, course_id, run_id,
               coalesce(min(ts) FILTER (WHERE lc = 'enrol'), min(ts)) AS enrolled_at,
               CAST(NULL AS TIMESTAMP) AS course_start, CAST(NULL AS TIMESTAMP) AS course_end,
               '{platform}' AS platform,
               arg_max(object_id, ts) FILTER (WHERE lc = 'enrol' AND object_id IS NOT NULL)
                   AS credential_type,
               CAST(NULL AS DOUBLE) AS credential_cost, CAST(NULL AS VARCHAR) AS paid_by
        FROM (SELECT *, {life} AS lc FROM all_events)
        GROUP BY ALL"""


QUIET_DAYS = 14


def _outcomes_sql(life: str, final: bool) -> str:
    """Labels from lifecycle events. Without ``final`` an unknown label stays empty (the run
    may go on); with it, a learner without a pass is not certified, and one who is not
    certified and has no activity in the run's last ``QUIET_DAYS`` days of logs dropped out
    at their last activity."""
    certified = """CASE arg_max(lc, ts) FILTER (WHERE lc IN ('pass', 'fail'))
                        WHEN 'pass' THEN true WHEN 'fail' THEN false END"""
    unenrolled = "arg_max(lc, ts) FILTER (WHERE lc IN ('enrol', 'unenrol')) = 'unenrol'"
    if final:
        quiet = f"max(ts) < any_value(run_end) - INTERVAL {QUIET_DAYS} DAY"
        certified = f"coalesce({certified}, false)"
        dropped = f"coalesce({unenrolled}, false) OR (NOT {certified} AND {quiet})"
        left = f"""CASE WHEN {unenrolled} THEN max(ts) FILTER (WHERE lc = 'unenrol')
                        WHEN {dropped} THEN max(ts) END"""
    else:
        dropped = f"CASE WHEN {unenrolled} THEN true END"
        left = f"CASE WHEN {unenrolled} THEN max(ts) FILTER (WHERE lc = 'unenrol') END"
    return f"""
        SELECT learner_id, course_id, run_id, {certified} AS certified, {dropped} AS dropped_out,
               max(ts) AS last_active_at, {left} AS dropped_at
        FROM (SELECT *, {life} AS lc, max(ts) OVER (PARTITION BY course_id, run_id) AS run_end
              FROM all_events)
        GROUP BY ALL"""
