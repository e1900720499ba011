"""The one configuration object, built at the entry point (CLI, service) from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mooc_risk.errors import InputError

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
STATE_DIR = Path(".mooc-risk")


def _utc(text: str) -> datetime:
    """An ISO time as naive UTC (an offset is converted, no offset means UTC)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"MOOC_RISK_NOW={text!r} is not an ISO 8601 time") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


@dataclass(frozen=True)
class Settings:
    """Where models are tracked and written, and what the service serves. Nothing reads the
    environment but ``from_env``; the variables are listed in the README."""

    tracking_uri: str = DEFAULT_TRACKING_URI
    artifact_root: Path = Path("mlruns/artifacts")
    cards_dir: Path = Path("models/cards")
    backend: str = "duckdb"
    data_dir: Path | None = None  # canonical tables the service scores
    store_dir: Path = STATE_DIR / "store"  # feature store files
    keys_file: Path = STATE_DIR / "keys.yaml"  # hashed per-course API keys
    now: datetime | None = None  # "today" for default as-of days (None: the clock)
    id_secret: str | None = None  # HMAC key for pseudonymous learner ids (log imports)
    id_secret_file: Path = STATE_DIR / "id_secret"  # used when id_secret is not set

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        now = env.get("MOOC_RISK_NOW")
        return cls(
            tracking_uri=env.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI),
            artifact_root=Path(env.get("MOOC_RISK_ARTIFACT_ROOT", "mlruns/artifacts")),
            cards_dir=Path(env.get("MOOC_RISK_CARDS_DIR", "models/cards")),
            backend=env.get("MOOC_RISK_BACKEND", "duckdb"),
            data_dir=Path(env["MOOC_RISK_DATA"]) if env.get("MOOC_RISK_DATA") else None,
            store_dir=Path(env.get("MOOC_RISK_STORE", STATE_DIR / "store")),
            keys_file=Path(env.get("MOOC_RISK_KEYS_FILE", STATE_DIR / "keys.yaml")),
            now=_utc(now) if now else None,
            id_secret=env.get("MOOC_RISK_ID_SECRET") or None,
            id_secret_file=Path(env.get("MOOC_RISK_ID_SECRET_FILE", STATE_DIR / "id_secret")),
        )

    def to_env(self) -> dict[str, str]:
        """The variables that rebuild these settings in another process (``bentoml serve``)."""
        env = {
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "MOOC_RISK_ARTIFACT_ROOT": str(self.artifact_root),
            "MOOC_RISK_CARDS_DIR": str(self.cards_dir),
            "MOOC_RISK_BACKEND": self.backend,
            "MOOC_RISK_STORE": str(self.store_dir),
            "MOOC_RISK_KEYS_FILE": str(self.keys_file),
        }
        if self.data_dir is not None:
            env["MOOC_RISK_DATA"] = str(self.data_dir)
        if self.now is not None:
            env["MOOC_RISK_NOW"] = self.now.isoformat()
        return env

    def today(self) -> datetime:
        return self.now or datetime.now(UTC).replace(tzinfo=None)

    def prepare(self) -> None:
        """Create the local store's folders (only for a sqlite tracking URI)."""
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.artifact_root.mkdir(parents=True, exist_ok=True)
