import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mooc_risk.features.constructs import load_construct_map


@pytest.fixture(scope="session")
def cmap():
    return load_construct_map()


@pytest.fixture(scope="session")
def duck():
    from mooc_risk.features.canonical.engine import connect

    return connect("duckdb")


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory, cmap) -> Callable[..., Path]:
    """Synthetic data folders, each generated once per session and shared (read only) by every
    test that asks for the same size and seed: ``synthetic(learners, courses, seed, runs)``."""
    from mooc_risk.features.synthetic.generate import generate

    made: dict[tuple[int, int, int, int], Path] = {}

    def make(learners: int, courses: int, seed: int, runs: int = 3) -> Path:
        key = (learners, courses, seed, runs)
        if key not in made:
            folder = tmp_path_factory.mktemp(f"synthetic-{learners}x{courses}x{runs}-seed{seed}")
            generate(folder, learners=learners, courses=courses, seed=seed, cmap=cmap, runs=runs)
            made[key] = folder
        return made[key]

    return make


@pytest.fixture(scope="session")
def synthetic_data(synthetic) -> Path:
    """A small synthetic MOOC: 4 courses × 3 runs, enough for an honest by-run split (training
    and the served models)."""
    return synthetic(2500, 4, 21, 3)


@pytest.fixture(scope="session")
def small_synthetic(synthetic) -> Path:
    """150 learners in 4 courses × 2 runs: quick enough for the PySpark engine."""
    return synthetic(150, 4, 7, 2)


def spark_available() -> bool:
    import importlib.util
    import shutil

    return importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None


@pytest.fixture(scope="session")
def spark_con():
    if not spark_available():
        if os.environ.get("MOOC_RISK_REQUIRE_SPARK"):
            pytest.fail("MOOC_RISK_REQUIRE_SPARK is set but pyspark or java is missing")
        pytest.skip("pyspark or java not installed")
    from mooc_risk.features.canonical.engine import connect

    return connect("pyspark", threads=2)


@pytest.fixture
def private_tracking(tmp_path, monkeypatch) -> Path:
    """Environment for a CLI ``train`` in a test: its own MLflow store, artifacts and model
    cards under ``tmp_path``, and an import key (``MOOC_RISK_ID_SECRET=s``)."""
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "s")
    for name, value in {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db",
                        "MOOC_RISK_ARTIFACT_ROOT": str(tmp_path / "a"),
                        "MOOC_RISK_CARDS_DIR": str(tmp_path / "c")}.items():
        monkeypatch.setenv(name, value)
    return tmp_path
