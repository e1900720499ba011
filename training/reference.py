"""Reference values for plain-language reasons: what learners with the good outcome looked
like at each as-of day ("most learners who finish were active within 3 days")."""

from __future__ import annotations

import numpy as np
import pandas as pd


def favourable_medians(frame: pd.DataFrame, numeric: list[str], favourable: np.ndarray) -> dict:
    """{feature: {as_of_day: median among rows with the good outcome}} for numeric features."""
    numeric = [c for c in numeric if c != "as_of_day"]
    good = frame.loc[favourable, ["as_of_day", *numeric]]
    medians = good.groupby("as_of_day")[numeric].median()
    return {
        feature: {int(day): float(v) for day, v in medians[feature].items() if np.isfinite(v)}
        for feature in numeric
    }
