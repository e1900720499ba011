"""The model bundle: what training writes and serving reads.

A bundle is the fitted estimator (a calibrated LightGBM pipeline, or one per as-of day) plus
typed, versioned metadata: the feature spec to rebuild exactly the columns it was trained on,
its as-of days, target, risk bands, and the reference values its reasons compare against. It is
stored as an MLflow model (``mlflow.sklearn`` flavour, skops serialisation) with the metadata
in the model's ``MLmodel`` file, either in a folder (``save``/``load``) or logged to a run and
registered (``log``; ``registry.load_bundle`` reads it back).

``BUNDLE_FORMAT`` is raised whenever the metadata's meaning changes; a bundle of another format
is refused with ``BundleError`` instead of being misread.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from mooc_risk.errors import validation_problems
from mooc_risk.features.build import FeatureSpec
from mooc_risk.models.confidence import VennAbersByDay
from mooc_risk.models.estimators import (
    PROBABILITY_EPS,
    FeatureRowClassifier,
    as_model_input,
    positive_proba,
    served_probability,
)
from mooc_risk.models.targets import Target

BUNDLE_FORMAT = 3  # 2: the stored model is a FeatureRowClassifier (feature rows in, P out);
# 3: it carries Venn-Abers calibrators by day, the metadata the training courses (cold start)
NOT_ROW_COLUMNS = ("label", "run_start", "cutoff_s")  # training's columns beside a feature row
SKOPS_TRUSTED = [  # the classes a bundle may contain beyond sklearn's own (skops refuses others)
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "mooc_risk.models.horizons.PerHorizonClassifier",
    "mooc_risk.models.estimators.FeatureRowClassifier",
    "mooc_risk.models.confidence.VennAbers",
    "mooc_risk.models.confidence.VennAbersByDay",
]
COLD_START_MIN_LEARNERS = 100  # see BundleMetadata.cold_start_min_learners


class BundleError(LookupError):
    """A bundle that cannot be read: missing, unreadable, or of another bundle format."""


class BundleFormatError(BundleError):
    """A bundle written in another bundle format (e.g. by a mooc-risk before the contract)."""


def _spec(value: Any) -> FeatureSpec:
    return value if isinstance(value, FeatureSpec) else FeatureSpec.from_dict(value)


SpecField = Annotated[FeatureSpec, PlainValidator(_spec), PlainSerializer(lambda s: s.to_dict())]


class Thresholds(BaseModel):
    """Risk bands: medium from ``medium``, high from ``high`` (on the risk, 0–1)."""

    model_config = ConfigDict(extra="forbid")
    medium: float = Field(gt=0, lt=1)
    high: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.medium >= self.high:
            raise ValueError("thresholds.medium must be below thresholds.high")
        return self

    def band(self, risk: np.ndarray) -> np.ndarray:
        """``low``, ``medium`` or ``high`` for each risk (shape (n,))."""
        return np.select([risk >= self.high, risk >= self.medium], ["high", "medium"], "low")


class BundleMetadata(BaseModel):
    """Everything besides the estimator that scoring and explaining a bundle needs."""

    model_config = ConfigDict(extra="forbid")
    bundle_format: int = BUNDLE_FORMAT
    target: Target
    feature_spec: SpecField
    feature_columns: list[str]
    categorical_columns: list[str]
    as_of_days: list[int] = Field(min_length=1)
    thresholds: Thresholds
    # feature → as-of day → median among training learners with the good outcome (reasons)
    reference: dict[str, dict[int, float]] = {}
    test_metrics: dict[str, float] = {}
    data_hash: str
    trained_at: str  # ISO 8601, UTC
    sensitive_attributes: list[str] = []  # never worded as reasons, even when model features
    # course id → distinct learners of the course in the rows the model was fitted and
    # calibrated on (training and validation sides of the split), recorded at training time
    training_courses: dict[str, int] = {}
    # a course with fewer training learners than this (or none) is a cold start: with 100
    # learners a course's own rate is known to ±5 points at best (the binomial standard error
    # at p = 0.5 is 0.5/√100 = 0.05, the ECE ceiling of the gate), so below it the model has
    # barely seen the course. Config key ``cold_start_min_learners``.
    cold_start_min_learners: int = Field(COLD_START_MIN_LEARNERS, ge=1)

    @field_validator("bundle_format")
    @classmethod
    def _known_format(cls, found: int) -> int:
        if found != BUNDLE_FORMAT:
            raise ValueError(f"bundle format {found}; this mooc-risk reads format {BUNDLE_FORMAT}: "
                             "retrain the model, or score it with the mooc-risk that trained it")
        return found

    @property
    def risk_of(self) -> str:
        return self.target.risk_of

    @property
    def registered_name(self) -> str:
        return self.target.registered_name

    def cold_start(self, course_ids) -> np.ndarray:
        """True for each course id (shape (n,)) the model was trained on fewer than
        ``cold_start_min_learners`` learners of (none: a course absent from training)."""
        known = {c for c, n in self.training_courses.items() if n >= self.cold_start_min_learners}
        return ~pd.Series(np.asarray(course_ids, dtype=object)).isin(known).to_numpy()


@dataclass(frozen=True)
class ModelBundle:
    """A fitted estimator with its metadata; ``version`` is its registry version, if any;
    ``confidence`` the Venn-Abers calibrators by as-of day (None: a bundle built in memory
    without them, whose interval is the probability itself)."""

    estimator: Any
    metadata: BundleMetadata
    version: str | None = None
    confidence: VennAbersByDay | None = None

    @property
    def name(self) -> str:
        return self.metadata.registered_name

    @property
    def spec(self) -> FeatureSpec:
        return self.metadata.feature_spec

    @property
    def feature_columns(self) -> list[str]:
        return self.metadata.feature_columns

    @property
    def categorical_columns(self) -> list[str]:
        return self.metadata.categorical_columns

    @property
    def risk_of(self) -> str:
        return self.metadata.risk_of

    @property
    def thresholds(self) -> Thresholds:
        return self.metadata.thresholds

    def inputs(self, features: pd.DataFrame) -> pd.DataFrame:
        """The estimator's input frame from ``build_features`` rows (extra columns are ignored)."""
        return as_model_input(features, self.feature_columns, self.categorical_columns)

    def probability(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated P(label) for each feature row, shape (n,), within [ε, 1 − ε]
        (``PROBABILITY_EPS``): a served probability is never exactly 0 or 1."""
        return self.probability_of_inputs(self.inputs(features))

    def probability_of_inputs(self, X: pd.DataFrame) -> np.ndarray:
        """``probability`` for rows already in the estimator's input form (``inputs``)."""
        return served_probability(self.estimator, X, confidence=self.confidence)

    def interval_of_inputs(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The Venn-Abers interval (p0, p1) of P(label) per row of ``X`` (``inputs`` form,
        with ``as_of_day``), shapes (n,), ε ≤ p0 ≤ ``probability`` ≤ p1 ≤ 1 − ε: each row
        is placed among its as-of day's calibration rows (``models.confidence``). Without
        calibrators (a bundle built in memory), (p, p)."""
        if self.confidence is None:
            p = self.probability_of_inputs(X)
            return p, p.copy()
        p0, p1 = self.confidence.interval(positive_proba(self.estimator, X), X["as_of_day"].to_numpy())
        return np.clip(p0, PROBABILITY_EPS, 1 - PROBABILITY_EPS), np.clip(p1, PROBABILITY_EPS,
                                                                          1 - PROBABILITY_EPS)

    def feature_row_model(self) -> FeatureRowClassifier:
        """The estimator as MLflow stores it: it takes feature rows, ``predict`` → P(label)."""
        return FeatureRowClassifier(self.estimator, self.feature_columns, self.categorical_columns,
                                    PROBABILITY_EPS, self.confidence).fit()

    def save(self, path: Path | str, input_example: pd.DataFrame) -> Path:
        """Write the bundle to a new folder ``path`` (an MLflow model); return the path."""
        import mlflow

        mlflow.sklearn.save_model(self.feature_row_model(), str(path), **self._mlflow_args(input_example))
        return Path(path)

    def log(self, input_example: pd.DataFrame, registered: bool = True):
        """Log the bundle to the active MLflow run as ``model`` and (by default) register it
        under its target's name; returns MLflow's ``ModelInfo``."""
        import mlflow

        return mlflow.sklearn.log_model(
            self.feature_row_model(), name="model", **self._mlflow_args(input_example),
            registered_model_name=self.name if registered else None)

    def _mlflow_args(self, input_example: pd.DataFrame) -> dict:
        """Signature and example as feature rows, the way ``build_features`` writes them
        (``as_of_day`` a whole number): the model's features required, the row's other
        columns (keys, display-only, unused) optional; the output is one column, P(label)."""
        from mlflow.models import ModelSignature, infer_signature
        from mlflow.types import ColSpec, Schema

        example = input_example.drop(columns=[c for c in NOT_ROW_COLUMNS if c in input_example])
        example = example.copy()
        example[self.feature_columns] = self.inputs(example)
        if "as_of_day" in example:
            example["as_of_day"] = example["as_of_day"].astype("int64")
        output = pd.Series(self.feature_row_model().predict(example), name="probability")
        with warnings.catch_warnings():  # MLflow's hint on integer columns with missing values:
            # the only integer column, as_of_day, is part of a row's key and never missing
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            inferred = infer_signature(example, output)
        features = set(self.feature_columns)
        inputs = Schema([ColSpec(c.type, c.name, required=c.name in features)
                         for c in inferred.inputs.inputs])
        signature = ModelSignature(inputs=inputs, outputs=inferred.outputs)
        return {"signature": signature, "input_example": example,
                "metadata": self.metadata.model_dump(mode="json"), "pyfunc_predict_fn": "predict",
                "skops_trusted_types": SKOPS_TRUSTED}

    @classmethod
    def load(cls, uri: Path | str, version: str | None = None) -> ModelBundle:
        """Read a bundle from a folder or an MLflow model URI (``models:/NAME/VERSION``).

        Raises ``BundleError`` when it cannot be read or is of another bundle format.
        """
        import mlflow
        from mlflow.exceptions import MlflowException

        uri = str(uri)
        try:
            stored = mlflow.models.get_model_info(uri).metadata or {}
        except (MlflowException, OSError) as exc:
            raise BundleError(f"cannot load {uri}: {getattr(exc, 'message', exc)}") from None
        except Exception as exc:  # noqa: BLE001 - a corrupt MLmodel file: YAML, encoding, schema errors
            raise BundleError(f"cannot load {uri}: its MLmodel file cannot be read "
                              f"({type(exc).__name__})") from None
        if stored.get("bundle_format") != BUNDLE_FORMAT:
            found = stored.get("bundle_format")
            raise BundleFormatError(
                f"cannot load {uri}: it was saved " + (f"in bundle format {found}" if found else
                "without a bundle format (by a mooc-risk before the model contract)")
                + f"; this mooc-risk reads format {BUNDLE_FORMAT}: retrain the model")
        try:
            metadata = BundleMetadata.model_validate(stored)
            loaded = mlflow.sklearn.load_model(uri)
        except ValidationError as exc:
            raise BundleError(f"cannot load {uri}: {validation_problems(exc, first_only=True)}") from None
        except Exception as exc:  # noqa: BLE001 - a missing or corrupt file, an untrusted or
            # unknown class: each serialisation layer (zip, skops, pickle, MLflow) has its own
            raise BundleError(f"cannot load {uri}: {type(exc).__name__}: {exc}") from None
        if not isinstance(loaded, FeatureRowClassifier):
            raise BundleFormatError(f"cannot load {uri}: it holds a {type(loaded).__name__}, not the "
                                    f"FeatureRowClassifier of bundle format {BUNDLE_FORMAT}: retrain")
        if getattr(loaded, "confidence", None) is None:
            raise BundleFormatError(f"cannot load {uri}: its model has no Venn-Abers calibrators, "
                                    f"which bundle format {BUNDLE_FORMAT} carries: retrain")
        return cls(loaded.estimator, metadata, version, loaded.confidence)

