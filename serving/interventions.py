"""The suggested intervention: one action per learner across the targets scored together,
chosen by the learner's state first and the strongest reason second (``interventions.yaml``).

- every target's risk band is low → ``none``;
- never started → onboarding (``states["never started"]``); inactive for N days →
  re-engagement (``states["inactive"]``);
- otherwise the top reason with the largest contribution over the targets on which the learner
  is at risk (band medium or high) → its group's own action (``groups``, e.g. the credential's
  cost → the free track and financial aid), else its category's (``categories``);
- no reason raises the risk → ``default``.
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
    groups: dict[str, str] = {}
    categories: dict[str, str]


def suggest(table: InterventionTable, scored: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each target's scored frame (rows ``ROW_KEYS``, ``status``, ``risk_band``,
    ``reason_1_group``, ``reason_1_category``, ``reason_1_contribution``) with one
    ``intervention`` per learner and day, the same in every target's frame."""
    keys = list(ROW_KEYS)
    parts = []
    for frame in scored.values():
        part = frame[[*keys, "status", "risk_band"]].copy()
        for column in ("group", "category"):
            name = f"reason_1_{column}"
            part[column] = frame[name] if name in frame else None
        strength = frame["reason_1_contribution"] if "reason_1_contribution" in frame else np.nan
        part["strength"] = pd.Series(strength, index=frame.index, dtype="float64").abs()
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True)
    rows["at_risk"] = rows["risk_band"] != "low"
    # a reason counts only from a target on which the learner is at risk
    rows.loc[~rows["at_risk"], ["group", "category", "strength"]] = [None, None, np.nan]
    strongest = rows.sort_values("strength", ascending=False, na_position="last", kind="stable")
    learner = strongest.groupby(keys, sort=False).agg(
        at_risk=("at_risk", "any"), status=("status", "first"), group=("group", "first"),
        category=("category", "first"))
    learner["intervention"] = _action(table, learner)
    return {target: frame.drop(columns=["intervention"], errors="ignore")
            .merge(learner[["intervention"]], left_on=keys, right_index=True, how="left")
            for target, frame in scored.items()}


def _action(table: InterventionTable, learner: pd.DataFrame) -> np.ndarray:
    status = learner["status"].astype(str)
    by_reason = (learner["group"].map(table.groups)
                 .fillna(learner["category"].map(table.categories)).fillna(table.default))
    return np.select(
        [~learner["at_risk"], status == "never started", status.str.startswith("inactive")],
        [table.none, table.states.never_started, table.states.inactive],
        by_reason.to_numpy())
