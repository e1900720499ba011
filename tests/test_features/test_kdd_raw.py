"""KDD Cup 2015 as released (log_train.csv, enrollment_train.csv, truth_train.csv, date.csv,
object.csv) → canonical tables, on tiny invented files; and the daily copy's edge cases."""

import hashlib
import hmac
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_trains, run_cli

from mooc_risk.errors import InputError
from mooc_risk.features.sources import kddcup
from mooc_risk.features.sources.staging import staged_output

SECRET = b"kdd-test-key"
USERS = {"1": "alice_x7", "2": "bob_q3", "3": "alice_x7", "4": "carol_m9"}  # enrollment → username
LOG_HEADER = "enrollment_id,time,source,event,object\n"
LOG = [
    "1,2014-06-14T09:38:29,server,nagivate,Oj6eQ",  # as released: "nagivate"
    "1,2014-06-14T09:38:39,server,access,3T6Xw",
    "1,2014-06-20T23:59:59,browser,video,RMtgC",
    "2,2014-06-15T08:00:00,browser,problem,qxvBN",
    "3,2014-07-02T12:00:00,server,discussion,2cmZr",
    "4,2014-06-16T07:30:00,server,wiki,9Mur5",
]
ENROLMENTS = "enrollment_id,username,course_id\n1,alice_x7,C1\n2,bob_q3,C1\n3,alice_x7,C2\n4,carol_m9,C1\n"
TRUTH = "1,0\n2,1\n3,1\n4,0\n"  # as released: no header
DATES = "course_id,from,to\nC1,2014-06-14,2014-07-13\nC2,2014-07-01,2014-07-30\n"
OBJECTS = ("course_id,module_id,category,children,start\n"
           "C1,Oj6eQ,chapter,3T6Xw RMtgC,2014-06-14T00:00:00\nC1,3T6Xw,video,,null\n")


def pseudonym(username: str) -> str:
    return "u" + hmac.new(SECRET, username.encode(), hashlib.sha256).hexdigest()[:24]


def release(folder: Path, log: list[str] | None = None, **files: str | None) -> Path:
    """The release's files; ``files`` replaces one (``log_train``, ``enrollment_train``,
    ``truth_train``, ``date``, ``object``) or, given None, leaves it out."""
    folder.mkdir(parents=True)
    texts = {"log_train": LOG_HEADER + "\n".join(LOG if log is None else log) + "\n",
             "enrollment_train": ENROLMENTS, "truth_train": TRUTH, "date": DATES, "object": OBJECTS}
    texts.update(files)
    for name, text in texts.items():
        if text is not None:
            (folder / f"{name}.csv").write_text(text)
    return folder


def convert(src: Path, out: Path, secret: bytes | None = SECRET) -> dict:
    with staged_output(out) as stage:
        return kddcup.convert(src, stage, lambda _label: None, secret=secret)


def read(out: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(out / f"{name}.parquet")


def test_release_becomes_events_at_their_times_with_hashed_learners(tmp_path):
    out = tmp_path / "out"
    counts = convert(release(tmp_path / "src"), out)
    assert counts == {"enrolments": 4, "events": 6, "outcomes": 4}
    alice, bob = pseudonym("alice_x7"), pseudonym("bob_q3")
    e = read(out, "enrolments").set_index(["learner_id", "course_id"])
    assert set(e.index) == {(alice, "C1"), (bob, "C1"), (alice, "C2"), (pseudonym("carol_m9"), "C1")}
    c1 = e.loc[(alice, "C1")]
    assert c1.run_id == "2014-06" and c1.platform == "xuetangx"
    assert c1.course_start == c1.enrolled_at == pd.Timestamp("2014-06-14")  # enrolled at the start
    assert c1.course_end == pd.Timestamp("2014-07-14")  # date.csv's `to` is the window's last day
    assert e.loc[(alice, "C2")].course_end - e.loc[(alice, "C2")].course_start == pd.Timedelta(days=30)

    ev = read(out, "events").sort_values("ts").reset_index(drop=True)
    first = ev.iloc[0]
    assert first.learner_id == alice and first.course_id == "C1"
    assert first.ts == pd.Timestamp("2014-06-14 09:38:29")  # as logged, not shifted
    assert (first.event_type, first.object_id, first.event_name) == ("navigate", "Oj6eQ", "server.nagivate")
    assert ev.value.isna().all()  # one click per event
    assert sorted(ev.event_type) == ["access", "discussion", "navigate", "problem", "video", "wiki"]
    assert ev.loc[ev.event_type == "video", "event_name"].item() == "browser.video"
    assert set(ev.loc[ev.learner_id == alice, "course_id"]) == {"C1", "C2"}  # one learner, two courses
    assert not ev.learner_id.str.contains("alice|bob|carol").any()

    o = read(out, "outcomes").set_index(["learner_id", "course_id"])
    assert o.certified.isna().all()
    assert not o.loc[(alice, "C1"), "dropped_out"] and pd.isna(o.loc[(alice, "C1"), "dropped_at"])
    assert o.loc[(bob, "C1"), "dropped_out"]
    assert o.loc[(bob, "C1"), "dropped_at"] == pd.Timestamp("2014-07-14")  # leaves at the window's end
    assert o.loc[(alice, "C1"), "last_active_at"] == pd.Timestamp("2014-06-20 23:59:59")
    assert not (out / "import_problems.csv").exists()


def test_without_date_csv_a_course_starts_on_its_first_logged_day(tmp_path):
    out = tmp_path / "out"
    convert(release(tmp_path / "src", date=None, object=None), out)
    e = read(out, "enrolments").drop_duplicates("course_id").set_index("course_id")
    assert e.loc["C1", "course_start"] == pd.Timestamp("2014-06-14")  # 09:38 → the day's start
    assert e.loc["C1", "course_end"] == pd.Timestamp("2014-07-14")
    assert e.loc["C2", "course_start"] == pd.Timestamp("2014-07-02")
    assert (e.enrolled_at == e.course_start).all()


def test_blanks_crlf_and_a_truth_header_split_no_learner_or_course(tmp_path):
    src = release(
        tmp_path / "src",
        log=[" 1 ,2014-06-14T09:38:29,server,access,Oj6eQ \r", "3,2014-07-02T12:00:00 ,server,wiki,X\r",
             "", "2,2014-06-15T08:00:00,browser,problem,qxvBN\r", "4,2014-06-16T07:30:00,server,wiki,9Mur5"],
        enrollment_train="enrollment_id,username,course_id\r\n1,alice_x7 ,C1\r\n2,bob_q3,C1 \r\n"
                         "3, alice_x7,C2\r\n4,carol_m9,\"C1\"\r\n",
        truth_train="enrollment_id,label\r\n1,0\r\n2, 1\r\n3,1\r\n4,0\r\n")
    out = tmp_path / "out"
    assert convert(src, out)["events"] == 4
    e = read(out, "enrolments")
    assert sorted(e.course_id.unique()) == ["C1", "C2"]
    assert e.learner_id.nunique() == 3 and pseudonym("alice_x7") in set(e.learner_id)
    o = read(out, "outcomes").set_index(["learner_id", "course_id"])
    assert o.loc[(pseudonym("bob_q3"), "C1"), "dropped_out"]
    assert o.dropped_out.notna().all()


def test_unknown_events_are_imported_as_other_and_listed(tmp_path):
    src = release(tmp_path / "src", log=[*LOG, "2,2014-06-18T10:00:00,mobile,bookmark,X1"])
    (src / "README.txt").write_text("notes")
    out = tmp_path / "out"
    counts = convert(src, out)
    assert counts["events"] == 7
    assert counts["problems (in import_problems.csv)"] == 2
    assert counts["skipped files (in import_problems.csv)"] == 1
    ev = read(out, "events")
    assert ev.loc[ev.event_type == "other", "event_name"].tolist() == ["mobile.bookmark"]
    problems = pd.read_csv(out / "import_problems.csv")
    assert list(problems.columns) == ["file", "line", "field", "reason", "value", "rows"]
    row = problems.set_index("field").loc["event"]
    assert (Path(row.file).name, row.line, row.value, row.rows) == ("log_train.csv", 8, "bookmark", 1)
    assert "source" in set(problems.field)
    assert problems.reason.str.startswith("skipped").sum() == 1


def test_object_csv_is_checked_and_test_parts_come_unlabelled(tmp_path):
    src = release(tmp_path / "src", object=OBJECTS + "C1,,video,,yesterday\n",
                  truth_train="1,0\n2,1\n3,1\n9,1\n")  # 9 is a test enrolment; 4 has no label
    (src / "test").mkdir()
    (src / "test" / "log_test.csv").write_text(LOG_HEADER + "9,2014-06-17T10:00:00,server,access,Oj6eQ\n")
    (src / "test" / "enrollment_test.csv").write_text("enrollment_id,username,course_id\n9,dave_k1,C1\n")
    out = tmp_path / "out"
    counts = convert(src, out)
    assert counts["enrolments"] == 5 and counts["events"] == 7
    o = read(out, "outcomes").set_index("learner_id")
    assert pd.isna(o.loc[pseudonym("dave_k1"), "dropped_out"])  # no truth_test.csv: 9's train label unused
    assert pd.isna(o.loc[pseudonym("carol_m9"), "dropped_out"])
    problems = pd.read_csv(out / "import_problems.csv")
    truth = problems[problems.file.str.endswith("truth_train.csv")].iloc[0]
    assert (truth.line, truth.rows) == (4, 1) and "a label for no enrolment" in truth.reason
    assert problems[problems.reason.str.startswith("no label in truth_train.csv")].line.tolist() == [5]
    objects = problems[problems.file.str.endswith("object.csv")].set_index("field")
    assert objects.loc["module_id", "line"] == 4 and objects.loc["start", "line"] == 4
    assert problems.reason.str.contains("no truth_test.csv").any()


@pytest.mark.parametrize(("change", "where", "words"), [
    ({"log": [*LOG, "2,14/06/2014 08:00,browser,video,X"]}, "log_train.csv:8: time:",
     "not a time like 2014-06-14T09:38:29 ('14/06/2014 08:00')"),
    ({"log": [*LOG, "77,2014-06-15T08:00:00,browser,video,X"]}, "log_train.csv:8: enrollment_id:",
     "no such enrolment (77 is not in enrollment_train.csv)"),
    ({"log": [*LOG, "2,2014-06-15T08:00:00,browser,,X"]}, "log_train.csv:8: event:", "empty"),
    ({"log": [*LOG, "2,2014-06-15T08:00:00,browser,video"]}, "log_train.csv:8:",
     "not as many fields as the header (5) (4 fields)"),
    ({"truth_train": "1,0\n2,yes\n3,1\n4,0\n"}, "truth_train.csv:2: label:", "not 0 or 1"),
    ({"truth_train": TRUTH + "2,0\n"}, "truth_train.csv:5: enrollment_id:", "repeated"),
    ({"enrollment_train": ENROLMENTS + "5,alice_x7,C1\n"}, "enrollment_train.csv:6: username:",
     "the same username and course_id as another enrolment"),
    ({"enrollment_train": ENROLMENTS + "5,,C1\n"}, "enrollment_train.csv:6: username:", "empty"),
    ({"enrollment_train": ENROLMENTS + "1,dave_k1,C1\n"}, "enrollment_train.csv:6: enrollment_id:",
     "repeated: one row per enrolment (first on line 2)"),
    ({"date": "course_id,from,to\nC1,2014-06-14,2014-07-13\n"}, "enrollment_train.csv:4: course_id:",
     "the course has no row in date.csv ('C2')"),
    ({"date": DATES + "C3,14.6.2014,2014-07-13\n"}, "date.csv:4: from:", "not a date like 2014-06-12"),
])
def test_bad_rows_are_named_by_file_line_and_field_never_by_username(tmp_path, change, where, words):
    log = change.pop("log", None)
    src = release(tmp_path / "src", log=log, **change)
    out = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        convert(src, out)
    message = str(caught.value)
    assert where in message and words in message, message
    assert not any(name in message for name in ("alice", "bob", "carol", "dave")), message
    assert not out.exists()  # nothing written


def test_a_release_without_events_or_with_a_headerless_log_says_what_it_found(tmp_path):
    with pytest.raises(InputError, match=r"no events to import: the log files have no rows after the "
                                         r"header .*log_train\.csv.*found 4 enrolment\(s\)"):
        convert(release(tmp_path / "a", log=[]), tmp_path / "out")
    src = release(tmp_path / "b")
    (src / "log_train.csv").write_text("\n".join(LOG) + "\n")  # the header left out
    with pytest.raises(InputError) as caught:
        convert(src, tmp_path / "out")
    assert "log_train.csv:1: the header lacks column(s) 'enrollment_id', 'time'" in str(caught.value)
    assert "5 other field(s) (not shown)" in str(caught.value)
    assert "Oj6eQ" not in str(caught.value)
    (src / "log_train.csv").write_text("")
    with pytest.raises(InputError, match="no events to import: the log files are empty"):
        convert(src, tmp_path / "out")
    (src / "enrollment_train.csv").unlink()
    with pytest.raises(InputError, match=r"missing enrollment_train\.csv"):
        convert(src, tmp_path / "out")


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    src = release(tmp_path / "src")
    (src / "log_train.csv").write_bytes(LOG_HEADER.encode() + b"1,2014-06-14T09:38:29,server,acc\xff\xfeess,X\n")
    with pytest.raises(InputError, match=r"log_train\.csv: cannot be read: line 2: not valid UTF-8"):
        convert(src, tmp_path / "out")


def test_log_copies_with_username_and_course_columns_must_agree_with_the_enrolments(tmp_path):
    header = "enrollment_id,username,course_id,time,source,event,object\n"
    rows = ["1,alice_x7,C1,2014-06-14T09:38:29,server,access,A", "2,bob_q3,C1,2014-06-15T08:00:00,browser,video,B",
            "3,alice_x7,C2,2014-07-02T12:00:00,server,wiki,C", "4,carol_m9,C1,2014-06-16T07:30:00,server,wiki,D"]
    src = release(tmp_path / "src", log_train=header + "\n".join(rows) + "\n")
    assert convert(src, tmp_path / "ok")["events"] == 4
    (src / "log_train.csv").write_text(header + "\n".join([*rows, "2,mallory,C1,2014-06-15T09:00:00,server,wiki,E"]))
    with pytest.raises(InputError, match=r"log_train\.csv:6: username: not the username") as caught:
        convert(src, tmp_path / "bad")
    assert "mallory" not in str(caught.value)


def test_the_raw_release_needs_the_key_and_a_folder_is_one_form_or_the_other(tmp_path):
    src = release(tmp_path / "src")
    with pytest.raises(ValueError, match="needs the id key"):
        convert(src, tmp_path / "out", secret=None)
    (src / "trainCourse12.csv").write_text("enrollment_id,time\n")
    with pytest.raises(InputError, match=r"both the release .* and the daily copy"):
        convert(src, tmp_path / "out")
    (tmp_path / "neither").mkdir()
    (tmp_path / "neither" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"no KDD Cup 2015 files: .*found notes\.txt"):
        convert(tmp_path / "neither", tmp_path / "out")


# --- the daily copy, against the same enrolments -------------------------------------------
DAILY_HEADER = ("enrollment_id,time,event_access,event_discussion,event_navigate,event_page_close,"
                "event_problem,event_video,event_wiki\n")
KIND_COLUMNS = ["access", "discussion", "navigate", "page_close", "problem", "video", "wiki"]


def daily_copy(folder: Path, log: list[str]) -> Path:
    """The daily copy of ``log``: per course, a row per enrolment and day of its window."""
    folder.mkdir(parents=True)
    enrol = pd.read_csv(io.StringIO(ENROLMENTS), dtype=str)
    events = pd.DataFrame([line.split(",") for line in log],
                          columns=["enrollment_id", "time", "source", "event", "object"])
    events["day"] = pd.to_datetime(events.time).dt.strftime("%Y-%m-%d")
    events["kind"] = events.event.replace({"nagivate": "navigate"})
    starts = {"C1": "2014-06-14", "C2": "2014-07-01"}
    for number, (course, members) in enumerate(enrol.groupby("course_id"), 1):
        days = pd.date_range(starts[course], periods=30).strftime("%Y-%m-%d")
        lines = []
        for eid in members.enrollment_id:
            mine = events[events.enrollment_id == eid]
            for day in days:
                counts = [int(((mine.day == day) & (mine.kind == k)).sum()) for k in KIND_COLUMNS]
                lines.append(f"{eid},{day}," + ",".join(map(str, counts)))
        (folder / f"trainCourse{number}.csv").write_text(DAILY_HEADER + "\n".join(lines) + "\n")
    (folder / "truth_train.csv").write_text("enrollment_id,label\n" + TRUTH)
    return folder


def test_daily_copy_and_release_give_the_same_labels_and_daily_counts(tmp_path):
    raw, daily = tmp_path / "raw", tmp_path / "daily"
    convert(release(tmp_path / "r"), raw)
    convert(daily_copy(tmp_path / "d", LOG), daily)
    learner = {eid: pseudonym(user) for eid, user in USERS.items()}
    course = {"1": "C1", "2": "C1", "3": "C2", "4": "C1"}
    o_raw = read(raw, "outcomes").set_index(["learner_id", "course_id"])
    o_daily = read(daily, "outcomes").set_index("learner_id")
    for eid in USERS:
        mine, theirs = o_raw.loc[(learner[eid], course[eid])], o_daily.loc[eid]
        assert mine.dropped_out == theirs.dropped_out
        assert (pd.isna(mine.dropped_at) and pd.isna(theirs.dropped_at)) or mine.dropped_at == theirs.dropped_at
    by_day = read(raw, "events").assign(day=lambda f: f.ts.dt.normalize())
    by_day = by_day.groupby(["learner_id", "day", "event_type"]).size().sort_index()
    counted = read(daily, "events")
    counted["learner_id"] = counted.learner_id.map(learner)
    counted = counted.set_index(["learner_id", "ts", "event_type"]).value.sort_index()
    assert by_day.to_dict() == {k: int(v) for k, v in counted.items()}


def test_daily_copy_edge_cases_are_read_or_named(tmp_path):
    src = daily_copy(tmp_path / "src", LOG)
    (src / "trainCourse12.csv.bak").write_text("junk")
    (src / "trainCourse3.csv").write_text("")  # an empty file
    (src / "SOURCE.md").write_text("notes")
    first = (src / "trainCourse1.csv").read_text().splitlines()
    (src / "trainCourse1.csv").write_text("\r\n".join(
        [first[0], *[(" " + line.replace(",", " ,", 1)) for line in first[1:]]]) + "\r\n")
    (src / "truth_train.csv").write_text(TRUTH + "8,1\n")  # no header, as released; 8: another course
    out = tmp_path / "out"
    counts = convert(src, out, secret=None)
    assert counts["enrolments"] == 4 and counts["outcomes"] == 4
    assert counts["skipped files (in import_problems.csv)"] == 2
    assert sorted(read(out, "enrolments").learner_id) == ["1", "2", "3", "4"]
    assert read(out, "outcomes").dropped_out.notna().all()
    problems = pd.read_csv(out / "import_problems.csv")
    assert {Path(f).name for f in problems.file} == {"trainCourse12.csv.bak", "trainCourse3.csv", "SOURCE.md",
                                                    "truth_train.csv"}
    assert problems.set_index("field").loc["enrollment_id", "line"] == 5


@pytest.mark.parametrize(("name", "text", "words"), [
    ("trainCourse1.csv", DAILY_HEADER + "1,2014-06-14,1,0,0,0,-2,0,0\n",
     "trainCourse1.csv: enrollment_id=1 time='2014-06-14' (line 2, event_problem: not a count"),
    ("trainCourse1.csv", DAILY_HEADER + "1,2014-06-14,1,0,0,0\n", "(line 2, not as many fields as the header (9); 6 fields)"),
    ("trainCourse1.csv", DAILY_HEADER + "1,2014-06-14,1,0,0,0,0,0,0\n1,2014-06-14,1,0,0,0,0,0,0\n",
     "(line 3, time: a second row for this enrolment and day; first on line 2)"),
    ("trainCourse9.csv", DAILY_HEADER + "2,2014-06-14,1,0,0,0,0,0,0\n",
     "enrollment_id=2 time='2014-06-14' (line 2, enrollment_id: in more than one course file"),
    ("truth_train.csv", "1,0\n2,x\n3,1\n4,0\n", "enrollment_id=2 (line 2, label: not 0 or 1"),
])
def test_daily_copy_bad_rows_name_file_line_and_field(tmp_path, name, text, words):
    src = daily_copy(tmp_path / "src", LOG)
    (src / name).write_text(text)
    with pytest.raises(InputError) as caught:
        convert(src, tmp_path / "out", secret=None)
    assert words in str(caught.value), str(caught.value)


def test_daily_copy_without_any_count_is_not_an_import(tmp_path):
    src = daily_copy(tmp_path / "src", [])
    with pytest.raises(InputError, match="no events to import: the 120 row"):
        convert(src, tmp_path / "out", secret=None)


# --- through the command line ---------------------------------------------------------------
def test_import_and_features_through_the_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", SECRET.decode())
    data = tmp_path / "data"
    result = run_cli(["import", "--source", "kddcup2015", "--in", release(tmp_path / "src"), "--out", data],
                     capsys, monkeypatch)
    assert result.code == 0, result.err
    assert "4 enrolments, 6 events, 4 outcomes" in result.out
    assert set(read(data, "enrolments").learner_id) == {pseudonym(u) for u in USERS.values()}
    features = tmp_path / "f.parquet"
    made = run_cli(["features", "--data", data, "--as-of", "0,7", "--out", features], capsys, monkeypatch)
    assert made.code == 0, made.err
    f = pd.read_parquet(features)
    assert len(f) == 8 and set(f.as_of_day) == {0, 7}
    day7 = f[f.as_of_day == 7].set_index(["learner_id", "course_id"])
    assert day7.loc[(pseudonym("alice_x7"), "C1"), "events_total"] == 3  # two on day 0, one on day 6
    assert (f.events_total > 0).any()
    bad = run_cli(["import", "--source", "kddcup2015", "--in", release(tmp_path / "bad", truth_train="1,2\n"),
                   "--out", data], capsys, monkeypatch)
    assert bad.code == 2 and "truth_train.csv:1: label: not 0 or 1" in bad.err
    assert "alice" not in bad.err


def synthetic_release(folder: Path, rng: np.random.Generator, courses: int = 4, learners: int = 160) -> Path:
    """A larger invented release: learners who drop out stop early; the rest keep going."""
    folder.mkdir(parents=True)
    enrol, log, truth, dates = [], [], [], []
    kinds = ["access", "nagivate", "video", "problem", "page_close", "discussion", "wiki"]
    eid = 0
    for c in range(courses):
        start = pd.Timestamp("2014-01-06") + pd.Timedelta(days=35 * c)
        dates.append(f"K{c},{start:%Y-%m-%d},{start + pd.Timedelta(days=29):%Y-%m-%d}")
        for u in rng.choice(learners * 2, size=learners, replace=False):
            eid += 1
            dropped = rng.random() < 0.6
            enrol.append(f"{eid},user{u},K{c}")
            truth.append(f"{eid},{int(dropped)}")
            last_day = rng.integers(0, 8) if dropped else 29
            for day in range(last_day + 1):
                if rng.random() < (0.3 if dropped else 0.6):
                    for _ in range(rng.integers(1, 6)):
                        t = start + pd.Timedelta(days=day, seconds=int(rng.integers(0, 86400)))
                        log.append(f"{eid},{t:%Y-%m-%dT%H:%M:%S},server,{rng.choice(kinds)},obj{rng.integers(30)}")
    (folder / "log_train.csv").write_text(LOG_HEADER + "\n".join(log) + "\n")
    (folder / "enrollment_train.csv").write_text("enrollment_id,username,course_id\n" + "\n".join(enrol) + "\n")
    (folder / "truth_train.csv").write_text("\n".join(truth) + "\n")
    (folder / "date.csv").write_text("course_id,from,to\n" + "\n".join(dates) + "\n")
    return folder


@pytest.mark.slow
def test_a_model_trains_on_an_imported_release(tmp_path, capsys, monkeypatch, private_tracking):
    src = synthetic_release(tmp_path / "src", np.random.default_rng(3))
    data = tmp_path / "data"
    imported = run_cli(["import", "--source", "kddcup2015", "--in", src, "--out", data], capsys, monkeypatch)
    assert imported.code == 0, imported.err
    assert_trains(data, capsys, monkeypatch)
