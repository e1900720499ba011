"""Read log files as JSON documents with their line numbers, streamed by DuckDB.

A file is JSON lines (one event per line, maybe behind a logger prefix such as Open edX's
``2023-05-23 13:53:13,461 INFO … - {...}``), a JSON array of events, or one pretty-printed
JSON document; gzipped files (by their first bytes) are read compressed. Line numbers assume
one kind of line ending per file.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from mooc_risk.errors import InputError
from mooc_risk.features.sources.inputs import is_gzip
from mooc_risk.features.sources.staging import quoted

MAX_LINE = 4 * 1024 * 1024  # DuckDB reads in buffers a few times this size


def layout(path: Path) -> str:
    """'lines', 'array' or 'document', from the first bytes of the file."""
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rb") as handle:
            head = handle.read(1 << 16)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return "array"
    first = text.split(b"\n", 1)[0].rstrip()
    if text.startswith(b"{") and not first.endswith(b"}"):
        return "document"
    return "lines"


def documents_sql(path: Path, rejects: str | None = None, kind: str | None = None) -> str:
    """A relation ``(text VARCHAR)`` in file order: one row per line (blank lines included, so
    they can be numbered), or one per element of a JSON array / the single document.

    Lines that are not valid UTF-8 (a log line cut inside a character) or longer than
    ``MAX_LINE`` are left out of a JSON-lines file and recorded, with their line, in the table
    ``rejects`` (DuckDB's ``reject_errors`` layout) when a name is given. ``kind`` is the
    file's ``layout`` when the caller knows it already."""
    kind = kind or layout(path)
    if kind == "lines":
        kept = (f", store_rejects=true, rejects_table='{rejects}', rejects_scan='{rejects}_scan'"
                if rejects else "")
        return f"""
            SELECT rtrim(text, chr(13)) AS text
            FROM read_csv({quoted(path)}, columns={{'text': 'VARCHAR'}}, header=false,
                          compression='{compression(path)}', delim=E'\\x1f', quote='', escape='',
                          auto_detect=false, strict_mode=false, max_line_size={MAX_LINE}{kept})"""
    fmt = "array" if kind == "array" else "unstructured"
    return f"""
        SELECT CAST(json AS VARCHAR) AS text
        FROM read_json({quoted(path)}, format='{fmt}', records=false,
                       compression='{compression(path)}', columns={{'json': 'JSON'}},
                       maximum_object_size={MAX_LINE})"""


def json_text(column: str = "text") -> str:
    """The JSON part of a line: the whole line, or what follows a logger prefix."""
    return (f"CASE WHEN starts_with({column}, '{{') THEN {column} "
            f"ELSE regexp_extract({column}, '\\{{.*$') END")


def compression(path: Path) -> str:
    """DuckDB's ``compression`` option for ``path``: told by its first bytes, so a rotated
    log compressed under any name is read."""
    return "gzip" if is_gzip(path) else "uncompressed"
