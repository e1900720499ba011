"""Evaluation plots logged with each run, drawn by the libraries that compute the numbers:
ROC and calibration (sklearn displays), AUC by as-of day, group AUC (fairlearn MetricFrame),
SHAP beeswarm (``shap.plots.beeswarm`` on a ``shap.Explanation``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import RocCurveDisplay

from mooc_risk.training.fairness import GroupMetrics

SHAP_FEATURES_SHOWN = 15


def roc_figure(y: np.ndarray, scores: dict[str, np.ndarray], title: str) -> Figure:
    """ROC curves of each model's scores (shape (n,)) against the labels ``y``."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    for i, (name, p) in enumerate(scores.items()):
        RocCurveDisplay.from_predictions(y, p, name=name, ax=ax, plot_chance_level=i == 0)
    ax.set(title=title)
    return fig


def calibration_figure(y: np.ndarray, scores: dict[str, np.ndarray], title: str) -> Figure:
    """Reliability curves (10 quantile bins) of each model's probabilities."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    for name, p in scores.items():
        CalibrationDisplay.from_predictions(y, p, n_bins=10, strategy="quantile", name=name, ax=ax)
    ax.set(title=title)
    return fig


def auc_by_day_figure(table: pd.DataFrame, title: str) -> Figure:
    """``table``: index as-of day, one column of AUCs per model."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    table.plot(ax=ax, marker="o")
    ax.set(xlabel="as-of day", ylabel="test ROC-AUC", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def shap_figure(contributions: np.ndarray, base: np.ndarray, shown: pd.DataFrame, title: str) -> Figure:
    """SHAP beeswarm of TreeSHAP contributions (n × features, LightGBM ``pred_contrib``, raw
    log-odds) with the feature values ``shown`` (encoded as the model saw them)."""
    import matplotlib.pyplot as plt
    import shap

    explanation = shap.Explanation(values=contributions, base_values=base, data=shown.to_numpy(),
                                   feature_names=list(shown.columns))
    plt.close("all")
    shap.plots.beeswarm(explanation, max_display=SHAP_FEATURES_SHOWN, show=False, plot_size=(8, 6))
    fig = plt.gcf()
    fig.suptitle(title)
    fig.tight_layout()  # room for the feature names
    plt.close(fig)
    return fig


def group_figure(groups: dict[str, GroupMetrics], report: pd.DataFrame, title: str) -> Figure:
    """Per-group test AUC from each attribute's MetricFrame, one panel per attribute; each
    group's label carries its size and its ABROCA from ``report`` (``report_table``)."""
    attributes = list(groups)
    fig = Figure(figsize=(4 * max(1, len(attributes)), 4))
    axes = fig.subplots(1, max(1, len(attributes)), squeeze=False)[0]
    abrocas = report.set_index(["attribute", "group"])["abroca"]
    for ax, attribute in zip(axes, attributes, strict=False):
        by_group = groups[attribute].frame.by_group.copy()  # fairlearn's frame: not ours to relabel
        by_group.index = [f"{group}\n(n={int(n)}, ABROCA {abrocas[(attribute, group)]:.3f})"
                          for group, n in zip(by_group.index, by_group["n"], strict=True)]
        by_group["auc"].plot.barh(ax=ax, xlim=(0.5, 1.0), title=attribute, xlabel="test ROC-AUC")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
