"""The MLflow model registry as the contract's store: registered versions of each target's
bundle, the ``@champion``/``@challenger`` aliases, and loading a bundle by alias or version."""

from __future__ import annotations

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mooc_risk.models.bundle import BundleError, ModelBundle
from mooc_risk.settings import TrackingSettings

CHAMPION, CHALLENGER = "champion", "challenger"


def client(tracking: TrackingSettings) -> MlflowClient:
    """A client on the tracking store (created if local); also MLflow's default for runs."""
    import mlflow

    tracking.prepare()
    mlflow.set_tracking_uri(tracking.tracking_uri)
    return MlflowClient(tracking_uri=tracking.tracking_uri)


def version_by_alias(c: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def set_alias(c: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version``; a version is never both champion and challenger."""
    c.set_registered_model_alias(name, alias, version)
    other = CHALLENGER if alias == CHAMPION else CHAMPION
    holder = version_by_alias(c, name, other)
    if holder is not None and str(holder.version) == str(version):
        c.delete_registered_model_alias(name, other)


def load_bundle(tracking: TrackingSettings, name: str, version: str | None = None,
                alias: str = CHAMPION) -> ModelBundle:
    """The bundle registered as ``name`` at ``version`` (or at ``alias``).

    Raises ``BundleError`` (a LookupError) when there is no such version or it cannot be read.
    """
    c = client(tracking)
    if version is None:
        found = version_by_alias(c, name, alias)
        if found is None:
            raise BundleError(f"no model {name}@{alias}; train one with `mooc-risk train`")
        version = found.version
    return ModelBundle.load(f"models:/{name}/{version}", version=str(version))
