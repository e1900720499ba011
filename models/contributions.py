"""TreeSHAP contributions of the served model, straight from LightGBM (``pred_contrib``).

Contributions are in the booster's raw (log-odds) space, before calibration: for every row,
``contributions.sum() + base value == raw score``. Rows of a per-day model go to their day's
booster, exactly as ``predict_proba`` routes them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mooc_risk.models.estimators import fitted_pipeline
from mooc_risk.models.horizons import PerHorizonClassifier


def pipelines(model) -> dict[int | None, Pipeline]:
    """The LightGBM pipeline(s) inside a served model, keyed by as-of day (None: all days)."""
    if isinstance(model, PerHorizonClassifier):
        return {day: fitted_pipeline(m) for day, m in model.models.items()}
    return {None: fitted_pipeline(model)}


def tree_contributions(model, X: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(contributions per input column, base value per row, raw score per row)."""
    by_day = pipelines(model)
    routed = (model.route(X["as_of_day"].to_numpy()) if isinstance(model, PerHorizonClassifier)
              else np.full(len(X), None))
    contrib = np.zeros((len(X), X.shape[1]))
    base = np.zeros(len(X))
    raw = np.zeros(len(X))
    for day in pd.unique(routed):
        rows = routed == day
        pipeline = by_day[day]
        encoded = pipeline["prep"].transform(X[rows])
        booster = pipeline["model"].booster_
        values = booster.predict(encoded, pred_contrib=True)
        order = [list(encoded.columns).index(c) for c in X.columns]
        contrib[rows] = values[:, order]
        base[rows] = values[:, -1]
        raw[rows] = booster.predict(encoded, raw_score=True)
    return pd.DataFrame(contrib, columns=X.columns, index=X.index), base, raw
