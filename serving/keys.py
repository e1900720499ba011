"""Per-course API keys. The settings file stores only SHA-256 hashes of the keys; a key is
shown once, when it is created. ``*`` as the course grants every course (dashboards).

The file (YAML) holds one entry per key::

    keys:
    - id: 3f9a0c1e              # short public id, unique in the file (lists, logs, sessions)
      course: C001              # or '*'
      label: tutors of C001     # free text
      sha256: <64 hex digits>   # hash of the key; the key itself is never stored
      created_at: '2025-01-02T10:00:00Z'
      expires_at: '2025-02-01T10:00:00Z'   # optional
      revoked_at: '2025-01-20T08:30:00Z'   # optional; a revoked entry stays, for audit

Entries of the first format (only ``course`` and ``sha256``) still load: their id is the first
8 hex digits of the hash, with no label, creation time or expiry. Times are UTC; in Python
they are naive datetimes in UTC.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn

import yaml

from mooc_risk.errors import InputError
from mooc_risk.files import write_text

ALL_COURSES = "*"
PREFIX = "mrk_"
ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"
FIELDS = ("id", "course", "label", "sha256", "created_at", "expires_at", "revoked_at")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ID_LENGTH = 8
log = logging.getLogger(__name__)


class AuthError(Exception):
    """status 401 (no, unknown, revoked or expired key) or 403 (key not valid for the course).
    The message never contains the key or its hash."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class KeysUnavailable(AuthError):
    """The keys file cannot be read or is malformed, so no key can be checked: every request
    that needs one is refused with status 503 (an old copy of the file is not used: it may
    hold a key revoked since). The message is generic; what is wrong (the file, the entry) is
    logged, never answered. An AuthError, so that whatever refuses a bad key refuses this too."""

    MESSAGE = "the service cannot check keys right now"

    def __init__(self) -> None:
        super().__init__(503, self.MESSAGE)


class NoSuchKey(LookupError):
    """No entry of the keys file has this id."""

    def __init__(self, key_id: str):
        super().__init__(f"no key with id {key_id!r}")
        self.key_id = key_id


def utc_now() -> datetime:
    """The UTC clock as a naive datetime, to the second."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _naive_utc(moment: datetime | None) -> datetime:
    if moment is None:
        return utc_now()
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def iso(moment: datetime) -> str:
    """A naive UTC datetime as ISO 8601 with a 'Z': '2025-01-02T10:00:00Z'."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyEntry:
    """One API key as the keys file describes it, without its hash. ``created_at`` is None
    for an entry of the first file format; times are naive UTC."""

    id: str
    course: str
    label: str = ""
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def status(self, *, now: datetime | None = None) -> str:
        """'revoked', 'expired' (``now`` at or after ``expires_at``) or 'active'."""
        if self.revoked_at is not None:
            return REVOKED
        if self.expires_at is not None and _naive_utc(now) >= self.expires_at:
            return EXPIRED
        return ACTIVE

    def refusal(self, *, now: datetime | None = None) -> AuthError | None:
        """The AuthError(401) a request with this key gets, or None while it is active."""
        status = self.status(now=now)
        if status == REVOKED:
            return AuthError(401, "this API key was revoked")
        if status == EXPIRED:
            return AuthError(401, f"this API key expired on {self.expires_at:%Y-%m-%d}")
        return None


class KeyRing:
    """The keys of one keys file (see the module docstring)."""

    def __init__(self, records: tuple[tuple[str, KeyEntry], ...] = ()):
        self._records = tuple(records)  # (sha256 of the key, entry)
        self._by_id = {entry.id: entry for _, entry in self._records}

    def __repr__(self) -> str:
        return f"KeyRing({len(self._records)} keys)"

    @classmethod
    def load(cls, path: Path | str) -> KeyRing:
        """The keys in ``path`` (none when the file does not exist). InputError naming the file
        and the entry (counted from 1) when it is malformed, e.g.
        "keys.yaml: entry 3: expires_at: not an ISO 8601 time"; it never quotes a hash."""
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            return cls(())
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            raise InputError(f"{path}: not valid YAML{where}") from None
        if data is None:
            return cls(())
        if not isinstance(data, dict) or set(data) - {"keys"}:
            raise InputError(f"{path}: expected a mapping with one field, 'keys' (a list of keys)")
        entries = data.get("keys") or []
        if not isinstance(entries, list):
            raise InputError(f"{path}: keys: expected a list of keys")
        records: list[tuple[str, KeyEntry]] = []
        seen: dict[str, int] = {}
        for number, raw in enumerate(entries, start=1):
            digest, entry = _parse_entry(raw, f"{path}: entry {number}")
            if "id" not in raw:  # first format: the id comes from the hash, made unique
                length = _ID_LENGTH
                while digest[:length] in seen and length < len(digest):
                    length += 1
                entry = replace(entry, id=digest[:length])
            if entry.id in seen:
                raise InputError(f"{path}: entry {number}: id: {entry.id!r} is also the id of "
                                 f"entry {seen[entry.id]}")
            seen[entry.id] = number
            records.append((digest, entry))
        return cls(tuple(records))

    @property
    def entries(self) -> list[KeyEntry]:
        """Every key of the file, in file order, whatever its status (no hashes)."""
        return [entry for _, entry in self._records]

    def _matching(self, key: str | None) -> list[KeyEntry]:
        if not key:
            raise AuthError(401, "missing API key (header 'Authorization: Bearer <key>')")
        digest = _digest(key)
        found = [entry for h, entry in self._records if hmac.compare_digest(h, digest)]
        if not found:
            raise AuthError(401, "unknown API key")
        return found

    def _active_matching(self, key: str | None, now: datetime | None) -> list[KeyEntry]:
        found = self._matching(key)
        now = _naive_utc(now)
        active = [entry for entry in found if entry.status(now=now) == ACTIVE]
        if not active:  # a revocation says more than an expiry
            revoked = [entry for entry in found if entry.revoked_at is not None]
            refusal = (revoked or found)[0].refusal(now=now)
            raise refusal if refusal is not None else AuthError(401, "unknown API key")  # not reached
        return active

    def identify(self, key: str | None, *, now: datetime | None = None) -> KeyEntry:
        """The active entry of ``key`` (the first, should a hand-edited file list a key twice).
        AuthError(401): no key, "unknown API key", "this API key was revoked" or
        "this API key expired on YYYY-MM-DD" (at ``now``, default the UTC clock)."""
        return self._active_matching(key, now)[0]

    def courses_for(self, key: str | None, *, now: datetime | None = None) -> set[str]:
        """The courses a key opens ('*': all); AuthError(401) as ``identify``."""
        return {entry.course for entry in self._active_matching(key, now)}

    def check(self, key: str | None, course_id: str, *, now: datetime | None = None) -> None:
        """None when ``key`` opens ``course_id``; AuthError(401) as ``identify``, AuthError(403)
        when the key is valid but not for this course."""
        courses = self.courses_for(key, now=now)
        if ALL_COURSES not in courses and course_id not in courses:
            raise AuthError(403, f"this key is not valid for course {course_id!r}")

    def get(self, key_id: str) -> KeyEntry | None:
        """The entry with this id, whatever its status, or None."""
        return self._by_id.get(key_id)

    def active(self, key_id: str | None, *, now: datetime | None = None) -> KeyEntry | None:
        """The entry with this id if there is one and it is neither revoked nor expired at
        ``now`` (default the UTC clock), else None."""
        entry = self._by_id.get(key_id) if key_id else None
        return entry if entry is not None and entry.status(now=now) == ACTIVE else None

    def dump(self) -> str:
        """The keys file's text (YAML) for these keys."""
        out = []
        for digest, entry in self._records:
            item: dict[str, Any] = {"id": entry.id, "course": entry.course, "label": entry.label,
                                    "sha256": digest}
            for name in ("created_at", "expires_at", "revoked_at"):
                if getattr(entry, name) is not None:
                    item[name] = iso(getattr(entry, name))
            out.append(item)
        return yaml.safe_dump({"keys": out}, sort_keys=False, allow_unicode=True)

    def with_entry(self, digest: str, entry: KeyEntry) -> KeyRing:
        return KeyRing((*self._records, (digest, entry)))

    def with_replaced(self, entry: KeyEntry) -> KeyRing:
        return KeyRing(tuple((h, entry if e.id == entry.id else e) for h, e in self._records))


def _parse_entry(raw: object, where: str) -> tuple[str, KeyEntry]:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping with {', '.join(FIELDS)}")
    unknown = sorted(str(name) for name in raw if name not in FIELDS)
    if unknown:
        raise InputError(f"{where}: unknown field {unknown[0]!r} (valid: {', '.join(FIELDS)})")
    for name in ("course", "sha256"):
        if name not in raw:
            raise InputError(f"{where}: {name}: missing")
    digest = raw["sha256"]
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest.strip().lower()):
        raise InputError(f"{where}: sha256: not a SHA-256 hash (64 hex digits)")
    texts = {}
    for name in ("id", "course", "label"):
        value = raw.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise InputError(f"{where}: {name}: expected text")
        texts[name] = str(value).strip()
    if not texts["course"]:
        raise InputError(f"{where}: course: empty (a course id, or '*' for all courses)")
    if "id" in raw and not re.fullmatch(r"[A-Za-z0-9_-]+", texts["id"]):
        raise InputError(f"{where}: id: expected letters, digits, '-' or '_'")
    times = {name: _parse_time(raw.get(name), f"{where}: {name}")
             for name in ("created_at", "expires_at", "revoked_at")}
    return digest.strip().lower(), KeyEntry(texts["id"], texts["course"], texts["label"], **times)


def _parse_time(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):  # YAML reads an unquoted timestamp itself
        return _naive_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return _naive_utc(datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise InputError(f"{where}: not an ISO 8601 time (e.g. '2025-01-31T12:00:00Z')")


class Keys:
    """The key ring of a settings file, re-read when the file changes (a new, revoked or
    removed key takes effect without a restart, even when rewritten within the same second)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._ring: KeyRing | None = KeyRing(())  # None while the file is broken
        self._problem = ""  # what is wrong with it, as last logged

    def current(self) -> KeyRing:
        """The key ring; KeysUnavailable while the file cannot be read or is malformed (read
        again at every call until it can be; the problem, see ``KeyRing.load``, is logged when
        it appears or changes)."""
        try:
            st = self.path.stat()
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        except OSError as exc:
            return self._broken(str(exc))
        if stamp != self._stamp or self._ring is None:
            try:
                self._ring = KeyRing.load(self.path)
            except (OSError, ValueError) as exc:  # InputError, or a file that is not UTF-8 text
                return self._broken(str(exc) if isinstance(exc, (InputError, OSError))
                                    else f"{self.path}: {exc}")
            if self._problem:
                log.warning("the keys file %s is readable again", self.path)
            self._stamp, self._problem = stamp, ""
        return self._ring

    def _broken(self, problem: str) -> NoReturn:
        if problem != self._problem:
            log.error("refusing every API key until the keys file is fixed: %s", problem)
        self._ring, self._problem = None, problem
        raise KeysUnavailable()


def bearer(authorization: str | None, x_api_key: str | None = None) -> str | None:
    """The key from 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return x_api_key.strip() if x_api_key else None


def create_key(path: Path | str, course: str, *, label: str = "", expires_at: datetime | None = None,
               now: datetime | None = None) -> tuple[KeyEntry, str]:
    """Create a key for ``course`` ('*': all courses), store its hash in ``path`` (atomically,
    mode 0600), return (its entry, the key). The id is random (8 hex digits, unique in the
    file). InputError when the file is malformed (nothing is written) or the course is empty;
    ValueError when ``expires_at`` is not after ``now``."""
    course = course.strip()
    if not course:
        raise InputError("the course of a key cannot be empty (a course id, or '*' for all courses)")
    now = _naive_utc(now).replace(microsecond=0)
    expires_at = None if expires_at is None else _naive_utc(expires_at).replace(microsecond=0)
    if expires_at is not None and expires_at <= now:
        raise ValueError(f"the expiry {iso(expires_at)} is not in the future")
    ring = KeyRing.load(path)  # refuses a malformed file before writing anything
    key_id = secrets.token_hex(_ID_LENGTH // 2)
    while ring.get(key_id) is not None:
        key_id = secrets.token_hex(_ID_LENGTH // 2)
    key = PREFIX + secrets.token_urlsafe(32)
    entry = KeyEntry(key_id, course, " ".join(label.split()), now, expires_at)
    write_text(path, ring.with_entry(_digest(key), entry).dump(), mode=0o600)
    return entry, key


def add_key(path: Path | str, course: str, *, label: str = "", expires_at: datetime | None = None,
            now: datetime | None = None) -> str:
    """``create_key``, returning only the key."""
    return create_key(path, course, label=label, expires_at=expires_at, now=now)[1]


def revoke_key(path: Path | str, key_id: str, *, now: datetime | None = None) -> tuple[KeyEntry, bool]:
    """Mark the key ``key_id`` revoked at ``now`` (the entry stays, for audit); return (its
    entry, True) — or (the entry as it was, False) when it was already revoked, writing
    nothing. NoSuchKey for an unknown id; InputError when the file is malformed."""
    ring = KeyRing.load(path)
    entry = ring.get(key_id.strip())
    if entry is None:
        raise NoSuchKey(key_id)
    if entry.revoked_at is not None:
        return entry, False
    revoked = replace(entry, revoked_at=_naive_utc(now).replace(microsecond=0))
    write_text(path, ring.with_replaced(revoked).dump(), mode=0o600)
    return revoked, True
