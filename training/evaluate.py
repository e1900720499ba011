"""``mooc-risk evaluate``: train on one side of an honest split, score the other, and write
predictions, a markdown report and plots to a folder (and the same to MLflow)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from mooc_risk.features.build import FeatureSpec
from mooc_risk.features.canonical.schemas import ROW_KEYS
from mooc_risk.features.canonical.tables import Tables
from mooc_risk.files import folder_replacing, write_table
from mooc_risk.settings import TrackingSettings
from mooc_risk.training import plots
from mooc_risk.training.card import baseline_comparison, confidence_summary, sensitive_policy
from mooc_risk.training.config import TrainConfig
from mooc_risk.training.markdown import markdown_table
from mooc_risk.training.tracking import experiment_id, log_datasets, log_test_metrics
from mooc_risk.training.train import Trained, fit_and_assess

EXPERIMENT = "mooc-risk-evaluate"
COLUMNS = ("auc", "auc_active_14d", "pr_auc", "brier", "ece", "group_gap")


@dataclass(frozen=True)
class Report:
    trained: Trained
    by_day: pd.DataFrame  # as_of_day × (model metric)
    folder: Path


def evaluate_to_folder(tables: Tables, config: TrainConfig, spec: FeatureSpec, out: Path,
                       tracking: TrackingSettings, source: str,
                       on_step: Callable[[str], None] = lambda _label: None) -> Report:
    trained = fit_and_assess(tables, config, spec, on_step)
    without = None
    if config.sensitive_as_features:  # the report shows what they add
        without = fit_and_assess(tables, config.model_copy(update={"sensitive_as_features": False}),
                                 spec)
    with folder_replacing(out) as stage:  # a failed run leaves an earlier report whole
        by_day = _write(trained, stage, source, without)
    _log(trained, out, tracking, source)
    on_step("report written")
    return Report(trained, by_day, out)


def _write(trained: Trained, out: Path, source: str, without: Trained | None) -> pd.DataFrame:
    test = trained.test
    predictions = test[list(ROW_KEYS)].assign(
        probability=trained.test_scores["lightgbm"],
        baseline_probability=trained.test_scores["baseline"],
        label=test["label"].to_numpy())
    write_table(predictions.reset_index(drop=True), out / "predictions.parquet")
    by_day = trained.assessment.by_day.pivot(index="as_of_day", columns="model", values=list(COLUMNS))
    by_day.columns = [f"{model} {metric}" for metric, model in by_day.columns]
    by_day = by_day[[f"{m} {c}" for m in ("lightgbm", "baseline") for c in COLUMNS]]
    figures = _figures(trained, predictions, source)
    for name, figure in figures.items():
        figure.savefig(out / name, dpi=110)
    text = render_report(trained, by_day, source, list(figures), without)
    (out / "report.md").write_text(text)
    trained.assessment.by_day.to_csv(out / "metrics_by_day.csv", index=False)
    return by_day


def _figures(trained: Trained, predictions: pd.DataFrame, source: str) -> dict:
    title = f"{trained.config.target} — {Path(source).name}"
    auc = trained.assessment.by_day.pivot(index="as_of_day", columns="model", values="auc")
    y = predictions["label"].to_numpy()
    figures = {
        "auc_by_day.png": plots.auc_by_day_figure(auc, title),
        "calibration.png": plots.calibration_figure(
            y, {"LightGBM (calibrated)": predictions["probability"].to_numpy(),
                "logistic baseline": predictions["baseline_probability"].to_numpy()}, title),
    }
    if trained.assessment.group_metrics:
        figures["groups.png"] = plots.group_figure(trained.assessment.group_metrics,
                                                   trained.assessment.groups, title)
    return figures


def render_report(trained: Trained, by_day: pd.DataFrame, source: str, figures: list[str],
                  without: Trained | None = None) -> str:
    c, ev, split, frame = trained.config, trained.assessment, trained.split, trained.rows.frame
    sides = pd.DataFrame([
        {"side": name, "rows": int(mask.sum()), "learners": frame.loc[mask, "learner_id"].nunique(),
         "positive rate": float(frame.loc[mask, "label"].mean())}
        for name, mask in (("train", split.train), ("valid", split.valid), ("test", split.test))])
    overall = pd.DataFrame([{"model": m, **{k: ev.metrics.get(f"{p}_{k}", np.nan) for k in
                                              ("auc", "pr_auc", "brier", "ece", "precision_top10",
                                               "recall_top10")}}
                            for m, p in (("LightGBM", "test"), ("baseline", "baseline_test"))])
    groups = ev.groups.astype({"n": "int64"}) if len(ev.groups) else ev.groups
    images = "\n".join(f"![{f}]({f})" for f in figures)
    return f"""# Evaluation: {c.target} on `{source}`

{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Label `{c.label}`; model: LightGBM
({c.horizon_strategy.replace("_", " ")}), calibrated ({c.calibration}), and a logistic baseline.

**Split** — {split.strategy}: {split.note}. No learner is on both sides. The population at
as-of day *d* is every enrolment enrolled by *d* and not unenrolled before *d* (an
unregistration or unenrolment event); going quiet removes nobody.

{markdown_table(sides)}
## By as-of day (test side)
{markdown_table(by_day.reset_index(), 3)}
`auc`: the whole population of the day; `auc_active_14d`: the learners active in the 14 days
before the day (the hard, actionable subset: those already gone quiet are easy to rank).
`group_gap`: the largest AUC difference between groups of one audited attribute with at least
30 test rows.

## Confidence (test side)
{confidence_summary(trained)}
## LightGBM or the logistic baseline?
{baseline_comparison(trained)}
## Overall (all as-of days pooled)
{markdown_table(overall)}
## Groups (all days pooled, LightGBM)
{sensitive_policy(c)}

{markdown_table(groups)}{_with_and_without(trained, without)}
{images}
"""


def _with_and_without(trained: Trained, without: Trained | None) -> str:
    """Test AUC and ECE by day with and without the sensitive attributes as features."""
    if without is None:
        return ""
    rows = []
    for name, t in (("with", trained), ("without", without)):
        day = t.assessment.by_day[t.assessment.by_day["model"] == "lightgbm"]
        rows += [{"sensitive attributes": name, "as_of_day": d, "auc": a, "ece": e}
                 for d, a, e in zip(day["as_of_day"], day["auc"], day["ece"], strict=True)]
    table = pd.DataFrame(rows).pivot(index="as_of_day", columns="sensitive attributes",
                                     values=["auc", "ece"])
    table.columns = [f"{metric} {name}" for metric, name in table.columns]
    return ("\n## With and without the sensitive attributes as features (test side)\n"
            + markdown_table(table.reset_index()))


def _log(trained: Trained, out: Path, tracking: TrackingSettings, source: str) -> None:
    experiment = experiment_id(tracking, EXPERIMENT)
    with mlflow.start_run(experiment_id=experiment, run_name=f"{trained.config.target} {Path(source).name}"):
        mlflow.set_tags({"data": source, "target": trained.config.target,
                         "split_strategy": trained.split.strategy, "split_note": trained.split.note,
                         "data_hash": trained.data_hash})
        log_datasets(trained, source)
        log_test_metrics(trained)
        mlflow.log_artifacts(str(out), artifact_path="report")
