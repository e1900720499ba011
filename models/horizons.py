"""One model per as-of day, served as one sklearn-compatible classifier.

Each row goes to the model of the latest trained as-of day at or before its own ``as_of_day``
(the earliest model for earlier rows), so any as-of day can be scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin


def latest_trained_day(days: list[int], as_of_day) -> np.ndarray:
    """For each ``as_of_day`` (shape (n,)), the latest of the trained ``days`` (sorted) at or
    before it, the earliest for earlier rows: the routing rule of this module, shared with
    ``models.confidence.VennAbersByDay``."""
    trained = np.asarray(days)
    index = np.searchsorted(trained, np.asarray(as_of_day, dtype=float), side="right") - 1
    return trained[np.clip(index, 0, len(trained) - 1)]


class PerHorizonClassifier(ClassifierMixin, BaseEstimator):
    """``models``: as-of day → fitted (calibrated) classifier with ``predict_proba``."""

    def __init__(self, models: dict[int, object] | None = None):
        self.models = models

    def fit(self, X, y=None):  # the per-day models arrive fitted
        self.classes_ = np.array([0, 1])
        return self

    @property
    def days(self) -> list[int]:
        return sorted(self.models)

    def route(self, as_of_day) -> np.ndarray:
        """The trained day whose model scores each row."""
        return latest_trained_day(self.days, as_of_day)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        routed = self.route(X["as_of_day"].to_numpy())
        out = np.empty((len(X), 2))
        for day in np.unique(routed):
            rows = routed == day
            out[rows] = self.models[int(day)].predict_proba(X[rows])
        return out

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
