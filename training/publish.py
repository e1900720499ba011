"""Record a trained model: one MLflow run (params, tags, metrics, plots), a registered version
with signature and input example, the promotion gate, and the model card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import ibis
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from mooc_risk.errors import InputError
from mooc_risk.features.build import build_features
from mooc_risk.features.canonical.tables import Tables
from mooc_risk.files import write_text_atomic
from mooc_risk.models import estimators as est
from mooc_risk.models import registry
from mooc_risk.models.contributions import pipelines, tree_contributions
from mooc_risk.settings import Settings
from mooc_risk.training import plots
from mooc_risk.training.card import render_card
from mooc_risk.training.dataset import ROW_KEYS
from mooc_risk.training.evaluate import evaluate
from mooc_risk.training.gate import GateDecision, Scorecard, decide
from mooc_risk.training.reference import favourable_medians
from mooc_risk.training.train import Trained

SHAP_ROWS = 2000


@dataclass(frozen=True)
class Published:
    run_id: str
    version: str
    decision: GateDecision
    alias: str
    card: Path


def publish(trained: Trained, tables: Tables, settings: Settings, source: str) -> Published:
    config = trained.config
    c = registry.client(settings)
    exp = registry.experiment_id(settings, f"mooc-risk-{config.target}")
    with mlflow.start_run(experiment_id=exp) as run:
        _log_run(trained, source)
        decision = _gate(trained, tables, settings, c)  # before registering: it may fail
        version = _log_model(trained).registered_model_version
        alias = registry.CHAMPION if decision.promote else registry.CHALLENGER
        registry.set_alias(c, config.registered_name, alias, str(version))
        for key, value in {"gate_decision": alias, "gate_reason": decision.reason}.items():
            mlflow.set_tag(key, value)
            c.set_model_version_tag(config.registered_name, str(version), key, value)
        card_text = render_card(trained, str(version), run.info.run_id, alias, decision, source)
        card = settings.cards_dir / f"{config.registered_name}-v{version}.md"
        write_text_atomic(card, card_text)
        mlflow.log_text(card_text, "model_card.md")
    return Published(run.info.run_id, str(version), decision, alias, card)


def _log_run(trained: Trained, source: str) -> None:
    config, split, rows = trained.config, trained.split, trained.rows
    params = pd.json_normalize(config.model_dump(), sep=".").iloc[0].to_dict()
    mlflow.log_params({k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()})
    mlflow.set_tags({
        "target": config.target, "label": config.label, "data": source,
        "data_hash": trained.data_hash, "split_strategy": split.strategy, "split_note": split.note,
        "horizon_strategy": config.horizon_strategy,
        "feature_columns": json.dumps(rows.feature_columns),
    })
    mlflow.log_metrics({k: v for k, v in trained.evaluation.metrics.items() if np.isfinite(v)})
    mlflow.log_metrics({"train_rows": int(split.train.sum()), "valid_rows": int(split.valid.sum()),
                        "test_rows": int(split.test.sum())})
    if trained.horizons is not None:
        for row in trained.horizons.to_dict("records"):
            for name in ("single", "per_day"):
                mlflow.log_metric(f"compare_{name}_test_auc_day_{row['as_of_day']}",
                                  row[f"{name}_auc"])
    mlflow.log_dict(trained.spec.to_dict(), "feature_spec.json")
    mlflow.log_table(trained.evaluation.by_day, "evaluation/by_day.json")
    if len(trained.evaluation.groups):
        mlflow.log_table(trained.evaluation.groups, "evaluation/groups.json")
    _log_figures(trained)


def _log_figures(trained: Trained) -> None:
    test = trained.test
    X_test = trained.inputs(trained.split.test)
    y = test["label"].to_numpy()
    scores = {"LightGBM (calibrated)": est.positive_proba(trained.model, X_test),
              "logistic baseline": est.positive_proba(trained.baseline, X_test)}
    title = f"{trained.config.target}, test runs"
    mlflow.log_figure(plots.roc_figure(y, scores, title), "plots/roc.png")
    mlflow.log_figure(plots.calibration_figure(y, scores, title), "plots/calibration.png")
    by_day = trained.evaluation.by_day.pivot(index="as_of_day", columns="model", values="auc")
    mlflow.log_figure(plots.auc_by_day_figure(by_day, title), "plots/auc_by_day.png")
    sample = X_test.sample(min(SHAP_ROWS, len(X_test)), random_state=0)
    contributions, _, _ = tree_contributions(trained.model, sample)
    shown = next(iter(pipelines(trained.model).values()))["prep"].transform(sample)[sample.columns]
    mlflow.log_figure(plots.shap_summary_figure(contributions.to_numpy(), shown),
                      "plots/shap_summary.png")


def _log_model(trained: Trained):
    rows = trained.rows
    example = trained.inputs(trained.split.test).head(5)
    signature = infer_signature(example, est.positive_proba(trained.model, example))
    metadata = {
        "feature_spec": trained.spec.to_dict(),
        "feature_columns": rows.feature_columns,
        "categorical_columns": rows.categorical_columns,
        "target": trained.config.target,
        "label": trained.config.label,
        "risk_of": trained.config.risk_of,
        "thresholds": trained.config.thresholds.model_dump(),
        "as_of_days": trained.config.as_of_days,
        "test_metrics": {k: v for k, v in trained.evaluation.metrics.items()
                         if np.isfinite(v) and "_day_" not in k},
        "data_hash": trained.data_hash,
        "reference": _reference(trained),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return mlflow.sklearn.log_model(
        trained.model, name="model", signature=signature, input_example=example,
        registered_model_name=trained.config.registered_name, metadata=metadata,
        pyfunc_predict_fn="predict_proba", skops_trusted_types=registry.SKOPS_TRUSTED,
    )


def _reference(trained: Trained) -> dict:
    """Medians of the numeric features among training learners with the good outcome."""
    rows = trained.rows
    train = rows.frame[trained.split.train]
    good = (train["label"] == 0) if trained.config.risk_of == "label" else (train["label"] == 1)
    numeric = [c for c in rows.feature_columns if c not in rows.categorical_columns]
    return favourable_medians(train, numeric, good.to_numpy())


def _gate(trained: Trained, tables: Tables, settings: Settings, c) -> GateDecision:
    ev = trained.evaluation
    candidate = Scorecard(ev.metrics["test_auc"], ev.metrics["test_ece"], ev.group_gap)
    current = registry.version_by_alias(c, trained.config.registered_name, registry.CHAMPION)
    if current is None:
        return decide(candidate, None, trained.config.gate)
    champion = registry.load_version(settings, trained.config.registered_name, current.version)
    try:
        scorecard = champion_scorecard(champion, trained, tables)
    except (InputError, KeyError, ValueError, ibis.common.exceptions.IbisError) as exc:
        return GateDecision(False, f"the champion v{current.version} cannot be scored on this data "
                                   f"({type(exc).__name__}: {exc}); compare by hand and use "
                                   "`mooc-risk models promote`")
    return decide(candidate, scorecard, trained.config.gate)


def champion_scorecard(champion: registry.LoadedModel, trained: Trained, tables: Tables) -> Scorecard:
    """The champion scored on the candidate's test rows, with the champion's own features."""
    test = trained.test
    days = sorted(test["as_of_day"].unique())
    features = build_features(tables, days, champion.spec)
    merged = test[[*ROW_KEYS, "label"]].merge(features, on=ROW_KEYS, how="inner")
    X = est.as_model_input(merged, champion.feature_columns, champion.categorical_columns)
    p = est.positive_proba(champion.model, X)
    ev = evaluate(merged, {"champion": p}, trained.config.risk_of)
    return Scorecard(ev.metrics["test_auc"], ev.metrics["test_ece"], ev.group_gap)
