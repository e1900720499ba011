"""Moodle standard-log imports (``--source moodle``) on fixtures the tests write (invented ids)."""

import hashlib
import hmac
import json
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import run_cli

from mooc_risk.errors import InputError
from mooc_risk.features.sources.logs import LogImport, convert_logs
from mooc_risk.features.sources.staging import staged_output

SECRET = b"test-secret"
T0 = 1709283600  # 2024-03-01 09:00:00 UTC
COURSE, ADMIN, TEACHER, ADA, BOB = 42, 2, 7, 101, 102
IP = "203.0.113.77"
NOTE = "zebra-note-7781"  # text in `other` that must never reach the tables
LOG_COLUMNS = ["id", "eventname", "component", "action", "target", "objecttable", "objectid",
               "crud", "edulevel", "contextid", "contextlevel", "contextinstanceid", "userid",
               "courseid", "relateduserid", "anonymous", "other", "timecreated", "origin", "ip",
               "realuserid"]
ENROLLED = r"\core\event\user_enrolment_created"
UNENROLLED = r"\core\event\user_enrolment_deleted"
GRADED = r"\core\event\user_graded"


def pseudonym(secret: bytes, user: str) -> str:
    """The documented learner id, from the standard library: "u" + 24 hex digits of HMAC-SHA256."""
    return "u" + hmac.new(secret, user.encode(), hashlib.sha256).hexdigest()[:24]


def at(seconds: int) -> pd.Timestamp:
    return pd.Timestamp(T0 + seconds, unit="s")


def row(log_id, eventname, userid, seconds, *, related=None, course=COURSE, module=None,
        edulevel=2, anonymous=0, other=None, origin="web", realuser=None) -> dict:
    """One logstore_standard_log row as Moodle writes it (target and action from the class name;
    a module's context is level 70, otherwise the course's, 50)."""
    component, _, name = eventname.strip("\\").partition("\\event\\")
    target, _, action = name.rpartition("_")
    return {"id": log_id, "eventname": eventname, "component": component, "action": action,
            "target": target, "objecttable": None, "objectid": None, "crud": "r",
            "edulevel": edulevel, "contextid": 1000 + log_id,
            "contextlevel": 70 if module else 50, "contextinstanceid": module or course,
            "userid": userid, "courseid": course, "relateduserid": related,
            "anonymous": anonymous, "other": json.dumps(other if other is not None else {"note": NOTE}),
            "timecreated": T0 + seconds, "origin": origin, "ip": IP, "realuserid": realuser}


def course_log() -> list[dict]:
    """A course with two learners (Ada passes, Bob is unenrolled), a teacher who grades and
    edits, and rows that are nobody's (anonymous, not logged in, site level, staff only)."""
    return [
        row(1, ENROLLED, ADMIN, 0, related=ADA, edulevel=0, other={"enrol": "manual", "note": NOTE}),
        row(2, ENROLLED, BOB, 60, related=BOB, edulevel=0, other={"enrol": "self"}),
        row(3, r"\core\event\course_viewed", ADA, 3600),
        row(4, r"\mod_page\event\course_module_viewed", ADA, 3700, module=11),
        row(5, r"\mod_quiz\event\attempt_submitted", ADA, 3800, related=ADA, module=12),
        row(6, GRADED, TEACHER, 7200, related=ADA, edulevel=1,
            other={"itemid": 9, "overridden": False, "finalgrade": 8.0}),
        row(7, r"\mod_forum\event\discussion_viewed", BOB, 7300, module=13),
        row(8, r"\core\event\course_module_completion_updated", ADA, 7400, related=ADA, module=12),
        row(9, r"\mod_forum\event\post_created", BOB, 7500, module=13, anonymous=1),
        row(10, r"\core\event\course_viewed", 0, 7600),
        row(11, r"\core\event\user_loggedin", ADA, 7700, course=0),
        row(12, r"\mod_choice\event\answer_created", ADA, 7800, module=14),
        row(13, r"\core\event\course_module_created", TEACHER, 7900, module=15, edulevel=1),
        row(14, r"\core\event\course_completed", ADMIN, 86400, related=ADA, origin="cli"),
        row(15, UNENROLLED, TEACHER, 90000, related=BOB, edulevel=0),
    ]


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None, sep: str = ",") -> Path:
    pd.DataFrame(rows, columns=columns or LOG_COLUMNS).to_csv(path, index=False, sep=sep)
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    frame = pd.DataFrame(rows, columns=LOG_COLUMNS)
    for column in ("relateduserid", "realuserid", "objectid"):  # BIGINT with NULLs
        frame[column] = frame[column].astype("Int64")
    frame.to_parquet(path, index=False)
    return path


def grade_items(path: Path, items: dict[int, float]) -> Path:
    rows = [{"id": i, "courseid": COURSE, "itemtype": "mod", "grademin": 0, "grademax": m}
            for i, m in items.items()]
    return write_csv(path, rows, ["id", "courseid", "itemtype", "grademin", "grademax"])


def run(inputs: list[Path], out: Path, **options):
    with staged_output(out) as stage:
        return convert_logs(LogImport("moodle", inputs, SECRET, **options), stage, lambda _l: None)


def tables(out: Path) -> dict[str, pd.DataFrame]:
    frames = {n: pd.read_parquet(out / f"{n}.parquet") for n in ("enrolments", "events", "outcomes")}
    frames["events"] = frames["events"].sort_values(["ts", "event_id"])
    return {n: f.sort_values(list(f.columns[:3]), kind="stable").reset_index(drop=True)
            for n, f in frames.items()}


def parsed_rows(path: Path) -> pd.DataFrame:
    """The source's own fields for one file (``prepare`` then ``file_rows``), before the shared
    checks."""
    from mooc_risk.features.sources import moodle
    from mooc_risk.features.sources.staging import duckdb_connection

    con = duckdb_connection()
    moodle.prepare(con, [path])
    return con.sql(moodle.file_rows(path)).df().set_index("line")


def test_vocabulary_lifecycle_and_who_the_learner_is(tmp_path):
    log = write_csv(tmp_path / "logstore_standard_log.csv", course_log())
    counts, problems = run([log, grade_items(tmp_path / "grade_items.csv", {9: 10.0})], tmp_path / "out")
    assert counts == {"events": 11, "enrolments": 2, "outcomes": 2}
    t = tables(tmp_path / "out")
    ada, bob = pseudonym(SECRET, str(ADA)), pseudonym(SECRET, str(BOB))
    assert set(t["enrolments"].learner_id) == set(t["events"].learner_id) == {ada, bob}
    assert t["events"][["course_id", "run_id"]].drop_duplicates().values.tolist() == [["42", "default"]]
    ev = t["events"].set_index("event_id")
    assert ev.event_type.to_dict() == {
        "moodle-log-1": "enrolment", "moodle-log-2": "enrolment", "moodle-log-3": "navigation",
        "moodle-log-4": "page", "moodle-log-5": "problem", "moodle-log-6": "assessment",
        "moodle-log-7": "forum", "moodle-log-8": "progress", "moodle-log-12": "other",
        "moodle-log-14": "grade", "moodle-log-15": "enrolment"}
    assert ev.loc["moodle-log-4", ["object_id", "ts"]].tolist() == ["cm-11", at(3700)]
    assert ev.loc["moodle-log-6", ["learner_id", "value"]].tolist() == [ada, 80.0]
    assert ev.loc["moodle-log-14", "learner_id"] == ada  # course_completed from cron: the learner
    assert ev.loc["moodle-log-15", "learner_id"] == bob  # unenrolled by the teacher
    e = t["enrolments"].set_index("learner_id")
    assert e.loc[ada, "enrolled_at"] == at(0) and e.loc[bob, "enrolled_at"] == at(60)
    assert e.platform.eq("moodle").all() and e.course_end.isna().all()  # no course export
    o = t["outcomes"].set_index("learner_id")
    assert o.loc[ada, "certified"] and pd.isna(o.loc[ada, "dropped_out"])
    assert o.loc[bob, "dropped_out"] and o.loc[bob, "dropped_at"] == at(90000)
    assert problems.examples["unknown event name (kept as other)"] == [
        rf"'\mod_choice\event\answer_created' at {log}:13"]
    # anonymous (line 10), not logged in (11), staff with no learner (14); site level (12)
    assert problems.examples["event without a user"] == [f"{log}:11", f"{log}:14"]
    assert problems.examples["anonymous event (not attributed)"] == [f"{log}:10"]
    assert problems.examples["event without a course"] == [f"{log}:12"]


def test_a_teacher_grading_a_student_gives_the_student_the_grade(tmp_path):
    rows = [row(1, ENROLLED, ADMIN, 0, related=ADA, edulevel=0),
            row(2, r"\core\event\course_viewed", ADA, 60),
            row(3, GRADED, TEACHER, 120, related=ADA, edulevel=1,
                other={"itemid": 9, "finalgrade": 3, "grademax": 4})]
    counts, problems = run([write_csv(tmp_path / "log.csv", rows)], tmp_path / "out")
    t = tables(tmp_path / "out")
    assert counts == {"events": 3, "enrolments": 1, "outcomes": 1} and not problems.counts
    assert set(t["events"].learner_id) == {pseudonym(SECRET, str(ADA))}  # not the teacher's, nor the admin's
    graded = t["events"].set_index("event_id").loc["moodle-log-3"]
    assert (graded.event_type, graded.value, graded.ts) == ("assessment", 75.0, at(120))
    assert t["enrolments"].enrolled_at.tolist() == [at(0)]


@pytest.mark.parametrize(("other", "items", "score"), [
    ({"itemid": 9, "overridden": False, "finalgrade": 8.0}, {9: 10.0}, 80.0),  # range from grade_items
    ({"itemid": 9, "finalgrade": 6, "grademin": 1, "grademax": 11}, {}, 50.0),  # range in other
    ({"itemid": 9, "finalgrade": 8.0}, {}, None),  # no range: no score
    ({"itemid": 9, "finalgrade": None}, {9: 10.0}, None),  # grade removed
    ('a:3:{s:6:"itemid";i:9;s:10:"overridden";b:0;s:10:"finalgrade";d:8;}', {9: 10.0}, None),  # PHP
])
def test_the_score_of_a_grade_comes_from_other_json(tmp_path, other, items, score):
    graded = row(2, GRADED, TEACHER, 60, related=ADA, edulevel=1)
    graded["other"] = other if isinstance(other, str) else json.dumps(other)
    inputs = [write_csv(tmp_path / "log.csv", [row(1, r"\core\event\course_viewed", ADA, 0), graded])]
    if items:
        inputs.append(grade_items(tmp_path / "grade_items.csv", items))
    run(inputs, tmp_path / "out")
    event = tables(tmp_path / "out")["events"].set_index("event_id").loc["moodle-log-2"]
    assert event.event_type == "assessment"
    assert (pd.isna(event.value) if score is None else event.value == score)


def test_anonymous_guest_and_unattributable_rows_are_skipped_with_what_they_held(tmp_path):
    rows = [row(1, r"\core\event\course_viewed", ADA, 0),
            row(2, r"\mod_forum\event\post_created", BOB, 10, module=13, anonymous=1),
            row(3, r"\core\event\course_viewed", 0, 20),
            row(4, r"\core\event\course_viewed", -1, 30),
            row(5, r"\core\event\course_viewed", ADA, 40, realuser=ADMIN),  # admin logged in as Ada
            row(6, r"\core\event\course_viewed", ADA, 50, origin="restore"),
            row(7, r"\core\event\course_viewed", ADA, 60, course=1),
            *(row(n, r"\mod_page\event\course_module_viewed", ADA, 60 * n, module=11) for n in range(8, 15))]
    log = write_csv(tmp_path / "log.csv", rows)
    hints = parsed_rows(log).hint.dropna().to_dict()
    assert hints == {3: "anonymous event (not attributed)", 4: "userid 0 (not logged in)",
                     5: "userid -1 (system)", 6: "realuserid set (another user logged in as this one)",
                     7: "origin restore (a copy from a course backup)",
                     8: "courseid 0 or 1 (a site-level event)"}
    counts, problems = run([log], tmp_path / "out")
    assert counts["events"] == 8
    listed = pd.read_csv(tmp_path / "out" / "import_problems.csv").dropna(subset=["line"])
    reasons = dict(zip(listed.line.astype(int), listed.reason, strict=True))
    # the shared report names the missing field; an anonymous row has its own reason
    assert reasons.pop(3) == "anonymous event (not attributed)"
    assert reasons == {4: "event without a user", 5: "event without a user",
                       6: "event without a user", 7: "event without a user",
                       8: "event without a course"}
    assert sum(problems.counts.values()) == 6


def test_other_and_ip_never_reach_any_output_file(tmp_path, capsys, monkeypatch):
    log = write_csv(tmp_path / "log.csv", course_log())
    run([log, grade_items(tmp_path / "items.csv", {9: 10.0})], tmp_path / "out")
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "x")
    result = run_cli(["import", "--source", "moodle", "--in", tmp_path / "log.csv", "--out",
                      tmp_path / "cli"], capsys, monkeypatch)
    assert result.code == 0, result.err
    secrets = (IP, NOTE, "overridden", "finalgrade", '"enrol"')
    assert not any(s in result.out + result.err for s in secrets)
    for folder in ("out", "cli"):
        for path in (tmp_path / folder).rglob("*"):
            data = path.read_bytes()
            assert not any(s.encode() in data for s in secrets), path
        for name in ("events", "enrolments", "outcomes"):
            dumped = pd.read_parquet(tmp_path / folder / f"{name}.parquet").astype(str).to_csv()
            assert not any(s in dumped for s in secrets)


def test_csv_and_parquet_give_the_same_tables(tmp_path):
    rows = course_log()
    items = grade_items(tmp_path / "grade_items.csv", {9: 10.0})
    a = run([write_csv(tmp_path / "log.csv", rows), items], tmp_path / "csv")
    b = run([write_parquet(tmp_path / "log.parquet", rows), items], tmp_path / "parquet")
    c = run([write_csv(tmp_path / "log.csv.gz", rows, sep=";"), items], tmp_path / "gz")  # ; and gzip
    assert a[0] == b[0] == c[0] and a[1].counts == b[1].counts == c[1].counts
    for other in ("parquet", "gz"):
        for name, frame in tables(tmp_path / "csv").items():
            pd.testing.assert_frame_equal(frame, tables(tmp_path / other)[name])
    # Parquet rows are numbered from 1, as CSV lines after the header are from 2
    assert b[1].examples["event without a course"] == [f"{tmp_path / 'log.parquet'}:11"]


def test_course_export_dates_and_enrolment_export(tmp_path):
    courses = [{"id": 1, "shortname": "site", "fullname": "The site", "startdate": 0, "enddate": 0},
               {"id": COURSE, "shortname": "DS101", "fullname": "Data", "startdate": T0 - 86400,
                "enddate": T0 + 60 * 86400},
               {"id": 43, "shortname": "OPEN", "fullname": "Open", "startdate": T0, "enddate": 0}]
    export = tmp_path / "course.csv"
    pd.DataFrame(courses).to_csv(export, index=False)
    enrolled = [{"userid": 103, "courseid": COURSE, "timestart": 0, "timeend": 0,
                 "timecreated": T0 + 500, "status": 0},
                {"userid": 104, "courseid": 43, "timestart": T0 + 900, "timeend": 0,
                 "timecreated": T0 + 100, "status": 0},
                {"userid": 0, "courseid": 43, "timestart": T0, "timeend": 0, "timecreated": T0,
                 "status": 0}]
    enrolments_file = tmp_path / "user_enrolments.csv"
    pd.DataFrame(enrolled).to_csv(enrolments_file, index=False)
    no_courseid = {**row(16, r"\core\event\course_viewed", ADA, 100), "courseid": None}  # course context
    log = write_csv(tmp_path / "log.csv", [*course_log(), no_courseid])
    counts, problems = run([tmp_path], tmp_path / "out")  # the folder: every file told by its columns
    assert counts == {"events": 11 + 1 + 2, "enrolments": 4, "outcomes": 4}
    e = tables(tmp_path / "out")["enrolments"].set_index("learner_id")
    by_user = {u: e.loc[pseudonym(SECRET, str(u))] for u in (ADA, 103, 104)}
    assert by_user[ADA][["course_start", "course_end"]].tolist() == [at(-86400), at(60 * 86400)]
    assert by_user[103][["enrolled_at", "course_start"]].tolist() == [at(500), at(-86400)]
    assert by_user[104][["enrolled_at", "course_start"]].tolist() == [at(900), at(0)]
    assert pd.isna(by_user[104].course_end)  # enddate 0: no end
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    assert events[events.event_id.isna()].event_name.tolist() == [ENROLLED, ENROLLED]
    assert problems.examples["event without a user"][-1] == f"{enrolments_file}:4"
    report = {f.path: f for f in problems.files}
    assert report[str(enrolments_file)].fallbacks == {"timecreated (timestart is 0)": 1}
    assert report[str(log)].fallbacks == {"contextinstanceid (course context)": 1}
    assert str(export) not in report and str(log) in report  # the course export holds no events


def test_missing_columns_name_the_file_and_never_a_record(tmp_path):
    rows = course_log()
    no_user = write_csv(tmp_path / "log.csv", rows, [c for c in LOG_COLUMNS if c != "relateduserid"])
    with pytest.raises(InputError, match=r"log\.csv: missing column\(s\) 'relateduserid'"):
        run([no_user], tmp_path / "out")
    headerless = tmp_path / "headerless.csv"
    pd.DataFrame(rows, columns=LOG_COLUMNS).to_csv(headerless, index=False, header=False)
    with pytest.raises(InputError, match=r"headerless\.csv: missing column") as raised:
        run([headerless], tmp_path / "out")
    assert not any(s in str(raised.value) for s in (IP, NOTE, "course_viewed"))
    course_only = tmp_path / "only" / "course.csv"
    course_only.parent.mkdir()
    pd.DataFrame([{"id": COURSE, "startdate": T0, "enddate": 0}]).to_csv(course_only, index=False)
    with pytest.raises(InputError, match="no Moodle log or enrolment export"):
        run([course_only.parent], tmp_path / "out")


def test_cli_import_then_features(tmp_path, capsys, monkeypatch):
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "log.csv", course_log())
    pd.DataFrame([{"id": COURSE, "shortname": "DS101", "fullname": "Data", "startdate": T0 - 86400,
                   "enddate": T0 + 60 * 86400}]).to_csv(tmp_path / "in" / "course.csv", index=False)
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "s")
    data = tmp_path / "data"
    result = run_cli(["import", "--source", "moodle", "--in", tmp_path / "in", "--out", data],
                     capsys, monkeypatch)
    assert result.code == 0, result.err
    assert "11 events, 2 enrolments, 2 outcomes" in result.out
    features = run_cli(["features", "--data", data, "--as-of", "0,7", "--out", tmp_path / "f.parquet"],
                       capsys, monkeypatch)
    assert features.code == 0, features.err
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert len(frame) and set(frame.course_id) == {"42"} and set(frame.as_of_day) <= {0, 7}
    assert frame.course_length_days.eq(61).all() and frame.self_paced.eq(0).all()  # course export


def moodle_log_from(data_dir: Path, out: Path) -> int:
    """The synthetic data set in ``data_dir`` as a Moodle log (CSV), a course export and a
    grade-item export: each course run is a Moodle course, each assessment a user_graded row
    by a teacher (finalgrade out of 10), enrolments by an admin, unenrolment and completion."""
    enrolments = pd.read_parquet(data_dir / "enrolments.parquet")
    outcomes = pd.read_parquet(data_dir / "outcomes.parquet")
    events = pd.read_parquet(data_dir / "events.parquet")
    runs = enrolments[["course_id", "run_id", "course_start", "course_end"]].drop_duplicates(
        ["course_id", "run_id"]).reset_index(drop=True)
    runs["moodle"] = 100 + runs.index
    course_of = {(r.course_id, r.run_id): r.moodle for r in runs.itertuples()}

    def seconds(ts: pd.Series) -> pd.Series:
        return (pd.to_datetime(ts) - pd.Timestamp(0)) // pd.Timedelta(seconds=1)

    def frame(users, courses, ts, names, **columns) -> pd.DataFrame:
        return pd.DataFrame({"eventname": names, "userid": users, "courseid": courses,
                             "timecreated": seconds(ts), **columns})

    user = events.learner_id.astype(str).str.lstrip("L").astype(int) + 10
    course = [course_of[k] for k in zip(events.course_id, events.run_id, strict=True)]
    names = events.event_type.astype(str).map({
        "video": r"\mod_url\event\course_module_viewed", "page": r"\mod_page\event\course_module_viewed",
        "problem": r"\mod_quiz\event\attempt_started", "forum": r"\mod_forum\event\discussion_viewed",
        "other": r"\core\event\course_viewed", "assessment": GRADED})
    graded = (names == GRADED).to_numpy()
    finalgrade = (events.value / 10).round(4)
    other = [json.dumps({"itemid": 9, "overridden": False, "finalgrade": g}) if is_graded else "[]"
             for g, is_graded in zip(finalgrade, graded, strict=True)]
    activity = frame(user.where(~graded, TEACHER), course, events.ts, names,
                     relateduserid=user.where(graded), edulevel=[1 if g else 2 for g in graded],
                     contextlevel=70, contextinstanceid=1, other=other)
    e_user = enrolments.learner_id.str.lstrip("L").astype(int) + 10
    e_course = [course_of[k] for k in zip(enrolments.course_id, enrolments.run_id, strict=True)]
    enrol = frame(ADMIN, e_course, enrolments.enrolled_at, ENROLLED, relateduserid=e_user, edulevel=0,
                  contextlevel=50, contextinstanceid=e_course, other='{"enrol":"manual"}')
    ends = outcomes.merge(enrolments, on=["learner_id", "course_id", "run_id"])
    ends = ends[(ends.certified | ends.dropped_out) & ends.last_active_at.notna()]
    end_course = [course_of[k] for k in zip(ends.course_id, ends.run_id, strict=True)]
    end = frame(ADMIN, end_course, ends.last_active_at + pd.Timedelta(hours=1),
                [r"\core\event\course_completed" if c else UNENROLLED for c in ends.certified],
                relateduserid=ends.learner_id.str.lstrip("L").astype(int).to_numpy() + 10,
                edulevel=0, contextlevel=50, contextinstanceid=end_course, other="[]")
    log = pd.concat([enrol, activity, end], ignore_index=True)
    log.insert(0, "id", range(1, len(log) + 1))
    log = log.assign(anonymous=0, origin="web", ip=IP, realuserid=None)
    log.to_csv(out / "logstore_standard_log.csv", index=False)
    pd.DataFrame({"id": runs.moodle, "shortname": runs.course_id, "fullname": runs.run_id,
                  "startdate": seconds(runs.course_start), "enddate": seconds(runs.course_end)}
                 ).to_csv(out / "course.csv", index=False)
    grade_items(out / "grade_items.csv", {9: 10.0})
    return len(log)


@pytest.mark.slow
def test_import_features_and_train_from_a_moodle_log(tmp_path, synthetic, capsys, monkeypatch, private_tracking):
    source = synthetic(900, 3, 4, 2)
    exported = tmp_path / "moodle"
    exported.mkdir()
    written = moodle_log_from(source, exported)
    data = tmp_path / "imported"
    result = run_cli(["import", "--source", "moodle", "--in", exported, "--out", data, "--final"],
                     capsys, monkeypatch)
    assert result.code == 0, result.err
    imported = pd.read_parquet(data / "events.parquet")
    truth = pd.read_parquet(source / "events.parquet")
    assert len(imported) == written  # every row has its own log id
    assert pseudonym(b"s", str(TEACHER)) not in set(imported.learner_id)  # grades are the learners'
    scores = imported[imported.event_type == "assessment"].value.sort_values().to_numpy()
    expected = truth[truth.event_type == "assessment"].value.sort_values().to_numpy()
    assert scores == pytest.approx(expected, abs=1e-3)
    enrolments = pd.read_parquet(data / "enrolments.parquet")
    assert enrolments.course_start.notna().all() and len(enrolments) == len(
        pd.read_parquet(source / "enrolments.parquet"))
    assert run_cli(["features", "--data", data, "--as-of", "0,7", "--out", tmp_path / "f.parquet"],
                   capsys, monkeypatch).code == 0
    trained = run_cli(["train", "--data", data, "--target", "dropout", "--as-of", "0,7,14",
                       "--set", "compare_horizon_strategies=false", "--set", "gate.ece_ceiling=0.2"],
                      capsys, monkeypatch)
    assert trained.code == 0, trained.err
    assert "mooc-risk-dropout v1" in trained.out
