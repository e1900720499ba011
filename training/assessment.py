"""Test-set metrics of a fitted model under stable names (logged to MLflow, used by the gate
and the model card)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mooc_risk.training.fairness import (
    GROUP_COLUMNS,
    GroupMetrics,
    auc_or_nan,
    group_metrics,
    largest_gap,
    present_groups,
    report_table,
)
from mooc_risk.training.metrics import classification_metrics, metrics_by_day

ACTIVE_WINDOW_DAYS = 14


REPORTED = ("auc", "pr_auc", "brier", "ece", "precision_top10", "recall_top10")


@dataclass(frozen=True)
class Assessment:
    metrics: dict[str, float]  # e.g. test_auc, test_auc_day_7, baseline_test_auc
    by_day: pd.DataFrame  # one row per (model, as-of day)
    groups: pd.DataFrame  # fairness report of the main model (``report_table``)
    group_metrics: dict[str, GroupMetrics]  # the same per attribute, for plots

    @property
    def group_gap(self) -> float:
        return self.metrics["test_max_group_auc_gap"]


def assess(test: pd.DataFrame, scores: dict[str, np.ndarray], risk_of: str,
           audited: Sequence[str] = GROUP_COLUMNS) -> Assessment:
    """``scores``: model name → probabilities on ``test`` rows; the first is the main model,
    named in metrics as ``test_*``, the others as ``<name>_test_*``. Groups are audited over
    the ``audited`` columns ``test`` has."""
    y, days = test["label"].to_numpy(), test["as_of_day"].to_numpy()
    present = present_groups(test, audited)
    # the hard, actionable subset: learners with some activity in the 14 days before the cutoff
    quiet = test["days_since_last_activity"] if "days_since_last_activity" in test else None
    active = (quiet < ACTIVE_WINDOW_DAYS).to_numpy() if quiet is not None else np.ones(len(y), bool)
    metrics, rows = {}, []
    for i, (name, p) in enumerate(scores.items()):
        prefix = "test" if i == 0 else f"{name}_test"
        overall = classification_metrics(y, p, risk_of)
        metrics.update({f"{prefix}_{k}": overall[k] for k in REPORTED})
        for day, m in metrics_by_day(days, y, p, risk_of).items():
            on_day = days == day
            m["group_gap"] = largest_gap(group_metrics(y[on_day], p[on_day], test.loc[on_day, present]))
            m["auc_active_14d"] = auc_or_nan(y[on_day & active], p[on_day & active])
            m["active_14d_share"] = float(active[on_day].mean())
            metrics.update({f"{prefix}_{k}_day_{day}": m[k]
                            for k in ("auc", "pr_auc", "brier", "ece", "group_gap", "auc_active_14d")})
            rows.append({"model": name, "as_of_day": day, **m})
    main = next(iter(scores.values()))
    by_attribute = group_metrics(y, main, test[present])
    groups = report_table(by_attribute)
    for attribute, table in groups.groupby("attribute"):
        metrics[f"test_auc_gap_{attribute}"] = float(table["auc_gap"].iloc[0])
        metrics[f"test_abroca_{attribute}"] = float(table["abroca"].max())
    metrics["test_max_group_auc_gap"] = largest_gap(by_attribute)
    return Assessment(metrics, pd.DataFrame(rows), groups, by_attribute)
