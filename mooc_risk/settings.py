"""Settings, one class per concern, each read from the environment once at its entry point
(a command, the service) and passed down — nothing reads the environment at import time.

- ``TrackingSettings``: ``MLFLOW_TRACKING_URI``, ``MOOC_RISK_ARTIFACT_ROOT`` (train, evaluate,
  models, predict, serve);
- ``PathSettings``: ``MOOC_RISK_CARDS_DIR``, ``MOOC_RISK_STORE``, ``MOOC_RISK_KEYS_FILE``,
  ``MOOC_RISK_HISTORY`` (train, keys, serve, refresh);
- ``ServiceSettings``: ``MOOC_RISK_DATA``, ``MOOC_RISK_NOW`` (serve);
- ``IdentitySettings``: ``MOOC_RISK_ID_SECRET``, ``MOOC_RISK_ID_SECRET_FILE`` (event-log import);
- ``EngineSettings``: ``MOOC_RISK_BACKEND`` (train, evaluate, predict, serve);
- ``DatabaseSettings``: ``MOOC_RISK_DB_URL`` (serve, interventions);
- ``WebSettings``: ``MOOC_RISK_SESSION_SECRET``, ``MOOC_RISK_SESSION_SECRET_FILE``,
  ``MOOC_RISK_SESSION_HOURS``, ``MOOC_RISK_COOKIE_SECURE`` (serve: the web app under ``/app``);
- ``OpsSettings``: ``MOOC_RISK_POLL_SECONDS``, ``MOOC_RISK_MAX_BODY_BYTES``,
  ``MOOC_RISK_LOG_FORMAT`` (serve: following changes, request limits, logs).

An empty variable counts as unset. A value that cannot be read raises ``InputError`` naming the
variable (the CLI prints it and exits with code 2).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mooc_risk.errors import InputError
from mooc_risk.memory import SIZE_PATTERN

STATE_DIR = Path(".mooc-risk")  # local state of a working folder (keys, store, id secret)


class Backend(StrEnum):
    """Feature engines: DuckDB embedded (the default), PySpark for scale-out."""

    DUCKDB = "duckdb"
    PYSPARK = "pyspark"


_READ_ENVIRONMENT: ContextVar[bool] = ContextVar("read_environment", default=True)


class _EnvSettings(BaseSettings):
    """Read from the environment by ``from_env``, matching only the documented, upper-case
    variable names (a field's own name, in any case, is not a variable); or given in code by
    ``of``, which reads no environment at all."""

    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, env_ignore_empty=True,
                                      extra="forbid")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings, env_settings) if _READ_ENVIRONMENT.get() else (init_settings,)

    @classmethod
    def from_env(cls) -> Self:
        """The settings in ``os.environ``; InputError naming the variable when one is invalid."""
        try:
            return cls()
        except ValidationError as exc:
            first = exc.errors()[0]
            name = _alias(cls, str(first["loc"][0]))
            raise InputError(f"{name}={first.get('input')!r}: "
                             f"{first['msg'].removeprefix('Value error, ')}") from None

    @classmethod
    def of(cls, **fields) -> Self:
        """Settings given in code (tests, benchmarks): these fields by name, defaults for the
        rest; the environment is not read. TypeError for a name that is not a field."""
        unknown = sorted(set(fields) - set(cls.model_fields))
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {unknown}")
        token = _READ_ENVIRONMENT.set(False)
        try:
            return cls(**{_alias(cls, name): value for name, value in fields.items()})
        finally:
            _READ_ENVIRONMENT.reset(token)

    def to_env(self) -> dict[str, str]:
        """The variables that rebuild these settings in another process (``bentoml serve``)."""
        return {_alias(type(self), name): (v.isoformat() if isinstance(v, datetime) else str(v))
                for name, v in self if v is not None}


def _alias(cls: type[BaseSettings], field: str) -> str:
    alias = cls.model_fields[field].validation_alias if field in cls.model_fields else None
    return str(alias or field)


class TrackingSettings(_EnvSettings):
    """Where runs and registered models are recorded (MLflow's tracking store and registry)."""

    tracking_uri: str = Field("sqlite:///mlruns/mlflow.db", validation_alias="MLFLOW_TRACKING_URI")
    artifact_root: Path = Field(Path("mlruns/artifacts"), validation_alias="MOOC_RISK_ARTIFACT_ROOT")

    def prepare(self) -> None:
        """Create the local store's folders (the sqlite file's folder for a sqlite URI)."""
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.artifact_root.mkdir(parents=True, exist_ok=True)


class PathSettings(_EnvSettings):
    """Local files mooc-risk writes: model cards, the service's feature store, hashed API keys,
    the predictions history (``refresh``); and the holdout configuration it reads."""

    cards_dir: Path = Field(Path("models/cards"), validation_alias="MOOC_RISK_CARDS_DIR")
    store_dir: Path = Field(STATE_DIR / "store", validation_alias="MOOC_RISK_STORE")
    keys_file: Path = Field(STATE_DIR / "keys.yaml", validation_alias="MOOC_RISK_KEYS_FILE")
    history_dir: Path = Field(STATE_DIR / "history", validation_alias="MOOC_RISK_HISTORY")
    # the opt-in holdout per course (serving.holdout; missing or empty: off everywhere)
    holdout_file: Path = Field(STATE_DIR / "holdout.yaml", validation_alias="MOOC_RISK_HOLDOUT_FILE")


class ServiceSettings(_EnvSettings):
    """What the HTTP service scores: the data folder, and "today" (for the default as-of day)."""

    data_dir: Path | None = Field(None, validation_alias="MOOC_RISK_DATA")
    now: datetime | None = Field(None, validation_alias="MOOC_RISK_NOW")

    @field_validator("now", mode="before")
    @classmethod
    def _naive_utc(cls, value: object) -> object:
        """ISO 8601 (``datetime.fromisoformat``); an offset is converted to UTC, a time
        without one is taken as UTC."""
        if not isinstance(value, str):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not an ISO 8601 time (e.g. 2024-03-01T09:00:00Z)") from None
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment

    def today(self) -> datetime:
        """``now`` if set, else the clock, as naive UTC."""
        return self.now or datetime.now(UTC).replace(tzinfo=None)


class IdentitySettings(_EnvSettings):
    """The HMAC key that turns platform user ids into pseudonymous learner ids (log imports)."""

    id_secret: str | None = Field(None, validation_alias="MOOC_RISK_ID_SECRET", repr=False)
    id_secret_file: Path = Field(STATE_DIR / "id_secret", validation_alias="MOOC_RISK_ID_SECRET_FILE")


class EngineSettings(_EnvSettings):
    """The feature engine: DuckDB embedded (default) or PySpark for scale-out, and the memory
    DuckDB may use when the service or ``refresh`` builds features (a size such as ``4GB``;
    unset: 40 % of the machine's memory, ``mooc_risk.memory.default_memory``; beyond it DuckDB
    spills to ``STORE/.spill``)."""

    backend: Backend = Field(Backend.DUCKDB, validation_alias="MOOC_RISK_BACKEND")
    feature_memory: str | None = Field(None, pattern=f"^{SIZE_PATTERN}$",
                                       validation_alias="MOOC_RISK_FEATURE_MEMORY")


class DatabaseSettings(_EnvSettings):
    """Where the intervention log and the feedback on predictions are kept: a SQLAlchemy URL,
    a SQLite file by default, PostgreSQL by URL (``postgresql+psycopg://user:pw@host/db``).
    Not shown in ``repr`` (a URL may hold a password)."""

    db_url: str = Field(f"sqlite:///{STATE_DIR}/journal.db", validation_alias="MOOC_RISK_DB_URL",
                        repr=False)


class WebSettings(_EnvSettings):
    """The web app's session: the key that signs its cookie (``session_secret``, else read from
    ``session_secret_file``, created there on first use), how long a sign-in lasts, and whether
    the cookie is sent over HTTPS only (set ``MOOC_RISK_COOKIE_SECURE=true`` behind TLS)."""

    session_secret: str | None = Field(None, validation_alias="MOOC_RISK_SESSION_SECRET", repr=False)
    session_secret_file: Path = Field(STATE_DIR / "session_secret",
                                      validation_alias="MOOC_RISK_SESSION_SECRET_FILE")
    session_hours: int = Field(8, ge=1, le=24 * 30, validation_alias="MOOC_RISK_SESSION_HOURS")
    cookie_secure: bool = Field(False, validation_alias="MOOC_RISK_COOKIE_SECURE")


class OpsSettings(_EnvSettings):
    """How the running service behaves: how often it looks for a new ``@champion``, a new data
    version or a newly materialized day (seconds); the largest request body it reads (bytes,
    413 above); the log format (``text``, or ``json``: one JSON object per line); whether it
    writes an access log line per request (off where a proxy logs requests already)."""

    poll_seconds: float = Field(30.0, gt=0, le=86_400, validation_alias="MOOC_RISK_POLL_SECONDS")
    max_body_bytes: int = Field(1_000_000, ge=1_000, validation_alias="MOOC_RISK_MAX_BODY_BYTES")
    log_format: Literal["text", "json"] = Field("text", validation_alias="MOOC_RISK_LOG_FORMAT")
    access_log: bool = Field(True, validation_alias="MOOC_RISK_ACCESS_LOG")
