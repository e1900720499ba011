"""Feature values on a tiny hand-checked data set (see factories.tiny_frames)."""

import math

import pandas as pd
import pytest
from factories import tiny_frames

from mooc_risk.features.build import FeatureSpec, build_features, default_spec
from mooc_risk.features.canonical.tables import tables_from_frames
from mooc_risk.features.clickstream import ClickstreamSpec


@pytest.fixture(scope="module")
def features(cmap):
    tables = tables_from_frames(tiny_frames(), cmap)
    spec = FeatureSpec(ClickstreamSpec(("video", "page", "forum")), cmap)
    frame = build_features(tables, [0, 2, 7], spec)
    return frame.set_index(["learner_id", "as_of_day"])


def test_one_row_per_enrolment_and_day_that_exists_by_the_cutoff(features):
    # b enrolled on Jan 3, after day 0's cutoff (course start Jan 2): no row for b at day 0
    assert sorted(features.index) == [("a", 0), ("a", 2), ("a", 7), ("b", 2), ("b", 7),
                                      ("c", 0), ("c", 2), ("c", 7)]


def test_counts_sessions_and_gaps_for_a_scheduled_learner(features):
    a2, a7 = features.loc[("a", 2)], features.loc[("a", 7)]
    # day 2 cutoff = Jan 4 00:00: the video and page on Jan 2 (20 min apart: one session)
    assert (a2.n_video, a2.n_page, a2.events_total, a2.sessions) == (1, 1, 2, 1)
    assert a2.days_since_last_activity == pytest.approx((48 * 60 - 10 * 60 - 20) / (24 * 60))
    assert a2.days_to_first_activity == pytest.approx(1 + 10 / 24)  # enrolled Jan 1 00:00
    assert math.isnan(a2.longest_gap_days) and math.isnan(a2.assessment_mean_score)
    # day 7: the quiz on Jan 5 (course day 3) is an assessment, not activity volume
    assert (a7.events_total, a7.active_days, a7.sessions) == (2, 2, 2)
    assert (a7.assessments_submitted, a7.assessment_mean_score) == (1, 80.0)
    assert a7.longest_gap_days == 2  # active on course days 0 and 3
    # daily volume over days 0..6 is [2, 0, 0, 0, 0, 0, 0]
    mean = 2 / 7
    assert a7.daily_activity_cv == pytest.approx(math.sqrt(4 / 7 - mean**2) / mean)


def test_event_exactly_at_the_cutoff_is_not_counted(features):
    # b's only event is at Jan 4 00:00 = course_start + 2 days
    assert features.loc[("b", 2)].events_total == 0
    assert math.isnan(features.loc[("b", 2)].days_since_last_activity)
    assert features.loc[("b", 7)].events_total == 1


def test_objects_touched_share_uses_objects_seen_in_the_run_before_the_cutoff(features):
    assert features.loc[("a", 7)].objects_touched_share == 1.0  # v1, p1, quiz1 of 3
    assert features.loc[("b", 7)].objects_touched_share == pytest.approx(1 / 3)
    assert features.loc[("b", 2)].objects_touched_share == 0.0  # run had seen v1, p1


def test_self_paced_learner_is_anchored_at_enrolment(features):
    # c enrolled Mar 1 (course_start Feb 1 is ignored for a self-paced run)
    c0, c2, c7 = features.loc[("c", 0)], features.loc[("c", 2)], features.loc[("c", 7)]
    assert c0.events_total == 0 and c0.self_paced == 1
    assert (c2.n_forum, c2.events_total) == (2, 2)  # value=2 clicks on Mar 1 12:00
    assert c7.n_video == 0  # Mar 9 00:00 is course day 8


def test_context_and_survey_columns(features):
    a, b, c = features.loc[("a", 7)], features.loc[("b", 7)], features.loc[("c", 7)]
    assert a.platform == "edx" and a.credential_cost == 49.0 and a.paid_by == "self"
    assert a.days_enrolled_before_start == 1 and a.course_length_days == 31
    assert (a.survey_answered, a.intends_credential, a.hours_per_week_planned) == (1, 1, 4.0)
    assert a.self_efficacy == pytest.approx(4.0)  # (4 + 5 + 3 + (6-2) + 4) / 5
    assert b.survey_answered == 0 and math.isnan(b.self_efficacy)
    assert math.isnan(c.self_efficacy)  # one answer of six
    assert math.isnan(c.course_length_days)


def test_trend_compares_last_seven_days_with_the_seven_before(cmap):
    frames = tiny_frames()
    a_days = [1, 2, 3, 9, 10]  # course days of a's video events
    frames["events"] = pd.DataFrame({
        "learner_id": "a", "course_id": "C1", "run_id": "R1",
        "ts": [pd.Timestamp("2024-01-02 08:00") + pd.Timedelta(days=d) for d in a_days],
        "event_type": "video", "object_id": "v1", "value": None,
    })
    tables = tables_from_frames(frames, cmap)
    row = build_features(tables, [14], default_spec(tables, cmap)).iloc[0]
    assert (row.events_last_7d, row.events_prev_7d) == (2, 3)
    assert row.trend_7d == pytest.approx(math.log(3 / 4))


def test_rejects_negative_as_of_days(cmap):
    tables = tables_from_frames(tiny_frames(), cmap)
    with pytest.raises(ValueError, match="≥ 0"):
        build_features(tables, [-1], default_spec(tables, cmap))


def test_spec_round_trips_through_a_dict(cmap):
    spec = FeatureSpec(ClickstreamSpec(("video", "page")), cmap)
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
