"""Calibration keeps the model's order: ranked lists without ties, no probability of 0 or 1."""

import numpy as np
import pytest

from mooc_risk.features.build import build_features, default_spec
from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.training.card import band_shares, calibration_choice
from mooc_risk.training.config import load_config
from mooc_risk.training.train import fit_and_assess


@pytest.fixture(scope="module")
def trained(synthetic_data, cmap, duck):
    tables = read_tables(synthetic_data, duck, cmap)
    config = load_config(None, ["compare_horizon_strategies=false"], target="certification",
                         as_of_days=[7, 21])
    return tables, fit_and_assess(tables, config, default_spec(tables, cmap))


def test_the_shipped_calibration_keeps_the_order_and_never_says_0_or_1(trained):
    tables, result = trained
    assert result.config.calibration == "sigmoid"
    bundle = result.bundle()
    features = build_features(tables, [21], bundle.spec)
    p = bundle.probability(features)
    assert ((p > 0) & (p < 1)).all()
    raw = result.model.calibrated_classifiers_[0].estimator.predict_proba(bundle.inputs(features))[:, 1]
    # the served probability is the Venn-Abers point on the sigmoid (models.confidence): it
    # keeps the model's order, but as a step function it ties learners within a step
    order = np.argsort(raw, kind="stable")
    assert (np.diff(p[order]) >= 0).all()
    steps = 2 * len(bundle.confidence.calibrators[21].scores_) + 1
    assert 1 < len(np.unique(p)) <= steps


def test_the_card_compares_the_methods_on_validation_rows_and_shows_band_shares(trained):
    _, result = trained
    compared = result.calibration.set_index("method")
    assert compared.loc["sigmoid", "distinct_share"] > compared.loc["isotonic", "distinct_share"]
    assert compared["ece"].between(0, 1).all()
    text = calibration_choice(result)
    assert "Method: **sigmoid** — a strictly increasing map of the model's score" in text
    assert "| isotonic |" in text and "| sigmoid |" in text
    bands = band_shares(result)
    assert "high ≥ 0.95" in bands and "| 21 |" in bands
