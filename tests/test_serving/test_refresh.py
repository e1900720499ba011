"""``mooc-risk refresh``: the nightly job — feature store, predictions history, idempotence,
appended logs, bad input, and a job killed while writing."""

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
           "MOOC_RISK_HISTORY": str(tmp_path / "history"), "MOOC_RISK_ID_SECRET": "s"}
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


def test_refresh_materializes_scores_like_predict_and_writes_the_partition_and_result(
        served, nightly, tmp_path, capsys, monkeypatch):
    result = refresh(["--data", served.data, "--date", DATE], capsys, monkeypatch)
    assert result.code == 0, result.err
    assert len(result.out.strip().splitlines()) == 1 and result.out.startswith(f"refresh {DATE}: ")
    run = json.loads(result_path(nightly["history"], pd.Timestamp(DATE).date()).read_text())
    assert run["status"] == "ok" and run["date"] == DATE and run["counts"]["runs"] == 3
    assert {r["course_id"]: r["days"] for r in run["runs"]} == {"C001": [21], "C002": [14], "C003": [7]}
    assert run["counts"]["days_materialized"] == 3 and run["counts"]["events_appended"] is None
    assert set(run["models"]) == {"dropout", "certification"}
    assert set(run["seconds"]) >= {"pin", "plan", "materialize", "score", "write", "total"}

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
    assert errors == [f"error: refresh {DATE} failed: OSError: [Errno 28] No space left on device"]
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


def test_logs_are_appended_first_and_again_add_nothing(served, nightly, tmp_path, capsys, monkeypatch):
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
