"""Scoring shared by the HTTP service and the batch scorer: calibrated probability, risk band,
reasons and the suggested intervention, for any number of feature rows at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mooc_risk.models.contributions import tree_contributions
from mooc_risk.models.estimators import as_model_input, positive_proba
from mooc_risk.models.registry import LoadedModel
from mooc_risk.serving.reasons import Catalogue, Explainer
from mooc_risk.training.dataset import ROW_KEYS


@dataclass(frozen=True)
class TargetScorer:
    target: str
    loaded: LoadedModel
    explainer: Explainer
    catalogue: Catalogue

    @classmethod
    def build(cls, target: str, loaded: LoadedModel, catalogue: Catalogue) -> TargetScorer:
        explainer = Explainer(catalogue, loaded.feature_columns, target, loaded.risk_of,
                              loaded.metadata.get("reference", {}))
        return cls(target, loaded, explainer, catalogue)

    def inputs(self, features: pd.DataFrame) -> pd.DataFrame:
        return as_model_input(features, self.loaded.feature_columns, self.loaded.categorical_columns)

    def score(self, features: pd.DataFrame, explain: bool, top_k: int) -> pd.DataFrame:
        """One row per feature row: keys, probability, risk, band, intervention, and with
        ``explain`` the base value, raw score, top-k reasons and the rest."""
        X = self.inputs(features)
        p = positive_proba(self.loaded.model, X)
        risk = p if self.loaded.risk_of == "label" else 1.0 - p
        t = self.loaded.thresholds
        band = np.select([risk >= t["high"], risk >= t["medium"]], ["high", "medium"], "low")
        out = features[ROW_KEYS].reset_index(drop=True).copy()
        out["probability"], out["risk"], out["risk_band"] = p, risk, band
        out["model"], out["model_version"] = self.loaded.name, self.loaded.version
        first_category = np.full(len(X), None, dtype=object)
        if explain:
            contributions, base, raw = tree_contributions(self.loaded.model, X)
            table = self.explainer.top(contributions.to_numpy(), top_k)
            out["base_value"], out["raw_score"], out["rest"] = base, raw, table.rest
            days = features["as_of_day"].to_numpy()
            values = features.reset_index(drop=True)
            for rank in range(table.group.shape[1]):
                feature, value, category, text = self.explainer.texts(table, rank, values, days)
                n = rank + 1
                out[f"reason_{n}_feature"], out[f"reason_{n}_value"] = feature, value
                out[f"reason_{n}_contribution"] = table.contribution[:, rank]
                out[f"reason_{n}_category"], out[f"reason_{n}_text"] = category, text
                if rank == 0:
                    first_category = category
        actions = self.catalogue.interventions
        out["intervention"] = [
            actions["none"] if b == "low" else actions.get(c or "default", actions["default"])
            for b, c in zip(band, first_category, strict=True)
        ]
        return out


def reason_columns(columns) -> int:
    """How many reason ranks a scored frame (or row) carries."""
    return sum(1 for c in columns if c.startswith("reason_") and c.endswith("_text"))
