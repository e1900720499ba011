"""Log imports against what real platforms send, one test per kind of fault (issue 12): identity
by each standard's rules, the standard's meaning (voiding, who the learner is), documented
fallback locations, imports that keep nothing, files skipped in silence, engine text instead of
a report, documented formats. Fixtures are written here, with invented ids."""

import gzip
import json

import pandas as pd
import pytest
from cli_helpers import run_cli
from test_log_import import COURSE, PERSONAL, SECRET, edx, edx_events, pseudonym, run, write_lines

from mooc_risk.errors import InputError
from mooc_risk.features.sources.course_keys import course_and_run

VIDEO = "https://w3id.org/xapi/video/activity-type/video"
PLAYED = "https://w3id.org/xapi/video/verbs/played"
PASSED = "http://adlnet.gov/expapi/verbs/passed"
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"


def statement(sid, verb=PLAYED, kind=VIDEO, time="2024-03-02T09:00:00Z", obj="http://lms/video/1",
              actor=None, course=f"http://lms/course/{COURSE}", **extra):
    body = {"id": sid, "actor": actor or {"objectType": "Agent",
                                          "account": {"homePage": "http://lms", "name": "anon-1"}},
            "verb": {"id": verb}, "object": {"id": obj, "definition": {"type": kind}},
            "context": {"contextActivities": {"parent": [{"id": course, "definition": {"type": COURSE_TYPE}}]}}}
    if time is not None:
        body["timestamp"] = time
    body.update(extra)
    return body


def events_of(out):
    return pd.read_parquet(out / "events.parquet")


# 1. identity and keys --------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("course-v1:Org+C1+2024_T1", ("Org+C1", "2024_T1")),
    ("course-v1:Org+C1+2024_T1\n", ("Org+C1", "2024_T1")),
    ("  course-v1:Org+C1+2024_T1 \r\n", ("Org+C1", "2024_T1")),
    ("course-v1:Org+C1+2024_T1+branch@draft+version@5f3a", ("Org+C1", "2024_T1")),
    ("ccx-v1:Org+C1+2024_T1+ccx@7", ("Org+C1", "2024_T1+ccx@7")),
    ("Org/C1/2013_Spring", ("Org/C1", "2013_Spring")),
    ("https://lms.example.org/course/view.php?id=12", ("lms.example.org/course/view.php?id=12", "default")),
    ("https://lms.example.org/course/view.php?id=45", ("lms.example.org/course/view.php?id=45", "default")),
    ("http://lms/course/course-v1:Org+C1+2024_T1", ("Org+C1", "2024_T1")),
    ("https://example.edu/terms/201601/courses/7/sections/1/",
     ("example.edu/terms/201601/courses/7/sections/1", "default")),
])
def test_course_keys_follow_each_standard(raw, expected):
    assert course_and_run(raw) == expected


def test_moodle_course_iris_stay_two_courses(tmp_path):
    moodle = "https://lms.example.org/course/view.php?id="
    statements = [statement("a1", course=f"{moodle}12"), statement("a2", course=f"{moodle}45"),
                  statement("a3", verb=PASSED, kind=COURSE_TYPE, obj=f"{moodle}12", course=f"{moodle}12")]
    run("xapi", [write_lines(tmp_path / "s.jsonl", statements)], tmp_path / "out")
    assert sorted(set(zip(*[events_of(tmp_path / "out")[c] for c in ("course_id", "run_id")], strict=True))) == [
        ("lms.example.org/course/view.php?id=12", "default"),
        ("lms.example.org/course/view.php?id=45", "default")]


def test_moodle_logstore_xapi_statements_keep_their_course(tmp_path):
    """The shape Moodle's logstore_xapi sends: the course typed as tincan's lms/course, in the
    grouping beside the site, or as the object of a course view."""
    site = {"id": "https://lms.example.org", "definition": {"type": "http://id.tincanapi.com/activitytype/lms"}}
    def course(n):
        return {"id": f"https://lms.example.org/course/view.php?id={n}",
                "definition": {"type": "http://id.tincanapi.com/activitytype/lms/course"}}
    viewed = {"id": "m1", "actor": {"account": {"homePage": "https://lms.example.org", "name": "7"}},
              "verb": {"id": "http://id.tincanapi.com/verb/viewed"}, "timestamp": "2024-03-02T09:00:00Z",
              "object": course(12), "context": {"contextActivities": {"grouping": [site]}}}
    page = {**viewed, "id": "m2", "object": {"id": "https://lms.example.org/mod/page/view.php?id=3",
                                             "definition": {"type": "http://id.tincanapi.com/activitytype/lms/module"}},
            "context": {"contextActivities": {"grouping": [site, course(45)]}}}
    _, problems = run("xapi", [write_lines(tmp_path / "s.jsonl", [viewed, page])], tmp_path / "out")
    ev = events_of(tmp_path / "out").set_index("event_id")
    assert ev.loc["m1", "course_id"] == "lms.example.org/course/view.php?id=12"
    assert ev.loc["m2", "course_id"] == "lms.example.org/course/view.php?id=45"
    assert not problems.files[0].fallbacks


def test_an_edx_course_key_with_blanks_is_the_same_run(tmp_path):
    docs = edx_events()
    docs[1]["context"]["course_id"] = COURSE + "\n"
    docs[3]["context"]["course_id"] = f"  {COURSE} "
    ccx = edx("play_video", "2024-03-05T10:00:00+00:00", course="ccx-v1:UniX+DS101+2024_T1+ccx@3")
    run("edx", [write_lines(tmp_path / "t.log", [*docs, ccx])], tmp_path / "out")
    runs = events_of(tmp_path / "out").groupby(["course_id", "run_id"]).size()
    assert runs.to_dict() == {("UniX+DS101", "2024_T1"): 9, ("UniX+DS101", "2024_T1+ccx@3"): 1}


def test_xapi_agents_are_identified_by_their_ifi(tmp_path):
    email = "mailto:" + PERSONAL[1]
    import hashlib

    sha1 = hashlib.sha1(email.encode()).hexdigest()
    statements = [
        statement("b1", actor={"account": {"homePage": "https://a.example", "name": "42"}}),
        statement("b2", actor={"account": {"homePage": "https://b.example", "name": "42"}}),
        statement("b3", actor={"mbox": email}),
        statement("b4", actor={"mbox_sha1sum": sha1.upper()}),
        statement("b5", actor={"account": {"name": "42"}}),  # no homePage: no identity
    ]
    _, problems = run("xapi", [write_lines(tmp_path / "s.jsonl", statements)], tmp_path / "out")
    ev = events_of(tmp_path / "out").set_index("event_id")
    assert ev.loc["b1", "learner_id"] != ev.loc["b2", "learner_id"]  # same name, two systems
    assert ev.loc["b3", "learner_id"] == ev.loc["b4", "learner_id"] == pseudonym(SECRET, f"mbox_sha1sum:{sha1}")
    assert "b5" not in ev.index and problems.counts["event without a user"] == 1
    for path in (tmp_path / "out").iterdir():
        assert PERSONAL[1].encode() not in path.read_bytes()


# 2. the standard's meaning ---------------------------------------------------------------------

def test_a_voided_pass_certifies_nobody_even_when_voided_in_a_later_import(tmp_path):
    registered = statement("c1", verb="http://adlnet.gov/expapi/verbs/registered", kind=COURSE_TYPE,
                           obj=f"http://lms/course/{COURSE}", time="2024-03-01T09:00:00Z")
    passed = statement("C2-UPPER", verb=PASSED, kind=COURSE_TYPE, obj=f"http://lms/course/{COURSE}",
                       time="2024-03-20T09:00:00Z")
    voiding = {"id": "c3", "actor": {"mbox": "mailto:admin@example.org"},
               "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
               "object": {"objectType": "StatementRef", "id": "c2-upper"},
               "timestamp": "2024-03-21T09:00:00Z"}
    at_once = tmp_path / "once"
    _, problems = run("xapi", [write_lines(tmp_path / "all.jsonl", [registered, passed, voiding])], at_once)
    assert set(events_of(at_once).event_id) == {"c1"}  # neither the voided nor the voiding statement
    assert not pd.read_parquet(at_once / "outcomes.parquet").certified.any()
    assert problems.counts["voided by a later statement (removed)"] == 1

    later = tmp_path / "later"
    run("xapi", [write_lines(tmp_path / "day1.jsonl", [registered, passed])], later)
    assert pd.read_parquet(later / "outcomes.parquet").certified.tolist() == [True]
    run("xapi", [write_lines(tmp_path / "day2.jsonl", [voiding, statement("c4")])], later, append_to=later)
    assert set(events_of(later).event_id) == {"c1", "c4"}
    assert pd.read_parquet(later / "outcomes.parquet").certified.isna().all()
    run("xapi", [write_lines(tmp_path / "day1.jsonl", [registered, passed])], later, append_to=later)
    assert set(events_of(later).event_id) == {"c1", "c4"}  # re-sent, still voided
    # a batch that is only a late voiding is an import onto a folder, and nothing on its own
    late = {**voiding, "id": "c5", "object": {"objectType": "StatementRef", "id": "c4"}}
    run("xapi", [write_lines(tmp_path / "day3.jsonl", [late])], later, append_to=later)
    assert set(events_of(later).event_id) == {"c1"}
    with pytest.raises(InputError, match=r"0 of 2 records could be used.*1 voiding statements; 1 statements voided"):
        run("xapi", [write_lines(tmp_path / "alone.jsonl", [passed, voiding])], tmp_path / "alone")


def test_the_learner_of_a_grading_event_is_the_one_graded(tmp_path):
    tutor = {"objectType": "Agent", "account": {"homePage": "http://lms", "name": "tutor"}}
    learner = {"objectType": "Agent", "account": {"homePage": "http://lms", "name": "anon-9"}}
    xapi = statement("d1", verb="http://id.tincanapi.com/verb/mentored", kind=None, actor=tutor,
                     object=learner)
    run("xapi", [write_lines(tmp_path / "s.jsonl", [xapi, statement("d2", actor=learner)])], tmp_path / "x")
    assert set(events_of(tmp_path / "x").learner_id) == {pseudonym(SECRET, "account:http://lms anon-9")}

    staff_graded = edx("edx.grades.subsection.grade_calculated", "2024-03-02T10:00:00+00:00", user=3,
                       source="server", data={"user_id": 4, "course_id": COURSE})
    run("edx", [write_lines(tmp_path / "t.log", [*edx_events(), staff_graded])], tmp_path / "e")
    graded = events_of(tmp_path / "e").query("event_name == 'edx.grades.subsection.grade_calculated'")
    assert graded.learner_id.tolist() == [pseudonym(SECRET, "4")]

    grade = {"id": "g1", "type": "GradeEvent", "action": "Graded", "eventTime": "2024-03-02T09:10:00.000Z",
             "actor": {"id": "http://lms/user/tutor", "type": "Person"},
             "object": {"id": "http://lms/attempt/1", "type": "Attempt",
                        "assignee": {"id": "http://lms/user/learner-5", "type": "Person"},
                        "assignable": {"id": "http://lms/quiz/1"},
                        "isPartOf": {"id": f"http://lms/course/{COURSE}", "type": "CourseOffering"}},
             "generated": {"scoreGiven": 3, "maxScore": 4}}
    autograded = {**grade, "id": "g2", "actor": {"id": "http://lms/autograder", "type": "SoftwareApplication"},
                  "object": {k: v for k, v in grade["object"].items() if k != "assignee"}}
    _, problems = run("caliper", [write_lines(tmp_path / "c.jsonl", [grade, autograded])], tmp_path / "c")
    ev = events_of(tmp_path / "c")
    assert ev.learner_id.tolist() == [pseudonym(SECRET, "http://lms/user/learner-5")]  # not the grader
    assert problems.counts["event without a user"] == 1
    assert ev[["event_type", "value", "object_id"]].values.tolist() == [["assessment", 75.0, "http://lms/quiz/1"]]


def test_the_credential_type_is_the_mode_at_enrolment_not_a_later_upgrade(tmp_path):
    upgrade = edx("edx.course.enrollment.mode_changed", "2024-03-20T09:00:00+00:00", user=8,
                  source="server", data={"mode": "verified"})
    docs = edx_events()
    docs[6]["data"] = {"mode": "audit"}
    run("edx", [write_lines(tmp_path / "t.log", [*docs, upgrade])], tmp_path / "out")
    enrolments = pd.read_parquet(tmp_path / "out" / "enrolments.parquet").set_index("learner_id")
    assert enrolments.loc[pseudonym(SECRET, "8"), "credential_type"] == "audit"  # known at day 0


# 3. documented fallback locations --------------------------------------------------------------

def test_edx_course_from_the_url_and_the_fallback_named(tmp_path):
    implicit = edx(f"/courses/{COURSE}/courseware/week1/", "2024-03-02T11:00:00+00:00", course="")
    page = edx("page_close", "2024-03-02T11:05:00+00:00", course="",
               page=f"https://lms.example.org/courses/{COURSE}/courseware/week1/?activate=1")
    _, problems = run("edx", [write_lines(tmp_path / "t.log", [*edx_events(), implicit, page])], tmp_path / "out")
    assert "event without a course" not in problems.counts
    assert len(events_of(tmp_path / "out")) == 11
    report = problems.files[0]
    assert report.fallbacks == {"course from the event URL": 1, "course from the page URL": 1}
    listed = pd.read_csv(tmp_path / "out" / "import_problems.csv")
    assert set(listed.reason) >= {"fallback: course from the event URL", "fallback: course from the page URL"}


def test_edx_course_keys_in_api_paths_and_old_style_urls(tmp_path):
    api = edx("/api/courses/v1/courses/course-v1:OrgX+C1+2024_T1", "2024-03-02T11:00:00+00:00", course="")
    other = edx("/api/courses/v1/courses/course-v1:OrgY+C9+2024_T1", "2024-03-02T11:01:00+00:00", course="")
    old = edx("/courses/OrgZ/C2/2013_Spring/courseware/", "2024-03-02T11:02:00+00:00", course="")
    payload = edx("edx.grades.problem.submitted", "2024-03-02T11:03:00+00:00", course="",
                  source="server", data={"course_id": COURSE, "user_id": 7})
    _, problems = run("edx", [write_lines(tmp_path / "t.log", [*edx_events(), api, other, old, payload])],
                      tmp_path / "out")
    runs = set(zip(*[events_of(tmp_path / "out")[c] for c in ("course_id", "run_id")], strict=True))
    assert runs == {("UniX+DS101", "2024_T1"), ("OrgX+C1", "2024_T1"), ("OrgY+C9", "2024_T1"),
                    ("OrgZ/C2", "2013_Spring")}
    assert problems.files[0].fallbacks == {"course from the event URL": 3,
                                           "course from the payload's course_id": 1}


def test_other_users_in_url_paths_are_masked(tmp_path):
    profile = edx("/u/bob.builder", "2024-03-02T11:00:00+00:00")
    forum = edx(f"/courses/{COURSE}/discussion/forum/users/123", "2024-03-02T11:01:00+00:00")
    progress = edx(f"/courses/{COURSE}/progress/4567/", "2024-03-02T11:02:00+00:00")
    enrolment = edx(f"/api/enrollment/v1/enrollment/carol.c,{COURSE}", "2024-03-02T11:03:00+00:00")
    register = edx("/register", "2024-03-02T11:04:00+00:00", course="",
                   page=f"https://lms/register?course_id={COURSE}&email=dave@example.org")
    logs = [*edx_events(), profile, forum, progress, enrolment, register]
    _, problems = run("edx", [write_lines(tmp_path / "t.log", logs)], tmp_path / "out")
    events = events_of(tmp_path / "out")
    assert {"/u/{user}", f"/courses/{COURSE}/discussion/forum/users/{{user}}",
            f"/courses/{COURSE}/progress/{{user}}/", "/api/enrollment/v1/enrollment/{user}"} <= set(events.event_name)
    assert set(events.run_id) == {"2024_T1"}  # the key ends where the query parameters begin
    text = problems.summary() + "".join(p.read_text(errors="replace") for p in (tmp_path / "out").glob("*.csv"))
    text += events.astype(str).to_csv()
    for secret in ("bob.builder", "/123", "4567", "carol", "dave"):
        assert secret not in text


def test_xapi_course_from_an_object_iri_is_cut_to_the_course(tmp_path):
    statements = [statement(f"o{i}", obj=f"https://lms.example/courses/42/{part}", course=None)
                  for i, part in enumerate(("assignments/7", "pages/intro"))]
    for body in statements:
        body["context"] = {}
    _, problems = run("xapi", [write_lines(tmp_path / "s.jsonl", statements)], tmp_path / "out")
    assert set(events_of(tmp_path / "out").course_id) == {"lms.example/courses/42"}
    assert problems.files[0].fallbacks == {
        "course from an activity IRI with /course/ in it (no activity of a course type)": 2}


def test_caliper_course_from_the_object_iri_is_a_named_fallback(tmp_path):
    click = {"id": "n1", "type": "NavigationEvent", "action": "NavigatedTo", "eventTime": "2024-03-02T09:00:00Z",
             "actor": {"id": "http://lms/user/u-1", "type": "Person"},
             "object": {"id": f"http://lms/courses/{COURSE}/jump_to/block-v1:x", "type": "WebPage"}}
    _, problems = run("caliper", [write_lines(tmp_path / "c.jsonl", [click])], tmp_path / "out")
    assert events_of(tmp_path / "out")[["course_id", "run_id"]].values.tolist() == [["UniX+DS101", "2024_T1"]]
    assert problems.files[0].fallbacks == {"course from the Open edX course key in the object's IRI": 1}


def test_caliper_is_part_of_is_a_course_only_when_it_is_one(tmp_path):
    section = "https://example.edu/terms/201601/courses/7/sections/1"
    def item(eid, part_of):
        return {"id": eid, "type": "AssessmentItemEvent", "action": "Completed",
                "eventTime": "2024-03-02T09:00:00Z", "actor": {"id": "https://example.edu/users/554433"},
                "group": {"id": section, "type": "CourseSection"},
                "object": {"id": f"{section}/assess/1/items/{eid}", "type": "AssessmentItem", "isPartOf": part_of}}
    events = [item("i1", {"id": f"{section}/assess/1", "type": "Assessment"}),
              item("i2", {"id": section, "type": "CourseSection"})]
    run("caliper", [write_lines(tmp_path / "c.jsonl", events)], tmp_path / "out")
    assert set(events_of(tmp_path / "out").course_id) == {"example.edu/terms/201601/courses/7/sections/1"}
    assert len(pd.read_parquet(tmp_path / "out" / "enrolments.parquet")) == 1


def test_an_lrs_page_of_statements_is_read(tmp_path):
    page = {"statements": [statement("e1"), statement("e2", time=None, stored="2024-03-02T09:30:00Z")],
            "more": "/xapi/statements?more=abc"}
    (tmp_path / "page.json").write_text(json.dumps(page, indent=2))
    write_lines(tmp_path / "pages.jsonl", [page])
    counts, problems = run("xapi", [tmp_path / "page.json"], tmp_path / "out")
    assert counts["events"] == 2 and "event without a user" not in problems.counts
    assert problems.files[0].fallbacks == {"time from stored (no timestamp)": 1}
    counts, _ = run("xapi", [tmp_path / "pages.jsonl"], tmp_path / "lines")
    assert counts["events"] == 2


# 4. an import that keeps nothing fails ---------------------------------------------------------

def test_an_import_of_nothing_usable_exits_2_and_says_what_was_found(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "x")
    names_only = [edx("play_video", f"2024-03-02T10:0{i}:00+00:00", user=None) for i in range(10)]
    log = write_lines(tmp_path / "t.log", names_only)
    result = run_cli(["import", "--source", "edx", "--in", log, "--out", tmp_path / "out"], capsys, monkeypatch)
    assert result.code == 2
    assert "0 of 10 records could be used" in result.err and "10 had only a username" in result.err
    assert PERSONAL[0] not in result.err and not (tmp_path / "out").exists()

    mostly_bad = [*(edx("play_video", f"yesterday {i}") for i in range(6)), *edx_events()[:3]]
    with pytest.raises(InputError, match="6 of 9 records are broken, more than the 50%"):
        run("edx", [write_lines(tmp_path / "m.log", mostly_bad)], tmp_path / "m")
    counts, _ = run("edx", [tmp_path / "m.log"], tmp_path / "m", max_bad_share=0.7)
    assert counts["events"] == 3
    # learner activity whose learner cannot be told is broken: a username without a user id
    with pytest.raises(InputError, match=r"6 of 9 records are broken.*6 had only a username"):
        run("edx", [write_lines(tmp_path / "u.log", [*names_only[:6], *edx_events()[:3]])], tmp_path / "u")
    # well-formed records of nobody's course activity are skipped, but are not "broken"
    site_pages = [*(edx("/dashboard", f"2024-03-02T10:0{i}:00+00:00", course="") for i in range(6)),
                  *edx_events()[:3]]
    counts, problems = run("edx", [write_lines(tmp_path / "s.log", site_pages)], tmp_path / "s")
    assert counts["events"] == 3 and problems.counts["event without a course"] == 6


def test_features_of_empty_tables_exit_2(tmp_path, capsys, monkeypatch, small_synthetic):
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in ("enrolments", "events", "surveys", "outcomes"):
        pd.read_parquet(small_synthetic / f"{name}.parquet").head(0).to_parquet(empty / f"{name}.parquet")
    result = run_cli(["features", "--data", empty, "--out", tmp_path / "f.parquet"], capsys, monkeypatch)
    assert result.code == 2 and "no feature rows" in result.err and "0 enrolments" in result.err
    assert not (tmp_path / "f.parquet").exists()


# 5. no file skipped in silence -----------------------------------------------------------------

def test_rotated_logs_are_read_and_other_files_listed_as_skipped(tmp_path, capsys, monkeypatch):
    logs = tmp_path / "logs"
    logs.mkdir()
    docs = edx_events()
    write_lines(logs / "tracking.log", docs[:3])
    write_lines(logs / "tracking.log.1", docs[3:5])
    write_lines(logs / "tracking.log.2.gz", docs[5:6])
    write_lines(logs / "tracking.log-20240311-1710115201", docs[6:8])
    write_lines(logs / "tracking.log-20240312", docs[8:])
    with gzip.open(logs / "tracking.log-20240313", "wt") as handle:  # compressed, no .gz
        handle.write(json.dumps(edx("play_video", "2024-03-13T10:00:00+00:00")) + "\n")
    (logs / "notes.txt").write_text("rotation at midnight")
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "x")
    result = run_cli(["import", "--source", "edx", "--in", logs, "--out", tmp_path / "out"], capsys, monkeypatch)
    assert result.code == 0, result.err
    assert len(events_of(tmp_path / "out")) == 10
    assert "notes.txt: not read (not a file name this source reads" in result.out
    listed = pd.read_csv(tmp_path / "out" / "import_problems.csv")
    assert listed[listed.file.str.endswith("notes.txt")].reason.str.startswith("file skipped").all()
    read = listed[listed.reason == "records read"]
    assert len(read) == 6 and read.events.sum() == 10


def test_the_report_of_an_append_counts_only_new_events(tmp_path):
    out = tmp_path / "out"
    docs = edx_events()
    run("edx", [write_lines(tmp_path / "day1.log", docs[:5])], out)
    _, problems = run("edx", [write_lines(tmp_path / "day2.log", docs[3:])], out, append_to=out)
    report = problems.files[0]
    assert (report.read, report.imported, report.skipped) == (6, 4, {"already in the folder (--append)": 2})
    assert len(events_of(out)) == 9


def test_in_takes_several_paths_after_one_flag(tmp_path, capsys, monkeypatch):
    docs = edx_events()
    a, b = write_lines(tmp_path / "a.log", docs[:5]), write_lines(tmp_path / "b.log", docs[5:])
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "x")
    result = run_cli(["import", "--source", "edx", "--in", a, b, "--out", tmp_path / "out"], capsys, monkeypatch)
    assert result.code == 0, result.err
    assert len(events_of(tmp_path / "out")) == 9


# 6. a report, not engine text ------------------------------------------------------------------

def test_a_line_cut_inside_a_utf8_character_is_reported_by_line(tmp_path, capsys, monkeypatch):
    docs = [json.dumps(d) for d in edx_events()]
    cut = json.dumps(edx("edx.forum.thread.created", "2024-03-02T10:00:00+00:00",
                         data={"body": "Grüße from ada.lovelace"}), ensure_ascii=False).encode()
    cut = cut[:cut.index("ü".encode()) + 1]  # cut inside the two bytes of ü
    log = tmp_path / "t.log"
    log.write_bytes(b"\n".join([*(d.encode() for d in docs[:4]), cut, b"", *(d.encode() for d in docs[4:])]) + b"\n")
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "x")
    result = run_cli(["import", "--source", "edx", "--in", log, "--out", tmp_path / "out"], capsys, monkeypatch)
    assert result.code == 0, result.err
    assert f"{log}:5" in result.out and "not valid UTF-8" in result.out
    assert "ada.lovelace" not in result.out + result.err
    assert len(events_of(tmp_path / "out")) == 9
    listed = pd.read_csv(tmp_path / "out" / "import_problems.csv")
    assert listed[listed.reason.str.startswith("not valid UTF-8")].line.tolist() == [5]
    assert listed[listed.reason.str.startswith("unknown")].line.tolist() == [7]  # after the cut line


def test_an_unreadable_json_document_names_the_file_not_the_record(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "s.json"
    bad.write_bytes(b'[{"id": "x", "actor": {"mbox": "mailto:ada.lovelace@example.org"}, "note": "caf\xc3"}]')
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "x")
    result = run_cli(["import", "--source", "xapi", "--in", bad, "--out", tmp_path / "out"], capsys, monkeypatch)
    assert result.code == 2 and str(bad) in result.err
    assert "ada.lovelace" not in result.err and "Invalid" not in result.err


# 7. documented formats -------------------------------------------------------------------------

def test_documented_time_formats_are_accepted(tmp_path):
    docs = edx_events()
    docs[1]["time"] = "2024-03-02T10:15:00.123456"  # edX documents `time` as UTC, no offset
    docs[3]["time"] = "2024-03-03 08:00:00"  # with a space, as some exports write it
    _, problems = run("edx", [write_lines(tmp_path / "t.log", docs)], tmp_path / "out")
    ev = events_of(tmp_path / "out")
    assert {pd.Timestamp("2024-03-02 10:15:00.123456"), pd.Timestamp("2024-03-03 08:00")} <= set(ev.ts)
    assert problems.files[0].fallbacks == {"time without a zone read as UTC (edX documents UTC)": 2}

    event = {"id": "k1", "type": "MediaEvent", "action": "Started", "eventTime": "2024-03-02T09:00:00.000",
             "actor": {"id": "http://lms/user/u-1"},
             "object": {"id": "http://lms/v/1", "type": "VideoObject", "isPartOf": {"id": f"http://lms/course/{COURSE}", "type": "CourseOffering"}}}
    run("caliper", [write_lines(tmp_path / "c.jsonl", [event])], tmp_path / "c")
    assert events_of(tmp_path / "c").ts.tolist() == [pd.Timestamp("2024-03-02 09:00")]


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path):
    yield
    assert not list(tmp_path.rglob(".*writing*"))  # no half-written folder left behind


def test_append_refuses_a_folder_whose_ids_were_made_by_older_rules(tmp_path):
    out = tmp_path / "out"
    run("xapi", [write_lines(tmp_path / "day1.jsonl", [statement("f1")])], out)
    run("xapi", [write_lines(tmp_path / "day2.jsonl", [statement("f2")])], out, append_to=out)
    assert len(events_of(out)) == 2
    (out / "import_manifest.json").unlink()  # as an import before the identity rules wrote
    with pytest.raises(InputError, match=r"older mooc-risk.*import all the logs again"):
        run("xapi", [write_lines(tmp_path / "day3.jsonl", [statement("f3")])], out, append_to=out)
    assert len(events_of(out)) == 2


def test_append_refuses_events_of_another_platform(tmp_path):
    out = tmp_path / "out"
    run("edx", [write_lines(tmp_path / "t.log", edx_events())], out)
    with pytest.raises(InputError, match=r"holds openedx events; --append of xapi events would mix"):
        run("xapi", [write_lines(tmp_path / "s.jsonl", [statement("h1")])], out, append_to=out)
