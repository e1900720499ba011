"""The OULAD and dataedu importers on real-world variants of their files: empty cells for
missing, keys with blanks and Windows line ends, broken values named by file, line and column,
and imports that would produce nothing. Tiny files with invented ids."""

import csv
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import run_cli
from test_sources import convert, dataedu_files, oulad_files, read

from mooc_risk.errors import InputError
from mooc_risk.features.sources import dataedu, oulad

TABLES = ["enrolments", "surveys", "events", "outcomes"]
ENGINE_WORDS = ("Binder", "Conversion Error", "Invalid Input Error", "DuckDB", "Traceback", "C error")


def tables(out: Path) -> dict[str, pd.DataFrame]:
    """The imported tables, sorted, for comparing two imports."""
    found = {}
    for name in TABLES:
        frame = read(out, name)
        found[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return found


def assert_same_tables(one: Path, other: Path) -> None:
    left, right = tables(one), tables(other)
    for name in TABLES:
        pd.testing.assert_frame_equal(left[name], right[name], check_dtype=True)


def import_error(module, src: Path, out: Path) -> str:
    with pytest.raises(InputError) as caught:
        convert(module, src, out)
    message = str(caught.value)
    assert not any(word in message for word in ENGINE_WORDS), message
    return message


# --- OULAD as CSV ------------------------------------------------------------------------------
def oulad_csv(folder: Path, missing: str = "?", presentation: str = "2013J") -> Path:
    """The ``oulad_files`` tables as official-format CSVs (every field quoted, ids as integers),
    with ``missing`` where a value is missing; studentVle with its module and presentation."""
    parquet = oulad_files(folder / "from", presentation)
    target = folder / "csv"
    target.mkdir(parents=True)
    frames = {p.stem: pd.read_parquet(p) for p in parquet.glob("*.parquet")}
    clicks = pd.read_parquet(parquet / "studentVle", engine="pyarrow")
    frames["studentVle"] = clicks.astype({"code_module": str, "code_presentation": str})
    for name, frame in frames.items():
        write_csv(frame, target / f"{name}.csv", missing)
    return target


def write_csv(frame: pd.DataFrame, path: Path, missing: str = "?", line_end: str = "\n") -> None:
    rows = [[_cell(v, missing) for v in row] for row in frame.itertuples(index=False)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator=line_end)
        writer.writerow(frame.columns)
        writer.writerows(rows)


def _cell(value, missing: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return missing
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def edit_csv(path: Path, line: int, column: str, value: str) -> None:
    """Set one cell: ``line`` counts the header as line 1."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[line - 2, column] = value
    write_csv(frame, path, missing="")


def test_oulad_csv_with_empty_cells_imports_like_the_official_question_marks(tmp_path):
    official = oulad_csv(tmp_path / "official", missing="?")
    empty = oulad_csv(tmp_path / "empty", missing="")
    assert '""' in (empty / "studentRegistration.csv").read_text()  # really empty cells
    counts = convert(oulad, official, tmp_path / "a")
    assert convert(oulad, empty, tmp_path / "b") == counts
    assert convert(oulad, oulad_files(tmp_path / "pq"), tmp_path / "c") == counts
    assert_same_tables(tmp_path / "a", tmp_path / "b")
    assert_same_tables(tmp_path / "a", tmp_path / "c")


def test_oulad_documented_missing_values_and_negative_days(tmp_path):
    """OULAD documents ``?`` for missing: no unregistration = still registered, no registration
    day = the start, no submission day = not submitted, no score = a submission without a
    recorded score; an exam's missing date and imd_band are not used. Days may be negative."""
    src = oulad_csv(tmp_path / "src", missing="")
    with (src / "studentAssessment.csv").open("a") as handle:
        handle.write('"7","22","25","0","?"\n"7","11","?","0","?"\n')  # no score; not submitted
    with (src / "assessments.csv").open("a") as handle:
        handle.write('"AAA","2013J","8","Exam","",""\n')  # the exam, its day missing
    edit_csv(src / "studentRegistration.csv", 2, "date_registration", "-120")
    convert(oulad, src, tmp_path / "out")
    start = pd.Timestamp("2013-10-01")
    e = read(tmp_path / "out", "enrolments").set_index("learner_id")
    assert e.loc["11", "enrolled_at"] == start - pd.Timedelta(days=120)
    assert e.loc["22", "enrolled_at"] == start
    quiz = read(tmp_path / "out", "events").query("event_type == 'assessment'").set_index("learner_id")
    assert quiz.loc["11", "value"] == 78.0  # the undated row is not an event
    assert pd.isna(quiz.loc["22", "value"]) and quiz.loc["22", "ts"] == start + pd.Timedelta(days=25)
    o = read(tmp_path / "out", "outcomes").set_index("learner_id")
    assert pd.isna(o.loc["11", "dropped_at"]) and o.loc["22", "dropped_at"] == start + pd.Timedelta(days=30)


def test_oulad_keys_with_blanks_and_windows_line_ends_do_not_split_courses_or_learners(tmp_path):
    clean = oulad_csv(tmp_path / "clean", missing="?")
    messy = oulad_csv(tmp_path / "messy", missing="")
    for path in messy.glob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in ("code_module", "code_presentation", "id_student", "id_site"):
            if column in frame:
                frame[column] = [f" {v}\r" if i % 2 else f"{v} " for i, v in enumerate(frame[column])]
        write_csv(frame, path, missing="", line_end="\r\n")
    edit_csv(messy / "studentInfo.csv", 2, "id_student", "11.0")  # an id written as a float
    counts = convert(oulad, clean, tmp_path / "a")
    assert convert(oulad, messy, tmp_path / "b") == counts == {
        "enrolments": 2, "surveys": 2, "assessments": 1, "events": 4, "outcomes": 2}
    assert_same_tables(tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize(("file", "line", "column", "value", "expected"), [
    ("studentAssessment.csv", 2, "score", "abc",
     "studentAssessment.csv line 2, column score: 'abc' is not a number"),
    ("studentAssessment.csv", 2, "score", "120",
     "studentAssessment.csv line 2, column score: '120' is out of range (must be from 0 to 100)"),
    ("studentVle.csv", 3, "sum_click", "-4",
     "studentVle.csv line 3, column sum_click: '-4' is out of range (must be at least 0)"),
    ("studentVle.csv", 4, "date", "3.5",
     "studentVle.csv line 4, column date: '3.5' is not a whole number"),
    ("studentVle.csv", 5, "date", "",
     "studentVle.csv line 5, column date: empty, but a value is required"),
    ("studentRegistration.csv", 3, "date_unregistration", "99999",
     "studentRegistration.csv line 3, column date_unregistration: '99999' is out of range"),
    ("courses.csv", 2, "code_presentation", "2013X",
     "courses.csv line 2, column code_presentation: '2013X' must look like 2013B or 2014J"),
    ("courses.csv", 2, "module_presentation_length", "-266",
     "courses.csv line 2, column module_presentation_length: '-266' is out of range"),
    ("studentInfo.csv", 3, "num_of_prev_attempts", "-1",
     "studentInfo.csv line 3, column num_of_prev_attempts: '-1' is out of range"),
    ("studentInfo.csv", 3, "final_result", "Passed",
     "studentInfo.csv line 3, column final_result: not one of Pass, Distinction, Fail, Withdrawn"),
    ("vle.csv", 3, "id_site", "site-2", "vle.csv line 3, column id_site: 'site-2' is not a whole-number id"),
])
def test_oulad_bad_values_name_file_line_and_column(tmp_path, file, line, column, value, expected):
    src = oulad_csv(tmp_path / "src")
    edit_csv(src / file, line, column, value)
    assert expected in import_error(oulad, src, tmp_path / "out")


def test_oulad_learner_ids_and_text_are_never_shown(tmp_path):
    src = oulad_csv(tmp_path / "src")
    edit_csv(src / "studentInfo.csv", 3, "id_student", "Jane Doe")
    message = import_error(oulad, src, tmp_path / "out")
    assert message == "studentInfo.csv line 3, column id_student: not a whole-number id"
    src = oulad_csv(tmp_path / "src2")
    with (src / "studentInfo.csv").open("a") as handle:  # a row with a field too many
        handle.write('"AAA","2013J","33","F","Wales","Jane Doe, 12 High Street","","0-35","0",'
                     '"60","N","Pass","extra"\n')
    message = import_error(oulad, src, tmp_path / "out")
    assert message == "studentInfo.csv line 4: 13 fields where the header has 12"


def test_oulad_click_of_a_learner_not_enrolled_is_named(tmp_path):
    src = oulad_csv(tmp_path / "src")
    edit_csv(src / "studentVle.csv", 4, "id_student", "99")
    message = import_error(oulad, src, tmp_path / "out")
    assert message.startswith("studentVle.csv line 4, column id_student: the learner is not in "
                              "studentInfo.csv for AAA 2013J")
    assert "99" not in message


def test_oulad_repeated_learner_is_named_with_both_lines(tmp_path):
    src = oulad_csv(tmp_path / "src")
    edit_csv(src / "studentInfo.csv", 3, "id_student", " 11 ")
    message = import_error(oulad, src, tmp_path / "out")
    assert message == "studentInfo.csv lines 2 and 3: a learner (id_student) in AAA 2013J is listed twice"


def test_oulad_unreadable_files(tmp_path):
    src = oulad_csv(tmp_path / "src")
    (src / "courses.csv").write_text("")
    assert import_error(oulad, src, tmp_path / "out") == "courses.csv: empty file (no header line)"
    src = oulad_csv(tmp_path / "src2")
    with (src / "vle.csv").open("ab") as handle:
        handle.write('"3","AAA","2013J","caf\xe9","?","?"\n'.encode("latin-1"))
    assert import_error(oulad, src, tmp_path / "out") == "vle.csv line 4: not UTF-8 text (save the file as UTF-8)"
    src = oulad_csv(tmp_path / "src3")
    info = pd.read_csv(src / "studentInfo.csv", dtype=str).drop(columns=["final_result"])
    write_csv(info, src / "studentInfo.csv")
    message = import_error(oulad, src, tmp_path / "out")
    assert message.startswith("studentInfo.csv: missing column(s) 'final_result'; found 'code_module'")
    src = oulad_files(tmp_path / "src4")
    (src / "assessments.parquet").write_bytes(b"PAR1 not really")
    assert import_error(oulad, src, tmp_path / "out").startswith("assessments.parquet: not a readable Parquet")


def test_oulad_parquet_problems_name_the_row(tmp_path):
    src = oulad_files(tmp_path / "src")
    scores = pd.read_parquet(src / "studentAssessment.parquet").assign(score=-5.0)
    scores.to_parquet(src / "studentAssessment.parquet")
    assert import_error(oulad, src, tmp_path / "out").startswith(
        "studentAssessment.parquet row 1, column score: '-5.0' is out of range")
    part = src / "studentVle" / "code_module=AAA" / "code_presentation=2013J" / "part-0.parquet"
    scores.assign(score=78.0).to_parquet(src / "studentAssessment.parquet")
    pd.read_parquet(part).assign(date=[3.0, 3.0, None, 10.0]).to_parquet(part)
    assert import_error(oulad, src, tmp_path / "out") == (
        "studentVle/code_module=AAA/code_presentation=2013J/part-0.parquet row 3, column date: "
        "empty, but a value is required")


def test_oulad_no_enrolments_says_what_was_found(tmp_path, capsys, monkeypatch):
    src = oulad_csv(tmp_path / "src", presentation="2014B")
    courses = pd.read_csv(src / "courses.csv", dtype=str).assign(code_presentation="2013J")
    write_csv(courses, src / "courses.csv")
    message = import_error(oulad, src, tmp_path / "out")
    assert message == ("no enrolments: 0 of 2 studentInfo.csv rows matched a presentation in "
                       "courses.csv; courses.csv has AAA 2013J, studentInfo.csv has AAA 2014B")
    result = run_cli(["import", "--source", "oulad", "--in", src, "--out", tmp_path / "out"],
                     capsys, monkeypatch)
    assert result.code == 2 and "0 of 2 studentInfo.csv rows" in result.err


def test_oulad_no_events_says_what_was_found(tmp_path):
    src = oulad_csv(tmp_path / "src")
    clicks = pd.read_csv(src / "studentVle.csv", dtype=str).assign(code_presentation="2014B")
    write_csv(clicks, src / "studentVle.csv")
    write_csv(pd.read_csv(src / "studentAssessment.csv", dtype=str).assign(id_assessment="8"),
              src / "studentAssessment.csv")
    assert import_error(oulad, src, tmp_path / "out") == (
        "no events: 0 of 4 studentVle.csv rows are for a presentation in courses.csv "
        "(studentVle.csv has AAA 2014B); none of the 1 dated submissions in studentAssessment.csv "
        "(of 1 rows) is for an assessment in assessments.csv of a presentation in courses.csv by "
        "a learner in studentInfo.csv")


# --- dataedu -------------------------------------------------------------------------------------
def edit_dataedu(path: Path, line: int, column: str, value: str) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[line - 2, column] = value
    frame.to_csv(path, index=False)


def test_dataedu_keys_with_blanks_windows_line_ends_and_float_ids(tmp_path):
    clean = dataedu_files(tmp_path / "clean")
    messy = dataedu_files(tmp_path / "messy")
    edit_dataedu(messy / "course_minutes.csv", 2, "Bb_UserPK", "80624.0")
    for name, columns in {"course_data.csv": ["CourseSectionOrigID", "Bb_UserPK"],
                          "course_minutes.csv": ["CourseSectionOrigID", "Bb_UserPK"],
                          "pre_survey.csv": ["opdata_username", "opdata_CourseID"]}.items():
        frame = pd.read_csv(messy / name, dtype=str, keep_default_na=False)
        for column in columns:
            frame[column] = [f" {v}\r" for v in frame[column]]
        frame.to_csv(messy / name, index=False, lineterminator="\r\n")
    counts = convert(dataedu, clean, tmp_path / "a")
    assert convert(dataedu, messy, tmp_path / "b") == counts
    assert_same_tables(tmp_path / "a", tmp_path / "b")


def test_dataedu_r_missing_markers_are_missing(tmp_path):
    src = dataedu_files(tmp_path / "src")
    edit_dataedu(src / "course_data.csv", 2, "FinalGradeCEMS", "NA")
    edit_dataedu(src / "pre_survey.csv", 2, "Q1MaincellgroupRow3", "NA")
    convert(dataedu, src, tmp_path / "out")
    assert pd.isna(read(tmp_path / "out", "outcomes").set_index("learner_id").loc["80624", "certified"])
    assert pd.isna(read(tmp_path / "out", "surveys").set_index("learner_id").loc["80624", "q03"])


@pytest.mark.parametrize(("file", "line", "column", "value", "expected"), [
    ("course_data.csv", 3, "Points_Earned", "abc",
     "course_data.csv line 3, column Points_Earned: 'abc' is not a number"),
    ("course_data.csv", 2, "FinalGradeCEMS", "71,5",
     "course_data.csv line 2, column FinalGradeCEMS: '71,5' is not a number"),
    ("course_minutes.csv", 2, "TimeSpent", "12h",
     "course_minutes.csv line 2, column TimeSpent: '12h' is not a number"),
    ("pre_survey.csv", 3, "Q1MaincellgroupRow3", "7",
     "pre_survey.csv line 3, column Q1MaincellgroupRow3: '7' is not an answer on the 1–5 scale"),
    ("pre_survey.csv", 2, "Q1MaincellgroupRow1", "agree",
     "pre_survey.csv line 2, column Q1MaincellgroupRow1: 'agree' is not a number"),
    ("course_data.csv", 3, "CourseSectionOrigID", "FrScA-X999-01",
     "course_data.csv line 3, column CourseSectionOrigID: 'FrScA-X999-01' must look like FrScA-S116-01"),
    ("course_data.csv", 3, "Bb_UserPK", "jane.doe", "course_data.csv line 3, column Bb_UserPK: not a user id"),
    ("course_minutes.csv", 2, "Bb_UserPK", "", "course_minutes.csv line 2, column Bb_UserPK: empty"),
])
def test_dataedu_bad_values_name_file_line_and_column(tmp_path, file, line, column, value, expected):
    src = dataedu_files(tmp_path / "src")
    edit_dataedu(src / file, line, column, value)
    message = import_error(dataedu, src, tmp_path / "out")
    assert message.startswith(expected), message
    assert "jane" not in message


def test_dataedu_unreadable_files(tmp_path):
    src = dataedu_files(tmp_path / "src")
    (src / "course_minutes.csv").write_text("")
    assert import_error(dataedu, src, tmp_path / "out") == "course_minutes.csv: empty file (no header line)"
    src = dataedu_files(tmp_path / "src2")
    with (src / "course_data.csv").open("a") as handle:
        handle.write("FrScA-S116-01,80624,Quiz 2,,71.5,10,8,F,Jane Doe\n")
    assert import_error(dataedu, src, tmp_path / "out") == (
        "course_data.csv line 4: 9 fields where the header has 8")
    with (src / "course_data.csv").open("wb") as handle:
        handle.write("CourseSectionOrigID,Bb_UserPK\nFrScA-S116-01,caf\xe9\n".encode("latin-1"))
    assert import_error(dataedu, src, tmp_path / "out") == (
        "course_data.csv line 2: not UTF-8 text (save the file as UTF-8)")
    src = dataedu_files(tmp_path / "src3")
    pd.read_csv(src / "course_minutes.csv").drop(columns="TimeSpent").to_csv(
        src / "course_minutes.csv", index=False)
    assert import_error(dataedu, src, tmp_path / "out").startswith(
        "course_minutes.csv: missing column(s) 'TimeSpent'; found 'Bb_UserPK', 'CourseSectionOrigID'")


def test_dataedu_no_enrolments_or_events_says_what_was_found(tmp_path):
    src = dataedu_files(tmp_path / "src")
    header = (src / "course_data.csv").read_text().splitlines()[0]
    (src / "course_data.csv").write_text(header + "\n")
    assert import_error(dataedu, src, tmp_path / "out").startswith(
        "no enrolments: course_data.csv has a header but no rows")
    src = dataedu_files(tmp_path / "src2")
    grades = pd.read_csv(src / "course_data.csv", dtype=str).assign(Points_Earned=None)
    grades.to_csv(src / "course_data.csv", index=False)
    edit_dataedu(src / "course_minutes.csv", 2, "CourseSectionOrigID", "OcnA-S116-02")
    assert import_error(dataedu, src, tmp_path / "out") == (
        "no events: none of the 2 course_data.csv rows has a score (Points_Earned and "
        "Points_Possible > 0), and none of the 1 course_minutes.csv rows is for an enrolment in "
        "course_data.csv (course_minutes.csv has OcnA-S116-02; course_data.csv has "
        "FrScA-S116-01, FrScA-S216-01)")


def test_oulad_parquet_with_text_columns_and_question_marks(tmp_path):
    """A Parquet export that kept the CSV's text (``?`` included) reads like the typed one."""
    src = oulad_files(tmp_path / "src")
    convert(oulad, src, tmp_path / "a")
    for name in ("studentRegistration", "studentAssessment", "courses"):
        frame = pd.read_parquet(src / f"{name}.parquet")
        frame.map(lambda v: _cell(v, "?")).to_parquet(src / f"{name}.parquet")
    assert pd.read_parquet(src / "studentRegistration.parquet").date_unregistration.iloc[0] == "?"
    convert(oulad, src, tmp_path / "b")
    assert_same_tables(tmp_path / "a", tmp_path / "b")


def test_a_file_without_its_header_line_is_not_quoted(tmp_path):
    src = oulad_csv(tmp_path / "src")
    lines = (src / "studentInfo.csv").read_text().splitlines(keepends=True)
    (src / "studentInfo.csv").write_text("".join(lines[1:]))  # the first line is a learner's row
    message = import_error(oulad, src, tmp_path / "out")
    assert message.startswith("studentInfo.csv: missing column(s) 'code_module'")
    assert "the first line (12 fields) names none of them" in message and "Wales" not in message
    src = dataedu_files(tmp_path / "dataedu")
    lines = (src / "course_data.csv").read_text().splitlines(keepends=True)
    (src / "course_data.csv").write_text("".join(lines[1:]))
    message = import_error(dataedu, src, tmp_path / "out")
    assert "names none of them" in message and "80624" not in message


def test_repeated_unused_columns_are_fine(tmp_path):
    src = oulad_csv(tmp_path / "src")
    text = (src / "studentInfo.csv").read_text().replace('"region"', '"imd_band"', 1)
    (src / "studentInfo.csv").write_text(text)
    assert convert(oulad, src, tmp_path / "a")["enrolments"] == 2
    text = text.replace('"gender"', '"code_module"', 1)
    (src / "studentInfo.csv").write_text(text)
    assert import_error(oulad, src, tmp_path / "b") == (
        "studentInfo.csv: column(s) 'code_module' appear more than once in the header")


def test_repeated_columns_and_long_rows_are_told_alike_in_both_imports(tmp_path):
    """The words of csv_input: a used column named twice, and a row of too many fields named by
    the line it starts on (a quoted field may span lines)."""
    src = dataedu_files(tmp_path / "dataedu")
    text = (src / "course_minutes.csv").read_text().replace("TimeSpent", "Bb_UserPK", 1)
    (src / "course_minutes.csv").write_text(text)
    assert import_error(dataedu, src, tmp_path / "out") == (
        "course_minutes.csv: column(s) 'Bb_UserPK' appear more than once in the header")
    src = oulad_csv(tmp_path / "oulad")
    with (src / "studentInfo.csv").open("a") as handle:  # starts on line 4, ends on line 5
        handle.write('"AAA","2013J","33","F","Wales","A\nLevel","","0-35","0","60","N","Pass","x"\n')
    assert import_error(oulad, src, tmp_path / "out") == (
        "studentInfo.csv line 4: 13 fields where the header has 12")


def test_vertical_tabs_and_form_feeds_are_blanks_too(tmp_path):
    clean = oulad_csv(tmp_path / "clean")
    padded = oulad_csv(tmp_path / "padded")
    text = (padded / "studentInfo.csv").read_text().replace('"11"', '"\x0b11\x0c"')
    (padded / "studentInfo.csv").write_text(text)
    assert convert(oulad, padded, tmp_path / "b") == convert(oulad, clean, tmp_path / "a")
    assert_same_tables(tmp_path / "a", tmp_path / "b")


def test_oulad_says_what_it_leaves_out(tmp_path):
    src = oulad_files(tmp_path / "src")
    pd.DataFrame([{"id_assessment": 7.0, "id_student": 11.0, "date_submitted": 19.0, "is_banked": 0.0, "score": 78.0},
                  {"id_assessment": 7.0, "id_student": 22.0, "date_submitted": None, "is_banked": 0.0, "score": None},
                  {"id_assessment": 9.0, "id_student": 11.0, "date_submitted": 21.0, "is_banked": 0.0, "score": 50.0},
                  {"id_assessment": 7.0, "id_student": 33.0, "date_submitted": 22.0, "is_banked": 0.0, "score": 40.0}]
                 ).to_parquet(src / "studentAssessment.parquet")
    counts = convert(oulad, src, tmp_path / "out")
    assert counts == {"enrolments": 2, "surveys": 2, "assessments": 1, "events": 4, "outcomes": 2,
                      "submissions without date_submitted (no event, as documented)": 1,
                      "submissions of an assessment not in assessments (left out)": 1,
                      "submissions of a learner not enrolled in that presentation (left out)": 1}
    info = pd.read_parquet(src / "studentInfo.parquet")
    info.loc[len(info)] = {**info.iloc[0].to_dict(), "code_module": "BBB", "code_presentation": "2014B",
                           "id_student": 44.0}
    info.to_parquet(src / "studentInfo.parquet")
    counts = convert(oulad, src, tmp_path / "out2")
    assert counts["studentInfo rows of a presentation not in courses (left out)"] == 1


def test_dataedu_says_what_it_leaves_out(tmp_path):
    src = dataedu_files(tmp_path / "src")
    with open(src / "course_minutes.csv", "a") as handle:
        handle.write("99999,FrScA-S116-01,10\n")  # minutes of a learner with no grades there
    with open(src / "pre_survey.csv", "a") as handle:
        handle.write("_80624_1,FrScA-S116-01,4,4,4,1,5,4,1,5,5,\n")  # the same learner again
        handle.write("_77_1,FrScA-S116-01,3,3,3,3,3,3,3,3,3,3\n")  # not enrolled in the section
    counts = convert(dataedu, src, tmp_path / "out")
    assert {k: v for k, v in counts.items() if "left out" in k or "repeated" in k} == {
        "survey rows without a user id or a section id (left out)": 1,
        "survey rows of learners not enrolled in that section (left out)": 1,
        "repeated survey rows (the one with the most answers kept)": 1,
        "minutes rows of learners not enrolled in that section (left out)": 1}
