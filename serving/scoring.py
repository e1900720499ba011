"""Scoring shared by the HTTP service and the batch scorer: calibrated probability, risk band,
reasons and the suggested intervention, for any number of feature rows at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mooc_risk.features.canonical.schemas import ROW_KEYS
from mooc_risk.features.population import activity_status, inactive_days
from mooc_risk.models import registry
from mooc_risk.models.bundle import BundleError, ModelBundle
from mooc_risk.models.contributions import tree_contributions
from mooc_risk.models.targets import Target
from mooc_risk.serving.interventions import suggest
from mooc_risk.serving.reasons import Catalogue, Explainer, load_catalogue
from mooc_risk.settings import TrackingSettings


@dataclass(frozen=True)
class TargetScorer:
    """Scores one target's bundle: risk, band, reasons and the suggested intervention."""

    bundle: ModelBundle
    explainer: Explainer
    catalogue: Catalogue

    @classmethod
    def build(cls, bundle: ModelBundle, catalogue: Catalogue) -> TargetScorer:
        meta = bundle.metadata
        return cls(bundle, Explainer(catalogue, meta.feature_columns, meta.target, meta.reference,
                                     hidden=meta.sensitive_attributes,
                                     scale_max=meta.feature_spec.constructs.scale.max), catalogue)

    @property
    def target(self) -> Target:
        return self.bundle.metadata.target

    def inputs(self, features: pd.DataFrame) -> pd.DataFrame:
        return self.bundle.inputs(features)

    def score(self, features: pd.DataFrame, top_k: int) -> pd.DataFrame:
        """One row per feature row: keys, status, probability, risk, band, ``risk_low`` and
        ``risk_high`` (the Venn-Abers interval of the risk, 0–1: for certification, whose risk
        is 1 − P(label), the interval of P(label) flipped), ``cold_start`` (the course had
        fewer than the bundle's ``cold_start_min_learners`` training learners, or none), the
        base value, raw score, the top-k reasons (k ≥ 1: the strongest reason chooses the
        intervention, so it is computed even when a caller shows none) and the rest, and the
        intervention."""
        X = self.inputs(features)
        p = self.bundle.probability_of_inputs(X)
        p0, p1 = self.bundle.interval_of_inputs(X)
        if self.bundle.risk_of == "label":
            risk, low, high = p, p0, p1
        else:
            risk, low, high = 1.0 - p, 1.0 - p1, 1.0 - p0
        band = self.bundle.thresholds.band(risk)
        out = features[list(ROW_KEYS)].reset_index(drop=True).copy()
        out["status"] = activity_status(features)
        out["inactive_days"] = inactive_days(features).to_numpy()
        out["probability"], out["risk"], out["risk_band"] = p, risk, band
        out["risk_low"], out["risk_high"] = low, high
        out["cold_start"] = self.bundle.metadata.cold_start(features["course_id"].to_numpy())
        out["model"], out["model_version"] = self.bundle.name, self.bundle.version
        contributions, base, raw = tree_contributions(self.bundle.estimator, X)
        days = features["as_of_day"].to_numpy()
        values = features.reset_index(drop=True)
        table = self.explainer.top(contributions.to_numpy(), max(top_k, 1), values, days)
        out["base_value"], out["raw_score"], out["rest"] = base, raw, table.rest
        names = np.array([*table.names, None], dtype=object)  # index -1: no reason
        for rank in range(table.group.shape[1]):
            feature, value, category, text = self.explainer.texts(table, rank, values, days)
            n = rank + 1
            out[f"reason_{n}_group"] = names[table.group[:, rank]]
            out[f"reason_{n}_feature"], out[f"reason_{n}_value"] = feature, value
            out[f"reason_{n}_contribution"] = table.contribution[:, rank]
            out[f"reason_{n}_category"], out[f"reason_{n}_text"] = category, text
        # this target alone; scoring several targets together makes it one action per learner
        return suggest(self.catalogue.interventions, {self.target: out})[self.target]


def load_scorers(tracking: TrackingSettings, targets: list[Target],
                 skip_missing: bool = False) -> tuple[dict[Target, TargetScorer], dict[Target, str]]:
    """A scorer on each target's ``@champion`` bundle, and why the others have none. Without
    ``skip_missing`` a target without a readable champion raises ``BundleError``."""
    catalogue = load_catalogue()
    scorers, missing = {}, {}
    for target in targets:
        try:
            scorers[target] = TargetScorer.build(
                registry.load_bundle(tracking, target.registered_name), catalogue)
        except BundleError as exc:
            if not skip_missing:
                raise
            missing[target] = str(exc)
    return scorers, missing


def riskiest_first(frame: pd.DataFrame, target: Target) -> pd.DataFrame:
    """Scored rows of one target, riskiest first, index reset. The served probability (the
    Venn-Abers point, ``models.confidence``) is a step function of the model's score, so
    learners the model ranked apart can share a risk: they keep the model's order (its raw
    score, log-odds before calibration; lower for certification, where the risk is 1 − p),
    and only rows equal on both are ordered by learner id, so pages never reshuffle."""
    order = frame["raw_score"] if target.risk_of == "label" else -frame["raw_score"]
    return (frame.assign(_model_order=order)
            .sort_values(["risk", "_model_order", "learner_id"], ascending=[False, False, True],
                         kind="stable")
            .drop(columns="_model_order").reset_index(drop=True))


def no_champion(why: dict[Target, str]) -> str:
    """The one line for "nothing to score with": each target's reason (no @champion, an
    unreachable registry, a bundle of an older format that needs retraining)."""
    reasons = "; ".join(f"{target.value}: {text}" for target, text in why.items())
    return ("no target has a usable @champion model; train one with `mooc-risk train`"
            + (f" ({reasons})" if reasons else ""))
