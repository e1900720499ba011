"""Gate rules, per-day routing, and contributions that add up to the raw score."""

import numpy as np
import pandas as pd
import pytest

from mooc_risk.features.build import default_spec
from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.models.contributions import tree_contributions
from mooc_risk.models.horizons import PerHorizonClassifier
from mooc_risk.training.config import GateConfig, load_config
from mooc_risk.training.gate import Scorecard, decide
from mooc_risk.training.train import fit_and_assess

GATE = GateConfig(auc_tolerance=0.01, ece_ceiling=0.05, group_gap_tolerance=0.02)


@pytest.mark.parametrize(
    ("candidate", "champion", "promote", "reason"),
    [
        (Scorecard(0.80, 0.03, 0.05), None, True, "no champion yet"),
        (Scorecard(0.80, 0.07, 0.05), None, False, "ECE 0.0700 is above the ceiling"),
        (Scorecard(0.795, 0.03, 0.05), Scorecard(0.80, 0.03, 0.05), True, "AUC 0.7950"),
        (Scorecard(0.78, 0.03, 0.05), Scorecard(0.80, 0.03, 0.05), False, "below the champion"),
        (Scorecard(0.81, 0.03, 0.09), Scorecard(0.80, 0.03, 0.05), False, "group AUC gap"),
    ],
)
def test_gate_rules(candidate, champion, promote, reason):
    decision = decide(candidate, champion, GATE)
    assert decision.promote is promote and reason in decision.reason


class Constant:
    def __init__(self, p):
        self.p = p

    def predict_proba(self, X):
        return np.column_stack([1 - np.full(len(X), self.p), np.full(len(X), self.p)])


def test_per_day_model_routes_each_row_to_the_latest_trained_day():
    model = PerHorizonClassifier({0: Constant(0.1), 7: Constant(0.5), 14: Constant(0.9)}).fit(None)
    X = pd.DataFrame({"as_of_day": [0, 3, 7, 10, 14, 60]})
    assert model.predict_proba(X)[:, 1].tolist() == [0.1, 0.1, 0.5, 0.5, 0.9, 0.9]
    assert model.route([0, 6, 7, 100]).tolist() == [0, 0, 7, 14]


@pytest.mark.parametrize("strategy", ["single", "per_day"])
def test_contributions_plus_base_value_equal_the_raw_score(synthetic_data, cmap, duck, strategy):
    tables = read_tables(synthetic_data, duck, cmap)
    config = load_config("models/dropout.yaml", [f"horizon_strategy={strategy}", "as_of_days=[0,14]",
                                                 "compare_horizon_strategies=false"])
    trained = fit_and_assess(tables, config, default_spec(tables, cmap))
    X = trained.inputs(trained.split.test).head(300)
    contributions, base, raw = tree_contributions(trained.model, X)
    assert list(contributions.columns) == list(X.columns)
    np.testing.assert_allclose(contributions.sum(axis=1) + base, raw, rtol=1e-6, atol=1e-6)
    if strategy == "per_day":
        assert isinstance(trained.model, PerHorizonClassifier) and trained.model.days == [0, 14]


def test_gate_refuses_an_undefined_auc():
    decision = decide(Scorecard(float("nan"), 0.01, 0.0), None, GATE)
    assert not decision.promote and "undefined" in decision.reason
