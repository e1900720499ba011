"""Pseudonymous learner ids: a keyed hash (HMAC-SHA256) of the platform's user id.

The key comes from settings (``MOOC_RISK_ID_SECRET``, else a key file created once, mode
0600). The same key gives the same ids on every import, so re-importing logs, or importing
new days, keeps learners' ids stable; without the key the ids cannot be linked back.

A learner id is ``"u"`` + the first 24 hex digits of HMAC-SHA256(key, user id as UTF-8),
computed inside DuckDB (RFC 2104 from its ``sha256``), so ids never pass through Python.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import duckdb

PREFIX = "u"
_BLOCK = 64  # SHA-256 block size in bytes


def secret_from(value: str | None, key_file: Path) -> bytes:
    """The HMAC key: ``value`` if set, else the key file (created on first use)."""
    if value:
        return value.encode()
    key_file = Path(key_file)
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return key_file.read_text().strip().encode()


def pseudonym_sql(column: str, keys: str = "hmac_keys") -> str:
    """SQL for the learner id of the VARCHAR ``column``; ``keys`` is the table made by
    ``create_keys_table`` (joined in the query), so queries over users never carry the key."""
    inner = f"sha256({keys}.inner_key || encode({column}))"
    return f"'{PREFIX}' || left(sha256({keys}.outer_key || unhex({inner})), 24)"


def _keys_table_sql(secret: bytes, name: str = "hmac_keys") -> str:
    """A one-row temporary table of HMAC-SHA256's padded inner and outer keys. This statement
    holds key material: ``create_keys_table`` runs it and never shows it in an error.
    (Bound parameters would keep it out of the text, but DuckDB's Python binding then imports
    pandas: 0.4 s on every import.)"""
    key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK else secret
    key = key.ljust(_BLOCK, b"\0")
    inner, outer = bytes(b ^ 0x36 for b in key).hex(), bytes(b ^ 0x5C for b in key).hex()
    return f"CREATE TEMP TABLE {name} AS SELECT unhex('{inner}') AS inner_key, unhex('{outer}') AS outer_key"


def create_keys_table(con: duckdb.DuckDBPyConnection, secret: bytes, name: str = "hmac_keys") -> None:
    """Create the keys table on a DuckDB connection; a failure names no key material."""
    try:
        con.execute(_keys_table_sql(secret, name))
    except duckdb.Error:
        raise RuntimeError("could not create the HMAC key table in DuckDB") from None
