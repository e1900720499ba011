"""Property: events at or after a row's cutoff never change that row (the as-of rule), nor do
submissions made after it or deadlines moved beyond the row's next deadline (the calendar is
published in advance, so the next deadline itself is known at the cutoff)."""

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mooc_risk.features.build import FeatureSpec, build_features
from mooc_risk.features.canonical.tables import tables_from_frames
from mooc_risk.features.clickstream import ClickstreamSpec

DAY = 86_400
# a, b: scheduled run R1 starting Jan 10 (b enrols on day 2); c: self-paced, anchored Feb 1 09:30
ENROLMENTS = pd.DataFrame({
    "learner_id": ["a", "b", "c"],
    "course_id": ["C1", "C1", "C2"],
    "run_id": ["R1", "R1", "S1"],
    "enrolled_at": pd.to_datetime(["2024-01-01 00:00", "2024-01-12 00:00", "2024-02-01 09:30"]),
    "course_start": pd.to_datetime(["2024-01-10", "2024-01-10", "2024-01-01"]),
    "course_end": pd.to_datetime(["2024-02-20", "2024-02-20", None]),
})
ANCHORS = [pd.Timestamp("2024-01-10"), pd.Timestamp("2024-01-10"), pd.Timestamp("2024-02-01 09:30")]
TYPES = ["video", "page", "forum", "assessment", "other"]


def event(offset: st.SearchStrategy[int]) -> st.SearchStrategy[tuple]:
    return st.tuples(
        st.integers(0, 2),  # whose
        offset,
        st.sampled_from(TYPES),
        st.sampled_from(["o1", "o2", "o3", "o4", None]),
        st.one_of(st.none(), st.integers(0, 100)),
    )


def frame(events: list[tuple]) -> pd.DataFrame:
    rows = [
        {"learner_id": ENROLMENTS.learner_id[w], "course_id": ENROLMENTS.course_id[w],
         "run_id": ENROLMENTS.run_id[w], "ts": ANCHORS[w] + pd.Timedelta(seconds=s),
         "event_type": t, "object_id": o, "value": None if v is None else float(v)}
        for w, s, t, o, v in events
    ]
    columns = ["learner_id", "course_id", "run_id", "ts", "event_type", "object_id", "value"]
    out = pd.DataFrame(rows, columns=columns)
    return out.astype({"ts": "datetime64[us]", "value": "float64", "object_id": "object"})


RUNS = {"R1": ("C1", ANCHORS[0]), "S1": ("C2", ANCHORS[2])}  # run → course, its learners' anchor


def calendar(dues: dict[str, list[int | None]]) -> pd.DataFrame:
    """Assessments o1.. of each run, due at the given offsets (seconds from the run's anchor;
    None: undated), weights 10, 20, 30, ..."""
    rows = [{"course_id": RUNS[run][0], "run_id": run, "assessment_id": f"o{i + 1}", "kind": "quiz",
             "due_at": None if due is None else RUNS[run][1] + pd.Timedelta(seconds=due),
             "weight": 10.0 * (i + 1)}
            for run, offsets in dues.items() for i, due in enumerate(offsets)]
    return pd.DataFrame(rows).astype({"due_at": "datetime64[us]"})


def moved_beyond_the_next(draw, offsets: list[int | None], cut: int) -> list[int | None]:
    """The deadlines after the first one at or after ``cut`` moved to other times after it."""
    upcoming = [o for o in offsets if o is not None and o >= cut]
    if not upcoming:
        return offsets
    first = min(upcoming)
    return [o if o is None or o <= first else draw(st.integers(first + 1, first + 40 * DAY))
            for o in offsets]


@st.composite
def histories(draw):
    """Two event histories and calendars that agree on everything known at as-of day d."""
    d = draw(st.sampled_from([0, 1, 3, 7, 14]))
    cut = d * DAY
    past = draw(st.lists(event(st.integers(-5 * DAY, cut - 1)), max_size=25))
    at_or_after = event(st.one_of(st.just(cut), st.integers(cut, cut + 20 * DAY)))
    future_1 = draw(st.lists(at_or_after, max_size=10))
    future_2 = draw(st.lists(at_or_after, max_size=10))
    shuffled = draw(st.permutations(past + future_2))
    due = st.one_of(st.none(), st.integers(-3 * DAY, 25 * DAY), st.just(cut))
    dues = {run: draw(st.lists(due, min_size=1, max_size=4)) for run in RUNS}
    moved = {run: moved_beyond_the_next(draw, offsets, cut) for run, offsets in dues.items()}
    return d, (past + future_1, dues), (shuffled, moved)


def features(events: list[tuple], d: int, cmap, dues=None) -> pd.DataFrame:
    frames = {"enrolments": ENROLMENTS, "events": frame(events)}
    if dues is not None:
        frames["assessments"] = calendar(dues)
    tables = tables_from_frames(frames, cmap)
    spec = FeatureSpec(ClickstreamSpec(("video", "page", "forum")), cmap)
    return build_features(tables, [d], spec)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(histories())
def test_events_at_or_after_the_cutoff_never_change_a_row(cmap, history):
    d, (original, dues), (changed, moved) = history
    before = features(original, d, cmap, dues)
    after = features(changed, d, cmap, moved)
    pd.testing.assert_frame_equal(before, after)
    assert before["deadlines_passed"].notna().all()  # every run has a calendar here


def test_a_submission_counts_once_made_and_a_deadline_once_passed(cmap):
    """Guard against a vacuous calendar property: a submission just before the cutoff, or a
    deadline moved from after the cutoff to before it, changes the row."""
    dues = {"R1": [3 * DAY], "S1": [None]}
    submitted = [(0, 7 * DAY - 1, "assessment", "o1", 50)]
    late = [(0, 7 * DAY, "assessment", "o1", 50)]
    on_time = features(submitted, 7, cmap, dues).set_index("learner_id").loc["a"]
    not_yet = features(late, 7, cmap, dues).set_index("learner_id").loc["a"]
    assert (on_time.submitted_late, not_yet.deadlines_missed) == (1, 1)
    later = features(late, 7, cmap, {"R1": [8 * DAY], "S1": [None]}).set_index("learner_id").loc["a"]
    assert (later.deadlines_passed, later.days_to_next_deadline) == (0, 1)


def test_the_property_can_fail_an_event_before_the_cutoff_changes_the_row(cmap):
    """Guard against a vacuous property: moving one event across the cutoff changes the row."""
    inside = [(0, 7 * DAY - 1, "video", "o1", None)]
    outside = [(0, 7 * DAY, "video", "o1", None)]
    a_inside = features(inside, 7, cmap).set_index("learner_id").loc["a"]
    a_outside = features(outside, 7, cmap).set_index("learner_id").loc["a"]
    assert (a_inside.n_video, a_outside.n_video) == (1, 0)


def test_cohort_features_ignore_learners_with_a_later_cutoff_in_the_same_run(cmap):
    """A self-paced enrolment in a scheduled learner's run has its own later cutoff: its
    events after the scheduled learner's cutoff must not move the scheduled learner's row."""
    enrolments = pd.DataFrame({
        "learner_id": ["a", "b"], "course_id": ["C1", "C1"], "run_id": ["R1", "R1"],
        "enrolled_at": pd.to_datetime(["2024-01-01 00:00", "2024-01-12 00:00"]),
        "course_start": pd.to_datetime(["2024-01-10 00:00", "2024-01-10 00:00"]),
        "course_end": pd.to_datetime(["2024-02-20 00:00", None]),
    })
    a_event = {"learner_id": "a", "course_id": "C1", "run_id": "R1",
               "ts": pd.Timestamp("2024-01-11 09:00"), "event_type": "video"}
    late_b = {"learner_id": "b", "course_id": "C1", "run_id": "R1",
              "ts": pd.Timestamp("2024-01-14 09:00"), "event_type": "video"}  # after a's day-3 cutoff
    spec = FeatureSpec(ClickstreamSpec(("video",)), cmap)

    def a_row(events):
        tables = tables_from_frames({"enrolments": enrolments, "events": pd.DataFrame(events)}, cmap)
        return build_features(tables, [3], spec).set_index("learner_id").loc["a"]

    pd.testing.assert_series_equal(a_row([a_event]), a_row([a_event, late_b]))


def test_a_deadline_before_the_learner_enrolled_is_not_theirs_to_miss(cmap):
    """b enrols on day 2 of R1: a deadline on day 1 is not missed by b (it is by a)."""
    rows = features([], 7, cmap, {"R1": [1 * DAY, 5 * DAY], "S1": [None]}).set_index("learner_id")
    assert (rows.loc["a", "deadlines_missed"], rows.loc["b", "deadlines_missed"]) == (2, 1)
    assert rows.loc["a", "weight_due_share"] == rows.loc["b", "weight_due_share"] == 1.0  # the run's
