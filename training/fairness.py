"""Per-group metrics (fairlearn MetricFrame), the largest AUC gap and ABROCA."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count
from sklearn.metrics import roc_auc_score, roc_curve

GROUP_COLUMNS = ("gender", "age_band", "education_level", "disability")
MIN_GROUP_ROWS = 30


def _auc(y, p) -> float:
    y = np.asarray(y)
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def abroca(y: np.ndarray, p: np.ndarray, in_group: np.ndarray, grid: int = 1001) -> float:
    """Absolute Between-ROC Area: ∫ |TPR_group(f) − TPR_rest(f)| df over false-positive rate."""
    fpr_grid = np.linspace(0, 1, grid)
    curves = []
    for mask in (in_group, ~in_group):
        fpr, tpr, _ = roc_curve(y[mask], p[mask])
        curves.append(np.interp(fpr_grid, fpr, tpr))
    return float(np.trapezoid(np.abs(curves[0] - curves[1]), fpr_grid))


def group_report(y: np.ndarray, p: np.ndarray, groups: pd.DataFrame) -> pd.DataFrame:
    """One row per attribute × group with enough rows and both classes: n, AUC, and per
    attribute the largest AUC gap and the largest ABROCA (group vs the rest)."""
    rows = []
    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    for attribute in groups.columns:
        values = groups[attribute].astype("object").where(groups[attribute].notna(), None)
        usable = values.notna().to_numpy()
        if usable.sum() < 2 * MIN_GROUP_ROWS:
            continue
        frame = MetricFrame(metrics={"auc": _auc, "n": count}, y_true=y[usable],
                            y_pred=p[usable], sensitive_features=values[usable].to_numpy())
        table = frame.by_group.reset_index()
        table.columns = ["group", "auc", "n"]
        table = table[(table["n"] >= MIN_GROUP_ROWS) & table["auc"].notna()]
        if len(table) < 2:
            continue
        vals = values[usable].to_numpy()
        table["abroca"] = [abroca(y[usable], p[usable], vals == g) for g in table["group"]]
        table["attribute"] = attribute
        table["auc_gap"] = table["auc"].max() - table["auc"].min()
        rows.append(table)
    columns = ["attribute", "group", "n", "auc", "abroca", "auc_gap"]
    return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)


def largest_gap(report: pd.DataFrame) -> float:
    return float(report["auc_gap"].max()) if len(report) else 0.0
