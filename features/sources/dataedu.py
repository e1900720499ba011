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

Reading. The three CSV files are read as text (UTF-8, comma-separated, a header line; the rules
of ``csv_input``). Every cell loses surrounding blanks and ``\\r`` (files saved on Windows);
an empty cell and R's or pandas' missing markers (``NA``, ``NaN``, ``NULL``…) are missing.
Section ids must look like ``FrScA-S116-01`` with a known term; user ids are whole numbers
(``80624`` = ``80624.0`` = ``_80624_1`` in the survey; survey rows with template junk instead
of a user or section are skipped). Grades, points, minutes and Likert answers (the
instrument's 1–5 scale) must be numbers. Anything else stops the import with an InputError
naming the file, the line (the header being line 1) and the column; a cell's value is shown
only for sections and numbers. An import that yields no enrolments or no events stops, saying
what the files hold instead.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mooc_risk.errors import InputError
from mooc_risk.features.constructs import load_construct_map
from mooc_risk.features.sources.csv_input import (
    blank_row,
    cell,
    csv_records,
    header_names,
    require_columns,
    require_utf8,
    unique_names,
)
from mooc_risk.features.sources.staging import copy_instrument, require
from mooc_risk.files import write_table

TERM_STARTS = {"S116": "2015-09-01", "T116": "2015-09-01", "S216": "2016-01-15"}
RUN_DAYS = 120
ITEMS = [f"Q1MaincellgroupRow{i}" for i in range(1, 11)]
INSTRUMENT = "dataedu_science_motivation"
STEPS = 3
LINE = "__line"  # where a row starts in its file (the header is line 1)
# an empty cell and the missing markers R and pandas write (pandas read these as missing before)
MISSING = frozenset({"", "NA", "N/A", "n/a", "NaN", "-NaN", "nan", "-nan", "NULL", "null", "None",
                     "<NA>", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "1.#IND", "-1.#QNAN", "1.#QNAN"})
_SECTION = re.compile(r"^(?P<subject>[A-Za-z]+)-(?P<term>[A-Z]\d{3})-(?P<section>\d+)$")
_USER = re.compile(r"^_(\d+)_1$")
_WHOLE = r"\d+(\.0*)?"


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    """The file's rows as text (trimmed; missing → None) with the line each starts on."""
    require(path, "dataedu file")
    require_utf8(path, path.name)
    records = csv_records(path, path.name, skip=blank_row, width="at most")
    _, header = next(records)
    rows, lines = [], []
    for line, row in records:
        rows.append([cell(c, MISSING) for c in row] + [None] * (len(header) - len(row)))
        lines.append(line)
    names = header_names(path.name, header, columns)
    require_columns(path.name, names, columns)
    frame = pd.DataFrame(rows, columns=unique_names(names), dtype=object)  # unused repeats: NAME.i
    frame[LINE] = lines
    return frame


def _stop(frame: pd.DataFrame, bad: pd.Series, source: Path, column: str, what: str) -> None:
    """Raise for the first row where ``bad`` holds (``what`` may use {value})."""
    if not bad.any():
        return
    row = frame[bad.to_numpy()].iloc[0]
    more = f" ({int(bad.sum()) - 1:,} more row(s) like it)" if bad.sum() > 1 else ""
    value = row[column]
    text = "empty, but a value is required" if value is None else what.format(value=repr(value))
    raise InputError(f"{source.name} line {row[LINE]}, column {column}: {text}{more}")


def _numbers(frame: pd.DataFrame, column: str, source: Path, scale: tuple | None = None) -> None:
    """Stop at a cell that is not a number (or, with ``scale``, not on the answer scale)."""
    text = frame[column]
    values = pd.to_numeric(text, errors="coerce").astype(float)
    _stop(frame, text.notna() & ~np.isfinite(values), source, column, "{value} is not a number")
    if scale:
        low, high = scale
        _stop(frame, (values < low) | (values > high), source, column,
              f"{{value}} is not an answer on the {low:g}–{high:g} scale")


def _user_ids(frame: pd.DataFrame, column: str, source: Path) -> pd.Series:
    """Blackboard user ids, whole numbers: ``80624`` and ``80624.0`` are the same user."""
    text = frame[column]
    ok = text.str.fullmatch(_WHOLE).astype("boolean").fillna(False).astype(bool)
    _stop(frame, text.isna(), source, column, "")
    _stop(frame, ~ok, source, column, "not a user id (a whole number)")
    return text.map(lambda v: str(int(v.split(".")[0])))


def _sections(frame: pd.DataFrame, column: str, source: Path) -> pd.DataFrame:
    parts = frame[column].str.extract(_SECTION)
    _stop(frame, parts["term"].isna() | ~parts["term"].isin(TERM_STARTS), source, column,
          f"{{value}} must look like FrScA-S116-01 with a term in {sorted(TERM_STARTS)}")
    return frame.assign(course_id=parts["subject"], run_id=parts["term"] + "-" + parts["section"],
                        term=parts["term"])


def _scale() -> tuple[float, float]:
    """The answer scale of the instrument the import ships (surveys outside it are refused)."""
    ref = importlib.resources.files("mooc_risk.features.instruments") / f"{INSTRUMENT}.yaml"
    with importlib.resources.as_file(ref) as path:
        scale = load_construct_map(path).scale
    return scale.min, scale.max


def convert(src: Path, stage: Path, step: Callable[[str], None]) -> dict[str, int]:
    data, spent, pre = src / "course_data.csv", src / "course_minutes.csv", src / "pre_survey.csv"
    grades = _read(data, ["CourseSectionOrigID", "Bb_UserPK", "Gradebook_Item", "FinalGradeCEMS",
                          "Points_Possible", "Points_Earned", "Gender"])
    minutes = _read(spent, ["Bb_UserPK", "CourseSectionOrigID", "TimeSpent"])
    survey = _read(pre, ["opdata_username", "opdata_CourseID", *ITEMS])
    for column in ("FinalGradeCEMS", "Points_Possible", "Points_Earned"):
        _numbers(grades, column, data)
    _numbers(minutes, "TimeSpent", spent)
    grades = _sections(grades, "CourseSectionOrigID", data).assign(
        learner_id=_user_ids(grades, "Bb_UserPK", data))
    minutes = _sections(minutes, "CourseSectionOrigID", spent).assign(
        learner_id=_user_ids(minutes, "Bb_UserPK", spent))
    user = survey["opdata_username"].str.extract(_USER)[0]
    survey["learner_id"] = user.map(lambda v: str(int(v)), na_action="ignore")
    sections = survey["opdata_CourseID"].str.match(_SECTION.pattern, na=False)
    left_out = {"survey rows without a user id or a section id (left out)":
                int((~(survey["learner_id"].notna() & sections)).sum())}
    survey = survey[survey["learner_id"].notna() & sections]
    survey = _sections(survey, "opdata_CourseID", pre)
    scale = _scale()
    for item in ITEMS:
        _numbers(survey, item, pre, scale)
    if grades.empty:
        raise InputError(f"no enrolments: {data.name} has a header but no rows (enrolments are "
                         "its CourseSectionOrigID × Bb_UserPK)")
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
    if events.empty:
        raise InputError(_no_events(grades, minutes, data, spent))
    outcomes = _outcomes(grades, keys)
    step("tables built")
    enrolled = surveys.set_index(keys).index.isin(end.index)
    left_out["survey rows of learners not enrolled in that section (left out)"] = int((~enrolled).sum())
    left_out["repeated survey rows (the one with the most answers kept)"] = (
        len(survey) - len(surveys))
    left_out["minutes rows of learners not enrolled in that section (left out)"] = int(
        (~minutes.set_index(keys).index.isin(end.index)).sum())
    tables = {"enrolments": enrolments, "surveys": surveys[enrolled], "events": events, "outcomes": outcomes}
    for name, table in tables.items():
        write_table(table.reset_index(drop=True), stage / f"{name}.parquet")
    copy_instrument(stage, INSTRUMENT)
    step("written")
    counts = {name: len(table) for name, table in tables.items()}
    return counts | {what: n for what, n in left_out.items() if n}  # said, not dropped in silence


def _no_events(grades: pd.DataFrame, minutes: pd.DataFrame, data: Path, spent: Path) -> str:
    def runs(frame: pd.DataFrame) -> str:
        found = sorted(set(frame["course_id"] + "-" + frame["run_id"]))
        return ", ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")

    scores = (f"none of the {len(grades):,} {data.name} rows has a score (Points_Earned and "
              "Points_Possible > 0)")
    if minutes.empty:
        return f"no events: {scores}, and {spent.name} has no rows"
    return (f"no events: {scores}, and none of the {len(minutes):,} {spent.name} rows is for an "
            f"enrolment in {data.name} ({spent.name} has {runs(minutes)}; {data.name} has "
            f"{runs(grades)})")


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
