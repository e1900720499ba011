import pytest

from mooc_risk.features.synthetic.generate import generate
from mooc_risk.settings import Settings


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory, cmap):
    """A small synthetic MOOC: 4 courses × 3 runs, enough for an honest by-run split."""
    folder = tmp_path_factory.mktemp("train-data")
    generate(folder, learners=2500, courses=4, seed=21, cmap=cmap, runs=3)
    return folder


@pytest.fixture()
def store(tmp_path, monkeypatch):
    """A private MLflow store (sqlite + artifacts) and cards folder for one test."""
    settings = Settings(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                        artifact_root=tmp_path / "artifacts", cards_dir=tmp_path / "cards")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.tracking_uri)
    monkeypatch.setenv("MOOC_RISK_ARTIFACT_ROOT", str(settings.artifact_root))
    monkeypatch.setenv("MOOC_RISK_CARDS_DIR", str(settings.cards_dir))
    return settings
