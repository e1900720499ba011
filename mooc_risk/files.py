"""Writing output files so that a failed or killed run never leaves a half-written file or
folder behind: write to a temporary sibling, then rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas and pyarrow load when a table is written, not with this module
    import pandas as pd
    import pyarrow as pa

FORMATS = (".parquet", ".csv")


@contextmanager
def replacing(path: Path | str, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary file in ``path``'s folder to write; when the block succeeds, the file
    gets ``mode`` (default: the usual mode under the umask) and is renamed to ``path``. Any
    failure, or an interrupt, removes it and leaves ``path`` as it was.

    The one atomic-write helper: every file mooc-risk writes outside a staged folder goes
    through it (files inside a folder that ``folder_replacing`` swaps in whole need not).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, (0o666 & ~_umask()) if mode is None else mode)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(table: pd.DataFrame | pa.Table, path: Path | str) -> Path:
    """Write a frame to ``path`` (.parquet or .csv) atomically (``replacing``); ValueError for
    another suffix."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix not in FORMATS:
        raise ValueError(f"{path}: output must end in {' or '.join(FORMATS)}")
    arrow = table if isinstance(table, pa.Table) else pa.Table.from_pandas(table, preserve_index=False)
    with replacing(path) as tmp:
        if path.suffix == ".parquet":
            pq.write_table(arrow, tmp)
        else:
            pacsv.write_csv(_decoded(arrow), tmp)
    return path


def write_text(path: Path | str, text: str, mode: int | None = None) -> Path:
    """Write text to ``path`` atomically (``replacing``), with ``mode`` if given."""
    path = Path(path)
    with replacing(path, mode) as tmp:
        tmp.write_text(text)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _decoded(table: pa.Table) -> pa.Table:
    """CSV cannot hold dictionary-encoded columns; store their values."""
    import pyarrow as pa

    columns = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    return pa.table(columns, names=table.column_names)


@contextmanager
def folder_replacing(out: Path | str) -> Iterator[Path]:
    """Yield a temporary sibling folder; when the block succeeds it replaces ``out`` (any
    failure, or an interrupt, leaves ``out`` as it was and removes the temporary folder)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.writing-", dir=out.parent))
    try:
        yield stage
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(old / out.name)
            stage.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            stage.rename(out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
