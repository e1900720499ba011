from dataclasses import dataclass
from pathlib import Path

import pytest

from mooc_risk.settings import PathSettings, TrackingSettings


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    cards_dir: Path


@pytest.fixture()
def store(tmp_path, monkeypatch):
    """A private MLflow store (sqlite + artifacts) and cards folder for one test."""
    tracking = TrackingSettings.of(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                                artifact_root=tmp_path / "artifacts")
    paths = PathSettings.of(cards_dir=tmp_path / "cards")
    for name, value in {**tracking.to_env(), **paths.to_env()}.items():
        monkeypatch.setenv(name, value)
    return Store(tracking.tracking_uri, paths.cards_dir)
