"""Pseudonymous learner ids: a keyed hash (HMAC-SHA256) of the platform's user id.

The key comes from settings (``MOOC_RISK_ID_SECRET``, else a key file created once, mode
0600). The same key gives the same ids on every import, so re-importing logs, or importing
new days, keeps learners' ids stable; without the key the ids cannot be linked back.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

PREFIX = "u"


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


def pseudonym(secret: bytes, platform_user_id: str) -> str:
    digest = hmac.new(secret, platform_user_id.encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:24]
