import math

import ibis
import pandas as pd
import pytest
import yaml

from mooc_risk.errors import InputError
from mooc_risk.features.constructs import (
    ConstructMap,
    construct_scores,
    cronbach_alpha,
    load_construct_map,
    reliability_report,
)


def test_default_instrument_has_the_six_constructs_with_their_item_counts(cmap):
    sizes = {name: len(c.items) for name, c in cmap.constructs.items()}
    assert sizes == {
        "strategic_thinking": 10,
        "self_efficacy": 6,
        "perceived_usefulness": 5,
        "knowledge_expertise": 5,
        "group_work": 4,
        "achievement_drive": 4,
    }
    assert all(set(c.reverse) <= set(c.items) for c in cmap.constructs.values())
    assert any(c.reverse for c in cmap.constructs.values())


def _scores(frame: pd.DataFrame, cmap: ConstructMap) -> pd.DataFrame:
    t = ibis.memtable(frame)
    return t.select(**construct_scores(t, cmap)).to_pandas()


def test_score_is_mean_of_answered_items_after_reverse_scoring(cmap):
    # self_efficacy = q11..q16, q14 reverse-keyed: 2 → 6 - 2 = 4; q15 unanswered
    row = {"q11": 4.0, "q12": 5.0, "q13": 3.0, "q14": 2.0, "q15": None, "q16": 4.0}
    frame = pd.DataFrame([row]).reindex(columns=cmap.items).astype("float64")
    scores = _scores(frame, cmap)
    assert scores.loc[0, "self_efficacy"] == pytest.approx((4 + 5 + 3 + 4 + 4) / 5)
    assert math.isnan(scores.loc[0, "strategic_thinking"])  # nothing answered


@pytest.mark.parametrize(
    ("answered", "expected"),
    [(["q27", "q28"], 3.0), (["q27"], None)],  # group_work has 4 items: 2 of 4 is half
)
def test_score_needs_at_least_half_of_the_items(cmap, answered, expected):
    row = {item: 3.0 for item in answered}
    frame = pd.DataFrame([row]).reindex(columns=cmap.items).astype("float64")
    value = _scores(frame, cmap).loc[0, "group_work"]
    assert (math.isnan(value) if expected is None else value == expected)


def test_five_item_construct_needs_three_answers(cmap):
    # perceived_usefulness = q17..q21 (q20 reverse): two answers are fewer than half of five
    frame = pd.DataFrame([{"q17": 5.0, "q18": 5.0}]).reindex(columns=cmap.items).astype("float64")
    assert math.isnan(_scores(frame, cmap).loc[0, "perceived_usefulness"])


def test_cronbach_alpha_matches_hand_computation():
    items = pd.DataFrame({"x1": [1, 2, 3, 4, 5], "x2": [2, 2, 3, 5, 5], "x3": [1, 3, 3, 4, 4]})
    # item variances 2.5 + 2.3 + 1.5 = 6.3; total-score variance 17.3; k = 3
    assert cronbach_alpha(items) == pytest.approx(1.5 * (1 - 6.3 / 17.3))
    assert cronbach_alpha(items) == pytest.approx(0.9537572, abs=1e-7)


def test_cronbach_alpha_is_listwise_and_undefined_for_too_little_data():
    items = pd.DataFrame({"x1": [1, 2, 3, 4, 5, None], "x2": [2, 2, 3, 5, 5, 1],
                          "x3": [1, 3, 3, 4, 4, 5]})
    assert cronbach_alpha(items) == pytest.approx(0.9537572, abs=1e-7)
    assert math.isnan(cronbach_alpha(items[["x1"]]))
    assert math.isnan(cronbach_alpha(items.iloc[:1]))


def test_report_reverse_scores_before_alpha():
    cmap = ConstructMap.model_validate(
        {"instrument": "t", "constructs": {"grit": {"label": "grit", "items": ["a", "b", "c"],
                                                    "reverse": ["c"]}}}
    )
    # c is answered on the reversed scale: after reversal all three items agree perfectly
    surveys = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [1, 2, 3, 4, 5], "c": [5, 4, 3, 2, 1]})
    report = reliability_report(surveys, cmap)
    assert report.loc[0, "alpha"] == pytest.approx(1.0)
    assert report.loc[0, "mean"] == pytest.approx(3.0)
    assert report.loc[0, "complete"] == 5


def test_construct_map_errors_name_the_file_and_the_problem(tmp_path):
    bad = tmp_path / "map.yaml"
    bad.write_text(yaml.safe_dump({"instrument": "x", "constructs": {
        "a": {"label": "A", "items": ["q1", "q2"], "reverse": ["q9"]}}}))
    with pytest.raises(InputError, match=r"map\.yaml.*q9"):
        load_construct_map(bad)
    bad.write_text(yaml.safe_dump({"instrument": "x", "constructs": {
        "a": {"label": "A", "items": ["q1"]}, "b": {"label": "B", "items": ["q1"]}}}))
    with pytest.raises(InputError, match="'q1' is in both"):
        load_construct_map(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_construct_map(tmp_path / "missing.yaml")
