"""The MLflow model registry: experiments, registering, aliases, loading a model with what it
needs to be served (its feature spec and columns)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mooc_risk.features.build import FeatureSpec
from mooc_risk.settings import Settings

CHAMPION, CHALLENGER = "champion", "challenger"
SKOPS_TRUSTED = [
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "sklearn.calibration._CalibratedClassifier",
    "mooc_risk.models.horizons.PerHorizonClassifier",
]


def client(settings: Settings) -> MlflowClient:
    settings.prepare()
    mlflow.set_tracking_uri(settings.tracking_uri)
    return MlflowClient(tracking_uri=settings.tracking_uri)


def experiment_id(settings: Settings, name: str) -> str:
    """The experiment's id, creating it with artifacts under the settings' artifact root."""
    c = client(settings)
    found = c.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = (settings.artifact_root.resolve() / name).as_uri()
    return c.create_experiment(name, artifact_location=location)


def version_by_alias(c: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def set_alias(c: MlflowClient, name: str, alias: str, version: str) -> None:
    c.set_registered_model_alias(name, alias, version)
    other = CHALLENGER if alias == CHAMPION else CHAMPION
    holder = version_by_alias(c, name, other)
    if holder is not None and str(holder.version) == str(version):
        c.delete_registered_model_alias(name, other)


@dataclass(frozen=True)
class LoadedModel:
    """A registered model, ready to score: the estimator and what it was trained on."""

    name: str
    version: str
    model: Any  # the calibrated sklearn estimator
    spec: FeatureSpec
    feature_columns: list[str]
    categorical_columns: list[str]
    metadata: dict[str, Any]

    @property
    def risk_of(self) -> str:
        return self.metadata["risk_of"]

    @property
    def thresholds(self) -> dict[str, float]:
        return self.metadata["thresholds"]


def load_version(settings: Settings, name: str, version: str | None = None,
                 alias: str | None = CHAMPION) -> LoadedModel:
    """Load ``name`` at ``version`` (or at ``alias``); raise LookupError when there is none."""
    c = client(settings)
    if version is None:
        found = version_by_alias(c, name, alias or CHAMPION)
        if found is None:
            raise LookupError(f"no model {name}@{alias}; train one with `mooc-risk train`")
        version = found.version
    uri = f"models:/{name}/{version}"
    try:
        info = mlflow.models.get_model_info(uri)
        model = mlflow.sklearn.load_model(uri)
    except MlflowException as exc:
        raise LookupError(f"cannot load {uri}: {exc.message}") from None
    meta = info.metadata or {}
    return LoadedModel(
        name=name,
        version=str(version),
        model=model,
        spec=FeatureSpec.from_dict(meta["feature_spec"]),
        feature_columns=list(meta["feature_columns"]),
        categorical_columns=list(meta["categorical_columns"]),
        metadata=meta,
    )
