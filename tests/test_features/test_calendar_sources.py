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


# --- the synthetic generator ---------------------------------------------------------------
@pytest.fixture(scope="module")
def generated(synthetic):
    folder = synthetic(6000, 8, 11)
    frames = {n: pd.read_parquet(folder / f"{n}.parquet")
              for n in ("enrolments", "events", "outcomes", "assessments")}
    for frame in frames.values():
        for column in ("learner_id", *RUN, "object_id", "event_type"):
            if column in frame:
                frame[column] = frame[column].astype(str)
    return folder, frames


def test_generator_gives_each_scheduled_run_a_calendar_and_self_paced_runs_none(generated, cmap, duck):
    folder, f = generated
    runs = f["enrolments"].drop_duplicates(RUN)
    calendar = f["assessments"].merge(runs, on=RUN, how="left", validate="m:1", indicator=True)
    assert (calendar._merge == "both").all()  # no run the enrolments lack
    assert calendar.course_end.notna().all()  # self-paced runs have no calendar
    scheduled = runs[runs.course_end.notna()]
    assert set(zip(calendar.course_id, calendar.run_id, strict=True)) == set(
        zip(scheduled.course_id, scheduled.run_id, strict=True))
    per_run = calendar.groupby(RUN)
    assert per_run.weight.sum().round(6).eq(100).all()
    assert (per_run.kind.apply(list).map(lambda k: k[-1] == "exam" and set(k[:-1]) == {"quiz"})).all()
    assert (calendar.due_at > calendar.course_start).all() and (calendar.due_at <= calendar.course_end).all()
    assert per_run.due_at.max().eq(per_run.course_end.max()).all()  # the final is due at the end
    assert read_tables(folder, duck, cmap).assessments is not None


def test_generator_submissions_name_calendar_ids(generated):
    _, f = generated
    scheduled = f["enrolments"].loc[f["enrolments"].course_end.notna(), ["learner_id", *RUN]]
    subs = submissions_of(f).merge(scheduled)
    joined = subs.merge(f["assessments"], left_on=[*RUN, "object_id"], right_on=[*RUN, "assessment_id"],
                        how="left", validate="m:1")
    assert len(joined) > 1000 and joined.assessment_id.notna().all()
    assert set(f["assessments"].assessment_id) == set(joined.assessment_id)  # each one submitted


def submissions_of(f) -> pd.DataFrame:
    return f["events"][f["events"].event_type == "assessment"]


def test_generator_learners_drifting_away_submit_late_or_miss_more_often(generated):
    _, f = generated
    keys = ["learner_id", *RUN]
    subs = submissions_of(f).merge(f["assessments"], left_on=[*RUN, "object_id"],
                                   right_on=[*RUN, "assessment_id"]).merge(f["outcomes"], on=keys)
    late = (subs.ts > subs.due_at).groupby(subs.dropped_out).mean()
    on_due_day = subs.ts.dt.floor("D") == subs.due_at - pd.Timedelta(days=1)
    assert 0.02 < late[False] < late[True] < 0.4
    assert on_due_day.mean() > 0.3  # most submit on the last day, as in OULAD
    ends = subs.merge(f["enrolments"], on=keys)
    assert (ends.ts < ends.course_end).all()  # never after the run has ended
    due = f["enrolments"].merge(f["assessments"], on=RUN)
    due = due[due.due_at - pd.Timedelta(days=7) >= due.enrolled_at]  # enrolled before its week
    done = subs[[*keys, "assessment_id"]].drop_duplicates().assign(done=True)
    due = due.merge(done, how="left", on=[*keys, "assessment_id"]).merge(f["outcomes"], on=keys)
    missed = due.done.isna().groupby(due.dropped_out).mean()
    assert missed[True] > missed[False] + 0.3


def test_generator_calendar_is_deterministic_and_follows_the_format(tmp_path, cmap, duck):
    from mooc_risk.features.synthetic.generate import generate

    generate(tmp_path / "a", 200, 4, seed=3, cmap=cmap)
    generate(tmp_path / "b", 200, 4, seed=3, cmap=cmap, fmt="csv")
    a = pd.read_parquet(tmp_path / "a" / "assessments.parquet")
    b = read_tables(tmp_path / "b", duck, cmap).assessments.to_pandas()
    pd.testing.assert_frame_equal(a[["assessment_id", "kind", "weight"]], b[["assessment_id", "kind", "weight"]])
    assert (a.due_at.astype("datetime64[us]") == b.due_at.astype("datetime64[us]")).all()
