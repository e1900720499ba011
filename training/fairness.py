"""Per-group metrics (fairlearn MetricFrame), the largest AUC gap and ABROCA."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count
from sklearn.metrics import roc_auc_score, roc_curve

from mooc_risk.models.quality import expected_calibration_error

GROUP_COLUMNS = ("gender", "age_band", "education_level", "disability")  # audited by default
MIN_GROUP_ROWS = 30
MIN_CLASS_ROWS = 5  # an AUC from one or two learners of a class is noise, not a gap


def present_groups(frame: pd.DataFrame, audited: Sequence[str] = GROUP_COLUMNS) -> list[str]:
    """The audited group columns that ``frame`` has and that are not all empty."""
    return [c for c in dict.fromkeys(audited) if c in frame and frame[c].notna().any()]


def auc_or_nan(y, p) -> float:
    """ROC-AUC, or NaN when ``y`` has one class only."""
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


@dataclass(frozen=True)
class GroupMetrics:
    """One attribute's groups: AUC and n per kept group (``frame``), and the attribute's rows
    with a known group (``y``, ``p``, ``groups``, shape (m,)) for ABROCA against the rest."""

    frame: MetricFrame
    y: np.ndarray
    p: np.ndarray
    groups: np.ndarray


def group_metrics(y: np.ndarray, p: np.ndarray, groups: pd.DataFrame) -> dict[str, GroupMetrics]:
    """Per attribute, the groups with at least ``MIN_GROUP_ROWS`` rows and ``MIN_CLASS_ROWS``
    of each class;
    attributes with fewer than two such groups are left out. ``y``, ``p``: shape (n,);
    ``groups``: n rows, one column per attribute (gender, age band, …)."""
    out = {}
    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    for attribute in groups.columns:
        values = groups[attribute].astype("object").where(groups[attribute].notna(), None)
        usable = values.notna().to_numpy()
        if usable.sum() < 2 * MIN_GROUP_ROWS:
            continue
        vals, y_u, p_u = values[usable].to_numpy(), y[usable], p[usable]
        by = pd.crosstab(vals, y_u).reindex(columns=[0, 1], fill_value=0)
        kept = by.index[(by.sum(axis=1) >= MIN_GROUP_ROWS) & (by[0] >= MIN_CLASS_ROWS)
                        & (by[1] >= MIN_CLASS_ROWS)]
        if len(kept) < 2:
            continue
        rows = np.isin(vals, kept)
        frame = MetricFrame(metrics={"auc": auc_or_nan, "n": count, "ece": expected_calibration_error},
                            y_true=y_u[rows], y_pred=p_u[rows],
                            sensitive_features=pd.Series(vals[rows], name=attribute))
        out[attribute] = GroupMetrics(frame, y_u, p_u, vals)
    return out


def group_report(y: np.ndarray, p: np.ndarray, groups: pd.DataFrame) -> pd.DataFrame:
    """``report_table`` of ``group_metrics(y, p, groups)``."""
    return report_table(group_metrics(y, p, groups))


def report_table(by_attribute: dict[str, GroupMetrics]) -> pd.DataFrame:
    """One row per attribute × kept group: n, AUC, ECE (calibration within the group), the
    group's ABROCA against the attribute's other rows, and the attribute's largest AUC gap."""
    rows = []
    for attribute, g in by_attribute.items():
        table = g.frame.by_group.reset_index()
        table.columns = ["group", "auc", "n", "ece"]
        table["abroca"] = [abroca(g.y, g.p, g.groups == group) for group in table["group"]]
        table["attribute"] = attribute
        table["auc_gap"] = float(g.frame.difference(method="between_groups")["auc"])
        rows.append(table)
    columns = ["attribute", "group", "n", "auc", "ece", "abroca", "auc_gap"]
    return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)


def largest_gap(groups: dict[str, GroupMetrics]) -> float:
    """The largest AUC difference between two groups of one attribute (0 with no groups)."""
    return max((float(g.frame.difference(method="between_groups")["auc"]) for g in groups.values()),
               default=0.0)
