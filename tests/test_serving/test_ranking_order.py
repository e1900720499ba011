"""Lists are riskiest first in the model's order, also where the calibrated risk ties."""

import pandas as pd

from mooc_risk.models.targets import Target
from mooc_risk.serving.scoring import riskiest_first


def rows(risk_of_label: bool) -> pd.DataFrame:
    # b, c and d share a Venn-Abers step (risk 0.3) but the model ranked them apart
    raw = [2.0, -0.4, 0.1, -0.9, 0.1]
    return pd.DataFrame({
        "learner_id": ["a", "b", "c", "d", "e"],
        "risk": [0.6, 0.3, 0.3, 0.3, 0.3],
        "raw_score": raw if risk_of_label else [-r for r in raw],
    })


def test_a_tied_risk_keeps_the_models_order_and_only_full_ties_go_by_learner_id():
    assert riskiest_first(rows(True), Target.DROPOUT)["learner_id"].tolist() == ["a", "c", "e", "b", "d"]


def test_for_certification_a_lower_score_is_the_higher_risk():
    # risk = 1 − P(certified): the lower the model's score, the riskier
    assert riskiest_first(rows(False), Target.CERTIFICATION)["learner_id"].tolist() == \
        ["a", "c", "e", "b", "d"]
