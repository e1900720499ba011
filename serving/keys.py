"""Per-course API keys. The settings file stores only SHA-256 hashes of the keys; a key is
shown once, when it is created. ``*`` as the course grants every course (dashboards)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from mooc_risk.errors import InputError
from mooc_risk.files import write_text

ALL_COURSES = "*"
PREFIX = "mrk_"


class AuthError(Exception):
    """status 401 (no or unknown key) or 403 (key not valid for the course)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyRing:
    entries: tuple[tuple[str, str], ...]  # (sha256 of key, course)

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        if not Path(path).exists():
            return cls(())
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
            return cls(tuple((str(e["sha256"]), str(e["course"])) for e in data.get("keys", [])))
        except (yaml.YAMLError, AttributeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a valid keys file ({type(exc).__name__}: {exc})") from None

    def courses_for(self, key: str | None) -> set[str]:
        """The courses a key opens; AuthError(401) for a missing or unknown key."""
        if not key:
            raise AuthError(401, "missing API key (header 'Authorization: Bearer <key>')")
        digest = _digest(key)
        courses = {c for h, c in self.entries if hmac.compare_digest(h, digest)}
        if not courses:
            raise AuthError(401, "unknown API key")
        return courses

    def check(self, key: str | None, course_id: str) -> None:
        courses = self.courses_for(key)
        if ALL_COURSES not in courses and course_id not in courses:
            raise AuthError(403, f"this key is not valid for course {course_id!r}")


class Keys:
    """The key ring of a settings file, re-read when the file changes (a new or removed key
    takes effect without a restart)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp: float | None = None
        self._ring = KeyRing(())

    def current(self) -> KeyRing:
        stamp = self.path.stat().st_mtime if self.path.exists() else None
        if stamp != self._stamp:
            self._ring, self._stamp = KeyRing.load(self.path), stamp
        return self._ring


def bearer(authorization: str | None, x_api_key: str | None = None) -> str | None:
    """The key from 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return x_api_key.strip() if x_api_key else None


def add_key(path: Path, course: str) -> str:
    """Create a key for ``course``, store its hash in ``path`` (atomically), return the key."""
    key = PREFIX + secrets.token_urlsafe(32)
    path = Path(path)
    existing = KeyRing.load(path).entries  # refuses a malformed file before writing anything
    data = {"keys": [{"course": c, "sha256": h} for h, c in existing]}
    data["keys"].append({"course": course, "sha256": _digest(key)})
    write_text(path, yaml.safe_dump(data, sort_keys=False), mode=0o600)
    return key
