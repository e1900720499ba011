"""Write an imported data set so that an interrupted import leaves the target folder as it was:
everything goes to a temporary sibling folder, is read back through the canonical reader, and
only then replaces the target."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from features.constructs import INSTRUMENT_FILE, construct_map_for
from features.engine import connect
from features.errors import InputError
from features.tables import read_tables


@contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success validate it and swap it in for ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.importing-", dir=out.parent))
    try:
        yield stage
        read_tables(stage, connect(), construct_map_for(stage))  # the output must be canonical
        _swap(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _swap(stage: Path, out: Path) -> None:
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        out.rename(old / out.name)
        stage.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        stage.rename(out)


def copy_instrument(stage: Path, name: str) -> None:
    """Ship the source's construct map with the data (``DATA/instrument.yaml``)."""
    import importlib.resources

    text = (importlib.resources.files("features") / "instruments" / f"{name}.yaml").read_text()
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
        raise InputError(f"{source}: cannot read ({exc})") from None
    missing = [c for c in columns if c not in found]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(map(repr, missing))}; "
                         f"found {', '.join(map(repr, found))}")


def duckdb_connection(database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for importers: UTC, and no progress bar on the user's terminal."""
    con = duckdb.connect(database)
    con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
    return con


def quoted(path: Path | str) -> str:
    """A path as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def copy_to_parquet(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> int:
    """Run ``query`` and write its rows to ``path``; return the row count."""
    con.execute(f"COPY ({query}) TO {quoted(path)} (FORMAT parquet)")
    return con.execute(f"SELECT count(*) FROM read_parquet({quoted(path)})").fetchone()[0]
