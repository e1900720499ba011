"""How much to trust the served probabilities, in checkable terms: class-conditional conformal
prediction sets (crepes' Mondrian ``ConformalClassifier``) and the Venn-Abers intervals,
measured per as-of day on the test runs for the report and the model card.

A 90% class-conditional set of a row holds each label whose conformal p-value is at least 0.10
among the calibration rows of the same as-of day and the same true label (Mondrian categories
"day|label"; non-conformity: hinge, 1 − the model's probability of the label; p-values
without smoothing, so the sets are deterministic). On exchangeable rows the true label is in
the set at least 90% of the time, within each day and label (Vovk, Gammerman and Shafer,
*Algorithmic Learning in a Random World*, 2005, ch. 4); ``coverage_90`` checks it on the test
runs, later runs than the calibration rows, where the guarantee no longer holds when the runs
differ (on real data the misses were over-coverage: bench/real_data.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd

CONFIDENCE = 0.90
COLUMNS = ("coverage_90", "set_size_90", "interval_width")  # per as-of day, LightGBM only


def _bins(days: np.ndarray, label: np.ndarray | int) -> np.ndarray:
    return np.char.add(np.char.add(np.asarray(days).astype(str), "|"), np.asarray(label).astype(str))


def prediction_sets(p_cal: np.ndarray, y_cal: np.ndarray, days_cal: np.ndarray,
                    p_test: np.ndarray, days_test: np.ndarray,
                    confidence: float = CONFIDENCE) -> np.ndarray:
    """Boolean (n_test, 2): column c says label c is in the row's set. ``p_*``: the model's
    P(label = 1), ``y_cal`` 0/1, ``days_*`` as-of days; every test day must be a calibration
    day with both labels (ValueError otherwise)."""
    from crepes import ConformalClassifier

    p_cal, y_cal = np.asarray(p_cal, dtype=float), np.asarray(y_cal).astype(int)
    p_test, days_test = np.asarray(p_test, dtype=float), np.asarray(days_test)
    known = set(_bins(days_cal, y_cal))
    missing = sorted(set(_bins(days_test, 0)) - known | set(_bins(days_test, 1)) - known)
    if missing:
        raise ValueError(f"no calibration rows in Mondrian categories {missing} (day|label)")
    alphas_cal = 1.0 - np.where(y_cal == 1, p_cal, 1.0 - p_cal)  # hinge of the true label
    alphas_test = np.column_stack([p_test, 1.0 - p_test])  # hinge of label 0, of label 1
    fitted = ConformalClassifier().fit(alphas_cal, bins=_bins(days_cal, y_cal))
    sets = np.zeros((len(p_test), 2), dtype=bool)
    for label in (0, 1):
        found = fitted.predict_set(alphas_test, bins=_bins(days_test, label), confidence=confidence,
                                   smoothing=False)
        sets[:, label] = np.asarray(found)[:, label].astype(bool)
    return sets


def confidence_by_day(days: np.ndarray, y: np.ndarray, sets: np.ndarray,
                      low: np.ndarray, high: np.ndarray) -> pd.DataFrame:
    """Per as-of day of the test rows: ``coverage_90`` (share of rows whose label is in their
    set), ``set_size_90`` (mean labels per set, 1 = a confident answer, 2 = either), and
    ``interval_width`` (mean p1 − p0 of the Venn-Abers interval, probability points 0–1)."""
    days, y = np.asarray(days), np.asarray(y).astype(int)
    covered = sets[np.arange(len(y)), y]
    frame = pd.DataFrame({"as_of_day": days, "coverage_90": covered.astype(float),
                          "set_size_90": sets.sum(axis=1).astype(float),
                          "interval_width": np.asarray(high) - np.asarray(low)})
    return frame.groupby("as_of_day", as_index=False).mean()
