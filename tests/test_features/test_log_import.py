"""Event-log imports (edX tracking logs, xAPI, Caliper) on fixtures the tests write."""

import gzip
import hashlib
import hmac
import json
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import assert_trains, run_cli

from mooc_risk.errors import InputError
from mooc_risk.features.sources.logs import LogImport, convert_logs
from mooc_risk.features.sources.staging import staged_output

SECRET = b"test-secret"
COURSE = "course-v1:UniX+DS101+2024_T1"
def pseudonym(secret: bytes, user: str) -> str:
    """The documented learner id, from the standard library: "u" + 24 hex digits of HMAC-SHA256."""
    return "u" + hmac.new(secret, user.encode(), hashlib.sha256).hexdigest()[:24]


PERSONAL = ("ada.lovelace", "ada@example.org", "203.0.113.7", "Mozilla/5.0 Secret")


def edx(name, time, user=7, course=COURSE, data=None, source="browser", **extra):
    event = {"name": name, "event_type": name, "time": time, "event_source": source,
             "username": PERSONAL[0], "ip": PERSONAL[2], "agent": PERSONAL[3],
             "context": {"course_id": course, "user_id": user, "path": "/event",
                         "email": PERSONAL[1]},
             "data": data or {}}
    event.update(extra)
    return event


def edx_events() -> list[dict]:
    return [
        edx("edx.course.enrollment.activated", "2024-03-01T09:00:00+00:00", data={"mode": "verified"}, source="server"),
        edx("play_video", "2024-03-02T10:00:00.5+00:00", data={"id": "vid1", "currentTime": 3}),
        edx("problem_check", "2024-03-02T10:05:00+00:00", source="server",
            data={"problem_id": "block-v1:UniX+DS101+2024_T1+type@problem+block@p1", "grade": 1, "max_grade": 2}),
        edx("edx.forum.thread.viewed", "2024-03-03T08:00:00+00:00", data={"id": "thread9"}),
        edx("edx.bookmark.added", "2024-03-03T08:01:00+00:00"),
        edx("edx.course.grade.passed.first_time", "2024-03-20T08:00:00+00:00", source="server"),
        edx("edx.course.enrollment.activated", "2024-03-01T11:00:00+00:00", user=8, source="server"),
        edx("play_video", "2024-03-02T12:00:00+00:00", user=8, data={"id": "vid1"}),
        edx("edx.course.enrollment.deactivated", "2024-03-04T12:00:00+00:00", user=8, source="server"),
    ]


def write_lines(path: Path, docs: list, prefix: str = "") -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as handle:
        for doc in docs:
            handle.write((doc if isinstance(doc, str) else prefix + json.dumps(doc)) + "\n")
    return path


def run(source: str, inputs: list[Path], out: Path, **options):
    with staged_output(out) as stage:
        return convert_logs(LogImport(source, inputs, SECRET, **options), stage, lambda _l: None)


def tables(out: Path) -> dict[str, pd.DataFrame]:
    """The imported tables, in a fixed row order (the importer does not sort)."""
    frames = {n: pd.read_parquet(out / f"{n}.parquet") for n in ("enrolments", "events", "outcomes")}
    frames["events"] = frames["events"].sort_values(["ts", "event_name", "event_id"])
    return {n: f.sort_values(list(f.columns[:3]), kind="stable").reset_index(drop=True)
            for n, f in frames.items()}


def test_edx_fields_vocabulary_and_lifecycle(tmp_path):
    counts, problems = run("edx", [write_lines(tmp_path / "tracking.log", edx_events())], tmp_path / "out")
    assert counts == {"events": 9, "enrolments": 2, "outcomes": 2}
    t = tables(tmp_path / "out")
    ev = t["events"].set_index("event_name")
    ada, bob = pseudonym(SECRET, "7"), pseudonym(SECRET, "8")
    assert set(t["events"].learner_id) == {ada, bob}
    assert (t["events"].course_id.unique().tolist(), t["events"].run_id.unique().tolist()) == (
        ["UniX+DS101"], ["2024_T1"])
    assert ev.loc["problem_check", "event_type"] == "assessment" and ev.loc["problem_check", "value"] == 50
    assert ev.loc["edx.forum.thread.viewed", ["event_type", "object_id"]].tolist() == ["forum", "thread9"]
    assert ev.loc["edx.bookmark.added", "event_type"] == "other"  # unknown: kept, not dropped
    assert problems.counts == {"unknown event name (kept as other)": 1}
    video = t["events"][(t["events"].event_name == "play_video") & (t["events"].learner_id == ada)]
    assert video.ts.iloc[0] == pd.Timestamp("2024-03-02 10:00:00.5")
    e = t["enrolments"].set_index("learner_id")
    assert e.loc[ada, "enrolled_at"] == pd.Timestamp("2024-03-01 09:00")
    assert e.loc[ada, "credential_type"] == "verified" and pd.isna(e.loc[ada, "course_end"])
    o = t["outcomes"].set_index("learner_id")
    assert o.loc[ada, "certified"] and pd.isna(o.loc[ada, "dropped_out"])
    assert o.loc[bob, "dropped_out"] and o.loc[bob, "dropped_at"] == pd.Timestamp("2024-03-04 12:00")


def test_no_personal_data_reaches_the_tables(tmp_path):
    implicit = edx(f"/api/user/v1/accounts/{PERSONAL[0]}/image", "2024-03-02T10:00:00+00:00")  # a URL
    _, problems = run("edx", [write_lines(tmp_path / "tracking.log", [*edx_events(), implicit])],
                      tmp_path / "out")
    assert "'/api/user/v1/accounts/{user}/image'" in problems.summary()
    for path in (tmp_path / "out").iterdir():
        text = path.read_bytes()
        for secret in (*PERSONAL, "ada"):
            assert secret.encode() not in text, (path.name, secret)
    for frame in tables(tmp_path / "out").values():
        dumped = frame.astype(str).to_csv()
        assert not any(p in dumped for p in PERSONAL)


def test_ids_are_a_keyed_hash_stable_across_imports(tmp_path):
    log = write_lines(tmp_path / "tracking.log", edx_events())
    run("edx", [log], tmp_path / "a")
    run("edx", [log], tmp_path / "b")
    with staged_output(tmp_path / "c") as stage:
        convert_logs(LogImport("edx", [log], b"another-secret"), stage, lambda _l: None)
    a, b, c = (set(pd.read_parquet(tmp_path / x / "enrolments.parquet").learner_id) for x in "abc")
    assert a == b == {pseudonym(SECRET, "7"), pseudonym(SECRET, "8")}
    assert not a & c


def test_logger_prefix_gzip_and_malformed_lines(tmp_path):
    prefix = "2024-03-02 10:00:00,461 INFO 20 [tracking] [user 7] [ip 203.0.113.7] logger.py:41 - "
    docs = edx_events()
    lines = [prefix + json.dumps(d) for d in docs[:3]] + ['{"name": "play_video", "time": '] + [
        prefix + json.dumps(d) for d in docs[3:]]
    plain = write_lines(tmp_path / "a.log", lines)
    zipped = write_lines(tmp_path / "b.log.gz", lines)
    counts, problems = run("edx", [plain], tmp_path / "plain")
    counts_gz, problems_gz = run("edx", [zipped], tmp_path / "gz")
    assert counts == counts_gz == {"events": 9, "enrolments": 2, "outcomes": 2}
    assert problems.examples["malformed JSON"] == [f"{plain}:4"]
    assert problems_gz.examples["malformed JSON"] == [f"{zipped}:4"]
    pd.testing.assert_frame_equal(tables(tmp_path / "plain")["events"], tables(tmp_path / "gz")["events"])


def test_bad_events_are_counted_by_file_and_line_or_stop_with_strict(tmp_path, capsys, monkeypatch):
    bad = [
        edx("play_video", "2024-03-02T10:00:00+00:00"),
        edx("play_video", "2024-03-02T10:00:00+00:00", user=None),
        edx("play_video", "2024-03-02T10:00:00+00:00", course=""),
        edx("play_video", "yesterday+00:00"),
        *(edx("play_video", f"2024-03-02T10:0{i}:00+00:00") for i in range(1, 4)),
    ]
    log = write_lines(tmp_path / "bad.log", bad)
    _, problems = run("edx", [log], tmp_path / "out")
    assert problems.examples == {
        "event without a user": [f"{log}:2"], "event without a course": [f"{log}:3"],
        "unparseable timestamp": [f"{log}:4"]}
    assert len(pd.read_parquet(tmp_path / "out" / "events.parquet")) == 4
    assert "event without a user" in (tmp_path / "out" / "import_problems.csv").read_text()
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "x")
    result = run_cli(["import", "--source", "edx", "--in", log, "--out", tmp_path / "strict",
                      "--strict"], capsys, monkeypatch)
    assert result.code == 2 and f"{log}:2: event without a user" in result.err
    assert not (tmp_path / "strict").exists()


def test_blank_lines_keep_line_numbers_and_unknown_names_are_listed_once_per_name(tmp_path, monkeypatch):
    from mooc_risk.features.sources import edx as edx_source

    def slow_path(*args):
        raise AssertionError("a clean JSON-lines file with blank lines is read by the fast reader")

    monkeypatch.setattr(edx_source, "records_lines", slow_path)
    docs = [json.dumps(d) for d in edx_events()]
    lines = ["", docs[0], docs[1], "   ", "", docs[4], docs[5], docs[4].replace("added", "removed"),
             json.dumps(edx("play_video", "2024-03-02T10:00:00+00:00", user=None)), docs[4]]
    log = write_lines(tmp_path / "tracking.log", lines)
    _, problems = run("edx", [log], tmp_path / "out")
    assert problems.counts == {"unknown event name (kept as other)": 3, "event without a user": 1}
    assert problems.examples == {
        "unknown event name (kept as other)": [f"'edx.bookmark.added' at {log}:6",
                                               f"'edx.bookmark.removed' at {log}:8"],
        "event without a user": [f"{log}:9"]}
    listed = pd.read_csv(tmp_path / "out" / "import_problems.csv")
    assert listed[["line", "reason", "event_name", "events"]].fillna("").values.tolist() == [
        ["", "records imported", "", 5], ["", "records read", "", 7],
        ["", "repeated (the same event earlier in the input, kept once)", "", 1],
        [6, "unknown event name (kept as other)", "edx.bookmark.added", 2],
        [8, "unknown event name (kept as other)", "edx.bookmark.removed", 1],
        [9, "event without a user", "", 1]]


def test_the_same_event_twice_is_imported_once(tmp_path):
    log = write_lines(tmp_path / "a.log", edx_events())
    copy = write_lines(tmp_path / "copy.log", [*edx_events(), edx_events()[1]])  # and a repeat
    counts, _ = run("edx", [log, copy], tmp_path / "out")
    assert counts["events"] == 9
    statement = xapi_statement("s1", "https://w3id.org/xapi/video/verbs/played",
                               "https://w3id.org/xapi/video/activity-type/video", "2024-03-02T09:00:00Z")
    other = {**statement, "id": "s2"}  # another statement with the same content
    a = write_lines(tmp_path / "a.jsonl", [statement, other])
    b = write_lines(tmp_path / "b.jsonl", [statement])
    counts, _ = run("xapi", [a, b], tmp_path / "xapi")
    assert counts["events"] == 2


def test_xapi_statements_are_identified_by_their_id(tmp_path):
    played = xapi_statement("s1", "https://w3id.org/xapi/video/verbs/played",
                            "https://w3id.org/xapi/video/activity-type/video", "2024-03-02T09:00:00Z")
    stored_again = {**played, "timestamp": "2024-03-02T09:00:00.001Z"}  # an LRS re-serialised it
    counts, _ = run("xapi", [write_lines(tmp_path / "a.jsonl", [played, stored_again])], tmp_path / "out")
    assert counts["events"] == 1


def test_append_of_xapi_statements_adds_only_new_ids(tmp_path):
    video = "https://w3id.org/xapi/video/activity-type/video"
    played = [xapi_statement(f"s{i}", "https://w3id.org/xapi/video/verbs/played", video,
                             f"2024-03-0{i}T09:00:00Z") for i in (1, 2, 3)]
    out = tmp_path / "out"
    run("xapi", [write_lines(tmp_path / "a.jsonl", played[:2])], out)
    again = [{**played[1], "timestamp": "2024-03-02T09:00:00.001Z"}, played[2]]  # s2 re-sent, s3 new
    counts, _ = run("xapi", [write_lines(tmp_path / "b.jsonl", again)], out, append_to=out)
    assert counts["events"] == 3
    assert sorted(pd.read_parquet(out / "events.parquet").event_id) == ["s1", "s2", "s3"]


def test_a_vocabulary_without_lifecycle_rules_and_a_changed_vocabulary_on_append(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text('edx:\n  types:\n    - ["*_video", video]\n')
    log = write_lines(tmp_path / "tracking.log", edx_events())
    counts, problems = run("edx", [log], tmp_path / "out", vocabulary=plain)
    assert counts == {"events": 9, "enrolments": 2, "outcomes": 2}
    assert problems.counts == {"unknown event name (kept as other)": 7}
    outcomes = pd.read_parquet(tmp_path / "out" / "outcomes.parquet")
    assert outcomes.certified.isna().all() and outcomes.dropped_out.isna().all()
    run("edx", [log], tmp_path / "out", append_to=tmp_path / "out")  # now with the default vocabulary
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    assert len(events) == 9  # the same events, whatever type a vocabulary gave them


def test_append_refuses_edx_events_with_the_record_hashes_of_an_earlier_version(tmp_path):
    out = tmp_path / "out"
    run("edx", [write_lines(tmp_path / "day1.log", edx_events()[:4])], out)
    events = pd.read_parquet(out / "events.parquet")
    events["event_id"] = [f"{i:032x}" for i in range(len(events))]
    events.to_parquet(out / "events.parquet")
    with pytest.raises(InputError, match="older mooc-risk"):
        run("edx", [write_lines(tmp_path / "day2.log", edx_events()[4:])], out, append_to=out)


def test_learner_ids_hashed_in_duckdb_are_hmac_sha256(tmp_path):
    import duckdb

    from mooc_risk.features.sources.identity import create_keys_table, pseudonym_sql

    con = duckdb.connect()
    users = ["7", "anon-42", "Zoë 学生", "x" * 200]
    for secret in (b"short", b"k" * 64, b"long-" * 40):
        con.execute("DROP TABLE IF EXISTS hmac_keys")
        create_keys_table(con, secret)
        got = con.execute(f"SELECT u, {pseudonym_sql('u')} FROM unnest({users}) t(u), hmac_keys").fetchall()
        assert dict(got) == {u: pseudonym(secret, u) for u in users}


def test_append_adds_new_days_once(tmp_path):
    events = edx_events()
    day1 = write_lines(tmp_path / "day1.log", events[:4])
    day2 = write_lines(tmp_path / "day2.log", events[4:])
    out = tmp_path / "out"
    run("edx", [day1], out)
    assert len(pd.read_parquet(out / "events.parquet")) == 4
    run("edx", [day2], out, append_to=out)
    once = tables(out)
    run("edx", [day2], out, append_to=out)  # the same file again
    twice = tables(out)
    assert len(once["events"]) == 9
    for name in once:
        pd.testing.assert_frame_equal(once[name], twice[name])
    with pytest.raises(InputError, match="--append needs a folder written by a log import"):
        run("edx", [day2], tmp_path / "new", append_to=tmp_path / "empty")


def test_an_interrupted_import_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    import mooc_risk.features.sources.log_tables as log_tables

    out = tmp_path / "out"
    run("edx", [write_lines(tmp_path / "day1.log", edx_events()[:4])], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = iter(range(10))

    def interrupted(*args, **kwargs):
        if next(calls) == 1:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    original = log_tables.copy_to_parquet
    monkeypatch.setattr(log_tables, "copy_to_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run("edx", [write_lines(tmp_path / "day2.log", edx_events()[4:])], out, append_to=out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def xapi_statement(sid, verb, activity_type, time, obj="http://lms/xblock/v1", score=None, user="anon-42"):
    statement = {"id": sid, "actor": {"objectType": "Agent", "account": {"homePage": "http://lms", "name": user},
                                      "mbox": "mailto:" + PERSONAL[1]},
                 "verb": {"id": verb}, "timestamp": time,
                 "object": {"id": obj, "definition": {"type": activity_type}},
                 "context": {"contextActivities": {"parent": [{"id": f"http://lms/course/{COURSE}"}]}}}
    if score is not None:
        statement["result"] = {"score": {"scaled": score}}
    return statement


def test_xapi_arrays_and_lines(tmp_path):
    video = "https://w3id.org/xapi/video/activity-type/video"
    statements = [
        xapi_statement("s1", "http://adlnet.gov/expapi/verbs/registered", "http://adlnet.gov/expapi/activities/course",
                       "2024-03-01T09:00:00Z", obj=f"http://lms/course/{COURSE}"),
        xapi_statement("s2", "https://w3id.org/xapi/video/verbs/played", video, "2024-03-02T09:00:00Z"),
        xapi_statement("s3", "https://w3id.org/xapi/acrossx/verbs/evaluated",
                       "http://adlnet.gov/expapi/activities/cmi.interaction", "2024-03-02T09:05:00Z", score=0.8),
    ]
    (tmp_path / "a.json").write_text(json.dumps(statements[:2]))
    write_lines(tmp_path / "b.jsonl", statements[2:])
    counts, problems = run("xapi", [tmp_path / "a.json", tmp_path / "b.jsonl"], tmp_path / "out")
    assert counts == {"events": 3, "enrolments": 1, "outcomes": 1} and not problems.counts
    ev = tables(tmp_path / "out")["events"].set_index("event_id")
    assert ev.loc["s2", "event_type"] == "video" and ev.loc["s1", "event_type"] == "enrolment"
    assert ev.loc["s3", ["event_type", "value"]].tolist() == ["assessment", 80.0]
    # the agent's IFI is its account (homePage and name), not the name alone
    assert set(ev.learner_id) == {pseudonym(SECRET, "account:http://lms anon-42")}
    assert set(ev.run_id) == {"2024_T1"}


def test_caliper_envelopes_and_bare_events(tmp_path):
    def event(eid, kind, action, obj_type, time, **extra):
        return {"id": eid, "type": kind, "action": action, "eventTime": time,
                "actor": {"id": "http://lms/user/u-1", "type": "Person"},
                "object": {"id": "http://lms/xblock/v9", "type": obj_type,
                           "extensions": {"isPartOf": {"id": f"http://lms/course/{COURSE}"},
                                          "assignee": {"id": "http://lms/user/u-1"}}}, **extra}
    envelope = {"sensor": "http://lms", "sendTime": "2024-03-02T09:00:00Z", "dataVersion": "v1p2",
                "data": [event("c1", "MediaEvent", "Started", "VideoObject", "2024-03-02T09:00:00.000Z"),
                         event("c2", "GradeEvent", "Graded", "Attempt", "2024-03-02T09:10:00Z",
                               generated={"score": {"scoreGiven": 3, "maxScore": 4}})]}  # Open edX
    write_lines(tmp_path / "envelopes.jsonl", [envelope])
    write_lines(tmp_path / "bare.jsonl", [event("c3", "NavigationEvent", "NavigatedTo", "WebPage",
                                                "2024-03-03T09:00:00Z")])
    counts, _ = run("caliper", [tmp_path], tmp_path / "out")
    ev = tables(tmp_path / "out")["events"].set_index("event_id")
    assert counts["events"] == 3
    assert ev.loc["c1", "event_type"] == "video" and ev.loc["c3", "event_type"] == "navigation"
    assert ev.loc["c2", ["event_type", "value"]].tolist() == ["assessment", 75.0]


@pytest.mark.slow
def test_features_and_train_run_unchanged_on_imported_logs(tmp_path, synthetic, capsys, monkeypatch,
                                                            private_tracking):
    from mooc_risk.features.synthetic.edx_log import write_edx_log

    source = synthetic(900, 3, 4, 2)
    log = tmp_path / "tracking.log.gz"
    written = write_edx_log(source, log)
    data = tmp_path / "imported"
    result = run_cli(["import", "--source", "edx", "--in", log, "--out", data, "--final"], capsys, monkeypatch)
    assert result.code == 0, result.err
    imported = pd.read_parquet(data / "events.parquet")
    truth = pd.read_parquet(source / "events.parquet").drop_duplicates()
    assert len(imported) > 0.99 * written  # identical lines are one event
    assert (imported.event_type == "video").sum() == (truth.event_type == "video").sum()
    assert (imported.event_type == "assessment").sum() == (truth.event_type == "assessment").sum()
    assert run_cli(["features", "--data", data, "--as-of", "0,7", "--out", tmp_path / "f.parquet"],
                   capsys, monkeypatch).code == 0
    assert_trains(data, capsys, monkeypatch)


def test_date_only_timestamps_and_append_onto_a_non_log_folder_are_refused(tmp_path):
    log = write_lines(tmp_path / "dates.log", [*edx_events(), edx("play_video", "2024-01-31")])
    _, problems = run("edx", [log], tmp_path / "out")
    assert problems.examples == {"timestamp without a time of day": [f"{log}:10"],
                                 "unknown event name (kept as other)": [f"'edx.bookmark.added' at {log}:5"]}
    tables_folder = tmp_path / "tables"
    tables_folder.mkdir()
    pd.DataFrame({"learner_id": ["a"], "event_type": ["video"]}).to_parquet(tables_folder / "events.parquet")
    with pytest.raises(InputError, match="--append needs a folder written by a log import"):
        run("edx", [write_lines(tmp_path / "ok.log", edx_events())], tmp_path / "x", append_to=tables_folder)


@pytest.mark.parametrize("block", [5, 16, 1 << 20])
def test_blank_lines_are_found_across_read_blocks(tmp_path, monkeypatch, block):
    from mooc_risk.features.sources import lines

    monkeypatch.setattr(lines, "_BLOCK", block)
    text = '{"a":1}\n\n{"b":2}\n  \r\n{"c":3}\n{"d":4}\n\x0c\n\n{"e":5}'  # no newline at the end
    for name in ("x.log", "x.log.gz"):
        path = tmp_path / name
        (gzip.open if name.endswith(".gz") else open)(path, "wt").write(text)
        assert lines.blank_lines(path, 5, tmp_path / "found") == 4
        assert (tmp_path / "found").read_text().split() == ["1", "2", "4", "4"]  # records before each


def test_an_import_out_of_memory_is_a_failure_naming_the_limit_and_the_folder_is_kept(
        tmp_path, capsys, monkeypatch):
    """Out of memory under the import's DuckDB limit is no bad input (exit 1, not 2: a
    scheduler retries it); the message names the limit and the option that raises it."""
    out = tmp_path / "out"
    run("edx", [write_lines(tmp_path / "day1.log", edx_events()[:4])], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "x")
    day2 = write_lines(tmp_path / "day2.log", edx_events()[4:])
    result = run_cli(["import", "--source", "edx", "--in", day2, "--out", out, "--append",
                      "--memory", "1MB"], capsys, monkeypatch)
    assert result.code == 1, result.err
    assert "the log import hit its DuckDB memory limit (1MB)" in result.err
    assert "raise it with --memory SIZE" in result.err and "Traceback" not in result.err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    bad = run_cli(["import", "--source", "edx", "--in", day2, "--out", out, "--memory", "lots"],
                  capsys, monkeypatch)
    assert bad.code == 2 and "--memory" in bad.err
