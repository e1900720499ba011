"""Write an imported data set so that an interrupted import leaves the target folder as it was:
everything goes to a temporary sibling folder, is read back through the canonical reader
(unless the importer's SQL fixes every type and value the contract checks), and only then
replaces the target."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from mooc_risk.errors import InputError
from mooc_risk.files import folder_replacing


@contextmanager
def staged_output(out: Path, validate: bool = True) -> Iterator[Path]:
    """Yield a temporary folder; on success validate it (unless told not to) and let it
    replace ``out``."""
    with folder_replacing(out) as stage:
        try:
            yield stage
        except duckdb.Error as exc:  # a value the adapter could not convert
            raise InputError(f"the input cannot be read: {engine_words(exc)}") from None
        if not validate:
            return
        from mooc_risk.features.canonical.engine import connect
        from mooc_risk.features.canonical.tables import read_tables
        from mooc_risk.features.constructs import construct_map_for

        try:  # the output must be canonical
            read_tables(stage, connect(), construct_map_for(stage))
        except InputError as exc:
            raise InputError(f"{str(exc).replace(str(stage), str(out))} (in the imported tables: "
                             "the input holds a value the contract does not allow)") from None


_ENGINE_WORDS = (  # DuckDB's message → the project's words (never the raw record it may quote)
    ("Invalid unicode", "not valid UTF-8 text (a line cut inside a character?)"),
    ("line size", "a line longer than the 4 MiB limit"),
    ("maximum_object_size", "a JSON document longer than the 4 MiB limit"),
    ("Malformed JSON", "not valid JSON"),
    ("JSON", "not valid JSON"),
    ("Could not convert", "a value that cannot be converted to the column's type"),
    ("Conversion Error", "a value that cannot be converted to the column's type"),
    ("Binder Error", "a column of an unexpected type"),
    ("No files found", "no such file"),
    ("IO Error", "the file cannot be read"),
)


def engine_words(exc: Exception) -> str:
    """A DuckDB error in the project's words, with its line when DuckDB gives one, and never
    the record or value DuckDB quotes (it may hold personal data)."""
    import re

    text = str(exc)
    what = next((words for key, words in _ENGINE_WORDS if key in text),
                f"the data engine could not read it ({type(exc).__name__})")
    where = re.search(r"[Ll]ine:? (\d+)", text)
    target = re.search(r"to (INT\d+|BIGINT|DOUBLE|DATE|TIMESTAMP|BOOLEAN|DECIMAL[^ ]*)", text)
    column = re.search(r'[Cc]olumn:? "?([A-Za-z_][A-Za-z0-9_]*)"?', text)
    parts = [f"line {where.group(1)}" if where else "", f"column {column.group(1)}" if column else ""]
    detail = f" ({target.group(1)})" if target and "convert" in what else ""
    return ", ".join(p for p in parts if p) + (": " if any(parts) else "") + what + detail


def copy_instrument(stage: Path, name: str) -> None:
    """Ship the source's construct map with the data (``DATA/instrument.yaml``)."""
    import importlib.resources

    from mooc_risk.features.constructs import INSTRUMENT_FILE

    text = (importlib.resources.files("mooc_risk.features.instruments") / f"{name}.yaml").read_text()
    (stage / INSTRUMENT_FILE).write_text(text)


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise InputError(f"{path}: missing {what}")
    return path


def require_columns(con: duckdb.DuckDBPyConnection, relation: str, source: str,
                    columns: list[str]) -> None:
    """Stop with the file and the missing columns when a source file lacks columns."""
    try:
        found = [row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    except duckdb.Error as exc:
        raise InputError(f"{source}: cannot read: {engine_words(exc)}") from None
    missing = [c for c in columns if c not in found]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(map(repr, missing))}; "
                         f"found {', '.join(map(repr, found))}")


def found_columns(found: list[str], wanted: list[str]) -> str:
    """The header's names, unless none is one the import expects: then the first line is
    probably data (maybe personal), and only its size is told."""
    if not found:
        return "found no columns"
    if not set(found) & set(wanted):
        return (f"the first line ({len(found)} fields) names none of them: a header line must "
                "come first")
    return f"found {', '.join(map(repr, found))}"


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the connection holds a table (or temporary table) called ``name``."""
    return con.execute(f"SELECT count(*) > 0 FROM duckdb_tables() WHERE table_name = {quoted(name)}"
                       ).fetchone()[0]  # a literal: bound parameters make DuckDB import pandas


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for importers: UTC, and no progress bar on the user's terminal."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
    return con


def quoted(path: Path | str) -> str:
    """A path as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def copy_to_parquet(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> int:
    """Run ``query`` and write its rows to ``path``; return the row count."""
    con.execute(f"COPY ({query}) TO {quoted(path)} (FORMAT parquet)")
    return con.execute(f"SELECT count(*) FROM read_parquet({quoted(path)})").fetchone()[0]
