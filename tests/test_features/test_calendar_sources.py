"""The course calendar (``assessments``) as the sources give it: OULAD's assessments table, the
synthetic generator's schedule, and a log-import folder's calendar kept by ``--append``."""

from __future__ import annotations

import pandas as pd
import pytest
from test_sources import convert, oulad_files, read
from test_table_imports_input import edit_csv, import_error, oulad_csv

from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.features.constructs import construct_map_for
from mooc_risk.features.sources import oulad
from mooc_risk.features.sources.staging import copy_instrument

START = pd.Timestamp("2013-10-01")  # 2013J
RUN = ["course_id", "run_id"]


def calendar_by_id(out) -> pd.DataFrame:
    return read(out, "assessments").set_index("assessment_id")


def submissions(out) -> pd.DataFrame:
    return read(out, "events").query("event_type == 'assessment'")


# --- OULAD ---------------------------------------------------------------------------------
def oulad_calendar(folder):
    """The sample with a TMA (day 20), a CMA (day 19) and an exam without a date; learner 11
    submits the CMA on its due day and the TMA a day early, learner 22 the TMA five days late."""
    src = oulad_files(folder)
    ids = {"code_module": "AAA", "code_presentation": "2013J"}
    pd.DataFrame([{**ids, "id_assessment": 7.0, "assessment_type": "TMA", "date": 20.0, "weight": 10.0},
                  {**ids, "id_assessment": 8.0, "assessment_type": "CMA", "date": 19.0, "weight": 2.5},
                  {**ids, "id_assessment": 9.0, "assessment_type": "Exam", "date": None, "weight": 100.0}]
                 ).to_parquet(src / "assessments.parquet")
    pd.DataFrame([{"id_assessment": 7.0, "id_student": 11.0, "date_submitted": 19.0, "is_banked": 0.0, "score": 78.0},
                  {"id_assessment": 8.0, "id_student": 11.0, "date_submitted": 19.0, "is_banked": 0.0, "score": 60.0},
                  {"id_assessment": 7.0, "id_student": 22.0, "date_submitted": 25.0, "is_banked": 0.0, "score": 40.0}]
                 ).to_parquet(src / "studentAssessment.parquet")
    return src


def test_oulad_writes_the_calendar_with_due_days_weights_and_kinds(tmp_path):
    out = tmp_path / "out"
    counts = convert(oulad, oulad_calendar(tmp_path / "src"), out)
    assert counts["assessments"] == 3
    a = calendar_by_id(out)
    assert a.loc["7", "due_at"] == START + pd.Timedelta(days=20)
    assert a.loc["8", "due_at"] == START + pd.Timedelta(days=19)
    assert pd.isna(a.loc["9", "due_at"])  # the exam without a date: no known deadline
    assert a.weight.to_dict() == {"7": 10.0, "8": 2.5, "9": 100.0}
    assert a.kind.to_dict() == {"7": "TMA", "8": "CMA", "9": "Exam"}
    assert set(zip(a.course_id, a.run_id, strict=True)) == {("AAA", "2013J")}


def test_oulad_submissions_name_calendar_ids_and_a_submission_on_the_due_day_is_on_time(tmp_path):
    out = tmp_path / "out"
    convert(oulad, oulad_calendar(tmp_path / "src"), out)
    joined = submissions(out).merge(read(out, "assessments"), left_on=[*RUN, "object_id"],
                                    right_on=[*RUN, "assessment_id"], how="left", validate="m:1")
    assert joined.assessment_id.notna().all()  # every submission is of an assessment listed
    on_time = joined.set_index(["learner_id", "object_id"]).eval("ts <= due_at")
    assert on_time.to_dict() == {("11", "7"): True, ("11", "8"): True, ("22", "7"): False}


def test_oulad_missing_exam_date_and_weight_are_empty_and_the_folder_is_canonical(tmp_path, cmap, duck):
    src = oulad_csv(tmp_path / "src", missing="?")
    with (src / "assessments.csv").open("a") as handle:
        handle.write('"AAA","2013J","8","Exam","?","?"\n')  # the official marker for missing
    out = tmp_path / "out"
    convert(oulad, src, out)
    a = calendar_by_id(out)
    assert pd.isna(a.loc["8", "due_at"]) and pd.isna(a.loc["8", "weight"])
    assert a.loc["7", "due_at"] == START + pd.Timedelta(days=20) and a.loc["7", "weight"] == 10.0
    tables = read_tables(out, duck, cmap)
    assert tables.assessments is not None and tables.assessments.count().execute() == 2


def test_oulad_calendar_keeps_only_runs_with_learners_and_says_what_it_left_out(tmp_path, cmap, duck):
    src = oulad_calendar(tmp_path / "src")
    calendar = pd.read_parquet(src / "assessments.parquet")
    extra = pd.DataFrame([{"code_module": "BBB", "code_presentation": "2014B", "id_assessment": 20.0,
                           "assessment_type": "TMA", "date": 30.0, "weight": 50.0}])
    pd.concat([calendar, extra]).to_parquet(src / "assessments.parquet")
    out = tmp_path / "out"
    counts = convert(oulad, src, out)
    assert counts["assessments"] == 3
    assert counts["assessments of a presentation not in courses (left out of the calendar)"] == 1
    assert "20" not in set(read(out, "assessments").assessment_id)
    courses = pd.read_parquet(src / "courses.parquet")
    courses.loc[1] = {"code_module": "BBB", "code_presentation": "2014B", "module_presentation_length": 200.0}
    courses.to_parquet(src / "courses.parquet")  # a presentation nobody is enrolled in
    counts = convert(oulad, src, tmp_path / "out2")
    assert counts["assessments of a presentation without learners (left out of the calendar)"] == 1
    read_tables(tmp_path / "out2", duck, cmap)  # every run of the calendar is a known run


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("weight", "150", "assessments.csv line 2, column weight: '150' is out of range (must be from 0 to 100)"),
    ("weight", "-1", "assessments.csv line 2, column weight: '-1' is out of range (must be from 0 to 100)"),
    ("date", "20.5", "assessments.csv line 2, column date: '20.5' is not a whole number"),
    ("date", "soon", "assessments.csv line 2, column date: 'soon' is not a day number"),
])
def test_oulad_bad_calendar_values_name_file_line_and_column(tmp_path, column, value, expected):
    src = oulad_csv(tmp_path / "src")
    edit_csv(src / "assessments.csv", 2, column, value)
    assert import_error(oulad, src, tmp_path / "out").startswith(expected)


def test_oulad_assessments_without_the_calendar_columns_are_refused(tmp_path):
    src = oulad_files(tmp_path / "src")
    pd.read_parquet(src / "assessments.parquet").drop(columns=["date"]).to_parquet(src / "assessments.parquet")
    assert import_error(oulad, src, tmp_path / "out").startswith("assessments.parquet: missing column(s) 'date'")


# --- log imports: --append keeps the calendar ----------------------------------------------
@pytest.mark.parametrize("layout", ["parquet", "csv", "folder"])
def test_append_keeps_the_calendar_surveys_and_instrument_of_the_folder(tmp_path, layout, cmap, duck):
    from test_log_import import edx_events, run, write_lines

    out = tmp_path / "out"
    run("edx", [write_lines(tmp_path / "day1.log", edx_events()[:4])], out)
    runs = pd.read_parquet(out / "enrolments.parquet")[RUN].drop_duplicates()
    calendar = runs.assign(assessment_id="block-v1:UniX+DS101+2024_T1+type@problem+block@p1",
                           kind="quiz", due_at=pd.Timestamp("2024-03-05 23:59"), weight=10.0)
    if layout == "parquet":
        calendar.to_parquet(out / "assessments.parquet")
    elif layout == "csv":
        calendar.to_csv(out / "assessments.csv", index=False)
    else:
        (out / "assessments").mkdir()
        calendar.to_parquet(out / "assessments" / "part-0.parquet")
    surveys = pd.read_parquet(out / "enrolments.parquet")[["learner_id", *RUN]].assign(gender="F")
    surveys.to_csv(out / "surveys.csv", index=False)
    copy_instrument(out, "dataedu_science_motivation")  # the surveys' own instrument
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*")
              if p.is_file() and (p.name.startswith(("assessments", "surveys", "part-", "instrument")))}
    assert len(before) == 3

    counts, _ = run("edx", [write_lines(tmp_path / "day2.log", edx_events()[4:])], out, append_to=out)
    assert counts["events"] == 9  # the append did happen
    after = {p: (out / p).read_bytes() for p in before if (out / p).is_file()}
    assert after == before  # kept byte for byte
    assert construct_map_for(out).instrument != cmap.instrument  # still the folder's own
    tables = read_tables(out, duck, construct_map_for(out))
    assert tables.assessments is not None
    assert tables.assessments.to_pandas().assessment_id.tolist() == calendar.assessment_id.tolist()

    run("edx", [write_lines(tmp_path / "day3.log", edx_events())], out)  # no --append: starts again
    assert not any(p.name.startswith(("assessments", "surveys")) for p in out.iterdir())
