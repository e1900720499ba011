"""The one configuration object, built at the entry point (CLI, service) from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


@dataclass(frozen=True)
class Settings:
    """Where models are tracked and written. Nothing reads the environment but ``from_env``."""

    tracking_uri: str = DEFAULT_TRACKING_URI
    artifact_root: Path = Path("mlruns/artifacts")
    cards_dir: Path = Path("models/cards")
    backend: str = "duckdb"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            tracking_uri=env.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI),
            artifact_root=Path(env.get("MOOC_RISK_ARTIFACT_ROOT", "mlruns/artifacts")),
            cards_dir=Path(env.get("MOOC_RISK_CARDS_DIR", "models/cards")),
            backend=env.get("MOOC_RISK_BACKEND", "duckdb"),
        )

    def prepare(self) -> None:
        """Create the local store's folders (only for a sqlite/file tracking URI)."""
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.artifact_root.mkdir(parents=True, exist_ok=True)
