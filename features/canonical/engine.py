"""Ibis backends: DuckDB (embedded default) and PySpark (scale-out).

Feature code only sees Ibis tables; this module is the one place that knows which engine runs
them and how a raw file becomes a table on that engine.
"""

from __future__ import annotations

from pathlib import Path

import ibis
from ibis.backends import BaseBackend

from mooc_risk.errors import InputError
from mooc_risk.settings import Backend

BACKENDS: tuple[str, ...] = tuple(Backend)


def connect(backend: Backend | str = Backend.DUCKDB, *, threads: int | None = None) -> BaseBackend:
    """Open an Ibis connection whose session time zone is UTC (all canonical times are UTC)."""
    if backend == "duckdb":
        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")
        if threads:
            con.raw_sql(f"SET threads = {int(threads)}")
        return con
    if backend == "pyspark":
        return _connect_spark(threads)
    raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def _connect_spark(threads: int | None) -> BaseBackend:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "the pyspark backend needs the 'spark' extra: pip install 'mooc-risk[spark]'"
        ) from exc
    session = (
        SparkSession.builder.master(f"local[{threads or 2}]")
        .appName("mooc-risk")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(max(2, (threads or 2) * 2)))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)


def read_file(con: BaseBackend, path: Path) -> ibis.Table:
    """Read a CSV file, a Parquet file or a folder of Parquet files as an Ibis table.

    CSV columns are read as text so that every column is parsed (and reported) by the same
    casting step, whatever the engine would have guessed.
    """
    path = Path(path)
    if path.is_dir():
        return con.read_parquet(str(path / "**" / "*.parquet"))
    if path.suffix == ".parquet":
        return con.read_parquet(str(path))
    if path.suffix == ".csv":
        if con.name == "duckdb":
            return con.read_csv(str(path), all_varchar=True, header=True)
        return con.read_csv(str(path), header=True, inferSchema=False)
    raise ValueError(f"{path}: expected a .parquet or .csv file or a folder of .parquet files")
