"""``mooc-risk monitor``: drift and decay of each target's ``@champion``, and the retrain signal.

- **Drift** (``serving.drift``, Evidently): for each target and trained as-of day d, the
  feature rows at d of the learners of each course's running run who are on the list at d
  (``features.population``; built by ``build_features``, the one feature path) against the
  training reference stored with the model (the run's artifact
  ``reference/features.parquet``, written by ``training.publish``), and the model's
  probability on both. A model published before that artifact existed has none: the report
  says "no training reference: retrain to monitor drift" and decay is still computed.
- **Decay**: the predictions the ``@champion`` version actually issued
  (``serving.history.read_history``, rows of that model version) joined with the
  data folder's outcomes on course, run and learner — the label is the outcome column of the
  target (``Target.label``: ``dropped_out``, ``certified``) — by target, course and as-of day:
  AUC, PR-AUC (``sklearn.metrics``), ECE (10 equal-width bins; see ``decay_cells``) and the
  precision among the top 10 % by risk, against the model's test figures
  (``BundleMetadata.test_metrics``: ``test_auc``, ``test_pr_auc``, ``test_ece``,
  ``test_precision_top10``). Only the nights up to the monitored date are read (a back-dated
  run is as of its date). A learner scored at the same as-of day on several nights (a
  self-paced run) counts once, with the first prediction issued.
- **Signals** (``Thresholds``, ``models/monitor.yaml``): feature drift share ≥ 0.5 at an as-of
  day, score drift, an AUC ≥ 0.05 below the test AUC of that as-of day (``test_auc_by_day``;
  the pooled ``test_auc`` for a day training did not log), an ECE ≥ 0.1, decay only in cells with
  ≥ 200 labelled learners. Each fired rule sets the MLflow tag ``retrain_signal`` on the model
  version (``set_signal_tags``).

Nothing here runs at import time; Evidently, matplotlib and MLflow load when used.
"""

from __future__ import annotations

import importlib.resources
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mooc_risk.days import as_of_moment
from mooc_risk.errors import InputError, validation_problems
from mooc_risk.features.build import FeatureSpec, build_features
from mooc_risk.features.canonical.tables import Tables, read_tables
from mooc_risk.features.population import in_population, run_calendar, running_runs
from mooc_risk.models import registry
from mooc_risk.models.bundle import BundleError, ModelBundle
from mooc_risk.models.quality import expected_calibration_error, top_share_precision_recall
from mooc_risk.models.targets import Target
from mooc_risk.serving import history
from mooc_risk.serving.batch import one_course
from mooc_risk.serving.drift import run_drift
from mooc_risk.serving.scoring import no_champion
from mooc_risk.serving.store import spec_key
from mooc_risk.settings import Backend, TrackingSettings

# training.publish.REFERENCE_ARTIFACT (serving may not import training): the same path
REFERENCE_ARTIFACT = "reference/features.parquet"
NO_REFERENCE = "no training reference: retrain to monitor drift"
EXPERIMENT = "mooc-risk-monitor"
SIGNAL_TAG = "retrain_signal"
KEYS = ["course_id", "run_id", "learner_id"]
TAG_LENGTH = 250  # a short reason in the tag; the report has them all


class DriftThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feature_share: float = Field(0.5, gt=0, le=1)  # Evidently's DataDriftPreset drift_share
    score: bool = True  # score drift alone fires
    min_rows: int = Field(50, ge=1)  # current rows below which a day is not tested


class DecayThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    auc_drop: float = Field(0.05, gt=0, lt=1)  # absolute AUC below the test AUC
    ece: float = Field(0.1, gt=0, lt=1)
    min_labelled: int = Field(200, ge=1)  # labelled learners per (target, course, day) cell


class Thresholds(BaseModel):
    """``models/monitor.yaml``: when drift or decay asks for a retrain."""

    model_config = ConfigDict(extra="forbid")
    drift: DriftThresholds = DriftThresholds()
    decay: DecayThresholds = DecayThresholds()


def load_thresholds(path: Path | None = None) -> Thresholds:
    """The thresholds in ``path``, else the packaged ``models/monitor.yaml``; InputError naming
    the file for one that cannot be read or breaks the schema."""
    try:
        text = (Path(path).read_text() if path is not None else
                (importlib.resources.files("mooc_risk.models") / "monitor.yaml").read_text())
        return Thresholds.model_validate(yaml.safe_load(text) or {})
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path or 'monitor.yaml'}: cannot read ({exc})") from None
    except ValidationError as exc:
        raise InputError(f"{path or 'monitor.yaml'}: {validation_problems(exc)}") from None


@dataclass
class Signal:
    """A rule that fired: ``rule`` (``feature_drift``, ``score_drift``, ``auc_drop``, ``ece``),
    where (``as_of_day``, ``course_id`` for decay), the figure and the threshold."""

    target: str
    rule: str
    as_of_day: int
    value: float
    threshold: float
    course_id: str | None = None
    text: str = ""


@dataclass
class TargetReport:
    """One target's figures: ``drift`` one dict per as-of day tested, ``decay`` one per
    (course, as-of day) cell, ``notes`` what could not be done and why."""

    target: str
    model: str
    version: str
    test_metrics: dict[str, float]
    test_auc_by_day: dict[int, float] = field(default_factory=dict)
    drift: list[dict] = field(default_factory=list)
    decay: list[dict] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scores: dict[int, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)  # figures


@dataclass
class MonitorResult:
    date: str
    data: str
    course: str | None
    targets: list[TargetReport]
    notes: list[str] = field(default_factory=list)

    @property
    def signals(self) -> list[Signal]:
        return [s for t in self.targets for s in t.signals]


# --- the training reference ---------------------------------------------------------------
def fetch_reference(client, name: str, version: str) -> pd.DataFrame | None:
    """The reference sample stored with a model version (its run's ``REFERENCE_ARTIFACT``):
    feature columns, ``as_of_day``, ``probability``; None when the run has none (a model
    published before references were stored) or the version has no run."""
    from mlflow.exceptions import MlflowException

    run_id = client.get_model_version(name, version).run_id
    if not run_id:
        return None
    folder, file = REFERENCE_ARTIFACT.rsplit("/", 1)
    try:
        listed = {Path(a.path).name for a in client.list_artifacts(run_id, folder)}
        if file not in listed:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            return pd.read_parquet(client.download_artifacts(run_id, REFERENCE_ARTIFACT, tmp))
    except (MlflowException, OSError):
        return None


def tested_auc_by_day(client, name: str, version: str) -> dict[int, float]:
    """The model's test AUC per trained as-of day (its run's ``test_auc_by_day`` steps, logged
    by ``training.tracking``); {} when absent."""
    from mlflow.exceptions import MlflowException

    run_id = client.get_model_version(name, version).run_id
    try:
        return {int(m.step): float(m.value) for m in client.get_metric_history(run_id, "test_auc_by_day")}
    except MlflowException:
        return {}


# --- current features -----------------------------------------------------------------------
def current_features(tables: Tables, spec: FeatureSpec, days: list[int], moment: datetime,
                     course: str | None = None) -> pd.DataFrame:
    """The feature rows at ``days`` of the learners of each course's running run at
    ``moment`` (or of ``course``'s) who are on the list at their day and whose day has come
    (``in_population``): ``build_features`` on the (course's) tables in one call, then the
    running runs' rows, as the refresh reads the feature store. InputError when no run has
    started by then."""
    if course is not None:
        tables = one_course(tables, course)
    runs = running_runs(run_calendar(tables), moment)
    if not runs:
        raise InputError(f"no run has started by {moment:%Y-%m-%d}: nothing to monitor")
    features = build_features(tables, sorted(days), spec)
    pairs = pd.MultiIndex.from_arrays([features["course_id"], features["run_id"]])
    features = features[pairs.isin(list(runs.items()))].reset_index(drop=True)
    return features[in_population(features, tables, moment)].reset_index(drop=True)


def drift_by_day(bundle: ModelBundle, reference: pd.DataFrame, current: pd.DataFrame,
                 thresholds: DriftThresholds, html_dir: Path | None,
                 report: TargetReport) -> None:
    """Fill ``report.drift`` (and its signals): per trained as-of day with ≥ ``min_rows``
    current rows, the features' drift and the score's (each an Evidently report), the
    features' Evidently HTML as ``html_dir/drift-<target>-day<d>.html``."""
    categorical = [c for c in bundle.categorical_columns if c != "as_of_day"]
    numeric = [c for c in bundle.feature_columns if c not in categorical and c != "as_of_day"]
    for day in sorted(bundle.metadata.as_of_days):
        ref = reference[reference["as_of_day"] == day]
        cur = current[current["as_of_day"] == day]
        entry = {"as_of_day": int(day), "reference_rows": len(ref), "current_rows": len(cur)}
        if len(cur) < thresholds.min_rows or ref.empty:
            why = "no reference rows" if ref.empty else f"fewer than {thresholds.min_rows} current rows"
            report.drift.append({**entry, "tested": False, "why": why})
            continue
        p_cur = bundle.probability(cur)
        report.scores[int(day)] = {"reference": ref["probability"].to_numpy(), "current": p_cur}
        name = f"drift-{report.target}-day{day}.html"
        features = run_drift(ref, cur, numeric, categorical,
                             html=None if html_dir is None else Path(html_dir) / name)
        score = run_drift(ref[["probability"]], pd.DataFrame({"probability": p_cur}),
                          ["probability"], []).column("probability")
        entry.update({"tested": True, "html": name, "drift_share": features.share,
                      "drifted_count": features.drifted_count, "tested_features": len(features.columns),
                      "drifted_features": [_column(c) for c in features.columns if c.drifted],
                      "score_drift": None if score is None else _column(score)})
        report.drift.append(entry)
        if features.share >= thresholds.feature_share:
            report.signals.append(Signal(report.target, "feature_drift", int(day), features.share,
                                         thresholds.feature_share,
                                         text=f"feature drift day {day} ({features.share:.0%} of features)"))
        if thresholds.score and score is not None and score.drifted:
            report.signals.append(Signal(report.target, "score_drift", int(day), score.value,
                                         score.threshold, text=f"score drift day {day} ({score.method} "
                                         f"{score.value:.3g})"))


def _column(c) -> dict:
    return {"column": c.column, "method": c.method, "value": _num(c.value), "threshold": c.threshold,
            "drifted": c.drifted}


# --- decay ------------------------------------------------------------------------------------
def issued_with_outcomes(predictions: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The history's rows joined with the outcome of their learner (inner join on course, run,
    learner), ``label`` the target's outcome (0/1; rows whose label is unknown are left out),
    one row per target, learner and as-of day (the first night it was issued)."""
    first = (predictions.sort_values(["date", *KEYS, "target"], kind="stable")
             .drop_duplicates(["target", *KEYS, "as_of_day"], keep="first"))
    parts = []
    for target in sorted(first["target"].unique()):
        label = Target(target).label
        known = outcomes[[*KEYS, label]] if label in outcomes else outcomes[KEYS].assign(**{label: None})
        known = known[known[label].notna()]
        rows = first[first["target"] == target].merge(known, on=KEYS, how="inner")
        parts.append(rows.assign(label=rows[label].astype(bool).astype("int64")).drop(columns=[label]))
    if not parts:
        return first.assign(label=pd.Series(dtype="int64"))
    return pd.concat(parts, ignore_index=True)


def decay_cells(rows: pd.DataFrame, risk_of: str, min_labelled: int,
                ece: Callable[[np.ndarray, np.ndarray], float] | None = None) -> list[dict]:
    """Per (course, as-of day) of one target's ``issued_with_outcomes`` rows: ``n`` labelled
    learners, ``positives``, and with ≥ ``min_labelled`` rows and both labels present ``auc``,
    ``pr_auc`` (sklearn's ``roc_auc_score``, ``average_precision_score`` on the probability),
    ``precision_top10`` (on the risk: dropout P, certification 1 − P; ``models.quality``, as
    training's ``test_precision_top10``) and ``ece`` (``ece(y, p)``, by default
    ``models.quality.expected_calibration_error``, as training's ``test_ece``); else ``status``
    "too few outcomes yet" / "one outcome only"."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    cells = []
    for (course, day), cell in rows.groupby(["course_id", "as_of_day"], sort=True):
        y, p = cell["label"].to_numpy(), cell["probability"].to_numpy()
        entry = {"course_id": course, "as_of_day": int(day), "n": len(cell), "positives": int(y.sum()),
                 "auc": None, "pr_auc": None, "ece": None, "precision_top10": None}
        if len(cell) < min_labelled:
            cells.append({**entry, "status": f"too few outcomes yet (< {min_labelled})"})
            continue
        if y.min() == y.max():
            cells.append({**entry, "status": "one outcome only"})
            continue
        y_risk, risk = (y, p) if risk_of == "label" else (1 - y, 1 - p)
        entry.update(auc=float(roc_auc_score(y, p)), pr_auc=float(average_precision_score(y, p)),
                     precision_top10=top_share_precision_recall(y_risk, risk)[0],
                     ece=float((ece or expected_calibration_error)(y, p)), status="ok")
        cells.append(entry)
    return cells


def test_auc_of(report: TargetReport, day: int) -> tuple[float | None, str]:
    """The test AUC a cell of as-of day ``day`` is compared with, and which: the model's test
    AUC at the latest trained day at or before ``day`` (``test_auc_by_day``, "as-of day d":
    a learner known for longer is no harder to rank, so an earlier day's figure does not
    flag a day the model was not trained on), else the pooled ``test_auc`` ("pooled");
    (None, "none") when the model has neither."""
    earlier = [d for d in report.test_auc_by_day if d <= day]
    if earlier:
        return float(report.test_auc_by_day[max(earlier)]), f"as-of day {max(earlier)}"
    pooled = report.test_metrics.get("test_auc")
    return (None, "none") if pooled is None else (float(pooled), "pooled")


def decay_signals(report: TargetReport, thresholds: DecayThresholds) -> None:
    """Fill ``report.signals`` from ``report.decay``: ``auc_drop`` when a cell's AUC is ≥
    ``auc_drop`` below the test AUC of its as-of day (``test_auc_of``; each cell records it as
    ``test_auc`` and ``test_auc_of``), ``ece`` when its ECE is ≥ ``ece``."""
    for cell in report.decay:
        test_auc, of = test_auc_of(report, int(cell["as_of_day"]))
        cell.update(test_auc=test_auc, test_auc_of=of)
        if cell["status"] != "ok":
            continue
        where = f"{cell['course_id']} day {cell['as_of_day']}"
        if test_auc is not None and cell["auc"] <= test_auc - thresholds.auc_drop:
            reference = f"test {test_auc:.3f}" + (" (pooled)" if of == "pooled" else "")
            report.signals.append(Signal(report.target, "auc_drop", cell["as_of_day"], cell["auc"],
                                         test_auc - thresholds.auc_drop, cell["course_id"],
                                         f"AUC {cell['auc']:.3f} vs {reference} in {where}"))
        if cell["ece"] is not None and cell["ece"] >= thresholds.ece:
            report.signals.append(Signal(report.target, "ece", cell["as_of_day"], cell["ece"],
                                         thresholds.ece, cell["course_id"],
                                         f"ECE {cell['ece']:.3f} in {where}"))


# --- the whole run ------------------------------------------------------------------------------
def monitor(data: Path, day: date, tracking: TrackingSettings, history_dir: Path, *,
            course: str | None = None, thresholds: Thresholds | None = None,
            backend: Backend = Backend.DUCKDB, html_dir: Path | None = None,
            ece: Callable[[np.ndarray, np.ndarray], float] | None = None,
            targets: list[Target] | None = None,
            on_step: Callable[[str], None] = lambda _label: None) -> MonitorResult:
    """Drift and decay of each target's ``@champion`` on ``data`` as of 00:00 UTC of ``day``
    (``course``: that course only), with the signals of ``thresholds`` (default:
    ``models/monitor.yaml``); Evidently's HTML files in ``html_dir``; ``targets`` (default:
    all) the targets to monitor; ``ece(y, p)`` the calibration error (None: ``models.quality``'s, see
    ``decay_cells``). Sets no tag (see ``set_signal_tags``).

    InputError: a missing data folder or table, an unknown course, no ``@champion``, no run
    started by ``day``.
    """
    from mooc_risk.features.canonical.engine import connect

    thresholds = thresholds or load_thresholds()
    c = registry.client(tracking)
    bundles, notes, why = {}, [], {}
    for target in targets or list(Target):
        try:
            bundles[target] = registry.load_bundle(tracking, target.registered_name)
        except BundleError as exc:
            notes.append(f"{target.value} not monitored: {exc}")
            why[target] = str(exc)
    if not bundles:
        raise InputError(no_champion(why))
    moment = as_of_moment(day)
    con = connect(backend)
    tables_by_spec: dict[str, Tables] = {}
    features_by_spec: dict[str, pd.DataFrame] = {}
    predictions = history.read_history(history_dir, course_id=course)
    # as of ``day``: the nights up to it, not those a back-dated run finds after it
    predictions = predictions[pd.to_datetime(predictions["date"]) <= pd.Timestamp(day)]
    outcomes = None
    result = MonitorResult(f"{day:%Y-%m-%d}", str(Path(data).resolve()), course, [], notes)
    for target, bundle in bundles.items():
        report = TargetReport(target.value, bundle.name, str(bundle.version),
                              dict(bundle.metadata.test_metrics),
                              tested_auc_by_day(c, bundle.name, str(bundle.version)))
        key = bundle.spec.constructs.model_dump_json()
        if key not in tables_by_spec:
            tables_by_spec[key] = read_tables(data, con, bundle.spec.constructs)
        tables = tables_by_spec[key]
        # drift
        reference = fetch_reference(c, bundle.name, str(bundle.version))
        if reference is None:
            report.notes.append(NO_REFERENCE)
        else:
            stored = spec_key(bundle.spec)
            if stored not in features_by_spec:
                features_by_spec[stored] = current_features(tables, bundle.spec,
                                                            bundle.metadata.as_of_days, moment, course)
            drift_by_day(bundle, reference, features_by_spec[stored], thresholds.drift,
                         html_dir, report)
        on_step(f"{target.value}: drift")
        # decay
        if outcomes is None and tables.outcomes is not None:
            outcomes = tables.outcomes.to_pyarrow().to_pandas()
        mine = predictions[(predictions["target"] == target.value) & (predictions["model"] == bundle.name)
                           & (predictions["model_version"] == str(bundle.version))]
        if outcomes is None:
            report.notes.append("no outcomes table in the data folder: decay not computed")
        elif mine.empty:
            report.notes.append(f"no predictions of v{bundle.version} in the history yet "
                                f"(up to {day:%Y-%m-%d}): decay not computed")
        else:
            rows = issued_with_outcomes(mine, outcomes)
            report.decay = decay_cells(rows, bundle.risk_of, thresholds.decay.min_labelled, ece)
            decay_signals(report, thresholds.decay)
        on_step(f"{target.value}: decay")
        result.targets.append(report)
    return result


def signal_text(report: TargetReport) -> str:
    """The ``retrain_signal`` tag's value: the fired rules, short (≤ ``TAG_LENGTH``)."""
    text = "; ".join(s.text for s in report.signals)
    return text if len(text) <= TAG_LENGTH else text[:TAG_LENGTH - 1] + "…"


def set_signal_tags(tracking: TrackingSettings, result: MonitorResult) -> dict[str, str]:
    """Tag each model version whose rules fired with ``retrain_signal`` = ``signal_text``, and
    remove the tag of a version none of whose rules fired when the monitor covered every
    course (a ``--course`` run cannot clear what another course raised); the tags set, by
    target."""
    c = registry.client(tracking)
    tagged = {}
    for report in result.targets:
        if report.signals:
            tagged[report.target] = signal_text(report)
            c.set_model_version_tag(report.model, report.version, SIGNAL_TAG, tagged[report.target])
        elif result.course is None and SIGNAL_TAG in c.get_model_version(report.model, report.version).tags:
            c.delete_model_version_tag(report.model, report.version, SIGNAL_TAG)
    return tagged


def as_dict(result: MonitorResult) -> dict:
    """The result as JSON-ready data (``monitor.json``)."""
    return {
        "date": result.date, "data": result.data, "course": result.course, "notes": result.notes,
        "retrain": bool(result.signals),
        "targets": {t.target: {
            "model": t.model, "version": t.version,
            "test_metrics": {k: _num(v) for k, v in t.test_metrics.items()},
            "test_auc_by_day": {str(k): _num(v) for k, v in t.test_auc_by_day.items()},
            "drift": t.drift, "decay": [{k: _num(v) for k, v in cell.items()} for cell in t.decay],
            "signals": [s.__dict__ | {"value": _num(s.value)} for s in t.signals],
            "notes": t.notes} for t in result.targets},
    }


def _num(value):
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value
