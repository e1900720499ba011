"""The synthetic default is deterministic and realistic enough to exercise the product."""

import numpy as np
import pandas as pd
import pytest

from mooc_risk.features.build import build_features, default_spec
from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.features.synthetic.generate import generate


@pytest.fixture(scope="module")
def data(synthetic):
    folder = synthetic(6000, 8, 11)
    frames = {name: pd.read_parquet(folder / f"{name}.parquet")
              for name in ("enrolments", "surveys", "events", "outcomes")}
    return folder, {name: len(frame) for name, frame in frames.items()}, frames


def test_same_seed_same_data_other_seed_other_data(tmp_path, cmap):
    generate(tmp_path / "a", 300, 3, seed=5, cmap=cmap)
    generate(tmp_path / "b", 300, 3, seed=5, cmap=cmap)
    generate(tmp_path / "c", 300, 3, seed=6, cmap=cmap)
    for name in ("enrolments", "surveys", "events", "outcomes"):
        a = pd.read_parquet(tmp_path / "a" / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, pd.read_parquet(tmp_path / "b" / f"{name}.parquet"))
    events_c = pd.read_parquet(tmp_path / "c" / "events.parquet")
    assert not events_c.equals(pd.read_parquet(tmp_path / "a" / "events.parquet"))


def test_free_certificates_complete_about_twice_as_often_as_paid(data):
    _, _, f = data
    joined = f["enrolments"].merge(f["outcomes"])
    rate = joined.groupby(joined.credential_cost == 0)["certified"].mean()
    assert 0.12 <= rate[True] <= 0.18  # free, institution-backed
    assert 0.05 <= rate[False] <= 0.09  # paid
    assert set(joined.platform) == {"campus", "edx", "coursera", "futurelearn"}


def test_scheduled_and_self_paced_runs_and_several_runs_per_course(data):
    _, _, f = data
    e = f["enrolments"]
    assert e.course_end.isna().any() and e.course_end.notna().any()
    assert (e.groupby("course_id").run_id.nunique() >= 2).all()
    assert not e.duplicated(["learner_id", "course_id", "run_id"]).any()


def test_some_survey_answers_are_missing(data):
    _, counts, f = data
    s = f["surveys"]
    assert counts["surveys"] < counts["enrolments"]  # some learners skip the survey
    likert = s.filter(regex=r"^q\d\d$")
    assert 0.02 < likert.isna().mean().mean() < 0.2
    assert likert.stack().dropna().between(1, 5).all()


def test_constructs_relate_to_outcomes_and_activity_decays_before_dropout(data, cmap, duck):
    folder, _, f = data
    tables = read_tables(folder, duck, cmap)
    feats = build_features(tables, [7, 28], default_spec(tables, cmap))
    labelled = feats.merge(f["outcomes"], on=["learner_id", "course_id", "run_id"])
    day7 = labelled[labelled.as_of_day == 7]
    for construct in ("self_efficacy", "achievement_drive", "perceived_usefulness"):
        by_outcome = day7.groupby("certified")[construct].mean()
        assert by_outcome[True] > by_outcome[False] + 0.1, construct
    day28 = labelled[labelled.as_of_day == 28]
    active_at_28 = day28[day28.events_prev_7d > 0]
    trend = active_at_28.groupby("dropped_out").trend_7d.mean()
    assert trend[True] < trend[False]  # activity falls before a dropout
    assert day28.groupby("certified").days_since_last_activity.median()[True] < 3


def test_ten_million_events_scale_is_reachable_quickly(tmp_path, cmap):
    """Not a timing test (see bench/): checks events per learner so 10M ≈ 90k learners."""
    counts = generate(tmp_path, 2000, 8, seed=1, cmap=cmap)
    per_learner = counts["events"] / 2000
    assert 60 < per_learner < 250
    assert np.isfinite(per_learner)
