"""The estimators a bundle carries, as serving and training both use them: the model's input
frame, the positive-class probability, and the LightGBM pipeline inside a calibrated model.

Fitting them is training's job (``mooc_risk.training.fitting``); this module only reads them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline


def as_model_input(frame: pd.DataFrame, columns: list[str], categorical: list[str]) -> pd.DataFrame:
    """The model's input frame: the feature columns, categoricals as object, numbers as float."""
    out = frame[columns].copy()
    for column in columns:
        if column in categorical:
            out[column] = out[column].astype("object").where(out[column].notna(), None)
        else:
            out[column] = out[column].astype("float64")
    return out


def fitted_pipeline(model: CalibratedClassifierCV | Pipeline) -> Pipeline:
    """The LightGBM pipeline inside a calibrated model (for contributions and SHAP)."""
    if isinstance(model, CalibratedClassifierCV):
        return model.calibrated_classifiers_[0].estimator.estimator
    return model


def positive_proba(model, X: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(X)[:, 1]
