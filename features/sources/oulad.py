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

Reading. Each table is ``NAME.parquet`` or ``NAME.csv`` (also under ``parquet/`` or ``csv/``;
studentVle also as a Hive-partitioned ``studentVle/`` folder). CSV files are the official format
(comma-separated, ``"``-quoted, UTF-8, a header line) and are read as text, then every column
the import uses is checked and cast here, as the dataset documents it:

- ``?`` (the official marker) and an empty cell both mean missing. Documented missing values:
  ``date_registration`` → the learner enrols at the start; ``date_unregistration`` → never
  unregistered; ``date_submitted`` → not submitted (no event); ``score`` → a submission without
  a recorded score (an ``assessment`` event without a value); ``imd_band``, ``region``, an
  exam's ``date`` are not used.
- Day offsets are whole days from the presentation's start, negative before it (registration
  before the start), within ±3650. Scores run from 0 to 100; clicks, credits and previous
  attempts are not negative; ``final_result`` is Pass, Distinction, Fail or Withdrawn.
- Keys lose surrounding blanks and ``\\r`` (files saved on Windows); ids are whole numbers
  (``11391`` and ``11391.0`` are the same learner).
- Anything else stops the import with an InputError naming the file, the line (CSV, the header
  being line 1) or row (Parquet) and the column. A cell's value is shown only for numeric, day
  and code columns, never for learner ids or text (which may be personal).
- An import that yields no enrolments or no events stops, saying what the files hold instead.

studentVle (10 million rows) is only ever streamed through DuckDB.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.compute as pc

from mooc_risk.errors import InputError
from mooc_risk.features.sources.staging import (
    copy_to_parquet,
    duckdb_connection,
    found_columns,
    quoted,
    require,
)

STEPS = 4
MAX_DAYS = 3650  # no presentation lasts ten years: a larger offset is a broken value
MAX_ID = 10**15  # ids are cast through DOUBLE, exact far beyond this
RESULTS = ("Pass", "Distinction", "Fail", "Withdrawn")
_BLANKS = " \t\r\n"
_NUMERIC = re.compile(r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|REAL|DECIMAL.*)$")


@dataclass(frozen=True)
class Field:
    """How a column is read: ``kind`` is key, presentation, learner, id, day, number, text or
    result; ``shown`` says whether an offending value may be quoted in a message."""

    kind: str
    required: bool = False
    low: float | None = None
    high: float | None = None
    whole: bool = False

    @property
    def shown(self) -> bool:
        return self.kind not in ("learner", "text", "result")


KEY = Field("key", required=True)
LEARNER = Field("learner", required=True)
ID = Field("id", required=True)
TEXT = Field("text")
DAY = Field("day", low=-MAX_DAYS, high=MAX_DAYS)
KEYS = {"code_module": KEY, "code_presentation": KEY}

FIELDS: dict[str, dict[str, Field]] = {
    "courses": {"code_module": KEY, "code_presentation": Field("presentation", required=True),
                "module_presentation_length": Field("number", True, 1, MAX_DAYS, whole=True)},
    "vle": {"id_site": ID, **KEYS, "activity_type": TEXT},
    "studentInfo": {**KEYS, "id_student": LEARNER, "gender": TEXT, "age_band": TEXT,
                    "highest_education": TEXT, "disability": TEXT,
                    "num_of_prev_attempts": Field("number", low=0, whole=True),
                    "studied_credits": Field("number", low=0), "final_result": Field("result")},
    "studentRegistration": {**KEYS, "id_student": LEARNER, "date_registration": DAY,
                            "date_unregistration": DAY},
    "assessments": {**KEYS, "id_assessment": ID},
    "studentAssessment": {"id_assessment": ID, "id_student": LEARNER, "date_submitted": DAY,
                          "score": Field("number", low=0, high=100)},
    "studentVle": {"id_student": LEARNER, "id_site": ID,
                   "date": Field("day", True, -MAX_DAYS, MAX_DAYS),
                   "sum_click": Field("number", True, 0, whole=True), **KEYS},
}
VIEWS = {"studentVle": "clicks"}  # the SQL below calls studentVle "clicks"


@dataclass(frozen=True)
class Source:
    """One OULAD table's file (or Hive folder) and how messages name it."""

    name: str
    path: Path
    src: Path

    @property
    def csv(self) -> bool:
        return self.path.suffix.lower() == ".csv"

    @property
    def view(self) -> str:
        return VIEWS.get(self.name, self.name)

    @property
    def label(self) -> str:
        return self.shown(self.path)

    def shown(self, path: Path | str) -> str:
        path = Path(path)
        return str(path.relative_to(self.src)) if path.is_relative_to(self.src) else str(path)

    def relation(self, header: list[str] | None = None) -> str:
        """The DuckDB table function reading the file. A CSV file is read with the columns of
        its header line (``header``), every one as text, and no sniffing: a row that does not
        fit fails instead of making DuckDB guess another layout."""
        if self.csv:
            columns = ", ".join(f"{quoted(name)}: 'VARCHAR'" for name in header or [])
            return (f"read_csv({quoted(self.path)}, header=true, auto_detect=false, delim=',', "
                    f"quote='\"', escape='\"', columns={{{columns}}})")
        if self.path.is_dir():
            return (f"read_parquet({quoted(self.path / '**' / '*.parquet')}, hive_partitioning=true,"
                    " filename=true, file_row_number=true)")
        return f"read_parquet({quoted(self.path)}, filename=true, file_row_number=true)"


def find_source(src: Path, name: str) -> Source:
    """The table's file: Parquet before CSV, in ``src`` or its ``parquet/`` and ``csv/``
    folders; studentVle also as a Hive-partitioned folder."""
    folders = [src / name, src / "parquet" / name] if name == "studentVle" else []
    files = [src / f"{name}.parquet", src / "parquet" / f"{name}.parquet",
             src / f"{name}.csv", src / "csv" / f"{name}.csv"]
    for path in [*(f for f in folders if f.is_dir()), *(f for f in files if f.is_file())]:
        return Source(name, path, src)
    if name == "studentVle":
        raise InputError(f"{src}: missing OULAD studentVle (a studentVle/ Parquet folder, "
                         "studentVle.parquet or studentVle.csv)")
    raise InputError(f"{src}: missing OULAD table {name} ({name}.parquet or {name}.csv)")


def convert(src: Path, stage: Path, step: Callable[[str], None]) -> dict[str, int]:
    require(src, "OULAD folder")
    con = duckdb_connection()
    sources = {name: find_source(src, name) for name in FIELDS}
    for name, source in sources.items():
        _create_view(con, source, FIELDS[name])
    for name, source in sources.items():
        if name != "studentVle":
            _check_values(con, source, FIELDS[name])
    _check_unique(con, sources)
    _runs(con)
    _check_clicks(con, sources)  # one pass over the 10 million rows
    _check_enrolments(con, sources)
    step("read and checked")
    try:
        counts = {"enrolments": copy_to_parquet(con, ENROLMENTS, stage / "enrolments.parquet"),
                  "surveys": copy_to_parquet(con, SURVEYS, stage / "surveys.parquet")}
        step("enrolments and surveys")
        counts["events"] = copy_to_parquet(con, EVENTS, stage / "events.parquet")
        if counts["events"] == 0:
            raise InputError(_no_events(con, sources))
        step("events")
        con.execute("CREATE TEMP VIEW events AS SELECT * FROM "
                    f"read_parquet({quoted(stage / 'events.parquet')})")
        counts["outcomes"] = copy_to_parquet(con, OUTCOMES, stage / "outcomes.parquet")
    except duckdb.Error as exc:  # the checks above should leave nothing for DuckDB to refuse
        raise InputError(f"{src}: OULAD import stopped on a value the checks did not catch "
                         f"({type(exc).__name__}); please report it") from None
    step("outcomes")
    return counts


# --- reading and checking ----------------------------------------------------------------------
def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(con: duckdb.DuckDBPyConnection, source: Source,
             wanted: list[str]) -> tuple[str, dict[str, tuple]]:
    """The relation reading the source, and the columns the import uses: name → (column as
    found, DuckDB type)."""
    if source.csv:
        header = _csv_header(source)
        relation = source.relation(header)
        described = [(name, "VARCHAR") for name in header]
    else:
        relation = source.relation()
        try:
            described = [row[:2] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
                         if row[0] not in ("filename", "file_row_number")]
        except duckdb.Error:
            raise InputError(_unreadable(source)) from None
    found = {name.strip(_BLANKS): (name, dtype) for name, dtype in described}
    missing = [c for c in wanted if c not in found]
    if missing:
        raise InputError(f"{source.label}: missing column(s) {', '.join(map(repr, missing))}; "
                         f"{found_columns(list(found), wanted)}")
    return relation, {c: found[c] for c in wanted}


def _csv_header(source: Source) -> list[str]:
    if not _has_text(source.path):
        raise InputError(f"{source.label}: empty file (no header line)")
    try:
        with source.path.open(newline="", encoding="utf-8-sig") as handle:
            header = next((row for row in csv.reader(handle, strict=True) if row), [])
    except (UnicodeDecodeError, csv.Error):
        raise InputError(_unreadable(source)) from None
    names = [name.strip(_BLANKS) for name in header]
    twice = sorted({n for n in names if names.count(n) > 1 and n in FIELDS[source.name]})
    if twice:
        raise InputError(f"{source.label}: column(s) {', '.join(map(repr, twice))} appear more "
                         "than once in the header")
    # other repeated names are not used, but DuckDB needs each column named once
    return [name if names.index(name.strip(_BLANKS)) == i else f"{name}.{i}"
            for i, name in enumerate(header)]


def _has_text(path: Path) -> bool:
    with path.open("rb") as handle:
        return bool(handle.read(4096).strip(b" \t\r\n\xef\xbb\xbf"))


def _create_view(con: duckdb.DuckDBPyConnection, source: Source, fields: dict[str, Field]) -> None:
    """A view with each used column typed (values that fail their check become NULL) and
    ``__problem``: the first failed check of the row, as {column, code, raw}.

    Three layers, so each cell is trimmed once and parsed once (written as one expression,
    DuckDB repeats the parsing in every check: 20 times slower on studentVle)."""
    relation, columns = _columns(con, source, list(fields))
    texts, numbers, typed, checks = [], [], [], []
    for i, (name, field) in enumerate(fields.items()):
        actual, dtype = columns[name]
        sql = _column_sql(_ident(actual), i, field, bool(_NUMERIC.match(dtype)))
        texts.append(sql.text)
        numbers += [sql.number] if sql.number else []
        typed.append(f"{sql.value} AS {_ident(name)}")
        checks += [f"WHEN {cond} THEN {{'column': {quoted(name)}, 'code': {quoted(code)}, "
                   f"'raw': {sql.raw}}}" for cond, code in sql.conditions]
    where = ("NULL::VARCHAR AS __file, NULL::BIGINT AS __row" if source.csv
             else "filename AS __file, file_row_number + 1 AS __row")
    con.execute(f"""
        CREATE TEMP VIEW {source.view} AS
        SELECT {', '.join(typed)}, CASE {' '.join(checks)} END AS __problem, __file, __row
        FROM (SELECT *, {', '.join(numbers) or 'NULL AS __none'}
              FROM (SELECT {', '.join(texts)}, {where} FROM {relation}))""")


@dataclass(frozen=True)
class ColumnSQL:
    text: str  # layer 1: the cell as text, trimmed, missing → NULL (``__tN``)
    number: str | None  # layer 2: the text as a number (``__nN``)
    value: str  # layer 3: the typed value
    conditions: list[tuple[str, str]]  # layer 3: (failing condition, problem code)
    raw: str  # layer 3: the cell as text, for messages


def _column_sql(column: str, i: int, field: Field, numeric: bool) -> ColumnSQL:
    text, number = f"__t{i}", f"__n{i}"
    if numeric and field.kind in ("learner", "id", "day", "number"):
        first = f"{column} AS {text}"
        second = f"CAST({text} AS DOUBLE) AS {number}"
        raw = f"CAST({text} AS VARCHAR)"
        unparsed = f"NOT isfinite({number})"
    else:
        first = f"nullif(nullif(trim(CAST({column} AS VARCHAR), '{_BLANKS}'), ''), '?') AS {text}"
        second = f"TRY_CAST({text} AS DOUBLE) AS {number}"
        raw = text
        unparsed = f"({text} IS NOT NULL AND ({number} IS NULL OR NOT isfinite({number})))"
    conditions = [(f"{text} IS NULL", "missing")] if field.required else []
    if field.kind in ("learner", "id"):
        conditions.append((f"{unparsed} OR {number} <> floor({number}) OR {number} < 0 "
                           f"OR {number} > {MAX_ID}", "id"))
        value = f"CAST(TRY_CAST({number} AS BIGINT) AS VARCHAR)"
        return ColumnSQL(first, second, value, conditions, raw)
    if field.kind in ("day", "number"):
        conditions.append((unparsed, field.kind))
        if field.whole or field.kind == "day":
            conditions.append((f"{number} <> floor({number})", "whole"))
        if field.low is not None:
            conditions.append((f"{number} < {field.low}", "range"))
        if field.high is not None:
            conditions.append((f"{number} > {field.high}", "range"))
        value = f"TRY_CAST({number} AS INTEGER)" if field.kind == "day" else number
        return ColumnSQL(first, second, value, conditions, raw)
    if field.kind == "presentation":
        conditions.append((f"NOT regexp_full_match({text}, '[0-9]{{4}}[BJ]')", "presentation"))
    if field.kind == "result":
        known = ", ".join(quoted(r.lower()) for r in RESULTS)
        conditions.append((f"lower({text}) NOT IN ({known})", "result"))
    return ColumnSQL(first, None, text, conditions, raw)


def _problem_text(problem: dict, field: Field) -> str:
    raw = problem["raw"]
    value = repr(raw) if field.shown and raw is not None and len(raw) <= 30 else "the value"
    low, high = field.low, field.high
    bounds = (f"from {low:g} to {high:g}" if low is not None and high is not None
              else f"at least {low:g}" if low is not None else f"at most {high:g}" if high else "")
    return {
        "missing": "empty, but a value is required",
        "id": f"{value} is not a whole-number id" if field.shown else "not a whole-number id",
        "day": f"{value} is not a day number (whole days from the presentation's start)",
        "number": f"{value} is not a number",
        "whole": f"{value} is not a whole number",
        "range": f"{value} is out of range (must be {bounds}"
                 + (" days from the presentation's start)" if field.kind == "day" else ")"),
        "presentation": f"{value} must look like 2013B or 2014J (a year, then B for February "
                        "or J for October)",
        "result": f"not one of {', '.join(RESULTS)}",
    }[problem["code"]]


def _check_values(con: duckdb.DuckDBPyConnection, source: Source, fields: dict[str, Field]) -> None:
    try:
        bad = con.execute(f"SELECT count(*) FROM {source.view} WHERE __problem IS NOT NULL").fetchone()[0]
    except duckdb.Error:
        raise InputError(_unreadable(source)) from None
    _raise_problem(con, source, fields, bad)


def _raise_problem(con: duckdb.DuckDBPyConnection, source: Source, fields: dict[str, Field],
                   bad: int) -> None:
    if bad:
        ((where, problem),) = _locate(con, source, "__problem IS NOT NULL")
        more = f" ({bad - 1:,} more row(s) with a problem)" if bad > 1 else ""
        raise InputError(f"{where}, column {problem['column']}: "
                         f"{_problem_text(problem, fields[problem['column']])}{more}")


def _locate(con: duckdb.DuckDBPyConnection, source: Source, condition: str,
            limit: int = 1) -> list[tuple[str, dict | None]]:
    """Where the first ``limit`` rows meeting ``condition`` are, in file order ("X.csv line 14",
    "X.parquet row 13"), with their ``__problem``. Rows stream in file order (DuckDB keeps
    insertion order for a plain scan); only the error path runs this."""
    query = f"SELECT coalesce({condition}, false) AS hit, __problem, __file, __row FROM {source.view}"
    found: list[tuple[int, dict | None, str | None, int | None]] = []
    offset = 0
    for batch in con.execute(query).to_arrow_reader(200_000):
        for i in pc.indices_nonzero(batch.column("hit")).to_pylist():
            found.append((offset + i, batch.column("__problem")[i].as_py(),
                          batch.column("__file")[i].as_py(), batch.column("__row")[i].as_py()))
            if len(found) == limit:
                break
        if len(found) == limit:
            break
        offset += batch.num_rows
    if source.csv:
        lines = _csv_lines(source.path, [index for index, *_ in found])
        return [(f"{source.label} line {line}", problem)
                for line, (_, problem, _, _) in zip(lines, found, strict=True)]
    return [(f"{source.shown(file)} row {row}", problem) for _, problem, file, row in found]


def _csv_lines(path: Path, indices: list[int]) -> list[int]:
    """The line (header = line 1) where each data record (0-based, blank lines skipped as
    DuckDB skips them) starts."""
    wanted, starts = set(indices), {}
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        record, end = -2, 0  # the header is record -1
        for row in reader:
            start, end = end + 1, reader.line_num
            if not row:
                continue
            record += 1
            if record in wanted:
                starts[record] = start
                if len(starts) == len(wanted):
                    break
    return [starts.get(i, i + 2) for i in indices]


def _unreadable(source: Source) -> str:
    if not source.csv:
        return f"{source.label}: not a readable Parquet file (or folder of Parquet files)"
    fault = _csv_fault(source.path)
    return f"{source.label} {fault}" if fault.startswith("line ") else f"{source.label}: {fault}"


def _csv_fault(path: Path) -> str:
    """What makes a CSV file unreadable, with the line, in the file's terms (no cell content)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return f"line {number}: not UTF-8 text (save the file as UTF-8)"
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next((row for row in reader if row), None)
            if header is None:
                return "empty file (no header line)"
            for row in reader:
                if row and len(row) != len(header):
                    return f"line {reader.line_num}: {len(row)} fields where the header has {len(header)}"
        except csv.Error:
            return f"line {reader.line_num}: a quoted field is not closed properly"
    return "cannot be read as CSV (comma-separated, fields quoted with \", UTF-8, a header line first)"


_UNIQUE = {  # table → key columns, and what a repeated key is
    "courses": (["code_module", "code_presentation"], lambda k: f"presentation {k[0]} {k[1]}"),
    "vle": (["code_module", "code_presentation", "id_site"], lambda k: f"site {k[2]} of {k[0]} {k[1]}"),
    "assessments": (["id_assessment"], lambda k: f"assessment {k[0]}"),
    "studentInfo": (["code_module", "code_presentation", "id_student"],
                    lambda k: f"a learner (id_student) in {k[0]} {k[1]}"),
    "studentRegistration": (["code_module", "code_presentation", "id_student"],
                            lambda k: f"a learner (id_student) in {k[0]} {k[1]}"),
}


def _check_unique(con: duckdb.DuckDBPyConnection, sources: dict[str, Source]) -> None:
    """One row per key: a repeated course, site, assessment or learner would repeat enrolments
    or events."""
    for name, (keys, what) in _UNIQUE.items():
        source = sources[name]
        key = con.execute(f"SELECT {', '.join(keys)} FROM {source.view} GROUP BY ALL "
                          "HAVING count(*) > 1 ORDER BY ALL LIMIT 1").fetchone()
        if key:
            condition = " AND ".join(f"{k} = {quoted(v)}" for k, v in zip(keys, key, strict=True))
            places = [where for where, _ in _locate(con, source, condition, limit=2)]
            raise InputError(f"{_pair(places)}: {what(key)} is listed twice")


def _pair(places: list[str]) -> str:
    first, second = places
    head, _, number = first.rpartition(" ")
    other_head, _, other = second.rpartition(" ")
    return f"{head}s {number} and {other}" if head == other_head else f"{first} and {second}"


def _runs(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        CREATE TEMP TABLE runs AS
        SELECT code_module AS course_id, code_presentation AS run_id,
               make_timestamp(CAST(left(code_presentation, 4) AS INTEGER),
                              CASE right(code_presentation, 1) WHEN 'B' THEN 2 ELSE 10 END,
                              1, 0, 0, 0) AS course_start,
               CAST(module_presentation_length AS INTEGER) AS length_days
        FROM courses""")


def _check_clicks(con: duckdb.DuckDBPyConnection, sources: dict[str, Source]) -> None:
    """studentVle's values, and that every click of a known presentation belongs to a learner
    enrolled in it (else the events would name an enrolment the enrolments table lacks)."""
    source = sources["studentVle"]
    stray = "c.__problem IS NULL AND r.run_id IS NOT NULL AND i.id_student IS NULL"
    try:
        bad, count, key = con.execute(f"""
            SELECT count(*) FILTER (WHERE c.__problem IS NOT NULL), count(*) FILTER (WHERE {stray}),
                   min({{'m': c.code_module, 'p': c.code_presentation, 's': c.id_student}})
                       FILTER (WHERE {stray})
            FROM clicks c
            LEFT JOIN runs r ON r.course_id = c.code_module AND r.run_id = c.code_presentation
            LEFT JOIN (SELECT DISTINCT code_module, code_presentation, id_student FROM studentInfo) i
              ON i.code_module = c.code_module AND i.code_presentation = c.code_presentation
             AND i.id_student = c.id_student""").fetchone()
    except duckdb.Error:
        raise InputError(_unreadable(source)) from None
    _raise_problem(con, source, FIELDS["studentVle"], bad)
    if count:
        condition = (f"code_module = {quoted(key['m'])} AND code_presentation = {quoted(key['p'])} "
                     f"AND id_student = {quoted(key['s'])}")
        ((where, _),) = _locate(con, source, condition)
        raise InputError(f"{where}, column id_student: the learner is not in "
                         f"{sources['studentInfo'].label} for {key['m']} {key['p']} "
                         f"({count:,} {source.label} row(s) of learners not enrolled)")


def _presentations(con: duckdb.DuckDBPyConnection, view: str, shown: int = 6) -> str:
    found = [f"{m} {p}" for m, p in con.execute(
        f"SELECT DISTINCT code_module, code_presentation FROM {view} ORDER BY ALL").fetchall()]
    more = f" and {len(found) - shown} more" if len(found) > shown else ""
    return (", ".join(found[:shown]) + more) or "none"


def _check_enrolments(con: duckdb.DuckDBPyConnection, sources: dict[str, Source]) -> None:
    rows, matched = con.execute("""
        SELECT count(*), count(r.run_id) FROM studentInfo i
        LEFT JOIN runs r ON r.course_id = i.code_module AND r.run_id = i.code_presentation
        """).fetchone()
    if matched:
        return
    info, courses = sources["studentInfo"].label, sources["courses"].label
    if not rows:
        raise InputError(f"no enrolments: {info} has no rows")
    raise InputError(f"no enrolments: 0 of {rows:,} {info} rows matched a presentation in "
                     f"{courses}; {courses} has {_presentations(con, 'courses')}, "
                     f"{info} has {_presentations(con, 'studentInfo')}")


def _no_events(con: duckdb.DuckDBPyConnection, sources: dict[str, Source]) -> str:
    clicks, assessed = sources["studentVle"].label, sources["studentAssessment"].label
    total = con.execute("SELECT count(*) FROM clicks").fetchone()[0]
    submitted, dated = con.execute(
        "SELECT count(*), count(date_submitted) FROM studentAssessment").fetchone()
    if total:
        vle = (f"0 of {total:,} {clicks} rows are for a presentation in "
               f"{sources['courses'].label} ({clicks} has {_presentations(con, 'clicks')})")
    else:
        vle = f"{clicks} has no rows"
    if submitted:
        scores = (f"none of the {dated:,} dated submissions in {assessed} (of {submitted:,} rows) "
                  f"is for an assessment in {sources['assessments'].label} of a presentation in "
                  f"{sources['courses'].label} by a learner in {sources['studentInfo'].label}")
    else:
        scores = f"{assessed} has no rows"
    return f"no events: {vle}; {scores}"


# --- the canonical tables ------------------------------------------------------------------------
_DAY = "r.course_start + to_days(CAST({} AS INTEGER))"

ENROLMENTS = f"""
    SELECT i.id_student AS learner_id, i.code_module AS course_id,
           i.code_presentation AS run_id,
           {_DAY.format('coalesce(g.date_registration, 0)')} AS enrolled_at,
           r.course_start, r.course_start + to_days(r.length_days) AS course_end,
           'open-university' AS platform, 'module-credit' AS credential_type,
           CAST(NULL AS DOUBLE) AS credential_cost, CAST(NULL AS VARCHAR) AS paid_by
    FROM studentInfo i
    JOIN runs r ON r.course_id = i.code_module AND r.run_id = i.code_presentation
    LEFT JOIN studentRegistration g USING (code_module, code_presentation, id_student)"""

SURVEYS = """
    SELECT i.id_student AS learner_id, i.code_module AS course_id,
           i.code_presentation AS run_id, i.gender, i.age_band,
           i.highest_education AS education_level, i.disability,
           CAST(i.num_of_prev_attempts AS INTEGER) AS prior_attempts,
           least(round(i.studied_credits * 10 / (r.length_days / 7.0), 1), 168)
               AS hours_per_week_planned
    FROM studentInfo i
    JOIN runs r ON r.course_id = i.code_module AND r.run_id = i.code_presentation"""

EVENTS = f"""
    SELECT c.id_student AS learner_id, c.code_module AS course_id,
           c.code_presentation AS run_id, {_DAY.format('c.date')} AS ts,
           coalesce(v.activity_type, 'other') AS event_type,
           c.id_site AS object_id, sum(c.sum_click) AS value
    FROM clicks c
    JOIN runs r ON r.course_id = c.code_module AND r.run_id = c.code_presentation
    LEFT JOIN vle v ON v.id_site = c.id_site AND v.code_module = c.code_module
                   AND v.code_presentation = c.code_presentation
    GROUP BY ALL
    UNION ALL
    SELECT s.id_student, a.code_module, a.code_presentation,
           {_DAY.format('s.date_submitted')}, 'assessment', s.id_assessment, s.score
    FROM studentAssessment s
    JOIN assessments a USING (id_assessment)
    JOIN runs r ON r.course_id = a.code_module AND r.run_id = a.code_presentation
    JOIN studentInfo i ON i.id_student = s.id_student AND i.code_module = a.code_module
                      AND i.code_presentation = a.code_presentation
    WHERE s.date_submitted IS NOT NULL"""

OUTCOMES = f"""
    SELECT i.id_student AS learner_id, i.code_module AS course_id,
           i.code_presentation AS run_id,
           lower(i.final_result) IN ('pass', 'distinction') AS certified,
           lower(i.final_result) = 'withdrawn' AS dropped_out,
           last.last_active_at,
           CASE WHEN lower(i.final_result) = 'withdrawn' AND g.date_unregistration IS NOT NULL
                THEN {_DAY.format('g.date_unregistration')} END AS dropped_at
    FROM studentInfo i
    JOIN runs r ON r.course_id = i.code_module AND r.run_id = i.code_presentation
    LEFT JOIN studentRegistration g USING (code_module, code_presentation, id_student)
    LEFT JOIN (SELECT learner_id, course_id, run_id, max(ts) AS last_active_at FROM events
               GROUP BY ALL) last
      ON last.learner_id = i.id_student AND last.course_id = i.code_module
     AND last.run_id = i.code_presentation"""
