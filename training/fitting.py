"""Fitting the models a bundle carries: LightGBM in an sklearn Pipeline (encoding inside, so the
fitted preprocessing travels with the model), a logistic-regression baseline on the same
columns, and calibration on held-out rows."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from mooc_risk.models.confidence import VennAbersByDay

MISSING = -1  # LightGBM treats negative categorical codes as missing


def _encoder(categorical: list[str], numeric: list[str]) -> ColumnTransformer:
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=MISSING,
                             encoded_missing_value=MISSING, dtype=np.float64)
    prep = ColumnTransformer(
        [("cat", encoder, categorical), ("num", "passthrough", numeric)],
        verbose_feature_names_out=False,
    )
    return prep.set_output(transform="pandas")


def fit_lightgbm(
    X_train: pd.DataFrame, y_train: np.ndarray, X_valid: pd.DataFrame, y_valid: np.ndarray,
    categorical: list[str], params: dict[str, Any], early_stopping_rounds: int, seed: int,
) -> Pipeline:
    """Fit encoder + LightGBM with early stopping on the validation rows."""
    numeric = [c for c in X_train.columns if c not in categorical]
    prep = _encoder(categorical, numeric).fit(X_train)
    model = lgb.LGBMClassifier(**{"random_state": seed, "verbosity": -1, "n_jobs": 2, **params})
    model.fit(
        prep.transform(X_train), y_train,
        eval_X=(prep.transform(X_valid),),
        eval_y=(y_valid,),
        eval_metric="binary_logloss",
        categorical_feature=categorical,
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
    )
    return Pipeline([("prep", prep), ("model", model)])


def fit_baseline(X_train: pd.DataFrame, y_train: np.ndarray, categorical: list[str]) -> Pipeline:
    """Logistic regression: median imputation (+ missing flags), scaling, one-hot encoding."""
    numeric = [c for c in X_train.columns if c not in categorical]
    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                            keep_empty_features=True), StandardScaler()), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore", min_frequency=20)), categorical),
    ])
    model = LogisticRegression(max_iter=2000, C=0.5)
    return Pipeline([("prep", prep), ("model", model)]).fit(X_train, y_train)


def calibrate(model: Pipeline, X: pd.DataFrame, y: np.ndarray, method: str) -> CalibratedClassifierCV:
    """Calibrate a fitted model on held-out rows without refitting it."""
    return CalibratedClassifierCV(FrozenEstimator(model), method=method).fit(X, y)


def fit_venn_abers(p: np.ndarray, y: np.ndarray, days: np.ndarray) -> VennAbersByDay:
    """Venn-Abers calibrators by as-of day (Mondrian by day) on held-out rows: ``p`` the
    calibrated model's P(label) of the validation rows, ``y`` their 0/1 labels, ``days``
    their as-of days, shapes (n,). Why their point estimate is served: ``models.confidence``."""
    return VennAbersByDay.fitted(p, y, days)


CALIBRATIONS = ("sigmoid", "isotonic")


class _Scores(ClassifierMixin, BaseEstimator):
    """A stand-in whose input is its own score (one column): the calibrators of
    ``compare_calibrations`` are fitted on scores computed once, not on the model each fold."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X) -> np.ndarray:
        p = np.asarray(X, dtype="float64")[:, 0]
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def compare_calibrations(model: Pipeline, X: pd.DataFrame, y: np.ndarray, learners: np.ndarray,
                         folds: int = 5) -> list[dict]:
    """Each calibration method on the same held-out rows, out of fold (folds grouped by
    learner): ECE, Brier, and the share of distinct probabilities (1.0: the calibrated scores
    keep the model's order; isotonic regression's steps tie learners and reach exactly 0 or 1).
    """
    from sklearn.metrics import brier_score_loss
    from sklearn.model_selection import GroupKFold, cross_val_predict

    from mooc_risk.models.quality import expected_calibration_error

    n_folds = min(folds, len(np.unique(learners)))
    scores = model.predict_proba(X)[:, 1].reshape(-1, 1)  # the model's scores, computed once
    out = []
    for method in CALIBRATIONS:
        calibrated = CalibratedClassifierCV(FrozenEstimator(_Scores().fit(scores, y)), method=method)
        p = cross_val_predict(calibrated, scores, y, groups=learners, cv=GroupKFold(n_folds),
                              method="predict_proba")[:, 1]
        out.append({"method": method, "ece": expected_calibration_error(y, p),
                    "brier": float(brier_score_loss(y, p)),
                    "distinct_share": len(np.unique(p)) / len(p),
                    "exact_0_or_1": int(((p == 0) | (p == 1)).sum())})
    return out
