"""Import platform event logs (Open edX tracking logs, xAPI, Caliper) into canonical tables.

One pass per input file in DuckDB turns each event into the same columns and writes them to a
Parquet part in the work folder (streamed: memory stays flat however large the logs; the view
``parsed`` reads the parts back, ``row`` is a row's position: file, then order in the file).
Then the shared steps run on small tables of what is distinct: event names → the vocabulary,
user ids → keyed hashes, course keys → course and run. Bad events are counted by file and
line (``log_problems``); ``--append`` merges with the events already in the folder
(an event seen twice is kept once, and the folder's surveys and calendar, ``assessments``,
are kept as they are), and enrolments and outcomes are derived from all events
(``log_tables``). Log imports know no run dates unless the source gives them (``run_dates``),
so runs are self-paced (anchored at enrolment).

A source module gives ``PLATFORM`` and ``fields_sql`` (or ``file_rows``) producing the columns
of ``FIELDS`` per record, and may give:

- ``SUFFIXES``: the file names it reads in a folder (default: ``.log .json .jsonl``);
- ``file_rows(path) -> SQL``: the fields of one file, for sources that are not JSON documents
  (exported tables); otherwise ``EXPANDS`` and ``fields_sql``/``records_lines`` over the
  file's documents;
- ``prepare(con, files, append_to) -> (files, skipped, without_events)``: runs first on the
  connection, which holds the ``hmac_keys`` table (``append_to``: the ``--append`` folder, or
  None); it may create the table ``run_dates(course_raw, course_start, course_end)`` from files
  that hold no events (a course export). It returns the files that hold events, the files it skipped
  and the files it read that hold no events, each of the last two with a reason (``(path,
  why)``: listed in the report, as files skipped by name are);
- ``finish(con, stage)``: runs after the tables are written (it may add a file the source keeps
  in the folder for a later ``--append``).
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from mooc_risk.errors import InputError, ResourceError
from mooc_risk.features.sources import log_tables
from mooc_risk.features.sources.course_keys import BLANKS
from mooc_risk.features.sources.documents import documents_sql, layout
from mooc_risk.features.sources.identity import create_keys_table, pseudonym_sql
from mooc_risk.features.sources.inputs import LOG_SUFFIXES, input_files
from mooc_risk.features.sources.log_problems import (
    ROW_BITS,
    Problems,
    check_usable,
    file_reports,
    find_problems,
)
from mooc_risk.features.sources.staging import duckdb_connection, engine_words, quoted
from mooc_risk.features.sources.timestamps import TIME_OF_DAY, ZONE
from mooc_risk.features.sources.vocabulary import case_sql, load_vocabulary
from mooc_risk.memory import default_memory

# what a source's fields SQL gives per record, in this order
FIELDS = {
    "line": "line number in the file (NULL when the fast reader numbers records later)",
    "blank": "a blank line (dropped, but counted for line numbers)",
    "ok": "the record could be parsed",
    "user_raw": "the platform's user identifier, as the standard defines it",
    "course_raw": "the course key or IRI",
    "ts_raw": "the timestamp as text, ISO 8601 with a zone",
    "event_name": "the name the vocabulary maps",
    "object_id": "what was acted on",
    "score": "0-100 when the event is graded",
    "event_id": "the platform's event id, if any",
    "fallback": "which documented fallback gave a field (NULL: none; several joined by \"; \")",
    "voids": "the event id this record voids (xAPI voiding statements)",
    "hint": ("what the record held instead of a missing field (for the error message); the "
             "reason itself when the record is not ok or starts with 'not attributed: '"),
}


@dataclass(frozen=True)
class LogImport:
    source: str
    inputs: list[Path]
    secret: bytes
    append_to: Path | None = None  # the folder whose events to keep (``--append``)
    strict: bool = False
    vocabulary: Path | None = None
    final: bool = False  # the logs cover whole runs: no pass = not certified, quiet = dropped
    max_bad_share: float = 0.5  # more records than this share unusable: the import fails
    memory_limit: str | None = None  # DuckDB's limit (None: mooc_risk.memory.default_memory())


# why an event cannot be imported (NULL: it can); an unknown event name is imported as other
BAD = f"""CASE
    WHEN ok AND voids IS NOT NULL THEN NULL  -- a voiding statement needs no course or time
    WHEN ok AND user_raw IS NOT NULL AND course_raw IS NOT NULL AND ts IS NOT NULL
         AND ts_raw[14] = ':' AND (ends_with(ts_raw, '+00:00') OR ends_with(ts_raw, 'Z'))
         THEN NULL  -- the common case, without the regular expressions below
    WHEN NOT ok THEN coalesce(hint, 'malformed JSON')
    WHEN user_raw IS NULL AND hint = 'anonymous event (not attributed)' THEN hint
    WHEN user_raw IS NULL AND starts_with(hint, 'not attributed: ') THEN hint
    WHEN user_raw IS NULL THEN 'event without a user'
    WHEN course_raw IS NULL THEN 'event without a course'
    WHEN ts_raw IS NULL THEN 'event without a timestamp'
    WHEN NOT regexp_matches(ts_raw, '{TIME_OF_DAY}') THEN 'timestamp without a time of day'
    WHEN NOT regexp_matches(ts_raw, '{ZONE}') THEN 'timestamp without a time zone'
    WHEN ts IS NULL THEN 'unparseable timestamp'
END"""


def source_module(source: str):
    """The module of a log source (``edx``, ``xapi``, ``caliper``, ``moodle``)."""
    return importlib.import_module(f"mooc_risk.features.sources.{source}")


def convert_logs(job: LogImport, stage: Path, step: Callable[[str], None]) -> tuple[dict, Problems]:
    """Import ``job``'s files into ``stage``; return the table row counts and the report.

    Raises:
        InputError: a file cannot be read at all (named, in the project's words), ``--strict``
            and a problem, or the import would keep nothing / too little (``check_usable``).
        ResourceError: DuckDB ran out of memory under ``job.memory_limit`` (not bad input).
    """
    module = source_module(job.source)
    vocabulary = load_vocabulary(job.source, job.vocabulary)
    work = stage / ".work"
    work.mkdir()
    con = duckdb_connection()
    limit = job.memory_limit or default_memory()
    con.execute(f"SET memory_limit = '{limit}'; SET temp_directory = {quoted(work)};"
                "SET preserve_insertion_order = true")
    found = input_files(job.inputs, getattr(module, "SUFFIXES", LOG_SUFFIXES))
    files, skipped, without_events = found.read, list(found.skipped), []
    create_keys_table(con, job.secret)
    if hasattr(module, "prepare"):
        files, more_skipped, without_events = module.prepare(con, files, job.append_to)
        skipped += more_skipped
    numbered = []  # per file: are its lines numbered (else its records are)
    for number, path in enumerate(files):
        try:
            numbered.append(_parse_file(con, module, path, work / f"part-{number}.parquet", number))
        except duckdb.OutOfMemoryException as exc:
            raise ResourceError(f"the log import hit its DuckDB memory limit ({limit}) reading "
                                f"{path}; raise it with --memory SIZE (import) or "
                                "--import-memory SIZE (refresh), or run where there is more "
                                "memory") from exc
        except duckdb.Error as exc:
            raise InputError(f"{path}: cannot read as {job.source} events: {engine_words(exc)}") from None
        step(path.name)
    parts = ", ".join(quoted(work / f"part-{n}.parquet") for n in range(len(files)))
    con.execute(f"""CREATE VIEW parsed AS
                    SELECT * EXCLUDE (file_row_number), file::BIGINT << {ROW_BITS} | file_row_number AS row
                    FROM read_parquet([{parts}], file_row_number = true)""")
    con.execute(f"""CREATE TABLE names AS
                    SELECT event_name, {case_sql("event_name", vocabulary.types, "'other'")} AS kind
                    FROM (SELECT DISTINCT event_name FROM parsed)""")
    log_tables.voided_statements(con, job.append_to)
    problems = find_problems(con, files, numbered, job.strict, work, skipped, without_events)
    check_usable(con, job.max_bad_share, appending=job.append_to is not None,
                 unidentified=getattr(module, "UNIDENTIFIED", ()))
    con.execute(f"""CREATE TABLE ids AS SELECT user_raw, {pseudonym_sql("user_raw")} AS learner_id
                    FROM (SELECT DISTINCT user_raw FROM parsed WHERE bad IS NULL), hmac_keys""")
    counts = log_tables.write_tables(con, stage, job.append_to, vocabulary.lifecycle,
                                     module.PLATFORM, job.final)
    log_tables.keep_tables(job.append_to, stage)
    if hasattr(module, "finish"):
        module.finish(con, stage)
    log_tables.write_manifest(stage, module.PLATFORM)
    problems = problems.with_files(file_reports(con))
    problems.write_csv(con, stage / "import_problems.csv")
    con.close()
    shutil.rmtree(work)
    return counts, problems


def _parse_file(con: duckdb.DuckDBPyConnection, module, path: Path, part: Path, number: int) -> bool:
    """One file into its Parquet ``part``, in file order; True when rows carry line numbers
    (blank lines counted, not kept), False when the fast reader left them to be numbered by
    their order in the file.

    A source that reads exported tables gives ``file_rows``. A source with a fast reader (edX)
    tries it first: it applies to clean JSON-lines files (a malformed line, a logger prefix or
    a line that is not UTF-8 stops it). Otherwise the file is read line by line.
    """
    if hasattr(module, "file_rows"):
        _write_part(con, number, module.file_rows(path), part)
        return True
    kind = layout(path)
    if getattr(module, "records_fast", None) and kind == "lines":
        try:
            _write_part(con, number, module.fields_sql(f"({module.records_fast(path)})"), part)
            return False
        except duckdb.InvalidInputException:
            pass  # read line by line (the part is written again)
    rejects = f"rejects_{number}"
    lines = f"(SELECT row_number() OVER () AS line, text FROM ({documents_sql(path, rejects, kind)}))"
    if module.EXPANDS:
        rows = module.fields_sql(f"({_expanded(lines, module.ENVELOPE)})")
    else:
        rows = module.fields_sql(f"({module.records_lines(lines)})")
    _write_part(con, number, rows, part)
    if kind == "lines":
        _restore_rejected_lines(con, number, part, rejects)
    return True


def _restore_rejected_lines(con: duckdb.DuckDBPyConnection, number: int, part: Path, rejects: str) -> None:
    """Give the lines DuckDB could not read as text (not UTF-8, too long) back to the part as
    bad records, and shift the lines after them to their true numbers. The reader numbered the
    lines it kept: the i-th rejected line (at line r_i) has r_i - i kept lines before it."""
    found = con.execute(f"SELECT count(*) FROM {rejects}").fetchone()[0]
    if not found:
        return
    reasons = """CASE WHEN error_type = 'INVALID ENCODING'
                       THEN 'not valid UTF-8 (a line cut inside a character?)'
                       WHEN error_type LIKE 'LINE SIZE%' THEN 'line longer than the 4 MiB limit'
                       ELSE 'unreadable line' END"""
    shifted = part.with_suffix(".rejects.parquet")
    con.execute(f"""
        CREATE TEMP TABLE {rejects}_at AS
        SELECT line - i AS kept_before, max(i) AS before
        FROM (SELECT line, row_number() OVER (ORDER BY line) AS i FROM {rejects}) GROUP BY ALL""")
    con.execute(f"""
        COPY (SELECT * FROM (
                SELECT p.* REPLACE (p.line + coalesce(r.before, 0) AS line)
                FROM read_parquet({quoted(part)}) p ASOF LEFT JOIN {rejects}_at r ON p.line > r.kept_before
                UNION ALL BY NAME
                SELECT {number} AS file, CAST(line AS BIGINT) AS line, {reasons} AS bad
                FROM {rejects})
              ORDER BY line)
        TO {quoted(shifted)} (FORMAT parquet)""")
    shifted.replace(part)


def _write_part(con: duckdb.DuckDBPyConnection, number: int, rows: str, part: Path) -> None:
    con.execute(f"""
        COPY (SELECT {number} AS file, CAST(line AS BIGINT) AS line, user_raw, course_raw, ts,
                     coalesce(event_name, '') AS event_name, object_id,
                     CAST(score AS DOUBLE) AS score, event_id, fallback, voids, hint,
                     {BAD} AS bad
              FROM (SELECT * REPLACE ({_trimmed("user_raw")} AS user_raw,
                                      {_trimmed("course_raw")} AS course_raw),
                           TRY_CAST(ts_raw AS TIMESTAMPTZ) AS ts
                    FROM ({rows})) WHERE NOT blank)
        TO {quoted(part)} (FORMAT parquet)""")


def _trimmed(column: str) -> str:
    """An identifier without surrounding blanks or line breaks (``KEY\\n`` is ``KEY``); empty is
    missing."""
    text = f"CAST({column} AS VARCHAR)"
    return (f"CASE WHEN ascii({text}) > 32 AND ascii(right({text}, 1)) > 32 THEN {text} "  # fast
            f"ELSE nullif(trim({text}, {quoted(BLANKS)}), '') END")


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
