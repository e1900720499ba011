"""Labelled feature rows for training: the one feature path, labels joined after, population
rule per as-of day, and a guard against features computed from the outcome."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mooc_risk.days import DAY_SECONDS
from mooc_risk.errors import InputError
from mooc_risk.features.build import DISPLAY_ONLY, FeatureSpec, build_features
from mooc_risk.features.canonical.schemas import KEYS
from mooc_risk.features.canonical.tables import Tables
from mooc_risk.features.clickstream import anchors
from mooc_risk.features.population import run_calendar, still_enrolled
from mooc_risk.models.targets import LABELS
from mooc_risk.training.config import OUTCOME_COLUMNS, TrainConfig

NOT_FEATURES = {*KEYS, "run_start", "label", "cutoff_s", *DISPLAY_ONLY}


class LabelLeakError(InputError):
    """A feature carries the outcome."""


@dataclass(frozen=True)
class LabelledRows:
    frame: pd.DataFrame  # keys, as_of_day, features, label, run_start
    feature_columns: list[str]
    categorical_columns: list[str]


def labelled_rows(tables: Tables, config: TrainConfig, spec: FeatureSpec) -> LabelledRows:
    """Feature rows joined with labels, for the enrolments still enrolled at each as-of day
    (``mooc_risk.features.population``: unenrolled before the cutoff = out; last activity
    removes nobody)."""
    if tables.outcomes is None:
        raise InputError("training needs an outcomes table (outcomes.parquet or outcomes.csv)")
    # build_features never sees the outcomes: no feature can be computed from them
    features = build_features(replace(tables, outcomes=None), config.as_of_days, spec)
    outcomes = tables.outcomes.to_pyarrow().to_pandas()
    timing = anchors(tables.enrolments).select(*KEYS, "anchor_s", "enrolled_s").to_pyarrow().to_pandas()
    for column in LABELS:
        if column not in outcomes:
            outcomes[column] = None
    outcomes = outcomes[outcomes[config.label].notna()]
    if outcomes.empty:
        raise InputError(f"the outcomes table has no {config.label!r} labels: this data set "
                         f"cannot train a {config.target} model")
    frame = features.merge(outcomes, on=list(KEYS), how="inner").merge(timing, on=list(KEYS))
    frame["cutoff_s"] = frame["anchor_s"] + frame["as_of_day"] * DAY_SECONDS
    # the one population rule (features.population), and no day after a course's end
    after_end = frame["as_of_day"] > frame["course_length_days"]
    frame = frame[still_enrolled(frame) & ~after_end].copy()
    if frame.empty:
        raise InputError(f"no as-of day can be trained: no enrolment is in the population at "
                         f"day(s) {config.as_of_days} (past the end of every course?)")
    frame["label"] = frame[config.label].astype("int64")
    frame["run_start"] = run_calendar(tables)["start"].reindex(
        pd.MultiIndex.from_frame(frame[["course_id", "run_id"]])
    ).to_numpy()
    frame = frame.drop(columns=[c for c in OUTCOME_COLUMNS if c in frame.columns]
                       + ["anchor_s", "enrolled_s"])
    columns = feature_columns(frame, config)
    guard_against_leaks(frame[columns], frame["label"])
    categorical = [c for c in columns if c in spec.categorical_columns()]
    return LabelledRows(frame.reset_index(drop=True), columns, categorical)


def feature_columns(frame: pd.DataFrame, config: TrainConfig) -> list[str]:
    """The model's inputs: every feature but the excluded ones, outcomes and keys, and the
    sensitive attributes unless the config makes them features."""
    excluded = NOT_FEATURES | set(config.exclude_features) | set(OUTCOME_COLUMNS)
    if not config.sensitive_as_features:
        excluded |= set(config.sensitive_attributes)
    return [c for c in frame.columns if c not in excluded]


def guard_against_leaks(features: pd.DataFrame, label: pd.Series, min_rows: int = 50) -> None:
    """Refuse outcome columns as features, and any feature that alone separates the label
    perfectly — a feature computed from the outcome looks exactly like that."""
    named = sorted(set(features.columns) & {*OUTCOME_COLUMNS, "label"})
    if named:
        raise LabelLeakError(f"outcome column(s) {named} cannot be features")
    y = label.to_numpy()
    if len(y) < min_rows or y.min() == y.max():
        return
    for column in features.columns:
        values = features[column]
        if not pd.api.types.is_numeric_dtype(values) or values.isna().all():
            continue
        filled = values.fillna(values.min() - 1).to_numpy(dtype="float64")
        if np.unique(filled).size < 2:
            continue
        auc = roc_auc_score(y, filled)
        if auc in (0.0, 1.0):
            raise LabelLeakError(
                f"feature {column!r} alone separates the label perfectly (AUC {auc:.0f}); "
                "it is probably computed from the outcome"
            )
