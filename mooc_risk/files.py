"""Writing output files so that a failed or killed run never leaves a half-written file or
folder behind: write to a temporary sibling, then rename. A run killed outright (SIGKILL, a
power cut) cannot remove its temporary file or folder; the next write of the same file or
folder does (for a folder, ``recover_folder`` also puts back one that a killed run had moved
aside)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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
    """Yield a temporary sibling folder to fill; when the block succeeds it replaces the folder
    ``out`` (any failure, or an interrupt, leaves ``out`` as it was and removes the temporary
    folder).

    The temporary folder is ``.{name}.writing-{pid}.{8 random characters}``. To replace an
    existing ``out``, it is renamed into ``.{name}.old-{pid}.{8 random characters}/``, the new
    folder is renamed to ``out``, and the old one is removed. A writer killed outright (SIGKILL,
    a power cut) cannot clean up, and one killed between those two renames leaves no ``out``
    at all: ``recover_folder``, which runs first here, puts the old folder back and removes
    what killed writers left. The rule: after a kill at any point, ``out`` is the old folder or
    the new one once ``recover_folder`` has run (this call's next use, or a reader's).

    One writer of ``out`` at a time (callers hold a lock, or only one runs). OSError if the
    folder cannot be written or renamed, with ``out`` as it was.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(out)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.writing-{os.getpid()}.", dir=out.parent))
    try:
        yield stage
        if not os.path.lexists(out):
            stage.rename(out)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}.", dir=out.parent))
        kept = old / out.name
        try:
            out.rename(kept)
            stage.rename(out)
        except BaseException:
            if os.path.lexists(kept) and not os.path.lexists(out):
                kept.rename(out)  # put it back
            with suppress(OSError):
                old.rmdir()  # only if empty: never the old folder itself
            raise
        with suppress(OSError):  # a partly removed old folder is never put back
            kept.rename(old / ".removing")
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def recover_folder(out: Path | str) -> list[Path]:
    """Repair what ``folder_replacing`` writers of the folder ``out`` that were killed outright
    left next to it; the leftover folders found (moved back or removed), empty when there was
    nothing to do (the usual case: one listing of ``out``'s parent).

    A leftover is ``.{name}.writing-{pid}.XXXXXXXX`` (a new folder not swapped in) or
    ``.{name}.old-{pid}.XXXXXXXX`` (an old folder moved aside) whose writer ``pid`` is not
    running. When ``out`` does not exist and such an old-folder leftover holds ``{name}``
    (the writer died between its two renames), that folder is renamed back to ``out`` (the
    most recently moved aside, if several); then the leftovers are removed, except an old
    folder that could not be put back. Folders of running writers, and anything else, are
    left alone, so readers may call this at any time. Assumes one machine writes the folder
    (a pid names a process of this machine).

    Raises OSError only when the old folder cannot be renamed back (then nothing is removed);
    a missing parent folder is nothing to do.
    """
    out = Path(out)
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(writing|old)-(\d+)\.[a-z0-9_]{{8}}")
    try:
        entries = list(os.scandir(out.parent))
    except OSError:
        return []
    stale = {Path(entry.path): found[1] for entry in entries
             if (found := pattern.fullmatch(entry.name)) and entry.is_dir(follow_symlinks=False)
             and not process_running(int(found[2]))}
    if not stale:
        return []
    kept = [folder / out.name for folder, kind in stale.items()
            if kind == "old" and (folder / out.name).is_dir()]
    if kept and not os.path.lexists(out):
        newest = max(kept, key=lambda path: path.parent.stat().st_mtime_ns)  # when moved aside
        try:
            newest.rename(out)
        except OSError:
            if not os.path.lexists(out):  # not another process recovering it at the same time
                raise
    for folder, kind in stale.items():
        if kind == "writing" or os.path.lexists(out) or not os.path.lexists(folder / out.name):
            shutil.rmtree(folder, ignore_errors=True)
    return list(stale)
