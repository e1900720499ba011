"""Writing output files so that a failed or killed run never leaves a half-written file or
folder behind: write to a temporary sibling, then rename. A run killed outright (SIGKILL, a
power cut) cannot remove its temporary file; the next write of the same file does."""

from __future__ import annotations

import os
import re
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

    The temporary file is ``.{name}.{pid}.{8 random characters}.tmp``; such files of ``path``
    left by a writer that is no longer running (its pid is not alive on this machine) are
    removed first.

    The one atomic-write helper: every file mooc-risk writes outside a staged folder goes
    through it (files inside a folder that ``folder_replacing`` swaps in whole need not).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, (0o666 & ~_umask()) if mode is None else mode)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files of ``path`` (``replacing``'s ``.{name}.{pid}.XXXXXXXX.tmp``,
    nothing else) whose writer is not running; return them. Assumes that one machine writes
    the folder (a pid names a process of this machine)."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[a-z0-9_]{{8}}\.tmp")
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if found and entry.is_file(follow_symlinks=False) and not process_running(int(found[1])):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


def process_running(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (True when that cannot be told)."""
    if os.name != "posix":
        return True
    if pid <= 0:  # not a pid mkstemp's writer had; os.kill(0, ...) would signal our own group
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process; a number beyond any pid
        return False
    except PermissionError:  # another user's process
        return True
    return True


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
