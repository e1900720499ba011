"""The journal: what course teams did about at-risk learners (interventions), what they said
about predictions (feedback) and the holdout draws (``serving.holdout``), kept in a SQL
database — a SQLite file by default, PostgreSQL by
URL (``postgresql+psycopg://user:password@host:port/db``; ``postgresql://`` means the same).

``Journal.open(url)`` migrates the database to the newest schema (Alembic, ``migrations/``) and
gives an object that is safe to share between threads: one engine (a connection pool), a session
per call. On SQLite it turns on write-ahead logging and a busy timeout, so several processes
(the service's workers, the export command) can use one file. Times are naive UTC.

Nothing here logs a learner id, a note or a reason; messages show the database URL with its
password hidden.
"""

from __future__ import annotations

import logging
import math
import numbers
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import sessionmaker

from mooc_risk.errors import InputError
from mooc_risk.serving.journal.models import (
    ACTION_CHARS,
    ID_CHARS,
    NOTE_CHARS,
    REASON_CHARS,
    TEXT_CHARS,
    Feedback,
    Holdout,
    Intervention,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

MIGRATIONS = "mooc_risk.serving.journal:migrations"  # Alembic's script_location, a package resource
BUSY_TIMEOUT_S = 10  # SQLite: how long a writer waits for another one's lock
CONNECT_TIMEOUT_S = 5  # PostgreSQL: how long to wait for the server
_MIGRATION_LOCK = int.from_bytes(b"mooc-jnl", "big")  # PostgreSQL advisory lock: one migrator at once
_MIGRATING = threading.Lock()  # Alembic's context is process-global: one migration at a time
_BEGIN = "journal_begin"  # execution option: the statement that opens a SQLite transaction
_MAX_DAY = 2**31 - 1
_EXAMPLES = "sqlite:///path/to/journal.db or postgresql+psycopg://user:password@host:5432/db"


# ----------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class InterventionIn:
    """An intervention to record: what was done (``action``, 1-500 characters), by whom
    (``done_by``, 1-200 characters, a name or a role), about which learner (ids, 1-200
    characters each), with an optional ``note`` (up to 2000 characters) and the prediction shown
    at the time (``as_of_day`` ≥ 0, ``target``, the model, ``risk`` a probability in [0, 1], its
    band, the ``suggested`` action) and the id of the API key that recorded it (not the key).
    Text is stored with surrounding blanks removed (ids as given)."""

    course_id: str
    run_id: str
    learner_id: str
    action: str
    done_by: str
    note: str = ""
    as_of_day: int | None = None
    target: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    risk: float | None = None
    risk_band: str | None = None
    suggested: str | None = None
    key_id: str | None = None


@dataclass(frozen=True)
class FeedbackIn:
    """Feedback to record on one prediction for one learner: ``useful`` or not, an optional
    ``reason`` (up to 500 characters), the prediction it is about (``target``, ``as_of_day``,
    the model, ``risk`` in [0, 1], its band) and the id of the API key that recorded it."""

    course_id: str
    run_id: str
    learner_id: str
    useful: bool
    reason: str = ""
    target: str | None = None
    as_of_day: int | None = None
    model_name: str | None = None
    model_version: str | None = None
    risk: float | None = None
    risk_band: str | None = None
    key_id: str | None = None


class _Row:
    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values: ``recorded_at`` as ISO 8601 UTC to the second with
        'Z' (``2025-11-30T08:42:05Z``), the rest as they are (str, int, float, bool, None)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
        out["recorded_at"] = self.recorded_at.isoformat(timespec="seconds") + "Z"  # type: ignore[attr-defined]
        return out


@dataclass(frozen=True)
class InterventionRow(_Row):
    """A stored intervention: ``InterventionIn``'s fields as stored, its ``id`` and when it was
    recorded (``recorded_at``, naive UTC)."""

    id: int
    recorded_at: datetime
    course_id: str
    run_id: str
    learner_id: str
    action: str
    done_by: str
    note: str
    as_of_day: int | None
    target: str | None
    model_name: str | None
    model_version: str | None
    risk: float | None
    risk_band: str | None
    suggested: str | None
    key_id: str | None


@dataclass(frozen=True)
class FeedbackRow(_Row):
    """Stored feedback: ``FeedbackIn``'s fields as stored, its ``id`` and ``recorded_at``
    (naive UTC)."""

    id: int
    recorded_at: datetime
    course_id: str
    run_id: str
    learner_id: str
    useful: bool
    reason: str
    target: str | None
    as_of_day: int | None
    model_name: str | None
    model_version: str | None
    risk: float | None
    risk_band: str | None
    key_id: str | None


@dataclass(frozen=True)
class HoldoutIn:
    """A holdout draw to record (``serving.holdout.assign`` makes them): the learner, whether
    they are ``held_out``, ``until`` when (naive UTC), the ``share`` drawn at (0 to 1), and the
    prediction at the time (``as_of_day``, ``risk``, ``risk_band``, ``suggested``)."""

    course_id: str
    run_id: str
    learner_id: str
    held_out: bool
    until: datetime
    share: float
    as_of_day: int | None = None
    risk: float | None = None
    risk_band: str | None = None
    suggested: str | None = None


@dataclass(frozen=True)
class HoldoutRow(_Row):
    """A recorded holdout draw: ``HoldoutIn``'s fields, its ``id`` and ``recorded_at``."""

    id: int
    recorded_at: datetime
    course_id: str
    run_id: str
    learner_id: str
    held_out: bool
    until: datetime
    share: float
    as_of_day: int | None
    risk: float | None
    risk_band: str | None
    suggested: str | None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["until"] = self.until.isoformat(timespec="seconds") + "Z"
        return out


RowT = TypeVar("RowT", InterventionRow, FeedbackRow, HoldoutRow)


# ----------------------------------------------------------------------------------- journal


class Journal:
    """The intervention log and the feedback on predictions in one database; see the module's
    doc. Make one with ``Journal.open(url)``; share it between threads; ``close()`` it at the
    end (or use it as a context manager)."""

    def __init__(self, engine: Engine, shown_url: str) -> None:
        self._engine = engine
        self.url = shown_url  # the URL with its password hidden, for messages
        self._reading = sessionmaker(engine, expire_on_commit=False)
        # on SQLite a write takes the lock when it begins, so it waits (busy timeout) rather than
        # failing when another writer got there first; PostgreSQL ignores the option
        self._writing = sessionmaker(engine.execution_options(**{_BEGIN: "BEGIN IMMEDIATE"}),
                                     expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Journal:
        """Open the database at the SQLAlchemy ``url`` and migrate it to the newest schema
        (creating the tables in an empty database, and a SQLite file's folder); opening an
        up-to-date database changes nothing, and processes opening one at once take turns.

        InputError, with the URL's password hidden, for a URL that cannot be read, a database
        other than SQLite (a file) or PostgreSQL, a driver that is unknown or not installed, a
        database that cannot be reached or opened, or one at a schema revision this version
        does not know (a newer mooc-risk migrated it).
        """
        parsed = _parse(url)
        shown = parsed.render_as_string(hide_password=True)
        engine = _engine(parsed, shown)
        try:
            with _opening_alone(parsed, shown):
                _migrate(engine, shown, parsed.password)
        except BaseException:
            engine.dispose()
            raise
        log.debug("journal open at %s", shown)
        return cls(engine, shown)

    def __repr__(self) -> str:
        return f"Journal({self.url})"

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pool's connections (a later call opens new ones)."""
        self._engine.dispose()

    # -- interventions

    def record_interventions(self, rows: list[InterventionIn]) -> list[InterventionRow]:
        """Store ``rows`` in one transaction — all of them or, on any error, none — and return
        them as stored, in the same order, with their ids and one ``recorded_at`` (now, UTC).

        InputError naming the field and what is wrong (``note: at most 2000 characters``; with
        ``(row 3 of 5)`` appended for a batch of several) when a row breaks a limit given in
        ``InterventionIn``; nothing is stored then."""
        values = _checked(rows, InterventionIn, _intervention_values)
        if not values:
            return []
        now = _utcnow()
        with self._writing.begin() as session:
            stored = [Intervention(recorded_at=now, **v) for v in values]
            session.add_all(stored)
            session.flush()
            return [_row(InterventionRow, s) for s in stored]

    def interventions(self, course_id: str, *, run_id: str | None = None, learner_id: str | None = None,
                      limit: int | None = None) -> list[InterventionRow]:
        """A course's interventions (of one run, of one learner when given), newest first
        (``recorded_at``, then ``id``, descending); at most ``limit`` when given."""
        stmt = _newest_first(_where(sa.select(Intervention), Intervention, course_id, run_id, learner_id),
                             Intervention)
        with self._reading() as session:
            return [_row(InterventionRow, s) for s in session.scalars(stmt.limit(limit))]

    def last_interventions(self, course_id: str, run_id: str) -> dict[str, InterventionRow]:
        """The newest intervention of each learner of a run who has one: learner id → row."""
        newest = (sa.func.row_number()
                  .over(partition_by=Intervention.learner_id,
                        order_by=(Intervention.recorded_at.desc(), Intervention.id.desc()))
                  .label("newest"))
        ranked = _where(sa.select(Intervention.id, newest), Intervention, course_id, run_id, None).subquery()
        stmt = (sa.select(Intervention).join(ranked, Intervention.id == ranked.c.id)
                .where(ranked.c.newest == 1))
        with self._reading() as session:
            return {s.learner_id: _row(InterventionRow, s) for s in session.scalars(stmt)}

    def interventions_frame(self, course_id: str) -> pd.DataFrame:
        """Every intervention of a course, oldest first, for export: one column per
        ``InterventionRow`` field in that order (``recorded_at`` datetime64, naive UTC;
        ``as_of_day`` nullable Int64; ``risk`` float, NaN when not given)."""
        stmt = _where(sa.select(Intervention), Intervention, course_id, None, None)
        stmt = stmt.order_by(Intervention.recorded_at, Intervention.id)
        with self._reading() as session:
            return _frame(InterventionRow, [_row(InterventionRow, s) for s in session.scalars(stmt)])

    # -- feedback

    def record_feedback(self, row: FeedbackIn) -> FeedbackRow:
        """Store one piece of feedback and return it as stored (id, ``recorded_at`` now, UTC).
        InputError naming the field when it breaks a limit given in ``FeedbackIn``."""
        (values,) = _checked([row], FeedbackIn, _feedback_values)
        with self._writing.begin() as session:
            stored = Feedback(recorded_at=_utcnow(), **values)
            session.add(stored)
            session.flush()
            return _row(FeedbackRow, stored)

    def feedback(self, course_id: str, *, run_id: str | None = None, learner_id: str | None = None,
                 limit: int | None = None) -> list[FeedbackRow]:
        """A course's feedback (of one run, of one learner when given), newest first; at most
        ``limit`` when given."""
        stmt = _newest_first(_where(sa.select(Feedback), Feedback, course_id, run_id, learner_id), Feedback)
        with self._reading() as session:
            return [_row(FeedbackRow, s) for s in session.scalars(stmt.limit(limit))]

    def feedback_frame(self, course_id: str) -> pd.DataFrame:
        """Every piece of feedback on a course, oldest first, one column per ``FeedbackRow``
        field (dtypes as in ``interventions_frame``; ``useful`` bool)."""
        stmt = _where(sa.select(Feedback), Feedback, course_id, None, None).order_by(Feedback.recorded_at,
                                                                                      Feedback.id)
        with self._reading() as session:
            return _frame(FeedbackRow, [_row(FeedbackRow, s) for s in session.scalars(stmt)])


    # -- holdout

    def record_holdout(self, rows: list[HoldoutIn]) -> list[HoldoutRow]:
        """Record each learner's draw unless one is recorded already (course, run, learner), in
        one transaction, and return every given learner's recorded draw in the given order —
        the earlier one where there was one: a draw is never changed (insert-only, ``ON
        CONFLICT DO NOTHING`` on the unique key, so two writers racing keep the first).
        InputError naming the field for a bad id, share or prediction."""
        values = _checked(rows, HoldoutIn, _holdout_values)
        if not values:
            return []
        now = _utcnow()
        with self._writing.begin() as session:
            dialect = session.get_bind().dialect.name
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            for start in range(0, len(values), 500):  # under SQLite's bound-parameter limit
                chunk = [{**v, "recorded_at": now} for v in values[start:start + 500]]
                session.execute(insert(Holdout).values(chunk).on_conflict_do_nothing(
                    index_elements=["course_id", "run_id", "learner_id"]))
            recorded = self._holdout_of(session, values)
        return [recorded[(v["course_id"], v["run_id"], v["learner_id"])] for v in values]

    def _holdout_of(self, session, values: list[dict[str, Any]]) -> dict[tuple[str, str, str], HoldoutRow]:
        out = {}
        for course_id in {v["course_id"] for v in values}:
            stmt = sa.select(Holdout).where(Holdout.course_id == course_id)
            for stored in session.scalars(stmt):
                out[(stored.course_id, stored.run_id, stored.learner_id)] = _row(HoldoutRow, stored)
        return out

    def holdout(self, course_id: str, *, run_id: str | None = None,
                learner_id: str | None = None) -> list[HoldoutRow]:
        """A course's recorded holdout draws (of one run, one learner when given), oldest first."""
        stmt = _where(sa.select(Holdout), Holdout, course_id, run_id, learner_id)
        with self._reading() as session:
            return [_row(HoldoutRow, s) for s in session.scalars(stmt.order_by(Holdout.id))]

    def holdout_frame(self, course_id: str) -> pd.DataFrame:
        """A course's holdout draws, oldest first, one column per ``HoldoutRow`` field."""
        return _frame(HoldoutRow, self.holdout(course_id))


# ----------------------------------------------------------------------------------- queries


def _where(stmt: sa.Select, model: type, course_id: str, run_id: str | None,
           learner_id: str | None) -> sa.Select:
    stmt = stmt.where(model.course_id == course_id)
    if run_id is not None:
        stmt = stmt.where(model.run_id == run_id)
    if learner_id is not None:
        stmt = stmt.where(model.learner_id == learner_id)
    return stmt


def _newest_first(stmt: sa.Select, model: type) -> sa.Select:
    return stmt.order_by(model.recorded_at.desc(), model.id.desc())


def _row(cls: type[RowT], stored: Intervention | Feedback | Holdout) -> RowT:
    return cls(**{f.name: getattr(stored, f.name) for f in fields(cls)})


_DTYPES = {"id": "int64", "recorded_at": "datetime64[us]", "as_of_day": "Int64", "risk": "float64",
           "useful": "bool", "held_out": "bool", "until": "datetime64[us]", "share": "float64"}


def _frame(cls: type, rows: list) -> pd.DataFrame:
    import pandas as pd

    names = [f.name for f in fields(cls)]
    return pd.DataFrame({name: pd.Series([getattr(r, name) for r in rows], dtype=_DTYPES.get(name, "str"))
                         for name in names}, columns=names)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# -------------------------------------------------------------------------------- validation


def _checked(rows: list, kind: type, values_of) -> list[dict[str, Any]]:
    """Each row's column values; InputError naming the field (and the row, in a batch)."""
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, kind):
            raise TypeError(f"expected {kind.__name__}, got {type(row).__name__}")
        try:
            out.append(values_of(row))
        except InputError as exc:
            if len(rows) > 1:
                raise InputError(f"{exc} (row {i + 1} of {len(rows)})") from None
            raise
    return out


def _intervention_values(row: InterventionIn) -> dict[str, Any]:
    return {**_ids(row),
            "action": _text("action", row.action, ACTION_CHARS, least=1),
            "done_by": _text("done_by", row.done_by, ID_CHARS, least=1),
            "note": _text("note", row.note or "", NOTE_CHARS),
            **_prediction(row),
            "suggested": _optional("suggested", row.suggested, ACTION_CHARS)}


def _feedback_values(row: FeedbackIn) -> dict[str, Any]:
    if not isinstance(row.useful, bool):
        raise InputError("useful: must be true or false")
    return {**_ids(row), "useful": row.useful, "reason": _text("reason", row.reason or "", REASON_CHARS),
            **_prediction(row)}


def _holdout_values(row: HoldoutIn) -> dict[str, Any]:
    if not isinstance(row.held_out, bool):
        raise InputError("held_out: must be true or false")
    if not isinstance(row.until, datetime) or row.until.tzinfo is not None:
        raise InputError("until: must be a naive UTC datetime")
    share = row.share
    if isinstance(share, bool) or not isinstance(share, numbers.Real) or not 0 <= share <= 1:
        raise InputError("share: must be from 0 to 1")
    prediction = _prediction(row)
    return {**_ids(row), "held_out": row.held_out, "until": row.until, "share": float(share),
            "as_of_day": prediction["as_of_day"], "risk": prediction["risk"],
            "risk_band": prediction["risk_band"],
            "suggested": _optional("suggested", row.suggested, ACTION_CHARS)}


def _ids(row: InterventionIn | FeedbackIn | HoldoutIn) -> dict[str, str]:
    out = {}
    for name in ("course_id", "run_id", "learner_id"):
        value = getattr(row, name)
        _text(name, value, ID_CHARS, least=1)  # checked with blanks removed, stored as given
        if len(value) > ID_CHARS:
            raise InputError(f"{name}: at most {ID_CHARS} characters")
        out[name] = value
    return out


def _prediction(row: InterventionIn | FeedbackIn | HoldoutIn) -> dict[str, Any]:
    day, risk = row.as_of_day, row.risk
    if day is not None and (isinstance(day, bool) or not isinstance(day, numbers.Integral)
                            or not 0 <= day <= _MAX_DAY):
        raise InputError(f"as_of_day: must be a whole number of days from 0 to {_MAX_DAY}")
    if risk is not None and (isinstance(risk, bool) or not isinstance(risk, numbers.Real)
                             or not math.isfinite(risk) or not 0 <= risk <= 1):
        raise InputError("risk: must be a probability from 0 to 1")
    return {"as_of_day": None if day is None else int(day),
            "target": _optional("target", getattr(row, "target", None), TEXT_CHARS),
            "model_name": _optional("model_name", getattr(row, "model_name", None), ID_CHARS),
            "model_version": _optional("model_version", getattr(row, "model_version", None), ID_CHARS),
            "risk": None if risk is None else float(risk),
            "risk_band": _optional("risk_band", row.risk_band, TEXT_CHARS),
            "key_id": _optional("key_id", getattr(row, "key_id", None), ID_CHARS)}


def _optional(name: str, value: str | None, most: int) -> str | None:
    return None if value is None else _text(name, value, most)


def _text(name: str, value: object, most: int, least: int = 0) -> str:
    """``value`` with surrounding blanks removed; InputError unless it is text of ``least`` to
    ``most`` characters without NUL (which PostgreSQL cannot store)."""
    if not isinstance(value, str):
        raise InputError(f"{name}: must be text, not {type(value).__name__}")
    if "\x00" in value:
        raise InputError(f"{name}: must not contain NUL characters")
    value = value.strip()
    if len(value) < least:
        raise InputError(f"{name}: must not be empty")
    if len(value) > most:
        raise InputError(f"{name}: at most {most} characters")
    return value


# ------------------------------------------------------------------------------ opening, migrating


def _parse(url: str) -> URL:
    """The URL, PostgreSQL's spelled with psycopg; InputError (without the URL, which may hold a
    password) when it cannot be read or names a database other than SQLite or PostgreSQL."""
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise InputError(f"database URL: cannot be read; expected {_EXAMPLES}") from None
    if "@" in (parsed.host or ""):  # an unescaped @ in the password: part of it is in the host
        raise InputError("database URL: cannot be read; a password with @, : or / must be "
                         "%-encoded (%40, %3A, %2F)")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InputError(f"database {parsed.render_as_string(hide_password=True)}: unsupported "
                         f"database {backend!r}; expected {_EXAMPLES}")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _engine(url: URL, shown: str) -> Engine:
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url, shown)
        connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT_S}
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except sa.exc.NoSuchModuleError:
        raise InputError(f"database {shown}: unknown driver {url.drivername!r}; "
                         f"expected {_EXAMPLES}") from None
    except ImportError:
        raise InputError(f"database {shown}: the driver of {url.drivername!r} is not installed; "
                         f"expected {_EXAMPLES}") from None


def _sqlite_engine(url: URL, shown: str) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        raise InputError(f"database {shown}: the journal needs a SQLite file, e.g. "
                         "sqlite:///.mooc-risk/journal.db")
    if not url.query.get("uri"):
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"database {shown}: cannot create the folder {folder}: {exc.strerror}") from None
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_connected)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


@contextmanager
def _opening_alone(url: URL, shown: str) -> Iterator[None]:
    """For a SQLite file, hold a lock file beside it (``<file>.open-lock``) while this process
    connects first and migrates: switching a new file to write-ahead logging while another
    process opens it can fail at once with "database is locked", whatever the busy timeout
    (seen with three processes opening an empty file together). PostgreSQL has its advisory
    lock in ``_migrate``. InputError when the lock is not had within a minute."""
    from filelock import FileLock, Timeout

    if url.get_backend_name() != "sqlite" or url.query.get("uri"):
        yield
        return
    path = Path(url.database).expanduser()
    lock = FileLock(path.with_name(path.name + ".open-lock"), timeout=6 * BUSY_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout:
        raise InputError(f"database {shown}: another process has been opening it for "
                         f"{6 * BUSY_TIMEOUT_S} s") from None
    try:
        yield
    finally:
        lock.release()


def _sqlite_connected(dbapi_connection, _record) -> None:
    # the driver's own transaction handling off: _sqlite_begin opens every transaction, so reads
    # are consistent and DDL is transactional (SQLAlchemy's documented recipe)
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA journal_mode = WAL")  # readers and one writer at once, across processes
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN, "BEGIN"))


def _migrate(engine: Engine, shown: str, password: str | None) -> None:
    """Upgrade to Alembic's head in one transaction that holds the database against other
    migrators (a PostgreSQL advisory lock; SQLite's write lock, BEGIN IMMEDIATE), one thread
    of this process at a time (``alembic.context`` and ``alembic.op`` are module globals)."""
    from alembic import command
    from alembic.config import Config
    from alembic.util.exc import CommandError

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.set_main_option("path_separator", "os")
    try:
        with _MIGRATING, engine.execution_options(**{_BEGIN: "BEGIN IMMEDIATE"}).begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except sa.exc.DBAPIError as exc:
        raise InputError(f"database {shown}: cannot be opened: {_reason(exc, password)}") from None
    except CommandError as exc:
        raise InputError(f"database {shown}: {_hidden(str(exc), password)} (was it migrated by a "
                         "newer mooc-risk?)") from None


def _reason(exc: sa.exc.DBAPIError, password: str | None) -> str:
    """The driver's own first line (``Connection refused``, ``password authentication
    failed``), the password hidden should a driver ever quote it."""
    lines = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    return _hidden(lines[0] if lines else type(exc).__name__, password)


def _hidden(text: str, password: str | None) -> str:
    return text.replace(password, "***") if password else text
