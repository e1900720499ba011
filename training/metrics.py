"""Evaluation metrics: discrimination, calibration and the top-10% intervention capacity."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

TOP_SHARE = 0.10


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Σ_b (n_b / n) · |mean(p_b) − mean(y_b)| over equal-width probability bins."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.mean() * abs(p[in_bin].mean() - y[in_bin].mean())
    return float(total)


def top_share_precision_recall(y_risk: np.ndarray, risk: np.ndarray, share: float = TOP_SHARE):
    """Precision and recall among the ``share`` of learners with the highest risk."""
    y_risk, risk = np.asarray(y_risk), np.asarray(risk)
    k = max(1, int(np.ceil(share * len(risk))))
    top = np.argsort(-risk, kind="stable")[:k]
    hits = y_risk[top].sum()
    positives = y_risk.sum()
    return float(hits / k), float(hits / positives) if positives else float("nan")


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
