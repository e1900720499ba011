"""``mooc-risk refresh``: the nightly job — feature store, predictions history, idempotence,
appended logs, bad input, memory limits, and a job killed while writing."""

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from cli_helpers import run_cli

from mooc_risk.serving import history
from mooc_risk.serving.refresh import LOCK_FILE, result_path

DATE, NEXT = "2024-05-20", "2024-05-27"  # the served data: C001 2024-04 (day 21), C002 and C003 2024-05
KEYS = ["course_id", "run_id", "learner_id", "target"]


@pytest.fixture
def nightly(served, tmp_path, monkeypatch) -> dict[str, Path]:
    """The served models; a store and a history of this test's own."""
    env = {**served.tracking.to_env(), "MOOC_RISK_STORE": str(tmp_path / "store"),
           "MOOC_RISK_HISTORY": str(tmp_path / "history"), "MOOC_RISK_ID_SECRET": "s",
           "MOOC_RISK_HOLDOUT_FILE": str(tmp_path / "holdout.yaml"),  # none: no holdout
           "MOOC_RISK_DB_URL": f"sqlite:///{tmp_path / 'journal.db'}"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MOOC_RISK_NOW", raising=False)
    return {"store": tmp_path / "store", "history": tmp_path / "history", "env": env}


def refresh(args, capsys, monkeypatch):
    return run_cli(["refresh", *map(str, args)], capsys, monkeypatch)


def partition(nightly, day=DATE) -> Path:
    return nightly["history"] / f"date={day}" / "predictions.parquet"


def temporary_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or ".writing-" in p.name]


def spy_builds(monkeypatch) -> list[list[int]]:
    """The as-of days of each ``build_features`` call the feature store makes."""
    from mooc_risk.serving import store

    calls, build = [], store.build_features

    def counted(tables, as_of_days, spec):
        calls.append(sorted(as_of_days))
        return build(tables, as_of_days, spec)

    monkeypatch.setattr(store, "build_features", counted)
    return calls


def test_refresh_materializes_scores_like_predict_and_writes_the_partition_and_result(
        served, nightly, tmp_path, capsys, monkeypatch):
    builds = spy_builds(monkeypatch)
    result = refresh(["--data", served.data, "--date", DATE], capsys, monkeypatch)
    assert result.code == 0, result.err
    assert builds == [[7, 14, 21]]  # the three runs' days in one call (one feature spec)
    assert len(result.out.strip().splitlines()) == 1 and result.out.startswith(f"refresh {DATE}: ")
    run = json.loads(result_path(nightly["history"], pd.Timestamp(DATE).date()).read_text())
    assert run["status"] == "ok" and run["date"] == DATE and run["counts"]["runs"] == 3
    assert {r["course_id"]: r["days"] for r in run["runs"]} == {"C001": [21], "C002": [14], "C003": [7]}
    assert run["counts"]["days_materialized"] == 3 and run["counts"]["events_appended"] is None
    assert set(run["models"]) == {"dropout", "certification"}
    assert set(run["seconds"]) >= {"pin", "plan", "materialize", "score", "write", "total"}
    assert run["memory_limits"]["import"] is None and run["memory_limits"]["features"].endswith("MB")
    assert not any((nightly["store"] / ".spill").iterdir())  # the job's spill folder is removed

    # the store holds the materialized days of the pinned version
    from mooc_risk.serving.data_versions import pin
    from mooc_risk.serving.store import FeatureStore

    version = pin(served.data, nightly["store"])  # found by fingerprint, not pinned again
    assert version.version == run["data_version"]
    store = FeatureStore(version, nightly["store"])
    spec = served_spec(served)
    for day in (7, 14, 21):
        assert store.path(spec, day).is_file()

    frame = pd.read_parquet(partition(nightly))
    assert list(frame.columns) == history.SCHEMA.names
    assert not frame.duplicated(KEYS).any()
    assert run["counts"]["learners_scored"] == frame.groupby("target").size().to_dict()
    assert set(frame["data_version"]) == {run["data_version"]}
    assert frame.groupby("course_id")["as_of_day"].unique().map(list).to_dict() == {
        "C001": [21], "C002": [14], "C003": [7]}

    # the same scores, reasons and actions as `predict` on the same day
    monkeypatch.setenv("MOOC_RISK_NOW", DATE)
    out = tmp_path / "p.parquet"
    predicted = run_cli(["predict", "--data", served.data, "--course", "C002", "--as-of", "14",
                         "--out", out], capsys, monkeypatch)
    assert predicted.code == 0, predicted.err
    expected = pd.read_parquet(out).sort_values(KEYS, ignore_index=True)
    got = frame[frame.course_id == "C002"].reset_index(drop=True)
    columns = ["learner_id", "target", "risk", "risk_band", "intervention", "reason_1_text",
               "reason_3_contribution", "model_version"]
    pd.testing.assert_frame_equal(got[columns], expected[columns], check_dtype=False)

    # readable by DuckDB, the date from the folder name
    found = duckdb.sql(f"""SELECT date, count(*) FROM read_parquet('{nightly["history"]}/*/*.parquet',
                                                          hive_partitioning = true) GROUP BY date""").fetchall()
    assert found == [(pd.Timestamp(DATE).date(), len(frame))]


def served_spec(served):
    from mooc_risk.models import registry

    return registry.load_bundle(served.tracking, "mooc-risk-dropout").spec


def test_the_same_date_twice_gives_the_same_file_and_a_second_date_adds_a_partition(
        served, nightly, capsys, monkeypatch):
    assert refresh(["--data", served.data, "--date", DATE], capsys, monkeypatch).code == 0
    first_bytes = partition(nightly).read_bytes()
    first = pd.read_parquet(partition(nightly))
    again = refresh(["--data", served.data, "--date", DATE, "--json"], capsys, monkeypatch)
    assert again.code == 0, again.err
    run = json.loads(again.out)  # --json: stdout is the result; the summary went to stderr
    assert run["counts"]["days_computed"] == 0 and f"refresh {DATE}: " in again.err
    pd.testing.assert_frame_equal(pd.read_parquet(partition(nightly)), first)
    assert partition(nightly).read_bytes() == first_bytes

    monkeypatch.setenv("MOOC_RISK_NOW", f"{NEXT}T02:15:00Z")  # --date defaults to today
    assert refresh(["--data", served.data], capsys, monkeypatch).code == 0
    assert history.dates(nightly["history"]) == [pd.Timestamp(d).date() for d in (DATE, NEXT)]
    table = f"read_parquet('{nightly['history']}/*/*.parquet', hive_partitioning = true)"
    counts = dict(duckdb.sql(f"SELECT date::VARCHAR, count(*) FROM {table} GROUP BY ALL").fetchall())
    second = pd.read_parquet(partition(nightly, NEXT))
    assert counts == {DATE: len(first), NEXT: len(second)}
    assert duckdb.sql(f"SELECT count(*) FROM (SELECT DISTINCT date, {', '.join(KEYS)} FROM {table})"
                      ).fetchone()[0] == len(first) + len(second)
    assert set(second.as_of_day[second.course_id == "C003"]) == {14}  # a week later

    learner = first.learner_id.iloc[0]
    mine = history.read_history(nightly["history"], learner_id=learner)
    assert set(mine["date"].astype(str)) <= {DATE, NEXT} and set(mine.learner_id) == {learner}
    assert len(mine) == len(first[first.learner_id == learner]) + len(second[second.learner_id == learner])


def test_a_date_before_any_run_and_bad_options_exit_2(served, nightly, capsys, monkeypatch):
    result = refresh(["--data", served.data, "--date", "2023-12-01"], capsys, monkeypatch)
    assert result.code == 2
    assert "--date 2023-12-01: no run in" in result.err and "the first starts on 2024-01-08" in result.err
    assert not partition(nightly, "2023-12-01").exists()
    for args in (["--date", "20-05-2024"], ["--logs", "x.log"], ["--source", "edx"],
                 ["--logs", "x.log", "--source", "edx", "--import-memory", "lots"]):
        assert refresh(["--data", served.data, *args], capsys, monkeypatch).code == 2
    assert refresh(["--data", nightly["store"] / "nowhere", "--date", DATE], capsys, monkeypatch).code == 2


def test_a_failed_write_exits_1_in_one_line_and_keeps_the_previous_partition(
        served, nightly, capsys, monkeypatch):
    assert refresh(["--data", served.data, "--date", DATE], capsys, monkeypatch).code == 0
    before = partition(nightly).read_bytes()

    class Failing:
        @staticmethod
        def write_table(table, where, **options):
            Path(where).write_bytes(b"PAR1 half a file")
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(history, "pq", Failing)
    result = refresh(["--data", served.data, "--date", DATE], capsys, monkeypatch)
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("error")]
    assert errors == [f"error: refresh {DATE} failed: HistoryWriteError: cannot write the predictions "
                      f"history partition {partition(nightly)}: the disk is full (No space left on "
                      "device); the date's previous file, if any, is left as it was"]
    assert "Traceback" not in result.err
    assert partition(nightly).read_bytes() == before
    assert not temporary_files(nightly["history"])


def test_another_refresh_running_exits_1(served, nightly, capsys, monkeypatch):
    nightly["history"].mkdir(parents=True)
    with open(nightly["history"] / LOCK_FILE, "w") as held:
        held.write("4242")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        result = refresh(["--data", served.data, "--date", DATE], capsys, monkeypatch)
    assert result.code == 1 and "another refresh (pid 4242) is running" in result.err


KILLED = """
import os, signal, sys, types
from mooc_risk.serving import history

def write_table(table, where, **options):  # the process dies with half a file written
    with open(where, "wb") as handle:
        handle.write(b"PAR1 half a file")
        handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)

history.pq = types.SimpleNamespace(write_table=write_table)
from mooc_risk.cli import main
sys.argv = ["mooc-risk", "refresh", "--data", sys.argv[1], "--date", sys.argv[2]]
main()
"""


@pytest.mark.slow
def test_a_refresh_killed_while_writing_leaves_the_previous_partition(served, nightly, capsys,
                                                                       monkeypatch):
    assert refresh(["--data", served.data, "--date", DATE], capsys, monkeypatch).code == 0
    before = partition(nightly).read_bytes()
    result_file = result_path(nightly["history"], pd.Timestamp(DATE).date())
    result_before = result_file.read_text()
    killed = subprocess.run([sys.executable, "-c", KILLED, str(served.data), DATE],
                            env={**os.environ, **nightly["env"]}, capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert partition(nightly).read_bytes() == before and result_file.read_text() == result_before
    assert len(temporary_files(nightly["history"])) == 1  # what the killed job was writing
    again = refresh(["--data", served.data, "--date", DATE], capsys, monkeypatch)
    assert again.code == 0 and "left by a refresh that was stopped" in again.err
    assert not temporary_files(nightly["history"]) and partition(nightly).read_bytes() == before


def edx(name, time, user, course="course-v1:UniX+DS101+2024_T1", data=None, source="browser"):
    return json.dumps({"name": name, "event_type": name, "time": time, "event_source": source,
                       "username": f"user{user}", "context": {"course_id": course, "user_id": user,
                                                              "path": "/event"},
                       "data": data or {}})


def write_log(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def edx_platform(tmp_path, capsys, monkeypatch) -> Path:
    """An edX log import: 5 learners of one self-paced run from 2024-03-01, one unenrolled."""
    enrol = [edx("edx.course.enrollment.activated", f"2024-03-01T0{u}:00:00+00:00", u, source="server")
             for u in range(1, 6)]
    active = [edx("play_video", f"2024-03-0{d}T10:00:00+00:00", u, data={"id": f"v{d}"})
              for u in (1, 2, 3) for d in (2, 3, 4)]
    left = [edx("edx.course.enrollment.deactivated", "2024-03-05T12:00:00+00:00", 5, source="server")]
    data = tmp_path / "data"
    imported = run_cli(["import", "--source", "edx", "--in", write_log(tmp_path / "tracking.log.2",
                                                                       enrol + active + left),
                        "--out", data], capsys, monkeypatch)
    assert imported.code == 0, imported.err
    return data


def test_logs_are_appended_first_and_again_add_nothing(served, nightly, tmp_path, capsys, monkeypatch):
    data = edx_platform(tmp_path, capsys, monkeypatch)
    before = len(pd.read_parquet(data / "events.parquet"))
    night = [edx("play_video", "2024-03-09T21:00:00+00:00", u, data={"id": "v9"}) for u in (1, 2)]
    log = write_log(tmp_path / "tracking.log.1", night)

    result = refresh(["--data", data, "--logs", log, "--source", "edx", "--date", "2024-03-10"],
                     capsys, monkeypatch)
    assert result.code == 0, result.err
    assert result.out.startswith("refresh 2024-03-10: 2 events appended, 1 running run(s)")
    assert len(pd.read_parquet(data / "events.parquet")) == before + 2
    run = json.loads(result_path(nightly["history"], pd.Timestamp("2024-03-10").date()).read_text())
    assert run["counts"]["events_appended"] == 2
    assert run["runs"] == [{"course_id": "UniX+DS101", "run_id": "2024_T1", "kind": "self-paced",
                            "days": [0, 7]}]
    frame = pd.read_parquet(partition(nightly, "2024-03-10"))
    assert len(frame) == 2 * 4 and set(frame.as_of_day) == {7}  # learner 5 unenrolled before day 7
    first = partition(nightly, "2024-03-10").read_bytes()

    again = refresh(["--data", data, "--logs", log, "--source", "edx", "--date", "2024-03-10"],
                    capsys, monkeypatch)
    assert again.code == 0, again.err
    assert "0 events appended" in again.out and "nothing new" in again.err
    assert len(pd.read_parquet(data / "events.parquet")) == before + 2
    assert partition(nightly, "2024-03-10").read_bytes() == first  # same data version, same rows
    assert not temporary_files(tmp_path)


def test_history_files_are_typed_sorted_and_read_back_by_learner(tmp_path):
    rows = pd.DataFrame({"course_id": ["C2", "C1", "C1"], "run_id": ["r", "r", "r"],
                         "learner_id": ["b", "b", "a"], "target": ["dropout"] * 3,
                         "as_of_day": [7, 7, 7], "status": ["active", "never started", "active"],
                         "inactive_days": [1.0, None, 0.0], "probability": [0.2, 0.9, 0.5],
                         "risk": [0.2, 0.9, 0.5], "risk_band": ["low", "high", "medium"],
                         "intervention": ["none", "onboarding", "practice"], "model": ["m"] * 3,
                         "model_version": ["3"] * 3, "data_version": ["v"] * 3,
                         "extra": [1, 2, 3]})  # reasons missing: null columns; extra: dropped
    assert history.read_history(tmp_path).empty
    path = history.write_day(tmp_path, pd.Timestamp("2024-05-20").date(), rows)
    assert path == tmp_path / "date=2024-05-20" / "predictions.parquet"
    history.write_day(tmp_path, pd.Timestamp("2024-05-21").date(), rows.iloc[::-1])
    first, second = (p.read_bytes() for p in sorted(tmp_path.glob("*/predictions.parquet")))
    assert first == second  # row order in, no timestamps: the same bytes
    import pyarrow.parquet as pq

    assert pq.read_schema(path).remove_metadata() == history.SCHEMA
    back = history.read_history(tmp_path, course_id="C1", learner_id="b")
    assert back[["learner_id", "status"]].values.tolist() == [["b", "never started"]] * 2
    assert back["date"].astype(str).tolist() == ["2024-05-20", "2024-05-21"]
    assert back["inactive_days"].isna().all() and back["reason_3_text"].isna().all()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_import_out_of_memory_exits_1_naming_the_limit_and_keeps_the_previous_night(
        served, nightly, tmp_path, capsys, monkeypatch):
    data = edx_platform(tmp_path, capsys, monkeypatch)
    first = write_log(tmp_path / "tracking.log.1",
                      [edx("play_video", "2024-03-09T21:00:00+00:00", 1, data={"id": "v9"})])
    done = refresh(["--data", data, "--logs", first, "--source", "edx", "--date", "2024-03-10"],
                   capsys, monkeypatch)
    assert done.code == 0, done.err
    before = {name: snapshot(folder) for name, folder in
              (("data", data), ("history", nightly["history"]), ("store", nightly["store"]))}
    night = write_log(tmp_path / "tracking.log.0",
                      [edx("play_video", "2024-03-10T21:00:00+00:00", 2, data={"id": "v10"})])

    # 1MB: DuckDB cannot even read the small log (what 512MB was at 10^8 events)
    result = refresh(["--data", data, "--logs", night, "--source", "edx", "--date", "2024-03-11",
                      "--import-memory", "1MB"], capsys, monkeypatch)
    assert result.code == 1, result.err  # resources, not bad input: a scheduler retries
    errors = [line for line in result.err.splitlines() if line.startswith("error")]
    assert errors == ["error: refresh 2024-03-11 failed: OutOfMemory: the log import hit its DuckDB "
                      "memory limit (1MB); raise it with --import-memory SIZE, or run where there "
                      "is more memory"]
    assert "Traceback" not in result.err
    after = {name: snapshot(folder) for name, folder in
             (("data", data), ("history", nightly["history"]), ("store", nightly["store"]))}
    assert after == before  # the data folder, the history and the store as they were
    assert not partition(nightly, "2024-03-11").exists() and not temporary_files(tmp_path)
    assert not [p for p in data.parent.iterdir() if p.name.startswith(".")]  # no staged copy


def test_features_out_of_memory_exits_1_naming_the_option_and_the_limit_reaches_duckdb(
        served, nightly, capsys, monkeypatch):
    from mooc_risk.serving import store as store_module

    result = refresh(["--data", served.data, "--date", DATE, "--feature-memory", "1MB"],
                     capsys, monkeypatch)
    assert result.code == 1, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("error")]
    assert errors == [f"error: refresh {DATE} failed: OutOfMemory: building features hit its DuckDB "
                      "memory limit (1MB); raise it with --feature-memory SIZE, or run where there "
                      "is more memory"]
    assert not partition(nightly).exists()

    settings = []  # the engine's settings on each connection the store opens

    class Recording(store_module.FeatureStore):
        def _connect(self):
            con = super()._connect()
            settings.append(con.raw_sql("SELECT current_setting('memory_limit'), "
                                        "current_setting('temp_directory')").fetchone())
            return con

    monkeypatch.setattr("mooc_risk.serving.refresh.FeatureStore", Recording)
    stale = nightly["store"] / ".spill" / "999999999.killed"  # a job that was killed
    stale.mkdir(parents=True)
    result = refresh(["--data", served.data, "--date", DATE, "--feature-memory", "300MB"],
                     capsys, monkeypatch)
    assert result.code == 0, result.err
    assert settings and all(limit == "286.1 MiB" for limit, _ in settings)  # 300 * 10^6 bytes
    assert all(Path(spill).parent == nightly["store"] / ".spill" for _, spill in settings)
    assert not any((nightly["store"] / ".spill").iterdir())  # its own and the stale one removed
    run = json.loads(result_path(nightly["history"], pd.Timestamp(DATE).date()).read_text())
    assert run["memory_limits"] == {"import": None, "features": "300MB"}
    assert refresh(["--data", served.data, "--date", DATE, "--feature-memory", "much"],
                   capsys, monkeypatch).code == 2


def test_materialize_days_builds_the_missing_days_in_one_call_into_the_same_files(
        served, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from mooc_risk.serving.data_versions import pin
    from mooc_risk.serving.store import FeatureStore

    spec = served_spec(served)
    by_day = FeatureStore(pin(served.data, tmp_path / "a"), tmp_path / "a")
    for day in (0, 7, 14):
        by_day.materialize(spec, day)

    builds = spy_builds(monkeypatch)
    together = FeatureStore(pin(served.data, tmp_path / "b"), tmp_path / "b")
    assert together.materialize_days(spec, [14, 0, 7, 7]) == [0, 7, 14]
    assert builds == [[0, 7, 14]]  # N missing days, one build_features call
    for day in (0, 7, 14):
        one, other = by_day.path(spec, day), together.path(spec, day)
        assert other.relative_to(tmp_path / "b") == one.relative_to(tmp_path / "a")  # same layout
        assert pq.read_schema(other) == pq.read_schema(one)
        pd.testing.assert_frame_equal(pd.read_parquet(other), pd.read_parquet(one))
        assert (pd.read_parquet(other)["as_of_day"] == day).all()
        pd.testing.assert_frame_equal(together.features(spec, day), by_day.features(spec, day))

    stored = together.path(spec, 7).stat().st_mtime_ns
    assert together.materialize_days(spec, [7, 14, 21]) == [21]  # stored days are not rebuilt
    assert builds == [[0, 7, 14], [21]] and together.path(spec, 7).stat().st_mtime_ns == stored
    assert together.materialize_days(spec, [0, 21]) == [] and len(builds) == 2
    assert not temporary_files(tmp_path / "b")
    with pytest.raises(ValueError, match="≥ 0"):
        together.materialize_days(spec, [-1])


def test_a_course_holdout_is_drawn_each_night_on_the_list_scored(served, nightly, tmp_path, capsys,
                                                                  monkeypatch):
    """A course with a holdout gets its draws from the nightly refresh too (a team using only
    the API has one): the learners with a suggested action, by the same hash as the app, once."""
    from mooc_risk.serving.holdout import draw_unit
    from mooc_risk.serving.journal.journal import Journal

    (tmp_path / "holdout.yaml").write_text("holdout:\n  C001: {share: 0.5, days: 14}\n")
    result = refresh(["--data", served.data, "--date", DATE], capsys, monkeypatch)
    assert result.code == 0, result.err
    frame = pd.read_parquet(partition(nightly)).drop_duplicates(KEYS[:3])
    listed = frame[(frame.course_id == "C001") & (frame.intervention != "no action needed now")]
    expected = {r.learner_id for r in listed.itertuples()
                if draw_unit("C001", "C001", r.run_id, r.learner_id) < 0.5}
    with Journal.open(nightly["env"]["MOOC_RISK_DB_URL"]) as journal:
        rows = journal.holdout("C001")
    assert {r.learner_id for r in rows if r.held_out} == expected and expected
    assert {r.learner_id for r in rows} == set(listed.learner_id)  # C002, C003: no holdout
    run = json.loads(result_path(nightly["history"], pd.Timestamp(DATE).date()).read_text())
    assert run["counts"]["held_out"] == len(expected)
    again = refresh(["--data", served.data, "--date", DATE], capsys, monkeypatch)
    assert again.code == 0
    with Journal.open(nightly["env"]["MOOC_RISK_DB_URL"]) as journal:
        assert [(r.learner_id, r.held_out, r.until) for r in journal.holdout("C001")] == [
            (r.learner_id, r.held_out, r.until) for r in rows]
    (tmp_path / "holdout.yaml").write_text("holdout:\n  C001: {share: 2, days: 14}\n")
    bad = refresh(["--data", served.data, "--date", DATE], capsys, monkeypatch)
    assert bad.code == 2 and "holdout C001: share" in bad.err
