"""dataedu online science courses (pre-course survey, LMS minutes, gradebook) → canonical tables.

- Section ``<Subject>-<Term>-<NN>`` → course = subject, run = term-section. Term starts (the
  data has no dates; these are the assumption): S116 and T116 on 2015-09-01, S216 on
  2016-01-15; every run lasts 120 days and everyone enrols at the start.
- The 10 Likert items (Row1…Row10) → q01…q10, scored with this instrument's own construct map
  (``instrument.yaml``: interest, utility value, perceived competence). A learner with several
  survey rows in a section keeps the one with the most answers.
- LMS minutes → one ``lms_minutes`` event (value = minutes) and gradebook items → ``assessment``
  events (value = 100 · earned / possible), all on the last day of the run: the data has no
  timestamps, so before the run ends only the survey and the enrolment are known.
- ``certified`` = final grade ≥ 60; there is no dropout label.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mooc_risk.errors import InputError
from mooc_risk.features.sources.staging import copy_instrument, require
from mooc_risk.files import write_table

TERM_STARTS = {"S116": "2015-09-01", "T116": "2015-09-01", "S216": "2016-01-15"}
RUN_DAYS = 120
ITEMS = [f"Q1MaincellgroupRow{i}" for i in range(1, 11)]
STEPS = 3
_SECTION = re.compile(r"^(?P<subject>[A-Za-z]+)-(?P<term>[A-Z]\d{3})-(?P<section>\d+)$")
_USER = re.compile(r"^_(\d+)_1$")


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    require(path, "dataedu file")
    try:
        frame = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
    return frame


def _sections(frame: pd.DataFrame, column: str, source: Path) -> pd.DataFrame:
    parts = frame[column].str.extract(_SECTION)
    bad = frame.loc[parts["term"].isna() | ~parts["term"].isin(TERM_STARTS), column]
    if len(bad):
        raise InputError(f"{source}: column {column!r} must look like FrScA-S116-01 with a term "
                         f"in {sorted(TERM_STARTS)}; first: {bad.head(3).tolist()}")
    return frame.assign(course_id=parts["subject"], run_id=parts["term"] + "-" + parts["section"],
                        term=parts["term"])


def convert(src: Path, stage: Path, step: Callable[[str], None]) -> dict[str, int]:
    grades = _read(src / "course_data.csv", ["CourseSectionOrigID", "Bb_UserPK", "Gradebook_Item",
                                              "FinalGradeCEMS", "Points_Possible", "Points_Earned",
                                              "Gender"])
    minutes = _read(src / "course_minutes.csv", ["Bb_UserPK", "CourseSectionOrigID", "TimeSpent"])
    survey = _read(src / "pre_survey.csv", ["opdata_username", "opdata_CourseID", *ITEMS])
    grades = _sections(grades, "CourseSectionOrigID", src / "course_data.csv").rename(
        columns={"Bb_UserPK": "learner_id"})
    minutes = _sections(minutes, "CourseSectionOrigID", src / "course_minutes.csv").rename(
        columns={"Bb_UserPK": "learner_id"})
    survey["learner_id"] = survey["opdata_username"].str.extract(_USER)[0]
    sections = survey["opdata_CourseID"].str.match(_SECTION.pattern, na=False)
    survey = survey[survey["learner_id"].notna() & sections]
    survey = _sections(survey, "opdata_CourseID", src / "pre_survey.csv")
    step("read and checked")

    keys = ["learner_id", "course_id", "run_id"]
    enrolments = grades[[*keys, "term"]].drop_duplicates(keys)
    start = pd.to_datetime(enrolments["term"].map(TERM_STARTS))
    enrolments = enrolments.assign(enrolled_at=start, course_start=start,
                                   course_end=start + pd.Timedelta(days=RUN_DAYS),
                                   platform="virtual-school").drop(columns="term")
    end = enrolments.set_index(keys)["course_end"] - pd.Timedelta(days=1)
    surveys = _surveys(survey, grades, keys)
    events = _events(grades, minutes, keys, end)
    outcomes = _outcomes(grades, keys)
    step("tables built")
    tables = {"enrolments": enrolments, "surveys": surveys[surveys.set_index(keys).index.isin(end.index)],
              "events": events, "outcomes": outcomes}
    for name, table in tables.items():
        write_table(table.reset_index(drop=True), stage / f"{name}.parquet")
    copy_instrument(stage, "dataedu_science_motivation")
    step("written")
    return {name: len(table) for name, table in tables.items()}


def _surveys(survey: pd.DataFrame, grades: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    answers = survey[ITEMS].apply(pd.to_numeric, errors="coerce")
    answers.columns = [f"q{i:02d}" for i in range(1, 11)]
    rows = pd.concat([survey[keys], answers], axis=1)
    rows["answered"] = answers.notna().sum(axis=1)
    rows = rows.sort_values("answered").drop_duplicates(keys, keep="last").drop(columns="answered")
    gender = grades.drop_duplicates(keys)[[*keys, "Gender"]].rename(columns={"Gender": "gender"})
    return rows.merge(gender, on=keys, how="left")


def _events(grades, minutes, keys, end: pd.Series) -> pd.DataFrame:
    earned = pd.to_numeric(grades["Points_Earned"], errors="coerce")
    possible = pd.to_numeric(grades["Points_Possible"], errors="coerce")
    scored = grades.assign(value=np.where(possible > 0, 100 * earned / possible, np.nan))
    scored = scored[scored["value"].notna()]
    assessments = scored[keys].assign(event_type="assessment", object_id=scored["Gradebook_Item"],
                                      value=scored["value"].clip(lower=0))
    spent = pd.to_numeric(minutes["TimeSpent"], errors="coerce")
    lms = minutes[keys].assign(event_type="lms_minutes", object_id=None, value=spent.clip(lower=0))
    events = pd.concat([assessments, lms[spent.notna()]], ignore_index=True)
    events = events[events.set_index(keys).index.isin(end.index)]
    events["ts"] = end.reindex(pd.MultiIndex.from_frame(events[keys])).to_numpy()
    return events


def _outcomes(grades: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    final = grades.drop_duplicates(keys)[[*keys, "FinalGradeCEMS"]]
    grade = pd.to_numeric(final["FinalGradeCEMS"], errors="coerce")
    return final[keys].assign(certified=(grade >= 60).where(grade.notna()).astype("boolean"),
                              dropped_out=pd.array([pd.NA] * len(final), dtype="boolean"))
