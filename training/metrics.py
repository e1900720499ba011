"""Evaluation metrics: discrimination, calibration and the top-10% intervention capacity."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from mooc_risk.models.quality import expected_calibration_error, top_share_precision_recall


def classification_metrics(y: np.ndarray, p: np.ndarray, risk_of: str = "label") -> dict[str, float]:
    """AUC, PR-AUC, Brier, ECE and top-10% precision/recall; NaN where undefined."""
    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    both = 0 < y.sum() < len(y)
    y_risk, risk = (y, p) if risk_of == "label" else (1 - y, 1 - p)
    precision, recall = top_share_precision_recall(y_risk, risk)
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "precision_top10": precision,
        "recall_top10": recall,
        "n": float(len(y)),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
    }


def metrics_by_day(days: np.ndarray, y: np.ndarray, p: np.ndarray, risk_of: str) -> dict[int, dict]:
    return {int(d): classification_metrics(y[days == d], p[days == d], risk_of)
            for d in np.unique(days)}
