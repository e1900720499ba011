"""Data versions: what the service and ``refresh`` score is a pinned copy of the data folder's
canonical tables, named by the SHA-256 of their content.

A data folder changes under a running service (a nightly import, a file copied over another).
Reading it in place would score a new day from a file nobody validated, and key stored
features by a modification time that a copy can keep. So ``pin`` copies the table files
(``enrolments``, ``events``, ``surveys``, ``outcomes``: a file or a folder of Parquet files)
into ``STORE/data/<version>/``, hashing them on the way, and everything downstream reads that
copy and is keyed by its version. A cheap fingerprint (names, sizes, inodes, modification
and change times) tells when to look again; ``index.json`` maps fingerprints to versions so a second process
(the service after a ``refresh``) does not hash again. The last ``KEEP`` versions are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from mooc_risk.errors import InputError
from mooc_risk.features.canonical.tables import OPTIONAL, REQUIRED, find_table
from mooc_risk.files import process_running, recover_folder, write_text

KEEP = 3  # data versions kept in the store (the served one, the one before, a new one)
CHUNK = 1 << 20
_lock = threading.Lock()


@dataclass(frozen=True)
class DataVersion:
    """``version``: hex SHA-256 of the tables' names and bytes; ``folder``: the pinned copy;
    ``fingerprint``: of the data folder when it was pinned."""

    version: str
    folder: Path
    fingerprint: str

    @property
    def short(self) -> str:
        return self.version[:16]


def table_files(data_dir: Path) -> list[tuple[str, Path]]:
    """(path relative to the data folder, file) of every canonical table file, sorted;
    InputError naming the folder when a required table is missing."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: no such data folder")
    found = []
    for name in REQUIRED + OPTIONAL:
        path = find_table(data_dir, name)
        if path is None:
            if name in REQUIRED:
                raise InputError(f"{data_dir}: missing table {name} (NAME.parquet, NAME.csv or NAME/)")
            continue
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        found += [(p.relative_to(data_dir).as_posix(), p) for p in files
                  if not p.name.startswith(".")]  # hidden: temporary files of a writer
    return sorted(found)


def fingerprint(data_dir: Path) -> str:
    """A cheap fingerprint of the table files: names, sizes, inodes, modification and change
    times (ns). The change time cannot be set back, so a file copied over another with its old
    modification time (``cp -p``) still changes the fingerprint."""
    digest = hashlib.sha256()
    for relative, path in table_files(data_dir):
        info = path.stat()
        digest.update(f"{relative}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ctime_ns}\0"
                      f"{info.st_ino}\n".encode())
    return digest.hexdigest()


def pin(data_dir: Path, store_dir: Path) -> DataVersion:
    """The data folder's current tables as a ``DataVersion``: found by fingerprint in the
    store's index, else copied into ``STORE/data/<version>/`` (written to a temporary folder,
    then renamed) and hashed in the same pass. InputError for a missing data folder or table;
    OSError (e.g. a full disk) leaves the store as it was."""
    data_dir, root = Path(data_dir), Path(store_dir) / "data"
    with _lock:
        _remove_abandoned(root)
        recover_folder(data_dir)  # an import killed mid-swap: the folder it moved aside
        printed = fingerprint(data_dir)
        index = _index(root)
        known = index.get(printed)
        if known and (root / known[:16]).is_dir():
            return DataVersion(known, root / known[:16], printed)
        staging = root / f".pin-{os.getpid()}-{threading.get_ident()}"  # hidden: never pruned
        shutil.rmtree(staging, ignore_errors=True)
        digest = hashlib.sha256()
        try:
            for relative, path in table_files(data_dir):
                digest.update(relative.encode() + b"\0")
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                with path.open("rb") as source, target.open("wb") as copy:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        copy.write(chunk)
            version = digest.hexdigest()
            folder = root / version[:16]
            if not folder.is_dir():
                try:
                    staging.rename(folder)  # a whole version appears at once, or none
                except OSError:
                    if not folder.is_dir():  # not another process pinning the same version
                        raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        index[printed] = version
        _prune(root, index, keep=version)
        return DataVersion(version, folder, printed)


def _remove_abandoned(root: Path) -> None:
    """Remove the staging folders of pins whose process is gone (killed mid-copy)."""
    for stage in root.glob(".pin-*"):
        pid = stage.name.split("-")[1]
        if pid.isdigit() and not process_running(int(pid)):
            shutil.rmtree(stage, ignore_errors=True)


def _index(root: Path) -> dict[str, str]:
    path = root / "index.json"
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _prune(root: Path, index: dict[str, str], keep: str) -> None:
    """Keep the ``KEEP`` most recently pinned versions (and ``keep``); rewrite the index."""
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    kept = {p.name for p in folders[:KEEP]} | {keep[:16]}
    for folder in folders:
        if folder.name not in kept:
            shutil.rmtree(folder, ignore_errors=True)
    index = {f: v for f, v in index.items() if v[:16] in kept}
    write_text(root / "index.json", json.dumps(index, indent=1, sort_keys=True))
