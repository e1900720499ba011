import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from mooc_risk.models.quality import expected_calibration_error, top_share_precision_recall
from mooc_risk.training.fairness import abroca, group_report
from mooc_risk.training.metrics import classification_metrics

Y = np.array([0, 0, 1, 1, 0, 1, 0, 1, 1, 0])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.65, 0.55, 0.7, 0.05])


def test_metric_helpers_match_scikit_learn_on_fixed_inputs():
    m = classification_metrics(Y, P)
    assert m["auc"] == pytest.approx(roc_auc_score(Y, P))
    assert m["pr_auc"] == pytest.approx(average_precision_score(Y, P))
    assert m["brier"] == pytest.approx(brier_score_loss(Y, P))
    assert m["auc"] == pytest.approx(0.88)  # 22 of 25 positive-negative pairs ordered


def test_ece_by_hand():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.05, 0.15, 0.95, 0.92, 0.98])
    # bin [0,0.1]: p 0.05 y 0 → |0.05-0|, weight 1/5; bin (0.1,0.2]: |0.15-1|, 1/5;
    # bin (0.9,1]: mean p 0.95, mean y 2/3 → |0.95-0.6667|, weight 3/5
    expected = 0.2 * 0.05 + 0.2 * 0.85 + 0.6 * abs(0.95 - 2 / 3)
    assert expected_calibration_error(y, p) == pytest.approx(expected)
    assert expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0


def test_top_share_precision_and_recall():
    # top 10% of 10 learners = 1 learner: the 0.9, a positive
    assert top_share_precision_recall(Y, P) == (1.0, 0.2)
    precision, recall = top_share_precision_recall(Y, P, share=0.3)  # 0.9, 0.8, 0.7: all positive
    assert (precision, recall) == (1.0, 0.6)


def test_risk_of_not_label_ranks_the_lowest_probabilities_first():
    m = classification_metrics(Y, P, risk_of="not_label")
    assert m["precision_top10"] == 1.0  # lowest p 0.05 is a negative, i.e. "at risk"
    assert m["auc"] == pytest.approx(roc_auc_score(Y, P))  # AUC stays about the label


def test_abroca_is_zero_for_identical_curves_and_positive_otherwise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1)
    y2, p2 = np.concatenate([y[:200], y[:200]]), np.concatenate([p[:200], p[:200]])
    assert abroca(y2, p2, np.arange(400) < 200) == pytest.approx(0.0, abs=1e-9)
    noisy = np.where(np.arange(400) < 200, p, rng.random(400))
    assert abroca(y, noisy, np.arange(400) < 200) > 0.1


def test_group_report_gap_and_minimum_group_size():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 600)
    good = np.clip(y * 0.5 + rng.random(600) * 0.5, 0, 1)
    p = np.where(np.arange(600) < 300, good, rng.random(600))
    groups = pd.DataFrame({"gender": np.where(np.arange(600) < 300, "a", "b"),
                           "disability": ["Y"] * 10 + ["N"] * 590})
    report = group_report(y, p, groups)
    assert set(report["attribute"]) == {"gender"}  # 10 rows of Y is too few to report
    auc_a = roc_auc_score(y[:300], p[:300])
    auc_b = roc_auc_score(y[300:], p[300:])
    assert report["auc_gap"].iloc[0] == pytest.approx(abs(auc_a - auc_b))
