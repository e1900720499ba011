"""Sensitive attributes are for fairness audits: not features by default, never reasons."""

import numpy as np
import pandas as pd
import pytest

from mooc_risk.features.build import default_spec
from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.models.targets import Target
from mooc_risk.serving.reasons import Explainer, load_catalogue
from mooc_risk.training.config import load_config
from mooc_risk.training.train import fit_and_assess

SENSITIVE = {"gender", "age_band", "disability", "employment"}


def test_a_sensitive_feature_never_becomes_a_reason_and_counts_in_the_rest():
    from dataclasses import replace

    from mooc_risk.serving.wording import GroupSpec

    columns = ["gender", "days_since_last_activity", "self_efficacy"]
    catalogue = load_catalogue()  # even a catalogue edited to word gender as a reason
    edited = replace(catalogue, groups={**catalogue.groups, "who": GroupSpec(
        category="context", features=["gender"], primary="gender", text="{value}")})
    contributions = np.array([[2.0, 0.5, 0.25]])  # gender raises the risk most
    for explainer, named_first in ((Explainer(edited, columns, Target.DROPOUT, {}), "who"),
                                   (Explainer(edited, columns, Target.DROPOUT, {}, hidden=["gender"]),
                                    "inactivity")):
        table = explainer.top(contributions, k=3)
        assert table.names[table.group[0, 0]] == named_first
    named = [table.names[g] for g in table.group[0] if g >= 0]
    assert named == ["inactivity", "self_efficacy"] and table.rest[0] == pytest.approx(2.0)
    plain = Explainer(catalogue, columns, Target.DROPOUT, {})  # no group claims it: no reason
    assert "gender" not in plain.top(contributions, k=3).names


@pytest.mark.parametrize("as_features", [False, True])
def test_sensitive_attributes_are_features_only_by_config_and_always_audited(
        synthetic_data, cmap, duck, as_features):
    tables = read_tables(synthetic_data, duck, cmap)
    config = load_config(None, ["compare_horizon_strategies=false",
                                f"sensitive_as_features={str(as_features).lower()}"],
                         target="dropout", as_of_days=[7, 14])
    trained = fit_and_assess(tables, config, default_spec(tables, cmap))
    used = SENSITIVE & set(trained.rows.feature_columns)
    assert used == (SENSITIVE if as_features else set())
    groups = trained.assessment.groups
    assert {"gender", "age_band", "disability", "employment"} <= set(groups["attribute"])
    assert groups["ece"].between(0, 1).all()  # calibration by group
    assert trained.bundle().metadata.sensitive_attributes == sorted(SENSITIVE, key=[
        "gender", "age_band", "disability", "employment"].index)

    from mooc_risk.features.build import build_features
    from mooc_risk.serving.scoring import TargetScorer

    scorer = TargetScorer.build(trained.bundle(), load_catalogue())
    features = build_features(tables, [14], trained.spec)
    scored = scorer.score(features, top_k=10)
    named = set(pd.unique(scored.filter(regex=r"^reason_\d+_feature$").to_numpy().ravel()))
    assert not named & SENSITIVE


def test_with_sensitive_features_the_evaluation_report_shows_both(synthetic_data, cmap, duck, tmp_path):
    from mooc_risk.settings import TrackingSettings
    from mooc_risk.training.evaluate import evaluate_to_folder

    tables = read_tables(synthetic_data, duck, cmap)
    config = load_config(None, ["compare_horizon_strategies=false", "sensitive_as_features=true"],
                         target="dropout", as_of_days=[7, 14])
    tracking = TrackingSettings.of(tracking_uri=f"sqlite:///{tmp_path}/m.db",
                                   artifact_root=tmp_path / "a")
    evaluate_to_folder(tables, config, default_spec(tables, cmap), tmp_path / "report", tracking,
                       source="synthetic")
    report = (tmp_path / "report" / "report.md").read_text()
    assert "**are model features** (`sensitive_as_features: true`)" in report
    section = report.split("## With and without the sensitive attributes as features")[1]
    assert "auc with" in section and "auc without" in section and "| 14 |" in section
