"""Reading exported CSV files with their header and line numbers, for the table imports (OULAD,
KDD Cup 2015, dataedu): one set of rules, and problems told by file, line and field in the
project's words, never with a raw record.

- The header is the file's first line that is not blank (a UTF-8 byte-order mark is dropped);
  its names and every cell lose the ``BLANKS`` around them (a blank or a Windows ``\\r`` splits
  no key).
- A cell that is then one of its source's missing markers is missing (None in Python, NULL in
  SQL). The markers are the source's: OULAD's ``?``, R's and pandas' ``NA``… in dataedu, only
  the empty cell in KDD Cup 2015 (``EMPTY``).
- A header that lacks columns is told with its names, unless the first line names none of the
  expected columns: it is then probably a record (maybe personal) and only its size is told
  (``staging.found_columns``); ``with_header`` shows only the names it knows.
- Fatal problems stop the import as one InputError (``raise_for``, or the readers here, with
  the file and line); the others are collected by file, line and field (``Findings``) and
  listed in ``import_problems.csv``.

Two ways in: Python reads a quoted file row by row (``csv_records``: dataedu's rows, and what
makes a file DuckDB refused unreadable); DuckDB reads an unquoted file line by line, each row
keeping its line number (``CsvFile``: the KDD Cup 2015 files, millions of rows).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

from mooc_risk.errors import InputError
from mooc_risk.features.sources.course_keys import BLANKS  # trimmed around every name and cell
from mooc_risk.features.sources.documents import MAX_LINE
from mooc_risk.features.sources.staging import engine_words, found_columns, quoted

BOM = "\ufeff"  # a UTF-8 byte-order mark, dropped at the start of a file
EMPTY = frozenset({""})  # the missing markers of a source that has none but the empty cell
PROBLEMS_FILE = "import_problems.csv"
PROBLEM_COLUMNS = ["file", "line", "field", "reason", "value", "rows"]
SHOWN = 3  # offending rows shown per kind of problem
_UNQUOTED = BLANKS + '"' + BOM  # what an unquoted file's fields lose: quotes (read as text) too


# --- cells --------------------------------------------------------------------------------------
def cell(value: str, missing: frozenset[str] = EMPTY) -> str | None:
    """A cell trimmed; None when it is then one of the ``missing`` markers."""
    value = value.strip(BLANKS)
    return None if value in missing else value


def missing_sql(text: str, missing: frozenset[str] = EMPTY) -> str:
    """SQL: the text ``text`` (already trimmed), NULL when it is one of the ``missing`` markers
    (an IN list, not nested nullif: DuckDB expands each nullif into a copy of its argument)."""
    if len(missing) == 1:
        return f"nullif({text}, {quoted(next(iter(missing)))})"
    return f"CASE WHEN {text} IN ({', '.join(map(quoted, sorted(missing)))}) THEN NULL ELSE {text} END"


def cell_sql(text: str, missing: frozenset[str] = EMPTY) -> str:
    """SQL: the text ``text`` trimmed, NULL when it is then one of the ``missing`` markers."""
    return missing_sql(f"trim({text}, '{BLANKS}')", missing)


# --- quoted files, read in Python ------------------------------------------------------------------
def empty_line(row: list[str]) -> bool:
    """A line without any field, as DuckDB skips it (a line of blanks is a row of one field)."""
    return not row


def blank_row(row: list[str]) -> bool:
    """A row whose fields are all blank."""
    return not any(f.strip(BLANKS) for f in row)


def has_text(path: Path) -> bool:
    """Whether the file's first 4 KiB hold more than blanks (and a byte-order mark)."""
    with path.open("rb") as handle:
        return bool(handle.read(4096).strip((BLANKS + BOM).encode()))


def require_utf8(path: Path, label: str) -> None:
    """Stop at the first line that is not UTF-8 text (``label`` names the file)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{label} line {number}: not UTF-8 text (save the file as UTF-8)") from None


def csv_records(path: Path, label: str, skip: Callable[[list[str]], bool] = empty_line,
                width: Literal["same", "at most", "any"] = "same", strict: bool = True,
                errors: str = "strict") -> Iterator[tuple[int, list[str]]]:
    """The header, then each row, of a comma-separated, ``"``-quoted UTF-8 file: ``(line, fields)``
    with the line each starts on (the file's first line being 1), rows that ``skip`` tells
    apart left out. Stops (``label`` naming the file) when there is no header, a row has more
    fields than the header (``width`` "same" or "at most") or fewer ("same"), or a quoted field
    is left open."""
    with path.open(newline="", encoding="utf-8-sig", errors=errors) as handle:
        reader = csv.reader(handle, strict=strict)
        header, end = None, 0
        try:
            for row in reader:
                start, end = end + 1, reader.line_num
                if skip(row):
                    continue
                if header is None:
                    header = row
                elif width != "any" and (len(row) > len(header)
                                         or (width == "same" and len(row) < len(header))):
                    raise InputError(f"{label} line {start}: {len(row)} fields where the header "
                                     f"has {len(header)}")
                yield start, row
        except csv.Error:
            raise InputError(f"{label} line {reader.line_num}: a quoted field is not closed "
                             "properly") from None
    if header is None:
        raise InputError(f"{label}: empty file (no header line)")


def csv_header(path: Path, label: str, skip: Callable[[list[str]], bool] = empty_line) -> list[str]:
    """The header's fields as written (only the header is read)."""
    records = csv_records(path, label, skip)
    try:
        return next(records)[1]
    finally:
        records.close()


def header_names(label: str, header: list[str], wanted: Iterable[str]) -> list[str]:
    """The header's names trimmed; a ``wanted`` column named twice stops."""
    names = [name.strip(BLANKS) for name in header]
    wanted = set(wanted)
    twice = sorted({n for n in names if names.count(n) > 1 and n in wanted})
    if twice:
        raise InputError(f"{label}: column(s) {', '.join(map(repr, twice))} appear more than once "
                         "in the header")
    return names


def unique_names(header: list[str]) -> list[str]:
    """The header's names, a later one named like an earlier one (once trimmed) as ``NAME.i``:
    not used, but a table needs each column named once."""
    names = [name.strip(BLANKS) for name in header]
    return [name if names.index(names[i]) == i else f"{name}.{i}" for i, name in enumerate(header)]


def require_columns(label: str, names: list[str], wanted: list[str]) -> None:
    """Stop when the header ``names`` lack a ``wanted`` column; a first line that names none of
    them is not shown (it may be a record)."""
    missing = [c for c in wanted if c not in names]
    if missing:
        raise InputError(f"{label}: missing column(s) {', '.join(map(repr, missing))}; "
                         f"{found_columns(names, wanted)}")


# --- unquoted files, read by DuckDB line by line ------------------------------------------------------
@dataclass(frozen=True)
class CsvFile:
    """A comma-separated file read line by line (so every row keeps its line number): the
    1-based position of each column, and the line of the header (0: no header)."""

    path: Path
    number: int
    positions: dict[str, int]
    header_line: int
    width: int

    def lines_sql(self) -> str:
        """``line, text``: every line in file order, numbered (a blank line's text is NULL)."""
        return f"""
            SELECT row_number() OVER () AS line, text
            FROM read_csv({quoted(self.path)}, columns={{'text': 'VARCHAR'}}, header=false,
                          delim=E'\\x1f', quote='', escape='', auto_detect=false, strict_mode=false,
                          max_line_size={MAX_LINE})"""

    def rows_sql(self, columns: Iterable[str], extra: str = "",
                 names: dict[str, str] | None = None, lines: str | None = None,
                 missing: frozenset[str] = EMPTY) -> str:
        """``file, line, width`` and each column trimmed (NULL when a ``missing`` marker; renamed
        as ``names`` says), one row per non-blank line after the header, then ``extra`` columns;
        from ``lines`` (a relation of ``line, text``) if given, else from the file."""
        names = names or {}
        fields = ", ".join(f"{missing_sql(f'f[{self.positions[c]}]', missing)} AS \"{names.get(c, c)}\""
                           for c in columns)
        split = (f"CASE WHEN regexp_matches(text, '[{_UNQUOTED}]') "  # trimming only where needed
                 f"THEN list_transform(string_split(text, ','), x -> trim(x, '{_UNQUOTED}')) "
                 "ELSE string_split(text, ',') END")
        return f"""
            SELECT {self.number} AS file, line, len(f) AS width, {fields}{extra}
            FROM (SELECT line, {split} AS f FROM ({lines or self.lines_sql()})
                  WHERE line > {self.header_line} AND text IS NOT NULL)
            WHERE len(f) > 1 OR f[1] <> ''"""  # not a blank line


def first_line(path: Path) -> tuple[list[str], int] | None:
    """The fields of the first non-blank line (trimmed, quotes too) and its number; None when
    the file has no such line."""
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8", errors="replace")
                if text.strip(BLANKS + BOM):
                    return [f.strip(_UNQUOTED) for f in text.split(",")], number
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    return None


def with_header(path: Path, number: int, columns: list[str], optional: Iterable[str] = (),
                known: Iterable[str] | None = None) -> CsvFile | None:
    """The file with its header checked (None when it has no line at all). A missing column
    stops with the columns expected; fields of the first line that are not ``known`` column
    names (by default ``columns`` and ``optional``) are not shown (they may be a record)."""
    found = first_line(path)
    if found is None:
        return None
    names, line = found
    known = set([*columns, *optional] if known is None else known)
    lowered = [n.lower() for n in names]
    missing = [c for c in columns if c not in lowered]
    if missing:
        shown = [repr(n) for n in lowered if n in known]
        others = len(lowered) - len(shown)
        what = ", ".join(shown + ([f"{others} other field(s) (not shown)"] if others else []))
        raise InputError(f"{path}:{line}: the header lacks column(s) {', '.join(map(repr, missing))}; "
                         f"expected {','.join(columns)}; found {what}")
    wanted = [*columns, *(c for c in optional if c in lowered)]
    return CsvFile(path, number, {c: lowered.index(c) + 1 for c in wanted}, line, len(names))


def headerless(path: Path, number: int, columns: list[str], is_header: Callable[[list[str]], bool]
               ) -> CsvFile | None:
    """A file whose columns are ``columns`` in order, as released without a header; a first
    line that ``is_header`` recognises is skipped (a copy that added one)."""
    found = first_line(path)
    if found is None:
        return None
    names, line = found
    header_line = line if is_header(names) else 0
    return CsvFile(path, number, {c: i + 1 for i, c in enumerate(columns)}, header_line, len(columns))


def run_reading(con: duckdb.DuckDBPyConnection, sql: str, *paths: Path) -> None:
    """Run ``sql``, which reads ``paths``; a file DuckDB cannot read (not UTF-8, a line over
    the limit) is named, in the project's words."""
    try:
        con.execute(sql)
    except duckdb.Error as exc:
        raise InputError(f"{', '.join(map(str, paths))}: cannot be read: {engine_words(exc)}") from None


# --- problems: fatal ones stop the import, the others are listed ----------------------------------
@dataclass(frozen=True)
class Check:
    """Rows of ``table`` matching ``where`` cannot be imported: ``field``: ``reason``, with
    ``note`` (SQL, may be NULL) shown per row."""

    table: str
    where: str
    field: str | None
    reason: str
    note: str = "NULL"


@dataclass
class Findings:
    """What was imported with a problem, one row each: ``file, line, field, reason, value,
    rows`` (``line`` of the first row, ``rows`` how many)."""

    rows: list[tuple] = field(default_factory=list)
    skipped: int = 0

    def add(self, path: Path | str, line: int | None, field_name: str | None, reason: str,
            value: str | None = None, rows: int | None = None) -> None:
        self.rows.append((str(path), line, field_name, reason, value, rows))

    def skip(self, path: Path, reason: str) -> None:
        self.add(path, None, None, f"skipped: {reason}")
        self.skipped += 1

    def write(self, stage: Path, counts: dict[str, int]) -> dict[str, int]:
        """Write ``import_problems.csv`` when there is something to list; ``counts`` gains
        how many files were skipped and how many problems were listed."""
        if not self.rows:
            return counts
        with (stage / PROBLEMS_FILE).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(PROBLEM_COLUMNS)
            writer.writerows(self.rows)
        if self.skipped:
            counts[f"skipped files (in {PROBLEMS_FILE})"] = self.skipped
        if len(self.rows) > self.skipped:
            counts[f"problems (in {PROBLEMS_FILE})"] = len(self.rows) - self.skipped
        return counts


def raise_for(con: duckdb.DuckDBPyConnection, checks: list[Check], paths: dict[int, Path],
              describe: Callable[[Path, int, Check, str | None], str], what: str) -> None:
    """Stop with every check that some row fails: how many rows, and the first few as
    ``describe`` words them."""
    failed = []
    for table in dict.fromkeys(c.table for c in checks):
        mine = [c for c in checks if c.table == table]
        totals = con.execute("SELECT " + ", ".join(f"count_if({c.where})" for c in mine)
                             + f" FROM {table}").fetchone()
        for check, total in zip(mine, totals, strict=True):
            if not total:
                continue
            rows = con.execute(f"SELECT file, line, {check.note} FROM {table} WHERE {check.where} "
                               f"ORDER BY file, line LIMIT {SHOWN}").fetchall()
            shown = "; ".join(describe(paths[f], line, check, note) for f, line, note in rows)
            more = f" (and {total - len(rows):,} more like it)" if total > len(rows) else ""
            failed.append((total, shown + more))
    if failed:
        rows = sum(n for n, _ in failed)
        raise InputError(f"{what}: {rows:,} row(s) cannot be imported: "
                         + "; ".join(text for _, text in failed))


def at_line(path: Path, line: int, check: Check, note: str | None) -> str:
    """``FILE:LINE: FIELD: REASON (NOTE)``."""
    where = f"{path}:{line}: " + (f"{check.field}: " if check.field else "")
    return where + check.reason + (f" ({note})" if note is not None else "")


def shown_value(column: str, width: int = 40) -> str:
    """SQL: a field's value quoted and cut short, for messages (never used on usernames)."""
    cut = f"CASE WHEN length({column}) > {width} THEN '…' ELSE '' END"
    return f"'''' || left({column}, {width}) || {cut} || ''''"
