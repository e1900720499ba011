"""Venn-Abers intervals (models.confidence) and the 90% conformal sets (training.conformal)."""

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from mooc_risk.models.confidence import VennAbers, VennAbersByDay
from mooc_risk.training.conformal import confidence_by_day, prediction_sets


def brute_force(scores, y, new):
    """IVAP by definition: isotonic regression with the new score labelled 0, then 1."""
    out = []
    for label in (0, 1):
        fitted = IsotonicRegression(out_of_bounds="clip").fit(np.append(scores, new), np.append(y, label))
        out.append(float(fitted.predict([new])[0]))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_the_precomputed_interval_is_the_definition_including_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 12, 40) / 4  # many ties
    y = (rng.random(40) < 0.2 + scores / 4).astype(int)
    va = VennAbers().fit(scores, y)
    new = np.concatenate([np.unique(scores), np.unique(scores) + 0.1, [-5.0, 50.0]])
    p0, p1 = va.interval(new)
    for s, a, b in zip(new, p0, p1, strict=True):
        assert [a, b] == pytest.approx(brute_force(scores, y, s)), s


def test_interval_is_ordered_and_contains_the_point_probability():
    rng = np.random.default_rng(3)
    scores = rng.random(2000)
    y = (rng.random(2000) < scores).astype(int)
    va = VennAbers().fit(scores, y)
    new = rng.random(5000)
    p0, p1 = va.interval(new)
    point = va.point(new)
    assert ((0 <= p0) & (p0 <= p1) & (p1 <= 1)).all()
    assert ((p0 <= point) & (point <= p1)).all()
    assert (p1 - p0).mean() < 0.05  # 2,000 calibration rows: a narrow interval


def test_each_day_has_its_own_calibrator_and_later_days_route_to_the_last_trained_one():
    scores = np.tile(np.linspace(0, 1, 200), 2)
    days = np.repeat([0, 14], 200)
    y = np.where(days == 0, scores > 0.5, scores > 0.9).astype(int)  # day 14: far fewer positives
    va = VennAbersByDay.fitted(scores, y, days)
    assert va.days == [0, 14]
    p_day0, p_day14 = va.point([0.7], [0]), va.point([0.7], [14])
    assert p_day0[0] > 0.9 and p_day14[0] < 0.1
    assert va.point([0.7], [30]) == pytest.approx(p_day14)  # day 30 → the day-14 calibrator
    assert va.point([0.7], [7]) == pytest.approx(p_day0)


def test_ninety_percent_sets_cover_near_nominal_on_held_out_rows_per_day():
    rng = np.random.default_rng(11)

    def rows(n):
        days = rng.choice([0, 14, 28], n)
        p = rng.beta(2, 3, n)
        y = (rng.random(n) < np.clip(p + 0.1 * (days == 28), 0, 1)).astype(int)
        return p, y, days

    p_cal, y_cal, d_cal = rows(6000)
    p_test, y_test, d_test = rows(30000)
    sets = prediction_sets(p_cal, y_cal, d_cal, p_test, d_test)
    by_day = confidence_by_day(d_test, y_test, sets, p_test, p_test + 0.01)
    assert by_day["as_of_day"].tolist() == [0, 14, 28]
    assert np.abs(by_day["coverage_90"] - 0.90).max() < 0.03, by_day
    for label in (0, 1):  # class-conditional: each outcome is covered too
        rows_of = y_test == label
        assert abs(sets[rows_of, label].mean() - 0.90) < 0.03
    assert by_day["interval_width"].tolist() == pytest.approx([0.01] * 3)


def test_sets_refuse_a_day_without_calibration_rows():
    with pytest.raises(ValueError, match="no calibration rows"):
        prediction_sets(np.array([0.2, 0.8]), np.array([0, 1]), np.array([0, 0]),
                        np.array([0.5]), np.array([7]))
