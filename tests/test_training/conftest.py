from dataclasses import dataclass
from pathlib import Path

import pytest

from mooc_risk.features.synthetic.generate import generate
from mooc_risk.settings import PathSettings, TrackingSettings


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory, cmap):
    """A small synthetic MOOC: 4 courses × 3 runs, enough for an honest by-run split."""
    folder = tmp_path_factory.mktemp("train-data")
    generate(folder, learners=2500, courses=4, seed=21, cmap=cmap, runs=3)
    return folder


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    cards_dir: Path


@pytest.fixture()
def store(tmp_path, monkeypatch):
    """A private MLflow store (sqlite + artifacts) and cards folder for one test."""
    tracking = TrackingSettings(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                                artifact_root=tmp_path / "artifacts")
    paths = PathSettings(cards_dir=tmp_path / "cards")
    for name, value in {**tracking.to_env(), **paths.to_env()}.items():
        monkeypatch.setenv(name, value)
    return Store(tracking.tracking_uri, paths.cards_dir)
