"""What every training and evaluation run records in MLflow besides its own artifacts: the
experiment (artifacts under the configured root), the data sets it used (``mlflow.log_input``)
and its test metrics, overall and per as-of day as steps (so MLflow draws them as curves)."""

from __future__ import annotations

import warnings
from pathlib import Path

import mlflow
import numpy as np

from mooc_risk.models import registry
from mooc_risk.settings import TrackingSettings
from mooc_risk.training.train import Trained

BY_DAY = ("auc", "pr_auc", "brier", "ece")


def experiment_id(tracking: TrackingSettings, name: str) -> str:
    """The experiment's id, creating it with artifacts under the settings' artifact root."""
    c = registry.client(tracking)
    found = c.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = (tracking.artifact_root.resolve() / name).as_uri()
    return c.create_experiment(name, artifact_location=location)


def log_datasets(trained: Trained, source: str) -> None:
    """The training (train + validation) and test rows as MLflow datasets: name, digest,
    schema and source; the rows themselves are not copied."""
    frame, split = trained.rows.frame, trained.split
    columns = ["learner_id", "course_id", "run_id", *trained.rows.feature_columns, "label"]
    columns = list(dict.fromkeys(columns))
    with warnings.catch_warnings():
        # MLflow 3.17 registers its local-file source twice (schemes "" and "file") and warns
        # that a path "can be interpreted in multiple ways"; both readings are the same
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        # a logged data set's schema documents the rows; nothing is enforced against it, so
        # MLflow's hint about integer columns and missing values does not apply
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        for context, mask in (("training", split.train | split.valid), ("test", split.test)):
            dataset = mlflow.data.from_pandas(frame.loc[mask, columns], targets="label",
                                              source=str(Path(source).resolve()),
                                              name=f"{trained.config.target} {context} rows")
            mlflow.log_input(dataset, context=context)


def log_test_metrics(trained: Trained) -> None:
    """Overall metrics under their stable names, and per as-of day as steps of
    ``<model>_<metric>_by_day`` (``test_`` for LightGBM, ``baseline_test_`` for the baseline)."""
    metrics = trained.assessment.metrics
    mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
    for row in trained.assessment.by_day.to_dict("records"):
        prefix = "test" if row["model"] == "lightgbm" else f"{row['model']}_test"
        mlflow.log_metrics({f"{prefix}_{m}_by_day": row[m] for m in BY_DAY if np.isfinite(row[m])},
                           step=int(row["as_of_day"]))
