"""Evidently's drift test on the feature columns as build_features writes them."""

import numpy as np
import pandas as pd

from mooc_risk.serving.drift import run_drift


def test_a_column_that_differs_only_by_float_noise_is_tested_not_a_crash():
    """A cohort-relative feature (a share minus the cohort's mean) is the same for everyone up to
    float noise (1e-16); Evidently's histogram refused such a range ("Too many bins")."""
    rng = np.random.default_rng(0)
    noise = np.where(rng.random(400) < 0.5, 0.7, 0.7 + 1.2e-16)
    frame = pd.DataFrame({"vs_cohort": noise, "events": rng.poisson(5, 400).astype(float)})
    result = run_drift(frame.iloc[:200], frame.iloc[200:], ["vs_cohort", "events"], [])
    assert {c.column for c in result.columns} == {"vs_cohort", "events"}
    assert not result.column("vs_cohort").drifted
