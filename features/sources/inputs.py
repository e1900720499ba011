"""Which files of the ``--in`` paths an import reads, and why it skips the others.

A file named on the command line is always read. In a folder (searched recursively) a file is
read when its name is one the source writes: its suffixes (``.log``, ``.json``, ``.jsonl`` for
event logs; ``.csv``, ``.parquet`` for exported tables), optionally compressed (``.gz``), or a
rotated copy as logrotate names them (``tracking.log.1``, ``tracking.log.2.gz``,
``tracking.log-20240311``, ``tracking.log-20240311-1710115201``, each maybe ``.gz``). Every
other file is listed as skipped with its reason, never dropped in silence. Whether a file is
compressed is told by its first bytes (gzip's magic number), not by its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mooc_risk.errors import InputError

LOG_SUFFIXES = (".log", ".json", ".jsonl")
TABLE_SUFFIXES = (".csv", ".parquet")
_GZIP_MAGIC = b"\x1f\x8b"
# after the base name: logrotate's numbered (.1) or dated (-YYYYMMDD, -YYYYMMDD-epoch) copies
_ROTATED = r"(\.[0-9]+|-[0-9]{8}(-[0-9]+)?)?(\.gz)?"


@dataclass
class InputFiles:
    """The files to read, in order, and the files skipped with their reason."""

    read: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def readable_name(name: str, suffixes: tuple[str, ...]) -> bool:
    """Whether a file named ``name`` is one of ``suffixes``, maybe gzipped or rotated."""
    ends = "|".join(re.escape(s) for s in suffixes)
    return re.fullmatch(rf".*({ends}){_ROTATED}", name, flags=re.IGNORECASE) is not None


def input_files(paths: list[Path], suffixes: tuple[str, ...] = LOG_SUFFIXES) -> InputFiles:
    """The files named, and in folders the files with a readable name (sorted); the rest of
    each folder's files are listed as skipped.

    Raises:
        InputError: a path does not exist, or nothing at all is left to read (the message
            lists what was skipped and why).
    """
    found = InputFiles()
    for path in map(Path, paths):
        if path.is_file():
            found.read.append(path)
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                reason = _skip_reason(file, path, suffixes)
                if reason:
                    found.skipped.append((file, reason))
                else:
                    found.read.append(file)
        else:
            raise InputError(f"{path}: no such file or folder")
    found.read = list(dict.fromkeys(found.read))  # a file named twice is read once
    if not found.read:
        reasons: dict[str, list[str]] = {}
        for path, reason in found.skipped:
            reasons.setdefault(reason, []).append(path.name)
        why = "; ".join(f"{len(names):,} {reason}: {', '.join(names[:3])}{', …' if len(names) > 3 else ''}"
                        for reason, names in reasons.items()) or "the folders are empty"
        raise InputError(f"no file to read in {', '.join(map(str, paths))} ({why})")
    return found


def _skip_reason(file: Path, folder: Path, suffixes: tuple[str, ...]) -> str | None:
    hidden = [part for part in file.relative_to(folder).parts if part.startswith(".")]
    if hidden:
        return "hidden file or folder"
    if file.stat().st_size == 0:
        return "empty file"
    if not readable_name(file.name, suffixes):
        return (f"not a file name this source reads ({', '.join(suffixes)}, maybe .gz or "
                "rotated: .1, -20240311)")
    return None


def is_gzip(path: Path) -> bool:
    """Whether ``path`` starts with gzip's magic number."""
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == _GZIP_MAGIC
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
