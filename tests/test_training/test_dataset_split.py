"""Labels, the population rule, the label-leak guard and the honest split."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mooc_risk.features.build import default_spec
from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.features.population import still_enrolled
from mooc_risk.training.config import SplitConfig, load_config
from mooc_risk.training.dataset import LabelLeakError, guard_against_leaks, labelled_rows
from mooc_risk.training.split import split_rows

CONFIG = "models/dropout.yaml"


@pytest.fixture(scope="module")
def rows(synthetic_data, cmap, duck):
    tables = read_tables(synthetic_data, duck, cmap)
    config = load_config(CONFIG, ["as_of_days=[0,14]"])
    return tables, config, labelled_rows(tables, config, default_spec(tables, cmap))


def test_outcome_columns_never_reach_the_features(rows):
    _, _, labelled = rows
    forbidden = {"certified", "dropped_out", "last_active_at", "dropped_at", "label"}
    assert not forbidden & set(labelled.feature_columns)
    assert "as_of_day" in labelled.feature_columns and "country" not in labelled.feature_columns


def test_a_feature_computed_from_the_outcome_is_refused(rows):
    _, _, labelled = rows
    frame = labelled.frame
    leaky = frame[labelled.feature_columns].assign(days_until_dropout=frame["label"] * 30.0)
    with pytest.raises(LabelLeakError, match="days_until_dropout"):
        guard_against_leaks(leaky, frame["label"])
    with pytest.raises(LabelLeakError, match="outcome column"):
        guard_against_leaks(frame[labelled.feature_columns].assign(certified=1.0), frame["label"])
    guard_against_leaks(frame[labelled.feature_columns], frame["label"])  # the real ones pass


def test_training_needs_outcomes(rows, cmap):
    tables, config, _ = rows
    from mooc_risk.errors import InputError

    with pytest.raises(InputError, match="outcomes"):
        labelled_rows(replace(tables, outcomes=None), config, default_spec(tables, cmap))


def test_population_leaves_out_only_learners_who_unenrolled_before_the_cutoff():
    """Issue #11: last activity is knowledge from after d that serving never has; only an
    unenrolment before the cutoff takes a learner off the list."""
    day = 86_400
    frame = pd.DataFrame({
        "dropped_out": [True, True, True, False, True, True],
        "last_active_at": pd.to_datetime(["2024-01-03", "2024-01-20", None, "2024-01-02",
                                          "2024-01-03", "2024-01-02"]),
        "dropped_at": pd.to_datetime([None, None, None, None, "2024-01-30", "2024-01-05"]),
        "anchor_s": [pd.Timestamp("2024-01-01").value // 10**9] * 6,
    })
    frame["cutoff_s"] = frame["anchor_s"] + 7 * day
    # quiet since Jan 3, Jan 20, never active, not a dropout: all still enrolled at day 7;
    # unregistered Jan 30: still enrolled; unregistered Jan 5: gone by the day-7 cutoff
    assert still_enrolled(frame).tolist() == [True, True, True, True, True, False]
    frame["cutoff_s"] = frame["anchor_s"]  # day 0: nobody has left yet
    assert still_enrolled(frame).tolist() == [True, True, True, True, True, True]


def test_by_run_split_tests_later_runs_and_keeps_learners_on_one_side(rows):
    _, config, labelled = rows
    frame = labelled.frame
    split = split_rows(frame, config.split)
    assert split.strategy == "by-run"
    train_runs = frame.loc[split.train | split.valid, "run_start"]
    assert train_runs.max() < frame.loc[split.test, "run_start"].min()
    sides = [set(frame.loc[m, "learner_id"]) for m in (split.train, split.valid, split.test)]
    assert not sides[0] & sides[2] and not sides[1] & sides[2] and not sides[0] & sides[1]
    assert not (split.train & split.test).any()


def test_single_run_courses_fall_back_to_a_learner_split_and_say_so(rows):
    _, _, labelled = rows
    one_run = labelled.frame.assign(run_id="only", run_start=pd.Timestamp("2024-01-01"))
    split = split_rows(one_run, SplitConfig())
    assert split.strategy == "by-learner" and "single run" in split.note
    assert not set(one_run.loc[split.train, "learner_id"]) & set(one_run.loc[split.test, "learner_id"])
    assert 0.2 < split.test.mean() < 0.4


def test_config_errors_name_the_key(tmp_path):
    from mooc_risk.errors import InputError

    with pytest.raises(InputError, match="expected key=value"):
        load_config(CONFIG, ["lightgbm.num_leaves"])
    with pytest.raises(InputError, match=r"split\.test_share"):
        load_config(CONFIG, ["split.test_share=1.5"])
    assert load_config(CONFIG, ["lightgbm.num_leaves=63"]).lightgbm["num_leaves"] == 63
    assert np.array_equal(load_config(CONFIG, ["as_of_days=[14,0,0]"]).as_of_days, [0, 14])
