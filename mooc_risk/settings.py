"""Settings, one class per concern, each read from the environment once at its entry point
(a command, the service) and passed down — nothing reads the environment at import time.

- ``TrackingSettings``: ``MLFLOW_TRACKING_URI``, ``MOOC_RISK_ARTIFACT_ROOT`` (train, evaluate,
  models, predict, serve);
- ``PathSettings``: ``MOOC_RISK_CARDS_DIR``, ``MOOC_RISK_STORE``, ``MOOC_RISK_KEYS_FILE`` (train,
  keys, serve);
- ``ServiceSettings``: ``MOOC_RISK_DATA``, ``MOOC_RISK_NOW`` (serve);
- ``IdentitySettings``: ``MOOC_RISK_ID_SECRET``, ``MOOC_RISK_ID_SECRET_FILE`` (event-log import);
- ``EngineSettings``: ``MOOC_RISK_BACKEND`` (train, evaluate, predict, serve).

An empty variable counts as unset. A value that cannot be read raises ``InputError`` naming the
variable (the CLI prints it and exits with code 2).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mooc_risk.errors import InputError

STATE_DIR = Path(".mooc-risk")  # local state of a working folder (keys, store, id secret)


class Backend(StrEnum):
    """Feature engines: DuckDB embedded (the default), PySpark for scale-out."""

    DUCKDB = "duckdb"
    PYSPARK = "pyspark"


class _EnvSettings(BaseSettings):
    """Read once from the environment. Variables are matched by their exact (upper-case) names,
    as documented; in code, fields are set by their own names."""

    model_config = SettingsConfigDict(frozen=True, populate_by_name=True, case_sensitive=True,
                                      env_ignore_empty=True, extra="ignore")

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

    def to_env(self) -> dict[str, str]:
        """The variables that rebuild these settings in another process (``bentoml serve``)."""
        return {_alias(type(self), name): (v.isoformat() if isinstance(v, datetime) else str(v))
                for name, v in self if v is not None}


def _alias(cls: type[BaseSettings], field: str) -> str:
    alias = cls.model_fields[field].validation_alias if field in cls.model_fields else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
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
    """Local files mooc-risk writes: model cards, the service's feature store, hashed API keys."""

    cards_dir: Path = Field(Path("models/cards"), validation_alias="MOOC_RISK_CARDS_DIR")
    store_dir: Path = Field(STATE_DIR / "store", validation_alias="MOOC_RISK_STORE")
    keys_file: Path = Field(STATE_DIR / "keys.yaml", validation_alias="MOOC_RISK_KEYS_FILE")


class ServiceSettings(_EnvSettings):
    """What the HTTP service scores: the data folder, and "today" (for the default as-of day)."""

    data_dir: Path | None = Field(None, validation_alias="MOOC_RISK_DATA")
    now: datetime | None = Field(None, validation_alias="MOOC_RISK_NOW")

    @field_validator("now", mode="after")
    @classmethod
    def _naive_utc(cls, moment: datetime | None) -> datetime | None:
        """An offset is converted to UTC; a time without one is taken as UTC."""
        if moment is not None and moment.tzinfo is not None:
            return moment.astimezone(UTC).replace(tzinfo=None)
        return moment

    def today(self) -> datetime:
        """``now`` if set, else the clock, as naive UTC."""
        return self.now or datetime.now(UTC).replace(tzinfo=None)


class IdentitySettings(_EnvSettings):
    """The HMAC key that turns platform user ids into pseudonymous learner ids (log imports)."""

    id_secret: str | None = Field(None, validation_alias="MOOC_RISK_ID_SECRET", repr=False)
    id_secret_file: Path = Field(STATE_DIR / "id_secret", validation_alias="MOOC_RISK_ID_SECRET_FILE")


class EngineSettings(_EnvSettings):
    """The feature engine: DuckDB embedded (default) or PySpark for scale-out."""

    backend: Backend = Field(Backend.DUCKDB, validation_alias="MOOC_RISK_BACKEND")
