"""Enrolment-survey answers whose constructs relate to the latent traits (and so to outcomes)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mooc_risk.features.constructs import ConstructMap

# how each construct of the enrolment instrument loads on (motivation, ability)
LOADINGS = {
    "strategic_thinking": (0.5, 0.2),
    "self_efficacy": (0.3, 0.5),
    "perceived_usefulness": (0.45, 0.0),
    "knowledge_expertise": (0.1, 0.6),
    "group_work": (0.1, 0.0),
    "achievement_drive": (0.6, 0.1),
}
NO_SURVEY = 0.2
ITEM_MISSING = 0.05
ABANDONED = 0.05


def make_surveys(rng: np.random.Generator, e: pd.DataFrame, cmap: ConstructMap) -> pd.DataFrame:
    """One row per responding enrolment: demographics, intentions and Likert answers."""
    responded = rng.random(len(e)) >= NO_SURVEY
    r = e.loc[responded].reset_index(drop=True)
    n = len(r)
    m, a = r["motivation"].to_numpy(), r["ability"].to_numpy()
    top = cmap.scale.min + cmap.scale.max
    mid = top / 2
    answers = {}
    for name, construct in cmap.constructs.items():
        wm, wa = LOADINGS.get(name, (0.3, 0.3))
        trait = wm * m + wa * a + rng.normal(0, 0.6, n)  # the respondent's construct level
        for item in construct.items:
            raw = np.rint(mid + 0.9 * trait + rng.normal(0, 0.7, n))
            raw = np.clip(raw, cmap.scale.min, cmap.scale.max)
            answers[item] = (top - raw) if item in construct.reverse else raw
    likert = pd.DataFrame(answers)
    items = list(likert.columns)
    missing = rng.random(likert.shape) < ITEM_MISSING
    abandoned = (rng.random(n) < ABANDONED)[:, None] & (np.arange(len(items)) >= len(items) // 2)
    likert = likert.mask(missing | abandoned)
    base = r[["learner_id", "course_id", "run_id", "gender", "age_band", "education_level",
              "employment", "country", "disability", "prior_attempts",
              "hours_per_week_planned", "intends_credential"]].copy()
    base["expected_benefits"] = rng.choice(
        ["career", "degree_credit", "personal_interest", "skills_update"], n
    )
    return pd.concat([base, likert.astype("float64")], axis=1)
