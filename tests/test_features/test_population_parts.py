"""The population rule's parts: status words, the running run, days that have not come yet."""

from datetime import datetime

import numpy as np
import pandas as pd
from factories import tiny_frames

from mooc_risk.features.build import FeatureSpec, build_features
from mooc_risk.features.canonical.tables import tables_from_frames
from mooc_risk.features.clickstream import ClickstreamSpec
from mooc_risk.features.population import (
    activity_status,
    in_population,
    inactive_days,
    run_calendar,
    running_runs,
)


def test_status_says_active_inactive_for_n_days_or_never_started():
    rows = pd.DataFrame({"days_since_last_activity": [0.5, 6.9, 9.2, np.nan, 3.0],
                         "events_total": [4.0, 2.0, 7.0, 0.0, 0.0]})
    assert activity_status(rows).tolist() == ["active", "active", "inactive for 9 days",
                                              "never started", "never started"]
    assert inactive_days(rows).tolist() == [0, 6, 9, pd.NA, pd.NA]


def test_the_running_run_is_the_open_one_else_the_last_started(cmap):
    # C1: R1 scheduled 2024-01-02 → 2024-02-02; R2 self-paced from 2024-02-01
    tables = tables_from_frames(tiny_frames(), cmap)
    assert running_runs(run_calendar(tables), datetime(2023, 12, 1)) == {}  # nothing has started
    assert running_runs(run_calendar(tables), datetime(2024, 1, 15)) == {"C1": "R1"}  # the open one
    assert running_runs(run_calendar(tables), datetime(2024, 2, 15)) == {"C1": "R2"}  # self-paced: never ends
    only_r1 = {name: frame[frame.run_id == "R1"] for name, frame in tiny_frames().items()}
    r1 = tables_from_frames(only_r1, cmap)
    assert running_runs(run_calendar(r1), datetime(2024, 6, 1)) == {"C1": "R1"}  # between runs: the last one


def test_a_day_that_has_not_come_has_no_row_on_a_list(cmap):
    frames = tiny_frames()
    frames["outcomes"]["dropped_at"] = pd.to_datetime([None, "2024-01-05", None])
    tables = tables_from_frames(frames, cmap)
    features = build_features(tables, [7], FeatureSpec(ClickstreamSpec(("video",)), cmap))
    listed = lambda today: set(features.learner_id[in_population(features, tables, today)])  # noqa: E731
    # a: day 7 = Jan 9; b unenrolled Jan 5, before its day-7 cutoff; c self-paced: day 7 = Mar 8
    assert listed(None) == {"a", "c"}
    assert listed(datetime(2024, 1, 8)) == set()  # R1 is at day 6
    assert listed(datetime(2024, 1, 20)) == {"a"}
    assert listed(datetime(2024, 3, 9)) == {"a", "c"}
