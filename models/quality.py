"""Measures of a model's predictions that training (assessing a model) and serving (monitoring
the predictions issued) both use: calibration error and the top-10% intervention capacity."""

from __future__ import annotations

import numpy as np

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
