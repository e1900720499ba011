"""Every kind of bad input stops with one clear message (file, column, rows) and exit code 2."""

import pandas as pd
import pytest
from cli_helpers import run_cli
from factories import tiny_frames, write_folder

from mooc_risk.errors import InputError
from mooc_risk.features.canonical.tables import read_tables, tables_from_frames


def features_cli(folder, tmp_path, capsys, monkeypatch):
    out = tmp_path / "features.parquet"
    result = run_cli(["features", "--data", folder, "--as-of", "7", "--out", out],
                     capsys, monkeypatch)
    assert "Traceback" not in result.err
    return result, out


def broken(tmp_path, fmt="csv", **changes):
    frames = tiny_frames()
    for name, change in changes.items():
        frames[name] = change(frames[name].copy())
    return write_folder(tmp_path / "data", frames, fmt)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_missing_required_column(tmp_path, capsys, monkeypatch, fmt):
    folder = broken(tmp_path, fmt, enrolments=lambda f: f.drop(columns=["enrolled_at"]))
    result, out = features_cli(folder, tmp_path, capsys, monkeypatch)
    assert result.code == 2
    assert f"enrolments.{fmt}" in result.err and "'enrolled_at'" in result.err
    assert not out.exists()


def _likert_seven(frame):
    frame["q13"] = frame["q13"].astype("object")
    frame.loc[1, "q13"] = 7
    return frame


def test_likert_answer_out_of_range(tmp_path, capsys, monkeypatch):
    folder = broken(tmp_path, surveys=_likert_seven)
    result, _ = features_cli(folder, tmp_path, capsys, monkeypatch)
    assert result.code == 2
    assert "surveys.csv" in result.err and "'q13'" in result.err
    assert "row 2: 7" in result.err  # the second data row holds the 7


def _bad_timestamp(frame):
    frame["ts"] = frame["ts"].astype(str)
    frame.loc[2, "ts"] = "2024-13-45 25:00"
    return frame


def test_unparseable_timestamp(tmp_path, capsys, monkeypatch):
    folder = broken(tmp_path, events=_bad_timestamp)
    result, _ = features_cli(folder, tmp_path, capsys, monkeypatch)
    assert result.code == 2
    assert "events.csv" in result.err and "'ts'" in result.err
    assert "row 3: '2024-13-45 25:00'" in result.err


def test_event_for_unknown_enrolment(tmp_path, capsys, monkeypatch):
    def orphan(frame):
        extra = frame.iloc[[0]].assign(learner_id="ghost")
        return pd.concat([frame, extra], ignore_index=True)

    folder = broken(tmp_path, events=orphan)
    result, _ = features_cli(folder, tmp_path, capsys, monkeypatch)
    assert result.code == 2
    assert "events.csv" in result.err and "not in the enrolments table" in result.err
    assert "learner_id=ghost course_id=C1 run_id=R1" in result.err


def test_duplicate_enrolment(tmp_path, capsys, monkeypatch):
    folder = broken(tmp_path, enrolments=lambda f: pd.concat([f, f.iloc[[1]]], ignore_index=True))
    result, _ = features_cli(folder, tmp_path, capsys, monkeypatch)
    assert result.code == 2
    assert "enrolments.csv" in result.err and "duplicate enrolment" in result.err
    assert "learner_id=b course_id=C1 run_id=R1 (2 rows)" in result.err


def test_existing_output_survives_a_failed_run(tmp_path, capsys, monkeypatch):
    folder = broken(tmp_path, enrolments=lambda f: f.drop(columns=["enrolled_at"]))
    out = tmp_path / "features.parquet"
    out.write_bytes(b"previous result")
    result, _ = features_cli(folder, tmp_path, capsys, monkeypatch)
    assert result.code == 2
    assert out.read_bytes() == b"previous result"


def test_missing_table_and_missing_folder(tmp_path, duck, cmap):
    frames = tiny_frames()
    del frames["events"]
    folder = write_folder(tmp_path / "data", frames)
    with pytest.raises(InputError, match=r"missing table.*events"):
        read_tables(folder, duck, cmap)
    with pytest.raises(InputError, match="no such data folder"):
        read_tables(tmp_path / "nope", duck, cmap)


def test_table_given_twice_is_refused(tmp_path, duck, cmap):
    folder = write_folder(tmp_path / "data", tiny_frames())
    tiny_frames()["events"].to_csv(folder / "events.csv", index=False)
    with pytest.raises(InputError, match="'events' is given more than once"):
        read_tables(folder, duck, cmap)


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        ("outcomes", lambda f: f.assign(certified=["yes", "maybe", "no"]), "'certified'.*row 2: 'maybe'"),
        ("events", lambda f: f.assign(value=[None, None, -5.0, None, 1.0, None]), "'value'.*row 3"),
        ("enrolments", lambda f: f.assign(learner_id=["a", None, "c"]), "'learner_id' must not be empty.*row 2"),
        ("enrolments", lambda f: f.assign(course_start=[None, "2024-01-02", "2024-02-01"]),
         "course_start.*scheduled run.*learner_id=a"),
        ("surveys", lambda f: f.assign(learner_id=["a", "zz"]), "surveys.*learner_id=zz"),
    ],
)
def test_other_contract_breaks_name_the_column_and_row(tmp_path, duck, cmap, table, change, message):
    folder = broken(tmp_path, **{table: change})
    with pytest.raises(InputError, match=message):
        read_tables(folder, duck, cmap)


def test_optional_columns_and_tables_may_be_absent(duck, cmap):
    frames = tiny_frames()
    minimal = {
        "enrolments": frames["enrolments"][["learner_id", "course_id", "run_id", "enrolled_at",
                                            "course_start", "course_end"]],
        "events": frames["events"][["learner_id", "course_id", "run_id", "ts", "event_type"]],
    }
    tables = tables_from_frames(minimal, cmap)
    assert tables.outcomes is None
    assert tables.surveys.count().to_pandas() == 0
    assert "platform" in tables.enrolments.columns and "value" in tables.events.columns


def test_bad_as_of_days_is_a_usage_error(tmp_path, capsys, monkeypatch):
    folder = write_folder(tmp_path / "data", tiny_frames())
    result = run_cli(["features", "--data", folder, "--as-of", "seven", "--out",
                      tmp_path / "f.parquet"], capsys, monkeypatch)
    assert result.code == 2 and "seven" in result.err


def _calendar(**changes) -> pd.DataFrame:
    frame = pd.DataFrame({"course_id": ["C1", "C1"], "run_id": ["R1", "R1"],
                          "assessment_id": ["quiz1", "quiz2"], "kind": ["quiz", "quiz"],
                          "due_at": ["2024-01-06", "2024-01-20"], "weight": [40.0, 60.0]})
    for column, values in changes.items():
        frame[column] = values
    return frame


@pytest.mark.parametrize(("changes", "says"), [
    ({"assessment_id": ["quiz1", "quiz1"]}, "duplicate assessment"),
    ({"run_id": ["R1", "R9"]}, "run_id=R9"),
    ({"weight": [40.0, -1.0]}, "'weight'"),
    ({"due_at": ["2024-01-06", "soon"]}, "'due_at'"),
])
def test_a_bad_course_calendar_names_the_file_and_the_problem(tmp_path, capsys, monkeypatch,
                                                             changes, says):
    frames = tiny_frames()
    frames["assessments"] = _calendar(**changes)
    folder = write_folder(tmp_path / "data", frames, "csv")
    result, out = features_cli(folder, tmp_path, capsys, monkeypatch)
    assert result.code == 2, result.err
    assert "assessments.csv" in result.err and says in result.err, result.err
    assert not out.exists()
