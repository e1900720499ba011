"""OULAD's tables read and their values checked: which file holds each table, how each column
the import uses is read, trimmed, checked and cast (``FIELDS``), and where a bad value is (the
file, the CSV line or Parquet row, the column), without showing learner ids or text.

Each table becomes a view of its typed columns with ``__problem``, the first failed check of
the row; ``oulad_tables`` joins the views into the canonical tables.
"""

from __future__ import annotations

import re
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.compute as pc

from mooc_risk.errors import InputError
from mooc_risk.features.sources.csv_input import (
    BLANKS,
    cell_sql,
    csv_header,
    csv_records,
    has_text,
    header_names,
    require_columns,
    require_utf8,
    unique_names,
)
from mooc_risk.features.sources.staging import quoted

MAX_DAYS = 3650  # no presentation lasts ten years: a larger offset is a broken value
MAX_ID = 10**15  # ids are cast through DOUBLE, exact far beyond this
RESULTS = ("Pass", "Distinction", "Fail", "Withdrawn")
MISSING = frozenset({"", "?"})  # an empty cell and the official marker
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
    "assessments": {**KEYS, "id_assessment": ID, "assessment_type": TEXT, "date": DAY,
                    "weight": Field("number", low=0, high=100)},
    "studentAssessment": {"id_assessment": ID, "id_student": LEARNER, "date_submitted": DAY,
                          "score": Field("number", low=0, high=100)},
    "studentVle": {"id_student": LEARNER, "id_site": ID,
                   "date": Field("day", True, -MAX_DAYS, MAX_DAYS),
                   "sum_click": Field("number", True, 0, whole=True), **KEYS},
}
VIEWS = {"studentVle": "clicks"}  # the SQL of oulad_tables calls studentVle "clicks"


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
            raise InputError(unreadable(source)) from None
    found = {name.strip(BLANKS): (name, dtype) for name, dtype in described}
    require_columns(source.label, list(found), wanted)
    return relation, {c: found[c] for c in wanted}


def _csv_header(source: Source) -> list[str]:
    """The header's names as DuckDB reads the file with them: as written, each once."""
    if not has_text(source.path):
        raise InputError(f"{source.label}: empty file (no header line)")
    try:
        header = csv_header(source.path, source.label)
    except (UnicodeDecodeError, InputError):
        raise InputError(unreadable(source)) from None
    header_names(source.label, header, FIELDS[source.name])
    return unique_names(header)  # other repeated names are not used


def create_view(con: duckdb.DuckDBPyConnection, source: Source, fields: dict[str, Field]) -> None:
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
        first = f"{cell_sql(f'CAST({column} AS VARCHAR)', MISSING)} AS {text}"
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


def check_values(con: duckdb.DuckDBPyConnection, source: Source, fields: dict[str, Field]) -> None:
    try:
        bad = con.execute(f"SELECT count(*) FROM {source.view} WHERE __problem IS NOT NULL").fetchone()[0]
    except duckdb.Error:
        raise InputError(unreadable(source)) from None
    raise_problem(con, source, fields, bad)


def raise_problem(con: duckdb.DuckDBPyConnection, source: Source, fields: dict[str, Field],
                  bad: int) -> None:
    if bad:
        ((where, problem),) = locate(con, source, "__problem IS NOT NULL")
        more = f" ({bad - 1:,} more row(s) with a problem)" if bad > 1 else ""
        raise InputError(f"{where}, column {problem['column']}: "
                         f"{_problem_text(problem, fields[problem['column']])}{more}")


def locate(con: duckdb.DuckDBPyConnection, source: Source, condition: str,
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
        lines = _csv_lines(source, [index for index, *_ in found])
        return [(f"{source.label} line {line}", problem)
                for line, (_, problem, _, _) in zip(lines, found, strict=True)]
    return [(f"{source.shown(file)} row {row}", problem) for _, problem, file, row in found]


def _csv_lines(source: Source, indices: list[int]) -> list[int]:
    """The line (header = line 1) where each data record (0-based, empty lines skipped as
    DuckDB skips them) starts."""
    wanted, starts = set(indices), {}
    records = csv_records(source.path, source.label, width="any", strict=False, errors="replace")
    with closing(records):
        for record, (line, _) in enumerate(records, -1):  # the header is record -1
            if record in wanted:
                starts[record] = line
                if len(starts) == len(wanted):
                    break
    return [starts.get(i, i + 2) for i in indices]


def unreadable(source: Source) -> str:
    """What makes the file unreadable, with the line, in the file's terms (no cell content)."""
    if not source.csv:
        return f"{source.label}: not a readable Parquet file (or folder of Parquet files)"
    try:
        require_utf8(source.path, source.label)
        for _ in csv_records(source.path, source.label):
            pass
    except InputError as exc:
        return str(exc)
    return (f"{source.label}: cannot be read as CSV (comma-separated, fields quoted with \", UTF-8, "
            "a header line first)")
