"""Fit and assess: labelled rows → honest split → LightGBM (+ calibration) and baseline →
test metrics by day and group → (optionally) the one-model-per-day comparison."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from mooc_risk.errors import InputError
from mooc_risk.features.build import FeatureSpec
from mooc_risk.features.canonical.schemas import ROW_KEYS
from mooc_risk.features.canonical.tables import Tables
from mooc_risk.models import estimators as est
from mooc_risk.models.bundle import BundleMetadata, ModelBundle
from mooc_risk.models.confidence import VennAbersByDay
from mooc_risk.models.horizons import PerHorizonClassifier
from mooc_risk.training import conformal, fitting
from mooc_risk.training.assessment import Assessment, assess
from mooc_risk.training.config import TrainConfig
from mooc_risk.training.dataset import LabelledRows, labelled_rows
from mooc_risk.training.metrics import classification_metrics
from mooc_risk.training.reference import favourable_medians
from mooc_risk.training.split import Split, split_rows

STEPS = 4


@dataclass(frozen=True)
class Trained:
    config: TrainConfig
    spec: FeatureSpec
    rows: LabelledRows
    split: Split
    model: object  # calibrated LightGBM pipeline
    baseline: object
    test_scores: dict[str, np.ndarray]  # "lightgbm", "baseline" → P(label) on the test rows
    assessment: Assessment
    horizons: pd.DataFrame | None  # test AUC/ECE by day: one model vs one model per day
    data_hash: str
    skipped_days: dict[int, str] = field(default_factory=dict)  # as-of day → why it was left out
    calibration: pd.DataFrame | None = None  # each method on the validation rows (model card)
    confidence: VennAbersByDay | None = None  # Venn-Abers by day, on the validation rows

    @property
    def test(self) -> pd.DataFrame:
        return self.rows.frame[self.split.test]

    def probability(self, X: pd.DataFrame) -> np.ndarray:
        """The served P(label) of rows in the model's input form, shape (n,): the Venn-Abers
        point estimate of each row's day on the calibrated model (``models.confidence``)."""
        return est.served_probability(self.model, X, confidence=self.confidence)

    def training_courses(self) -> dict[str, int]:
        """Course id → distinct learners in the rows the model was fitted and calibrated on
        (training and validation sides), for cold start."""
        fitted = self.rows.frame[self.split.train | self.split.valid]
        counts = fitted.groupby("course_id", observed=True)["learner_id"].nunique()
        return {str(c): int(n) for c, n in counts.items()}

    def inputs(self, mask: np.ndarray) -> pd.DataFrame:
        return est.as_model_input(self.rows.frame[mask], self.rows.feature_columns,
                                  self.rows.categorical_columns)

    def bundle(self) -> ModelBundle:
        """The model as serving will read it: the estimator and its typed metadata."""
        c, rows = self.config, self.rows
        metrics = self.assessment.metrics
        return ModelBundle(self.model, BundleMetadata(
            target=c.target, feature_spec=self.spec, feature_columns=rows.feature_columns,
            categorical_columns=rows.categorical_columns, as_of_days=c.as_of_days,
            thresholds=c.thresholds, reference=self._reference(), data_hash=self.data_hash,
            sensitive_attributes=c.sensitive_attributes,
            test_metrics={k: v for k, v in metrics.items() if np.isfinite(v) and "_day_" not in k},
            trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
            training_courses=self.training_courses(),
            cold_start_min_learners=c.cold_start_min_learners), confidence=self.confidence)

    def _reference(self) -> dict:
        """Medians of the numeric features among training learners with the good outcome."""
        rows = self.rows
        train = rows.frame[self.split.train]
        good = (train["label"] == 0) if self.config.risk_of == "label" else (train["label"] == 1)
        numeric = [c for c in rows.feature_columns if c not in rows.categorical_columns]
        return favourable_medians(train, numeric, good.to_numpy())


def fit_and_assess(
    tables: Tables, config: TrainConfig, spec: FeatureSpec,
    on_step: Callable[[str], None] = lambda _label: None,
) -> Trained:
    rows = labelled_rows(tables, config, spec)
    on_step(f"{len(rows.frame):,} labelled rows")
    split = split_rows(rows.frame, config.split)
    skipped = days_to_skip(rows, split, config)
    if skipped:
        rows, split, config = _without_days(rows, split, config, skipped)
    X = est.as_model_input(rows.frame, rows.feature_columns, rows.categorical_columns)
    y = rows.frame["label"].to_numpy()
    for side, mask in (("training", split.train), ("validation", split.valid), ("test", split.test)):
        if len(set(y[mask])) < 2:
            raise InputError(f"the {side} rows have only one value of {config.label!r}: there is "
                             "nothing to learn or test (are the labels known? see --final for logs)")
    candidates = {}
    if config.horizon_strategy == "single" or config.compare_horizon_strategies:
        candidates["single"] = _fit_calibrated(X, y, split.train, split.valid, rows, config)
    if config.horizon_strategy == "per_day" or config.compare_horizon_strategies:
        candidates["per_day"] = _fit_per_day(X, y, split, rows, config)
    model, calibration = candidates[config.horizon_strategy]
    candidates = {name: fitted for name, (fitted, _) in candidates.items()}
    on_step("LightGBM fitted and calibrated")
    tr, va, te = split.train, split.valid, split.test
    days = rows.frame["as_of_day"].to_numpy()
    p_valid, p_test = est.positive_proba(model, X[va]), est.positive_proba(model, X[te])
    confidence = fitting.fit_venn_abers(p_valid, y[va], days[va])
    baseline = fitting.fit_baseline(X[tr], y[tr], rows.categorical_columns)
    on_step("baseline fitted")
    scores = {"lightgbm": est.served_probability(model, X[te], confidence=confidence),
              "baseline": est.positive_proba(baseline, X[te])}
    assessment = assess(rows.frame[te], scores, config.risk_of, config.audited_groups)
    sets = conformal.prediction_sets(p_valid, y[va], days[va], p_test, days[te])
    assessment = with_confidence(assessment, conformal.confidence_by_day(
        days[te], y[te], sets, *confidence.interval(p_test, days[te])))
    horizons = None
    if len(candidates) == 2:
        horizons = compare_horizons(rows.frame[te], {n: est.positive_proba(m, X[te])
                                                      for n, m in candidates.items()}, config)
    on_step("evaluated")
    return Trained(config, spec, rows, split, model, baseline, scores, assessment, horizons,
                   data_hash(rows), skipped, pd.DataFrame(calibration), confidence)


def with_confidence(assessment: Assessment, by_day: pd.DataFrame) -> Assessment:
    """The assessment with ``conformal.COLUMNS`` per as-of day on the LightGBM rows of
    ``by_day`` (NaN for the baseline) and as metrics ``test_<column>_day_<d>``, plus their
    means over the test rows' days as ``test_<column>``."""
    table = assessment.by_day.drop(columns=[c for c in conformal.COLUMNS if c in assessment.by_day])
    main = table["model"] == "lightgbm"
    merged = table[main].merge(by_day, on="as_of_day", how="left")
    table = pd.concat([merged, table[~main]], ignore_index=True)
    metrics = dict(assessment.metrics)
    for column in conformal.COLUMNS:
        metrics[f"test_{column}"] = float(by_day[column].mean())
        metrics.update({f"test_{column}_day_{int(d)}": float(v)
                        for d, v in zip(by_day["as_of_day"], by_day[column], strict=True)})
    return replace(assessment, metrics=metrics, by_day=table)


def days_to_skip(rows: LabelledRows, split: Split, config: TrainConfig) -> dict[int, str]:
    """The configured as-of days nothing can be learnt or tested at, with the reason: past the
    end of every scheduled course in the data, or one class only on a side of the split.
    Raises InputError when that leaves no day at all."""
    frame = rows.frame
    days, y = frame["as_of_day"].to_numpy(), frame["label"].to_numpy()
    longest = frame["course_length_days"].max() if "course_length_days" in frame else np.nan
    skipped = {}
    for day in config.as_of_days:
        if np.isfinite(longest) and day > longest and frame["self_paced"].eq(0).all():
            skipped[day] = (f"past the end of every course in the data (the longest lasts "
                            f"{longest:.0f} days)")
            continue
        for side, mask in (("training", split.train), ("validation", split.valid), ("test", split.test)):
            labels = set(y[mask & (days == day)])
            if len(labels) < 2:
                skipped[day] = (f"no {side} rows" if not labels else
                                f"the {side} rows have one class of {config.label!r} only")
                break
    if len(skipped) == len(config.as_of_days):
        shown = "; ".join(f"day {d}: {why}" for d, why in skipped.items())
        raise InputError(f"no as-of day can be trained ({shown})")
    return skipped


def _without_days(rows: LabelledRows, split: Split, config: TrainConfig,
                  skipped: dict[int, str]) -> tuple[LabelledRows, Split, TrainConfig]:
    keep = ~rows.frame["as_of_day"].isin(list(skipped)).to_numpy()
    rows = replace(rows, frame=rows.frame[keep].reset_index(drop=True))
    split = replace(split, train=split.train[keep], valid=split.valid[keep], test=split.test[keep])
    days = [d for d in config.as_of_days if d not in skipped]
    return rows, split, config.model_copy(update={"as_of_days": days})


def _fit_calibrated(X, y, train, valid, rows: LabelledRows, config: TrainConfig,
                    day: int | None = None) -> tuple[object, list[dict]]:
    """LightGBM with early stopping, calibrated on the validation rows with the configured
    method; and every method's figures on those rows (out of fold) for the model card."""
    model = fitting.fit_lightgbm(X[train], y[train], X[valid], y[valid], rows.categorical_columns,
                                 config.lightgbm, config.early_stopping_rounds, config.split.seed)
    learners = rows.frame["learner_id"].to_numpy()[valid]
    compared = [{"as_of_day": "all" if day is None else day, **c}
                for c in fitting.compare_calibrations(model, X[valid], y[valid], learners)]
    return fitting.calibrate(model, X[valid], y[valid], config.calibration), compared


def _fit_per_day(X, y, split: Split, rows: LabelledRows,
                 config: TrainConfig) -> tuple[PerHorizonClassifier, list[dict]]:
    days = rows.frame["as_of_day"].to_numpy()
    models, compared = {}, []
    for day in config.as_of_days:
        train, valid = split.train & (days == day), split.valid & (days == day)
        if min(y[train].std(), y[valid].std()) == 0:
            raise InputError(f"as-of day {day}: training or validation rows have one class of "
                             f"{config.label!r} only; one model per day needs both")
        models[day], figures = _fit_calibrated(X, y, train, valid, rows, config, day)
        compared += figures
    return PerHorizonClassifier(models).fit(X, y), compared


def compare_horizons(test: pd.DataFrame, scores: dict[str, np.ndarray],
                     config: TrainConfig) -> pd.DataFrame:
    """Test AUC and ECE per as-of day: one model for all days vs one model per day."""
    days, y = test["as_of_day"].to_numpy(), test["label"].to_numpy()
    out = []
    for day in config.as_of_days:
        rows = days == day
        entry = {"as_of_day": day}
        for name, p in scores.items():
            m = classification_metrics(y[rows], p[rows], config.risk_of)
            entry[f"{name}_auc"], entry[f"{name}_ece"] = m["auc"], m["ece"]
        out.append(entry)
    return pd.DataFrame(out)


def data_hash(rows: LabelledRows) -> str:
    """sha256 of the training table (keys, features, label): two runs on the same data agree."""
    columns = [*ROW_KEYS, *rows.feature_columns, "label"]
    frame = rows.frame[list(dict.fromkeys(columns))]
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()
