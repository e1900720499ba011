"""Evaluation plots logged with each run: ROC, calibration, AUC by as-of day, SHAP summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve


def roc_figure(y: np.ndarray, scores: dict[str, np.ndarray], title: str) -> Figure:
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    for name, p in scores.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    return fig


def calibration_figure(y: np.ndarray, scores: dict[str, np.ndarray], title: str) -> Figure:
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    for name, p in scores.items():
        observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(predicted, observed, marker="o", label=name)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect")
    ax.set(xlabel="predicted probability", ylabel="observed rate", title=title)
    ax.legend(loc="upper left")
    return fig


def auc_by_day_figure(table: pd.DataFrame, title: str) -> Figure:
    """``table``: index as-of day, one column of AUCs per model."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name in table.columns:
        ax.plot(table.index, table[name], marker="o", label=name)
    ax.set(xlabel="as-of day", ylabel="test ROC-AUC", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def shap_summary_figure(contributions: np.ndarray, features: pd.DataFrame) -> Figure:
    """SHAP summary (beeswarm) from LightGBM's TreeSHAP contributions (``pred_contrib``)."""
    import matplotlib.pyplot as plt
    import shap

    plt.close("all")
    shap.summary_plot(contributions, features, show=False, max_display=15, plot_size=(8, 6))
    fig = plt.gcf()
    plt.close(fig)
    return fig


def group_figure(groups: pd.DataFrame, title: str) -> Figure:
    """Per-group test AUC, one panel per attribute, with each group's ABROCA in the label."""
    attributes = list(dict.fromkeys(groups["attribute"]))
    fig = Figure(figsize=(4 * max(1, len(attributes)), 4))
    axes = fig.subplots(1, max(1, len(attributes)), squeeze=False)[0]
    for ax, attribute in zip(axes, attributes, strict=False):
        table = groups[groups["attribute"] == attribute]
        labels = [f"{g}\n(n={n}, ABROCA {a:.3f})" for g, n, a in
                  zip(table["group"], table["n"], table["abroca"], strict=True)]
        ax.barh(labels, table["auc"])
        ax.set(xlim=(0.5, 1.0), xlabel="test ROC-AUC", title=attribute)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
