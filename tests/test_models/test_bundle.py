"""The model contract: a bundle saved by training loads back with the same scores and metadata,
and a bundle of another format is refused with a clear error instead of being misread."""

import numpy as np
import pytest
import yaml

from mooc_risk.features.build import build_features, default_spec
from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.models.bundle import BUNDLE_FORMAT, SKOPS_TRUSTED, BundleError, ModelBundle
from mooc_risk.models.horizons import PerHorizonClassifier
from mooc_risk.models.targets import Target
from mooc_risk.training.config import load_config
from mooc_risk.training.train import fit_and_assess


@pytest.fixture(scope="module")
def trained(synthetic_data, cmap, duck):
    tables = read_tables(synthetic_data, duck, cmap)
    config = load_config(None, ["horizon_strategy=per_day", "compare_horizon_strategies=false"],
                         target="dropout", as_of_days=[0, 14])
    return tables, fit_and_assess(tables, config, default_spec(tables, cmap))


def test_a_saved_bundle_loads_with_the_same_scores_and_metadata(trained, tmp_path):
    tables, result = trained
    bundle = result.bundle()
    folder = bundle.save(tmp_path / "bundle", result.inputs(result.split.test).head(5))
    loaded = ModelBundle.load(folder)
    assert loaded.metadata == bundle.metadata
    assert loaded.metadata.bundle_format == BUNDLE_FORMAT
    assert loaded.metadata.target is Target.DROPOUT and loaded.name == "mooc-risk-dropout"
    assert loaded.metadata.as_of_days == [0, 14] and loaded.risk_of == "label"
    assert isinstance(loaded.estimator, PerHorizonClassifier)
    assert all(isinstance(day, int) for days in loaded.metadata.reference.values() for day in days)
    features = build_features(tables, [0, 7, 14], loaded.spec)  # serving's path: spec → features
    np.testing.assert_array_equal(loaded.probability(features), bundle.probability(features))


@pytest.mark.parametrize(("change", "message"), [
    (lambda meta: meta.update(bundle_format=BUNDLE_FORMAT + 1), f"bundle format {BUNDLE_FORMAT + 1}"),
    (lambda meta: meta.pop("bundle_format"), "saved without a bundle format"),
    (lambda meta: meta.pop("feature_spec"), "feature_spec"),
])
def test_a_bundle_of_another_format_is_refused_by_name(trained, tmp_path, change, message):
    _, result = trained
    folder = result.bundle().save(tmp_path / "bundle", result.inputs(result.split.test).head(5))
    mlmodel = folder / "MLmodel"
    spec = yaml.safe_load(mlmodel.read_text())
    change(spec["metadata"])
    mlmodel.write_text(yaml.safe_dump(spec))
    with pytest.raises(BundleError, match=message):
        ModelBundle.load(folder)


def test_targets_are_defined_once_with_their_label_direction_and_name():
    assert [t.value for t in Target] == ["dropout", "certification"]
    assert (Target.DROPOUT.label, Target.DROPOUT.risk_of) == ("dropped_out", "label")
    assert (Target.CERTIFICATION.label, Target.CERTIFICATION.risk_of) == ("certified", "not_label")
    assert [t.registered_name for t in Target] == ["mooc-risk-dropout", "mooc-risk-certification"]
    for target in Target:  # the shipped config of each target is for that target
        assert load_config(None, target=target).target is target


def test_a_champion_of_an_older_format_is_replaced_not_kept_forever(trained, tmp_path):
    """A champion no mooc-risk of today can load must not block every new model at the gate."""
    import mlflow

    from mooc_risk.models import registry
    from mooc_risk.settings import TrackingSettings
    from mooc_risk.training.publish import publish

    tables, result = trained
    tracking = TrackingSettings.of(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                                   artifact_root=tmp_path / "artifacts")
    c = registry.client(tracking)
    old = {k: v for k, v in result.bundle().metadata.model_dump(mode="json").items()
           if k != "bundle_format"}  # what the code before the model contract wrote
    with mlflow.start_run():
        mlflow.sklearn.log_model(result.model, name="model", metadata=old,
                                 registered_model_name="mooc-risk-dropout",
                                 skops_trusted_types=SKOPS_TRUSTED)
    registry.set_alias(c, "mooc-risk-dropout", registry.CHAMPION, "1")
    with pytest.raises(BundleError, match="without a bundle format"):
        registry.load_bundle(tracking, "mooc-risk-dropout")

    published = publish(result, tables, tracking, tmp_path / "cards", source="synthetic")
    assert published.version == "2" and published.alias == "champion"
    assert "v1 is in a bundle format this mooc-risk cannot serve" in published.decision.reason
    assert registry.load_bundle(tracking, "mooc-risk-dropout").version == "2"


def test_a_bundle_with_a_missing_or_corrupt_estimator_is_a_bundle_error(trained, tmp_path):
    _, result = trained
    folder = result.bundle().save(tmp_path / "bundle", result.inputs(result.split.test).head(5))
    estimator = next(p for p in folder.iterdir() if p.name.startswith("model."))
    estimator.write_bytes(b"not a model")
    with pytest.raises(BundleError, match="cannot load"):
        ModelBundle.load(folder)
    estimator.unlink()
    with pytest.raises(BundleError, match="cannot load"):
        ModelBundle.load(folder)


def test_a_stored_model_that_is_not_a_feature_row_classifier_is_refused(trained, tmp_path):
    import mlflow

    _, result = trained
    meta = result.bundle().metadata.model_dump(mode="json")  # this format's metadata …
    mlflow.sklearn.save_model(result.model, str(tmp_path / "raw"), metadata=meta,  # … a bare model
                              skops_trusted_types=SKOPS_TRUSTED)
    with pytest.raises(BundleError, match="holds a PerHorizonClassifier, not the FeatureRowClassifier"):
        ModelBundle.load(tmp_path / "raw")
