"""The suggested intervention: one action per learner across the targets scored together,
chosen by the learner's state first and the strongest reason second (``interventions.yaml``).

- every target's risk band is low → ``none``;
- never started → onboarding (``states["never started"]``); inactive for N days →
  re-engagement (``states["inactive"]``);
- otherwise the category of the reason with the largest contribution over the targets
  (engagement, assessment, motivation, prior knowledge, context) → ``categories[category]``;
- no reason computed → ``default``.
Sensitive attributes are never reasons, so they never choose an action.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from mooc_risk.features.canonical.schemas import ROW_KEYS


class States(BaseModel):
    never_started: str = Field(alias="never started")
    inactive: str


class InterventionTable(BaseModel):
    """``interventions.yaml``: the actions by state and by reason category."""

    none: str
    default: str
    states: States
    categories: dict[str, str]


def suggest(table: InterventionTable, scored: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each target's scored frame (rows ``ROW_KEYS``, ``status``, ``risk_band`` and, when
    explained, ``reason_1_category``/``reason_1_contribution``) with one ``intervention`` per
    learner and day, the same in every target's frame."""
    keys = list(ROW_KEYS)
    parts = []
    for frame in scored.values():
        part = frame[[*keys, "status", "risk_band"]].copy()
        part["category"] = frame["reason_1_category"] if "reason_1_category" in frame else None
        strength = frame["reason_1_contribution"] if "reason_1_contribution" in frame else np.nan
        part["strength"] = pd.Series(strength, index=frame.index, dtype="float64").abs()
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True)
    rows["at_risk"] = rows["risk_band"] != "low"
    strongest = rows.sort_values("strength", ascending=False, na_position="last", kind="stable")
    learner = strongest.groupby(keys, sort=False).agg(
        at_risk=("at_risk", "any"), status=("status", "first"), category=("category", "first"))
    learner["intervention"] = _action(table, learner)
    return {target: frame.drop(columns=["intervention"], errors="ignore")
            .merge(learner[["intervention"]], left_on=keys, right_index=True, how="left")
            for target, frame in scored.items()}


def _action(table: InterventionTable, learner: pd.DataFrame) -> np.ndarray:
    status = learner["status"].astype(str)
    by_category = learner["category"].map(table.categories).fillna(table.default)
    return np.select(
        [~learner["at_risk"], status == "never started", status.str.startswith("inactive")],
        [table.none, table.states.never_started, table.states.inactive],
        by_category.to_numpy())
