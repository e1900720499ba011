"""Adapters from OULAD, KDD Cup 2015 and dataedu layouts, on tiny files the tests write."""

from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import run_cli

from mooc_risk.errors import InputError
from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.features.constructs import construct_map_for
from mooc_risk.features.sources import dataedu, kddcup, oulad
from mooc_risk.features.sources.staging import staged_output


def convert(module, src: Path, out: Path) -> dict:
    with staged_output(out) as stage:
        return module.convert(src, stage, lambda _label: None)


def read(out: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(out / f"{name}.parquet")


# --- OULAD ---------------------------------------------------------------------------------
def oulad_files(folder: Path, presentation: str = "2013J") -> Path:
    p = folder / "parquet"
    vle_dir = p / "studentVle" / "code_module=AAA" / f"code_presentation={presentation}"
    vle_dir.mkdir(parents=True)
    ids = {"code_module": "AAA", "code_presentation": presentation}
    pd.DataFrame([{**ids, "module_presentation_length": 266.0}]).to_parquet(p / "courses.parquet")
    pd.DataFrame([{"id_site": 1.0, **ids, "activity_type": "resource"},
                  {"id_site": 2.0, **ids, "activity_type": "forumng"}]).to_parquet(p / "vle.parquet")
    info = [{**ids, "id_student": 11.0, "gender": "F", "region": "Wales",
             "highest_education": "HE Qualification", "imd_band": "20-30%", "age_band": "0-35",
             "num_of_prev_attempts": 0.0, "studied_credits": 60.0, "disability": "N",
             "final_result": "Pass"},
            {**ids, "id_student": 22.0, "gender": "M", "region": "Wales",
             "highest_education": "A Level", "imd_band": None, "age_band": "35-55",
             "num_of_prev_attempts": 1.0, "studied_credits": 120.0, "disability": "Y",
             "final_result": "Withdrawn"}]
    pd.DataFrame(info).to_parquet(p / "studentInfo.parquet")
    pd.DataFrame([{**ids, "id_student": 11.0, "date_registration": -20.0, "date_unregistration": None},
                  {**ids, "id_student": 22.0, "date_registration": None, "date_unregistration": 30.0}]
                 ).to_parquet(p / "studentRegistration.parquet")
    pd.DataFrame([{**ids, "id_assessment": 7.0, "assessment_type": "TMA", "date": 20.0, "weight": 10.0}]
                 ).to_parquet(p / "assessments.parquet")
    pd.DataFrame([{"id_assessment": 7.0, "id_student": 11.0, "date_submitted": 19.0,
                   "is_banked": 0.0, "score": 78.0}]).to_parquet(p / "studentAssessment.parquet")
    clicks = [{"id_student": 11.0, "id_site": 1.0, "date": 3.0, "sum_click": 4.0},
              {"id_student": 11.0, "id_site": 1.0, "date": 3.0, "sum_click": 4.0},  # duplicate
              {"id_student": 11.0, "id_site": 2.0, "date": -2.0, "sum_click": 1.0},
              {"id_student": 22.0, "id_site": 1.0, "date": 10.0, "sum_click": 2.0}]
    pd.DataFrame(clicks).to_parquet(vle_dir / "part-0.parquet")
    return p


def test_oulad_maps_runs_clicks_assessments_and_outcomes(tmp_path):
    out = tmp_path / "out"
    counts = convert(oulad, oulad_files(tmp_path / "src"), out)
    assert counts == {"enrolments": 2, "surveys": 2, "assessments": 1, "events": 4, "outcomes": 2}
    e = read(out, "enrolments").set_index("learner_id")
    start = pd.Timestamp("2013-10-01")
    assert e.loc["11", "course_start"] == start and e.loc["11", "run_id"] == "2013J"
    assert e.loc["11", "enrolled_at"] == start - pd.Timedelta(days=20)
    assert e.loc["22", "enrolled_at"] == start  # missing registration day → the start
    assert e.loc["11", "course_end"] == start + pd.Timedelta(days=266)
    ev = read(out, "events")
    clicks = ev[(ev.learner_id == "11") & (ev.object_id == "1")]
    assert len(clicks) == 1 and clicks.value.iloc[0] == 8  # duplicate rows summed
    assert clicks.ts.iloc[0] == start + pd.Timedelta(days=3) and clicks.event_type.iloc[0] == "resource"
    quiz = ev[ev.event_type == "assessment"]
    assert quiz.value.tolist() == [78.0] and quiz.ts.iloc[0] == start + pd.Timedelta(days=19)
    o = read(out, "outcomes").set_index("learner_id")
    assert o.loc["11", "certified"] and not o.loc["11", "dropped_out"]
    assert o.loc["22", "dropped_out"] and o.loc["22", "dropped_at"] == start + pd.Timedelta(days=30)
    s = read(out, "surveys").set_index("learner_id")
    assert s.loc["22", "education_level"] == "A Level" and s.loc["22", "prior_attempts"] == 1
    assert s.loc["11", "hours_per_week_planned"] == pytest.approx(60 * 10 / (266 / 7), abs=0.05)


def test_oulad_february_presentation_starts_on_the_first(tmp_path):
    out = tmp_path / "out"
    convert(oulad, oulad_files(tmp_path / "src", "2014B"), out)
    assert read(out, "enrolments").course_start.iloc[0] == pd.Timestamp("2014-02-01")


def test_oulad_malformed_files_are_named_and_leave_the_output_alone(tmp_path):
    src = oulad_files(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier import")
    info = pd.read_parquet(src / "studentInfo.parquet").drop(columns=["final_result"])
    info.to_parquet(src / "studentInfo.parquet")
    with pytest.raises(InputError, match=r"studentInfo.*'final_result'"):
        convert(oulad, src, out)
    assert (out / "keep.txt").read_text() == "earlier import"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_oulad_bad_presentation_code(tmp_path):
    src = oulad_files(tmp_path / "src")
    courses = pd.read_parquet(src / "courses.parquet").assign(code_presentation="2013X")
    courses.to_parquet(src / "courses.parquet")
    with pytest.raises(InputError, match="2013B or 2014J"):
        convert(oulad, src, tmp_path / "out")


# --- KDD Cup 2015 --------------------------------------------------------------------------
def kdd_files(folder: Path) -> Path:
    folder.mkdir(parents=True)
    header = "enrollment_id,time,event_access,event_discussion,event_navigate,event_page_close,event_problem,event_video,event_wiki\n"
    (folder / "trainCourse12.csv").write_text(
        header + "1,2014-06-11,3,0,0,0,2,0,0\n1,2014-06-12,0,0,0,0,0,0,0\n2,2014-06-11,0,0,0,0,0,0,0\n")
    (folder / "trainCourse12B.csv").write_text(header + "3,2014-07-01,0,1,0,0,0,5,0\n")
    (folder / "truth_train.csv").write_text("enrollment_id,label\n1,0\n2,1\n3,1\n")
    return folder


def test_kdd_daily_counts_become_events_and_labels(tmp_path):
    out = tmp_path / "out"
    counts = convert(kddcup, kdd_files(tmp_path / "src"), out)
    assert counts == {"enrolments": 3, "events": 4, "outcomes": 3}
    e = read(out, "enrolments").set_index("learner_id")
    assert e.loc["1", "course_id"] == "12" and e.loc["3", "course_id"] == "12B"
    assert e.loc["1", "course_start"] == pd.Timestamp("2014-06-11")
    assert e.loc["1", "course_end"] == pd.Timestamp("2014-07-11")
    ev = read(out, "events").sort_values(["learner_id", "event_type"])
    assert ev[ev.learner_id == "1"][["event_type", "value"]].values.tolist() == [
        ["access", 3.0], ["problem", 2.0]]
    o = read(out, "outcomes").set_index("learner_id")
    assert o.loc["2", "dropped_out"] and not o.loc["1", "dropped_out"]
    assert o.certified.isna().all()  # KDD has no certification
    assert o.loc["2", "dropped_at"] == pd.Timestamp("2014-07-11")  # leaves after the window


def test_kdd_malformed_row_names_the_file_and_enrolment(tmp_path):
    src = kdd_files(tmp_path / "src")
    with (src / "trainCourse12B.csv").open("a") as handle:
        handle.write("4,11/07/2014,0,0,0,0,0,0,0\n")
    with pytest.raises(InputError, match=r"trainCourse12B\.csv: enrollment_id=4 time='11/07/2014'"):
        convert(kddcup, src, tmp_path / "out")
    (src / "truth_train.csv").unlink()
    with pytest.raises(InputError, match="truth_train"):
        convert(kddcup, src, tmp_path / "out")


# --- dataedu ---------------------------------------------------------------------------------
def dataedu_files(folder: Path) -> Path:
    folder.mkdir(parents=True)
    pd.DataFrame([
        {"CourseSectionOrigID": "FrScA-S116-01", "Bb_UserPK": "80624", "Gradebook_Item": "Quiz 1",
         "Grade_Category": "", "FinalGradeCEMS": "71.5", "Points_Possible": "10", "Points_Earned": "8",
         "Gender": "F"},
        {"CourseSectionOrigID": "FrScA-S216-01", "Bb_UserPK": "1", "Gradebook_Item": "Quiz 1",
         "Grade_Category": "", "FinalGradeCEMS": "40", "Points_Possible": "10", "Points_Earned": "2",
         "Gender": "M"},
    ]).to_csv(folder / "course_data.csv", index=False)
    pd.DataFrame([{"Bb_UserPK": "80624", "CourseSectionOrigID": "FrScA-S116-01", "TimeSpent": "1382.7"}]
                 ).to_csv(folder / "course_minutes.csv", index=False)
    rows = [["_80624_1", "FrScA-S116-01", 4, 4, 4, 1, 5, 4, 1, 5, 5, 5],
            ["_1_1", "FrScA-S216-01", 2, 3, 2, 4, 2, 3, 4, 2, 3, 2],
            ["@X@user.pk_string@X@", "FrScA-S116-01", None, None, None, None, None, None, None, None, None, None]]
    pd.DataFrame(rows, columns=["opdata_username", "opdata_CourseID",
                                *[f"Q1MaincellgroupRow{i}" for i in range(1, 11)]]).to_csv(
        folder / "pre_survey.csv", index=False)
    return folder


def test_dataedu_uses_its_own_instrument(tmp_path, duck):
    out = tmp_path / "out"
    counts = convert(dataedu, dataedu_files(tmp_path / "src"), out)
    assert counts == {"enrolments": 2, "surveys": 2, "events": 3, "outcomes": 2,  # and what was left out:
                      "survey rows without a user id or a section id (left out)": 1}  # the @X@ row
    cmap = construct_map_for(out)
    assert set(cmap.constructs) == {"interest", "utility_value", "perceived_competence"}
    s = read(out, "surveys").set_index("learner_id")
    assert s.loc["80624", "q04"] == 1 and s.loc["80624", "q10"] == 5
    e = read(out, "enrolments").set_index("learner_id")
    assert (e.loc["80624", "course_id"], e.loc["80624", "run_id"]) == ("FrScA", "S116-01")
    o = read(out, "outcomes").set_index("learner_id")
    assert o.loc["80624", "certified"] and not o.loc["1", "certified"]
    ev = read(out, "events")
    quiz = ev[(ev.learner_id == "80624") & (ev.event_type == "assessment")]
    assert quiz.value.tolist() == [80.0]
    assert quiz.ts.iloc[0] == e.loc["80624", "course_end"] - pd.Timedelta(days=1)
    tables = read_tables(out, duck, cmap)
    from mooc_risk.features.build import build_features, default_spec

    rows = build_features(tables, [0], default_spec(tables, cmap)).set_index("learner_id")
    # interest = q01, q04 (reversed: 6 - 1), q05, q08, q10 → (4 + 5 + 5 + 5 + 5) / 5
    assert rows.loc["80624", "interest"] == pytest.approx(4.8)
    assert rows.loc["80624", "events_total"] == 0  # nothing is known at day 0


def test_dataedu_malformed_section_is_named(tmp_path):
    src = dataedu_files(tmp_path / "src")
    grades = pd.read_csv(src / "course_data.csv", dtype=str)
    grades.loc[1, "CourseSectionOrigID"] = "FrScA-X999-01"
    grades.to_csv(src / "course_data.csv", index=False)
    with pytest.raises(InputError, match=r"course_data\.csv.*FrScA-X999-01"):
        convert(dataedu, src, tmp_path / "out")


def test_import_command_and_its_errors(tmp_path, capsys, monkeypatch):
    src = kdd_files(tmp_path / "src")
    out = tmp_path / "data"
    result = run_cli(["import", "--source", "kddcup2015", "--in", src, "--out", out], capsys, monkeypatch)
    assert result.code == 0, result.err
    assert "3 enrolments" in result.out
    features = tmp_path / "f.parquet"
    assert run_cli(["features", "--data", out, "--as-of", "0,1", "--out", features],
                   capsys, monkeypatch).code == 0
    assert len(pd.read_parquet(features)) == 6
    bad = run_cli(["import", "--source", "blackboard", "--in", src, "--out", out], capsys, monkeypatch)
    assert bad.code == 2 and "blackboard" in bad.err
    missing = run_cli(["import", "--source", "oulad", "--in", tmp_path / "nope", "--out", out],
                      capsys, monkeypatch)
    assert missing.code == 2 and "nope" in missing.err
    assert (out / "enrolments.parquet").exists()  # the earlier import is still there
