"""Honest splits: earlier course runs train, later runs test; no learner on both sides."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from mooc_risk.errors import InputError
from mooc_risk.training.config import SplitConfig


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # boolean masks over the rows
    valid: np.ndarray
    test: np.ndarray
    strategy: str
    note: str


def split_rows(frame: pd.DataFrame, config: SplitConfig) -> Split:
    """Split by run start when some course has several runs, else by learner (and say so)."""
    runs_per_course = frame.groupby("course_id")["run_id"].nunique()
    if config.strategy == "by-course":
        test, strategy = _by_group(frame, "course_id", config.test_share, config.seed), "by-course"
        note = (f"{frame.loc[test, 'course_id'].nunique()} of {frame['course_id'].nunique()} "
                f"courses held out (seed {config.seed}), as for a new course with no history")
    elif config.strategy == "by-run" and (runs_per_course > 1).any():
        test, note = _later_runs(frame, config.test_share, config.test_from)
        strategy = "by-run"
    else:
        test = _by_group(frame, "learner_id", config.test_share, config.seed)
        strategy = "by-learner"
        note = ("by-learner split requested" if config.strategy == "by-learner"
                else "every course has a single run: fell back to a split grouped by learner")
    # a learner with an enrolment in a test run gives no training rows
    in_test = frame.loc[test, "learner_id"].unique()
    trainable = ~test & ~frame["learner_id"].isin(in_test).to_numpy()
    valid = trainable & _by_group(frame, "learner_id", config.validation_share, config.seed + 1)
    train = trainable & ~valid
    if not train.any() or not valid.any() or not test.any():
        raise InputError(f"split left an empty side (train {train.sum()}, valid {valid.sum()}, "
                         f"test {test.sum()} rows); more data or other shares are needed")
    return Split(train, valid, test, strategy, note)


def _later_runs(frame: pd.DataFrame, share: float, test_from) -> tuple[np.ndarray, str]:
    runs = (frame[["course_id", "run_id", "run_start"]].drop_duplicates(["course_id", "run_id"])
            .sort_values(["run_start", "course_id", "run_id"]))
    if test_from is not None:
        cut = pd.Timestamp(test_from)
    else:
        n_test = min(max(1, round(share * len(runs))), len(runs) - 1)
        cut = runs["run_start"].iloc[len(runs) - n_test]
    test_runs = runs[runs["run_start"] >= cut]
    keys = pd.MultiIndex.from_frame(frame[["course_id", "run_id"]])
    test = keys.isin(pd.MultiIndex.from_frame(test_runs[["course_id", "run_id"]]))
    note = (f"{len(runs) - len(test_runs)} earlier runs train, {len(test_runs)} runs starting "
            f"on or after {pd.Timestamp(cut):%Y-%m-%d} test")
    return np.asarray(test), note


def _by_group(frame: pd.DataFrame, column: str, share: float, seed: int) -> np.ndarray:
    """A seeded share of the ``column`` groups (learners, courses), as a row mask."""
    splitter = GroupShuffleSplit(n_splits=1, test_size=share, random_state=seed)
    _, held = next(splitter.split(frame, groups=frame[column]))
    mask = np.zeros(len(frame), dtype=bool)
    mask[held] = True
    return mask
