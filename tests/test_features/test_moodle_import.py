"""Moodle standard-log imports (``--source moodle``) on fixtures the tests write (invented ids)."""

import hashlib
import hmac
import json
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import assert_trains, run_cli

from mooc_risk.errors import InputError
from mooc_risk.features.sources import moodle
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
    # anonymous (line 10), not logged in (11), a teacher's edit (14); site level (12)
    assert problems.examples["event without a user"] == [f"{log}:11"]
    assert problems.examples[moodle.TEACHING_ALONE] == [f"{log}:14"]
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
                     5: "userid -1 (system)", 6: moodle.LOGGED_IN_AS, 7: moodle.RESTORED,
                     8: "courseid 0 or 1 (a site-level event)"}
    counts, problems = run([log], tmp_path / "out")
    assert counts["events"] == 8
    listed = pd.read_csv(tmp_path / "out" / "import_problems.csv").dropna(subset=["line"])
    reasons = dict(zip(listed.line.astype(int), listed.reason, strict=True))
    # the shared report names the missing field; a row not attributed has its own reason
    assert reasons.pop(3) == "anonymous event (not attributed)"
    assert reasons == {4: "event without a user", 5: "event without a user",
                       6: moodle.LOGGED_IN_AS, 7: moodle.RESTORED, 8: "event without a course"}
    assert sum(problems.counts.values()) == 6


ROLE_ASSIGNED = r"\core\event\role_assigned"
ROLE_UNASSIGNED = r"\core\event\role_unassigned"
COMPLETION = r"\core\event\course_module_completion_updated"
REPORT_VIEWED = r"\gradereport_user\event\grade_report_viewed"
MANAGER, STUDENT_ROLE, TEACHER_ROLE, EDITING_TEACHER_ROLE, MANAGER_ROLE = 9, 5, 4, 3, 1
DAY = 86400


def role(log_id, user, role_id, seconds, *, course=COURSE, by=ADMIN, event=ROLE_ASSIGNED) -> dict:
    """A role assignment (or, with ``event``, unassignment) as Moodle logs it: the role id in
    objectid, the user in relateduserid (at the site: course 0, system context)."""
    assigned = row(log_id, event, by, seconds, related=user, course=course, edulevel=0)
    assigned.update(objecttable="role", objectid=role_id)
    if course == 0:
        assigned.update(contextlevel=10, contextinstanceid=0)
    return assigned


def staff_log() -> list[dict]:
    """Ada (student role) goes quiet after day 1 while Bob stays; the teacher (editing teacher)
    and a site manager act in the course and on Ada."""
    return [
        role(1, ADA, STUDENT_ROLE, 0),
        role(2, TEACHER, EDITING_TEACHER_ROLE, 0),
        role(3, MANAGER, MANAGER_ROLE, 0, course=0),  # at the site: staff in every course
        row(4, ENROLLED, ADMIN, 0, related=ADA, edulevel=0),
        row(5, ENROLLED, ADMIN, 0, related=TEACHER, edulevel=0),
        row(6, ENROLLED, BOB, 10, related=BOB, edulevel=0),
        row(7, r"\core\event\course_viewed", ADA, 100),
        row(8, REPORT_VIEWED, ADA, 200, related=ADA, edulevel=1),  # Ada views her own grades
        row(9, GRADED, TEACHER, DAY, related=ADA, edulevel=1, other={"itemid": 9, "finalgrade": 5,
                                                                       "grademax": 10}),
        row(10, COMPLETION, ADMIN, DAY + 60, related=ADA, module=12, origin="cli"),  # by cron
        row(11, r"\core\event\course_viewed", TEACHER, 2 * DAY),
        row(12, REPORT_VIEWED, TEACHER, 30 * DAY, related=ADA, edulevel=1),  # the teacher on Ada
        row(13, COMPLETION, TEACHER, 30 * DAY, related=ADA, module=12),  # ticked off by the teacher
        row(14, r"\core\event\message_sent", BOB, 30 * DAY, related=ADA, edulevel=0),
        row(15, r"\mod_quiz\event\attempt_submitted", ADMIN, 30 * DAY, related=ADA, module=12,
            origin="cli"),  # cron closing an overdue attempt
        row(16, r"\core\event\course_viewed", MANAGER, 30 * DAY),
        row(17, r"\core\event\course_module_created", TEACHER, 30 * DAY, module=15, edulevel=1),
        row(18, r"\core\event\course_viewed", BOB, 30 * DAY),
    ]


def test_staff_and_their_actions_on_learners_are_not_learner_activity(tmp_path):
    log = write_csv(tmp_path / "log.csv", staff_log())
    _, problems = run([log], tmp_path / "out", final=True)
    t = tables(tmp_path / "out")
    ada, bob = pseudonym(SECRET, str(ADA)), pseudonym(SECRET, str(BOB))
    assert set(t["enrolments"].learner_id) == set(t["events"].learner_id) == {ada, bob}
    ev = t["events"].set_index("event_id")
    assert sorted(ev.index, key=lambda i: int(i.rsplit("-", 1)[1])) == [
        f"moodle-log-{n}" for n in (1, 4, 6, 7, 8, 9, 10, 18)]
    assert ev.loc["moodle-log-1", ["learner_id", "event_type"]].tolist() == [ada, "enrolment"]  # not the admin's
    assert ev.loc["moodle-log-9", ["learner_id", "value"]].tolist() == [ada, 50.0]  # the teacher's grade
    assert ev.loc["moodle-log-10", ["learner_id", "event_type"]].tolist() == [ada, "progress"]  # by cron
    o = t["outcomes"].set_index("learner_id")
    # the teacher looking at Ada's grades on day 30 is not Ada's activity: she went quiet
    assert o.loc[ada, "last_active_at"] == at(DAY + 60) and o.loc[ada, "dropped_out"]
    assert o.loc[bob, "last_active_at"] == at(30 * DAY) and not o.loc[bob, "dropped_out"]
    listed = pd.read_csv(tmp_path / "out" / "import_problems.csv").dropna(subset=["line"])
    reasons = dict(zip(listed.line.astype(int) - 1, listed.reason, strict=True))  # by log id
    staff = moodle.IN_STAFF + "{})"
    assert reasons == {2: staff.format(3), 3: staff.format(1), 5: staff.format(3),
                       11: staff.format(3), 12: moodle.STAFF_ACTION, 13: moodle.STAFF_ACTION,
                       14: moodle.STAFF_ACTION, 15: moodle.SCRIPT_ACTION, 16: staff.format(1),
                       17: moodle.TEACHING_ALONE}
    assert reasons[12] == ("not attributed: a user acting on another (staff on a learner: not the "
                           "learner's activity)")
    assert problems.files[0].skipped[staff.format(3)] == 3 and problems.files[0].imported == 8


def test_staff_roles_apply_across_log_files_parquet_and_the_enrolment_export(tmp_path):
    roles = write_csv(tmp_path / "a.csv", [role(1, TEACHER, TEACHER_ROLE, 0),
                                           role(2, TEACHER, STUDENT_ROLE, 0, course=43)])
    activity = write_parquet(tmp_path / "b.parquet", [
        row(3, r"\core\event\course_viewed", TEACHER, 60),  # a teacher in course 42
        row(4, r"\core\event\course_viewed", TEACHER, 60, course=43),  # a student in course 43
        row(5, r"\core\event\course_viewed", ADA, 60)])
    enrolled = tmp_path / "user_enrolments.csv"
    pd.DataFrame([{"userid": u, "courseid": c, "timestart": T0, "timecreated": T0}
                  for u, c in ((TEACHER, COURSE), (TEACHER, 43), (ADA, COURSE))]).to_csv(enrolled, index=False)
    counts, problems = run([roles, activity, enrolled], tmp_path / "out")
    assert counts == {"events": 2 + 1 + 2, "enrolments": 2, "outcomes": 2}
    e = tables(tmp_path / "out")["enrolments"]
    teacher = pseudonym(SECRET, str(TEACHER))
    assert sorted(zip(e.learner_id == teacher, e.course_id, strict=True)) == [(False, "42"), (True, "43")]
    staff = moodle.IN_STAFF + "4)"
    assert problems.examples[staff] == [f"{roles}:2", f"{activity}:1", f"{enrolled}:2"]


PAGE_VIEWED = r"\mod_page\event\course_module_viewed"


def test_append_keeps_the_staff_roles_of_earlier_imports(tmp_path):
    day1 = write_csv(tmp_path / "day1.csv", [role(1, TEACHER, EDITING_TEACHER_ROLE, 0),
                                              row(2, PAGE_VIEWED, ADA, 60, module=11),
                                              row(3, PAGE_VIEWED, TEACHER, 120, module=11)])
    day2 = write_csv(tmp_path / "day2.csv", [row(4, PAGE_VIEWED, TEACHER, DAY, module=11),
                                              row(5, PAGE_VIEWED, ADA, DAY + 60, module=11)])
    day3 = write_csv(tmp_path / "day3.csv", [row(6, PAGE_VIEWED, TEACHER, 2 * DAY, module=11),
                                              row(7, PAGE_VIEWED, ADA, 2 * DAY + 60, module=11)])
    out = tmp_path / "out"
    run([day1], out)
    teacher, ada = pseudonym(SECRET, str(TEACHER)), pseudonym(SECRET, str(ADA))
    kept = pd.read_parquet(out / moodle.STAFF_FILE)  # by the learner-id hash, never the Moodle id
    assert kept.to_dict("records") == [{"user_id": teacher, "course_raw": str(COURSE), "role": 3,
                                        "changed_at": at(0), "assigned": True}]
    staff = moodle.IN_STAFF + "3)"
    for day, events in ((day2, 2), (day3, 3)):  # day 3: the roles are carried from import to import
        counts, problems = run([day], out, append_to=out)
        assert counts == {"events": events, "enrolments": 1, "outcomes": 1}  # Ada's page views
        assert problems.examples[staff] == [f"{day}:2"]
        assert pd.read_parquet(out / moodle.STAFF_FILE).equals(kept)
    t = tables(out)
    assert set(t["events"].learner_id) == set(t["enrolments"].learner_id) == {ada}
    assert sorted(t["events"].event_id) == ["moodle-log-2", "moodle-log-5", "moodle-log-7"]
    # a new import without --append starts again from its own files
    run([day2], tmp_path / "fresh")
    assert set(tables(tmp_path / "fresh")["events"].learner_id) == {ada, teacher}
    assert not (tmp_path / "fresh" / moodle.STAFF_FILE).exists()


def test_a_staff_role_applies_from_when_it_was_given_until_it_is_removed(tmp_path):
    """Ada, made a teaching assistant on day 60, keeps her history before it (no knowledge from
    after the as-of day removes her from the population); a teacher enrolled with the role is
    not a learner at all, in the log or in the enrolment export."""
    log = write_csv(tmp_path / "log.csv", [
        row(1, ENROLLED, ADMIN, 0, related=ADA, edulevel=0),
        row(2, r"\core\event\course_viewed", ADA, DAY),
        role(3, ADA, TEACHER_ROLE, 60 * DAY),
        row(4, r"\core\event\course_viewed", ADA, 61 * DAY),
        role(5, ADA, TEACHER_ROLE, 70 * DAY, event=ROLE_UNASSIGNED),
        row(6, r"\core\event\course_viewed", ADA, 71 * DAY),
        row(7, ENROLLED, ADMIN, 100 * DAY - 1, related=TEACHER, edulevel=0),  # logged just before its role
        role(8, TEACHER, EDITING_TEACHER_ROLE, 100 * DAY),
        row(9, r"\core\event\course_viewed", TEACHER, 100 * DAY + 60),
        role(10, BOB, TEACHER_ROLE, 100 * DAY),
        role(11, 103, TEACHER_ROLE, 60 * DAY)])
    exported = tmp_path / "user_enrolments.csv"  # timestart set back to the course's start
    pd.DataFrame([{"userid": BOB, "courseid": COURSE, "timestart": T0, "timecreated": T0 + 100 * DAY - 5},
                  {"userid": 103, "courseid": COURSE, "timestart": T0, "timecreated": T0}]
                 ).to_csv(exported, index=False)
    _, problems = run([log, exported], tmp_path / "out")
    t = tables(tmp_path / "out")
    ada, student = pseudonym(SECRET, str(ADA)), pseudonym(SECRET, "103")
    assert set(t["enrolments"].learner_id) == {ada, student}
    ev = t["events"]
    assert sorted(ev.event_id.dropna()) == [f"moodle-log-{n}" for n in (1, 2, 5, 6)]
    assert ev[ev.event_id.isna()].learner_id.tolist() == [student]  # the export's enrolment
    e = t["enrolments"].set_index("learner_id")
    assert e.loc[ada, "enrolled_at"] == at(0) and e.loc[student, "enrolled_at"] == at(0)
    assert problems.examples[moodle.IN_STAFF + "4)"] == [f"{log}:4", f"{log}:5", f"{log}:11", f"{log}:12",
                                                        f"{exported}:2"]
    assert problems.examples[moodle.IN_STAFF + "3)"] == [f"{log}:8", f"{log}:9", f"{log}:10"]


def test_a_rejected_row_with_a_field_over_128_kib_is_reported_without_its_text(tmp_path, monkeypatch):
    import csv

    long = "q" * 200_000  # over Python's default CSV field limit (128 KiB)
    lines = pd.DataFrame([row(n, r"\core\event\course_viewed", ADA, 60 * n) for n in (1, 2, 3)],
                         columns=LOG_COLUMNS).to_csv(index=False).splitlines()
    lines[2] += f',"{long}"'  # log id 2, line 3: one field too many
    log = tmp_path / "log.csv"
    log.write_text("\n".join(lines) + "\n")
    limit = csv.field_size_limit()
    for folder, reason in (
            ("out", "row with 22 fields where the header has 21 (a value holding the delimiter, not in "
                    "double quotes?)"),
            ("small", "row with a misplaced double quote (a value holding one must be in double "
                      "quotes, its quotes doubled)")):
        if folder == "small":  # a row Python's reader cannot split either
            monkeypatch.setattr(moodle, "_FIELD_LIMIT", 1000)
        counts, _ = run([log], tmp_path / folder)
        assert counts["events"] == 2 and csv.field_size_limit() == limit  # the limit is put back
        listed = pd.read_csv(tmp_path / folder / "import_problems.csv").dropna(subset=["line"])
        assert dict(zip(listed.line.astype(int), listed.reason, strict=True)) == {3: reason}
        assert long not in (tmp_path / folder / "import_problems.csv").read_text()


def malformed_log(path: Path, compressed: bool = False) -> Path:
    """A CSV log of rows 1-10 (line = id + 1) where line 4 holds `other` as JSON with commas and
    no quotes, line 6 has too few fields, line 7 a byte that is not UTF-8 in a column never
    used (component), and line 11 is a site-level row."""
    rows = [row(n, r"\core\event\course_viewed", ADA, 60 * n, course=1 if n == 10 else COURSE)
            for n in range(1, 11)]
    lines = [line.encode() for line in pd.DataFrame(rows, columns=LOG_COLUMNS).to_csv(index=False).splitlines()]
    unquoted = row(3, r"\core\event\course_viewed", ADA, 180, other={"note": NOTE, "a": 1, "b": 2})
    lines[3] = ",".join("" if v is None else str(v) for v in unquoted.values()).encode()
    lines[5] = rb"5,\core\event\course_viewed," + NOTE.encode()
    lines[6] = lines[6].replace(b",core,", b",c\xffre,")
    data = b"\n".join(lines) + b"\n"
    if compressed:
        import gzip

        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("compressed", [False, True])
def test_a_malformed_csv_row_is_reported_by_line_and_the_rest_imported(tmp_path, compressed, capsys,
                                                                         monkeypatch):
    log = malformed_log(tmp_path / ("log.csv.gz" if compressed else "log.csv"), compressed)
    counts, problems = run([log], tmp_path / "out")
    assert counts["events"] == 6
    listed = pd.read_csv(tmp_path / "out" / "import_problems.csv").dropna(subset=["line"])
    assert dict(zip(listed.line.astype(int), listed.reason, strict=True)) == {
        4: "row with 23 fields where the header has 21 (a value holding the delimiter, not in double quotes?)",
        6: "row with 3 fields where the header has 21",
        7: "not valid UTF-8 (a line cut inside a character?)",
        11: "event without a course"}  # the site-level row: the lines after the bad ones stay true
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    assert sorted(events.event_id) == sorted(f"moodle-log-{n}" for n in (1, 2, 4, 7, 8, 9))
    assert problems.files[0].read == 10 and problems.files[0].imported == 6
    with pytest.raises(InputError, match=r"log\.csv(\.gz)?:4: row with 23 fields where the header has 21"):
        run([log], tmp_path / "strict", strict=True)
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "x")
    result = run_cli(["import", "--source", "moodle", "--in", log, "--out", tmp_path / "cli"], capsys, monkeypatch)
    assert result.code == 0, result.err
    for text in (result.out + result.err, *(p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*")
                                            if p.is_file() and p != log)):
        assert NOTE not in text and IP not in text


def test_other_files_in_a_moodle_folder_are_listed_with_what_became_of_them(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    write_csv(folder / "mdl_logstore_standard_log.csv", course_log())
    pd.DataFrame([{"id": ADA, "username": "invented", "firstaccess": T0, "timecreated": T0}]).to_csv(
        folder / "mdl_user.csv", index=False)
    pd.DataFrame([{"id": 1, "enrolid": 3, "userid": ADA, "timestart": T0, "timecreated": T0}]).to_csv(
        folder / "mdl_user_enrolments.csv", index=False)  # not joined with enrol: no courseid
    pd.DataFrame([{"id": 1, "oldid": 9, "action": 2, "courseid": COURSE, "grademin": 0, "grademax": 10}]).to_csv(
        folder / "mdl_grade_items_history.csv", index=False)
    grade_items(folder / "mdl_grade_items.csv", {9: 10.0, 10: 20.0})
    (folder / "mdl_course.csv").write_text(f"id,startdate,enddate\n{COURSE},{T0},0\n43,{T0},0,extra\n")
    (folder / "notes.txt").write_text("not a table\n")
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "x")
    result = run_cli(["import", "--source", "moodle", "--in", folder, "--out", tmp_path / "out"],
                     capsys, monkeypatch)
    assert result.code == 0, result.err
    assert "11 events, 2 enrolments, 2 outcomes" in result.out
    report = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in result.out.splitlines()
              if line.startswith(str(folder))}
    assert report[str(folder / "mdl_user.csv")] == (
        "not read (not a Moodle log or export: no column eventname, grademax, startdate, timestart "
        "(4 columns; the first line must name them))")
    assert report[str(folder / "mdl_user_enrolments.csv")] == (
        "not read (not a Moodle enrolment export: it has timestart but no column(s) 'courseid')")
    assert report[str(folder / "mdl_grade_items_history.csv")] == (
        "not read (a Moodle history table (column oldid), not a log or export)")
    assert report[str(folder / "notes.txt")].startswith("not read (not a file name this source reads")
    assert report[str(folder / "mdl_grade_items.csv")] == (
        "read, no events (a grade-item export: the ranges of 2 grade items)")
    assert report[str(folder / "mdl_course.csv")] == (
        "read, no events (a course export: the dates of 1 course; 1 unreadable row skipped "
        "(first: line 3: row with 4 fields where the header has 3 (a value holding the delimiter, not in "
        "double quotes?)))")
    listed = pd.read_csv(tmp_path / "out" / "import_problems.csv")
    assert listed[listed.file == str(folder / "mdl_course.csv")].reason.tolist() == [
        "file read, no events: a course export: the dates of 1 course; 1 unreadable row skipped "
        "(first: line 3: row with 4 fields where the header has 3 (a value holding the delimiter, not "
        "in double quotes?))"]


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
    # the course export holds no events: listed with what it gave (courses 42 and 43, not the site)
    assert report[str(export)].line() == f"{export}: read, no events (a course export: the dates of 2 courses)"


def test_missing_columns_name_the_file_and_never_a_record(tmp_path):
    rows = course_log()
    no_user = write_csv(tmp_path / "log.csv", rows, [c for c in LOG_COLUMNS if c != "relateduserid"])
    with pytest.raises(InputError, match=r"log\.csv: missing column\(s\) 'relateduserid'"):
        run([no_user], tmp_path / "out")
    headerless = tmp_path / "headerless.csv"
    pd.DataFrame(rows, columns=LOG_COLUMNS).to_csv(headerless, index=False, header=False)
    with pytest.raises(InputError, match=r"no Moodle log .*headerless\.csv: not a Moodle log or export: "
                                         r"no column eventname.*21 columns; the first line must name them") as raised:
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
    assert_trains(data, capsys, monkeypatch)
