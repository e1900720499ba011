"""The estimators a bundle carries, as serving and training both use them: the model's input
frame, the positive-class probability, and the LightGBM pipeline inside a calibrated model.

Fitting them is training's job (``mooc_risk.training.fitting``); this module only reads them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

PROBABILITY_EPS = 1e-6  # a probability is certain only in the model's mind


def as_model_input(frame: pd.DataFrame, columns: list[str], categorical: list[str]) -> pd.DataFrame:
    """The model's input frame: the feature columns, categoricals as object, numbers as float."""
    out = frame[columns].copy()
    for column in columns:
        if column in categorical:
            out[column] = out[column].astype("object").where(out[column].notna(), None)
        else:
            out[column] = out[column].astype("float64")
    return out


class FeatureRowClassifier(ClassifierMixin, BaseEstimator):
    """What MLflow stores: a fitted classifier behind the rows ``build_features`` writes (and
    ``mooc-risk features`` saves). ``predict`` gives the calibrated P(label) per row, shape
    (n,), clipped to [``eps``, 1 − ``eps``]; extra columns (keys, display-only) are ignored.
    So ``mlflow.pyfunc.load_model(uri).predict(feature_rows)`` answers as the service does.
    ``confidence``: the bundle's Venn-Abers calibrators by day (``models.confidence``), stored
    with the estimator: the probability is their point estimate (``served_probability``)."""

    def __init__(self, estimator=None, feature_columns: list[str] | None = None,
                 categorical_columns: list[str] | None = None, eps: float = PROBABILITY_EPS,
                 confidence=None):
        self.estimator = estimator
        self.feature_columns = feature_columns
        self.categorical_columns = categorical_columns
        self.eps = eps
        self.confidence = confidence

    def fit(self, X=None, y=None):  # wraps an estimator fitted elsewhere
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_columns if c not in X.columns]
        if missing:
            raise ValueError(f"feature rows lack the model's column(s) {missing}")
        inputs = as_model_input(X, self.feature_columns, self.categorical_columns)
        p = served_probability(self.estimator, inputs, self.eps, self.confidence)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(X)[:, 1]


def served_probability(model, X: pd.DataFrame, eps: float = PROBABILITY_EPS,
                       confidence=None) -> np.ndarray:
    """P(label) per row of the model's input frame, within [``eps``, 1 − ``eps``]: a served
    probability is never exactly 0 or 1. Shape (n,).

    With ``confidence`` (a ``models.confidence.VennAbersByDay``), the probability is the
    Venn-Abers point estimate of the row's as-of day (``X["as_of_day"]``; KeyError without
    it) on top of the model's calibrated score — why, in ``models.confidence``."""
    p = positive_proba(model, X)
    if confidence is not None:
        p = confidence.point(p, X["as_of_day"].to_numpy())
    return np.clip(p, eps, 1 - eps)


def fitted_pipeline(model: CalibratedClassifierCV | Pipeline) -> Pipeline:
    """The LightGBM pipeline inside a calibrated model (for contributions and SHAP)."""
    if isinstance(model, CalibratedClassifierCV):
        return model.calibrated_classifiers_[0].estimator.estimator
    return model


def positive_proba(model, X: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(X)[:, 1]
