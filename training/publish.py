"""Record a trained model: one MLflow run (params, tags, data sets, metrics, plots), the bundle
registered with signature and input example, the promotion gate, and the model card."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ibis
import mlflow
import pandas as pd

from mooc_risk.errors import InputError
from mooc_risk.features.build import build_features
from mooc_risk.features.canonical.schemas import ROW_KEYS
from mooc_risk.features.canonical.tables import Tables
from mooc_risk.files import write_text
from mooc_risk.models import estimators as est
from mooc_risk.models import registry
from mooc_risk.models.bundle import BundleError, BundleFormatError, ModelBundle
from mooc_risk.models.contributions import pipelines, tree_contributions
from mooc_risk.settings import TrackingSettings
from mooc_risk.training import plots
from mooc_risk.training.assessment import assess
from mooc_risk.training.card import render_card
from mooc_risk.training.gate import GateDecision, Scorecard, decide
from mooc_risk.training.tracking import experiment_id, log_datasets, log_test_metrics
from mooc_risk.training.train import Trained

SHAP_ROWS = 2000
REFERENCE_ARTIFACT = "reference/features.parquet"  # read by serving.monitor (drift)
REFERENCE_ROWS_PER_DAY = 5000
REFERENCE_SEED = 0


@dataclass(frozen=True)
class Published:
    run_id: str
    version: str
    decision: GateDecision
    alias: str
    card: Path


def publish(trained: Trained, tables: Tables, tracking: TrackingSettings, cards_dir: Path,
            source: str) -> Published:
    """Log the run, gate the candidate against the champion, register the bundle, set its alias
    and write the model card (``cards_dir/<name>-v<version>.md``)."""
    config = trained.config
    c = registry.client(tracking)
    exp = experiment_id(tracking, config.registered_name)
    with mlflow.start_run(experiment_id=exp) as run:
        _log_run(trained, source)
        _log_reference(trained)
        decision = _gate(trained, tables, tracking, c)  # before registering: it may fail
        bundle = trained.bundle()
        version = bundle.log(trained.test.head(5)).registered_model_version  # feature rows
        alias = registry.CHAMPION if decision.promote else registry.CHALLENGER
        registry.set_alias(c, bundle.name, alias, str(version))
        for key, value in {"gate_decision": alias, "gate_reason": decision.reason}.items():
            mlflow.set_tag(key, value)
            c.set_model_version_tag(bundle.name, str(version), key, value)
        card_text = render_card(trained, str(version), run.info.run_id, alias, decision, source)
        card = write_text(cards_dir / f"{bundle.name}-v{version}.md", card_text)
        mlflow.log_text(card_text, "model_card.md")
    return Published(run.info.run_id, str(version), decision, alias, card)


def _log_run(trained: Trained, source: str) -> None:
    config, split, rows = trained.config, trained.split, trained.rows
    params = pd.json_normalize(config.model_dump(mode="json"), sep=".").iloc[0].to_dict()
    mlflow.log_params({k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()})
    mlflow.set_tags({
        "target": config.target, "label": config.label, "data": source,
        "data_hash": trained.data_hash, "split_strategy": split.strategy, "split_note": split.note,
        "horizon_strategy": config.horizon_strategy,
        "feature_columns": json.dumps(rows.feature_columns),
        "skipped_days": json.dumps({str(d): why for d, why in trained.skipped_days.items()}),
    })
    log_datasets(trained, source)
    log_test_metrics(trained)
    mlflow.log_metrics({"train_rows": int(split.train.sum()), "valid_rows": int(split.valid.sum()),
                        "test_rows": int(split.test.sum())})
    if trained.horizons is not None:
        for row in trained.horizons.to_dict("records"):
            for name in ("single", "per_day"):
                mlflow.log_metric(f"compare_{name}_test_auc_day_{row['as_of_day']}",
                                  row[f"{name}_auc"])
    mlflow.log_dict(trained.spec.to_dict(), "feature_spec.json")
    mlflow.log_table(trained.assessment.by_day, "evaluation/by_day.json")
    if len(trained.assessment.groups):
        mlflow.log_table(trained.assessment.groups, "evaluation/groups.json")
    _log_figures(trained)


def reference_sample(trained: Trained, rows_per_day: int = REFERENCE_ROWS_PER_DAY,
                     seed: int = REFERENCE_SEED) -> pd.DataFrame:
    """The training reference ``mooc-risk monitor`` compares current runs with (drift): the
    model's feature columns, ``as_of_day`` and ``probability`` (the model's P(label), 0–1) of
    the rows it was not fitted to — the validation and test runs, so that the scores are the
    ones the model gives to runs it has not seen, as it does to current runs (scores of its own
    training rows are sharper and would read as score drift). At most ``rows_per_day`` rows per
    as-of day, sampled with ``seed``; no keys, no labels."""
    rows, split = trained.rows, trained.split
    held = rows.frame[split.valid | split.test]
    columns = list(dict.fromkeys([*rows.feature_columns, "as_of_day"]))
    shuffled = held.sample(frac=1.0, random_state=seed)
    sample = shuffled[shuffled.groupby("as_of_day").cumcount() < rows_per_day].sort_index()
    out = sample[columns].reset_index(drop=True)
    out["as_of_day"] = out["as_of_day"].astype("int64")
    out["probability"] = trained.probability(est.as_model_input(
        sample, rows.feature_columns, rows.categorical_columns))
    return out


def _log_reference(trained: Trained) -> None:
    """``reference_sample`` as the run's artifact ``REFERENCE_ARTIFACT`` (Parquet)."""
    folder, name = REFERENCE_ARTIFACT.rsplit("/", 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        reference_sample(trained).to_parquet(path, index=False)
        mlflow.log_artifact(str(path), folder)


def _log_figures(trained: Trained) -> None:
    y = trained.test["label"].to_numpy()
    scores = {"LightGBM (calibrated)": trained.test_scores["lightgbm"],
              "logistic baseline": trained.test_scores["baseline"]}
    title = f"{trained.config.target}, test runs"
    mlflow.log_figure(plots.roc_figure(y, scores, title), "plots/roc.png")
    mlflow.log_figure(plots.calibration_figure(y, scores, title), "plots/calibration.png")
    by_day = trained.assessment.by_day.pivot(index="as_of_day", columns="model", values="auc")
    mlflow.log_figure(plots.auc_by_day_figure(by_day, title), "plots/auc_by_day.png")
    if trained.assessment.group_metrics:
        mlflow.log_figure(plots.group_figure(trained.assessment.group_metrics,
                                             trained.assessment.groups, title), "plots/groups.png")
    _log_shap(trained, trained.inputs(trained.split.test))


def _log_shap(trained: Trained, X_test: pd.DataFrame) -> None:
    """A beeswarm of the test rows' contributions, and one per as-of day model."""
    sample = X_test.sample(min(SHAP_ROWS, len(X_test)), random_state=0)
    by_day = pipelines(trained.model)
    target = trained.config.target
    contributions, base, _ = tree_contributions(trained.model, sample)
    shown = next(iter(by_day.values()))["prep"].transform(sample)[sample.columns]
    days = "all days" if None in by_day else "each day by its own model"
    mlflow.log_figure(plots.shap_figure(contributions.to_numpy(), base, shown,
                                        f"{target}: TreeSHAP on the test runs, {days}"),
                      "plots/shap_summary.png")
    if None in by_day:
        return
    routed = trained.model.route(sample["as_of_day"].to_numpy())
    for day, pipeline in by_day.items():
        rows = routed == day
        if rows.any():
            shown = pipeline["prep"].transform(sample[rows])[sample.columns]
            mlflow.log_figure(plots.shap_figure(contributions.to_numpy()[rows], base[rows], shown,
                                                f"{target}: the day-{day} model on the test runs"),
                              f"plots/shap_day_{day}.png")


def _gate(trained: Trained, tables: Tables, tracking: TrackingSettings, c) -> GateDecision:
    """Promote only a candidate at least as good as the champion, judged like with like: the
    same test rows (where the champion's features exist too) and every as-of day the champion
    covers."""
    ev = trained.assessment
    candidate = Scorecard(ev.metrics["test_auc"], ev.metrics["test_ece"], ev.group_gap)
    current = registry.version_by_alias(c, trained.config.registered_name, registry.CHAMPION)
    if current is None:
        return decide(candidate, None, trained.config.gate)
    try:
        champion = registry.load_bundle(tracking, trained.config.registered_name, current.version)
        missing = sorted(set(champion.metadata.as_of_days) - set(trained.config.as_of_days))
        if missing:
            return GateDecision(False, f"the candidate covers fewer as-of days than the champion "
                                       f"v{current.version} ({_days(trained.config.as_of_days)} vs "
                                       f"{_days(champion.metadata.as_of_days)}): days {_days(missing)} "
                                       "would be served by another day's model")
        candidate, held = scorecards_on_the_same_rows(champion, trained, tables)
    except BundleFormatError:  # nothing can serve that champion any more: nothing to compare with
        decision = decide(candidate, None, trained.config.gate)
        return GateDecision(decision.promote, f"the champion v{current.version} is in a bundle "
                                              f"format this mooc-risk cannot serve; {decision.reason}")
    except (InputError, BundleError, KeyError, ValueError, ibis.common.exceptions.IbisError) as exc:
        return GateDecision(False, f"the champion v{current.version} cannot be scored on this data "
                                   f"({type(exc).__name__}: {exc}); compare by hand and use "
                                   "`mooc-risk models promote`")
    return decide(candidate, held, trained.config.gate)


def _days(days) -> str:
    return ", ".join(map(str, days))


def scorecards_on_the_same_rows(champion: ModelBundle, trained: Trained,
                                tables: Tables) -> tuple[Scorecard, Scorecard]:
    """(candidate, champion) on the candidate's test rows that the champion's features also
    have, each model with its own features."""
    test = trained.test
    features = build_features(tables, sorted(test["as_of_day"].unique()), champion.spec)
    theirs = test[[*ROW_KEYS, "label"]].merge(features, on=list(ROW_KEYS), how="inner")
    ours = theirs[list(ROW_KEYS)].merge(test, on=list(ROW_KEYS), how="left")
    cards = []
    for rows, p in ((ours, trained.probability(est.as_model_input(
            ours, trained.rows.feature_columns, trained.rows.categorical_columns))),
                    (theirs, champion.probability(theirs))):
        ev = assess(rows, {"model": p}, trained.config.risk_of, trained.config.audited_groups)
        cards.append(Scorecard(ev.metrics["test_auc"], ev.metrics["test_ece"], ev.group_gap))
    return cards[0], cards[1]
