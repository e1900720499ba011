import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from mooc_risk.features.build import default_spec
from mooc_risk.features.canonical.engine import connect
from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.serving.keys import add_key
from mooc_risk.settings import DatabaseSettings, PathSettings, ServiceSettings, TrackingSettings, WebSettings
from mooc_risk.training.config import load_config
from mooc_risk.training.publish import publish
from mooc_risk.training.train import fit_and_assess

ROOT = Path(__file__).parents[2]
ROSTER_NAME = "Zelda Quintessa-Marlowe"  # invented; in the served data folder's roster.csv


@dataclass(frozen=True)
class Served:
    tracking: TrackingSettings
    paths: PathSettings
    data: Path
    key: str  # opens course C001 only
    admin_key: str  # opens every course
    root: Path  # the session's folder: MLflow store, keys, the intervention log

    @property
    def env(self) -> dict[str, str]:
        return {**self.tracking.to_env(), **self.paths.to_env(),
                **ServiceSettings.of(data_dir=self.data).to_env(),
                **DatabaseSettings.of(db_url=f"sqlite:///{self.root}/journal.db").to_env(),
                **WebSettings.of(session_secret_file=self.root / "session_secret").to_env()}


@pytest.fixture(scope="session")
def served(tmp_path_factory, cmap, synthetic) -> Served:
    """Both targets trained into a private MLflow store, plus keys and a data folder with a
    roster."""
    root = tmp_path_factory.mktemp("serving")
    data = root / "data"
    shutil.copytree(synthetic(1500, 3, 5, 2), data)
    enrolments = pd.read_parquet(data / "enrolments.parquet").drop_duplicates("learner_id")
    pd.DataFrame({"learner_id": enrolments["learner_id"],  # only the web app reads a roster
                  "display_name": [f"{ROSTER_NAME} {n}" for n in range(len(enrolments))],
                  "email": [f"zq{n}@example.org" for n in range(len(enrolments))]}).to_csv(
        data / "roster.csv", index=False)
    tracking = TrackingSettings.of(tracking_uri=f"sqlite:///{root}/mlflow.db",
                                artifact_root=root / "artifacts")
    paths = PathSettings.of(cards_dir=root / "cards", store_dir=root / "store",
                            keys_file=root / "keys.yaml", history_dir=root / "history",
                            holdout_file=root / "holdout.yaml")  # none: the holdout is off
    tables = read_tables(data, connect(), cmap)
    spec = default_spec(tables, cmap)
    for target in ("dropout", "certification"):
        config = load_config(ROOT / "models" / f"{target}.yaml",
                             ["as_of_days=[0,7,14]", "compare_horizon_strategies=false",
                              "gate.ece_ceiling=0.2"])
        publish(fit_and_assess(tables, config, spec), tables, tracking, paths.cards_dir,
                source=str(data))
    return Served(tracking, paths, data, add_key(paths.keys_file, "C001"),
                  add_key(paths.keys_file, "*"), root)


@pytest.fixture(scope="session")
def client(served):
    """The BentoML service in-process: ``RiskService.to_asgi()`` behind a test client."""
    from starlette.testclient import TestClient

    with pytest.MonkeyPatch.context() as mp:
        for name, value in served.env.items():
            mp.setenv(name, value)
        from mooc_risk.serving.service import RiskService

        with TestClient(RiskService.to_asgi(), raise_server_exceptions=False) as test_client:
            yield test_client
