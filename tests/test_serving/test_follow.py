"""The service follows new champions and data versions without a restart and keeps the last
known good of each part when a new one is broken (serving.follow)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from http_helpers import auth, free_port
from mlflow.tracking import MlflowClient

from mooc_risk.serving.follow import Follower, Served
from mooc_risk.serving.readiness import wait_until_ready
from mooc_risk.settings import EngineSettings, PathSettings, ServiceSettings, TrackingSettings

DROPOUT = "mooc-risk-dropout"


@pytest.fixture
def registry(served, tmp_path):
    """A private copy of the served registry (same artifacts), so promotions stay here."""
    source = Path(served.tracking.tracking_uri.removeprefix("sqlite:///"))
    copy = tmp_path / "mlflow.db"
    shutil.copyfile(source, copy)
    tracking = TrackingSettings.of(tracking_uri=f"sqlite:///{copy}",
                                   artifact_root=served.tracking.artifact_root)
    data = tmp_path / "data"
    shutil.copytree(served.data, data)
    follower = Follower(tracking, PathSettings.of(store_dir=tmp_path / "store"),
                        ServiceSettings.of(data_dir=data), EngineSettings.of())
    return tracking, follower, data, copy


def new_version(tracking, name: str, source: str | None = None) -> str:
    """Register another version of ``name`` (the champion's artifacts, or ``source``)."""
    client = MlflowClient(tracking_uri=tracking.tracking_uri)
    first = client.get_model_version_by_alias(name, "champion")
    created = client.create_model_version(name, source or first.source, run_id=first.run_id)
    return str(created.version)


def promote(tracking, name: str, version: str) -> None:
    MlflowClient(tracking_uri=tracking.tracking_uri).set_registered_model_alias(name, "champion", version)


def test_a_new_champion_and_the_alias_moved_back_are_followed(registry):
    tracking, follower, _, _ = registry
    served = follower.load()
    first = served.versions()["dropout"]
    second = new_version(tracking, DROPOUT)
    promote(tracking, DROPOUT, second)
    after = follower.poll(served)
    assert after.versions()["dropout"] == second and after is not served
    assert after.versions()["certification"] == served.versions()["certification"]
    assert served.versions()["dropout"] == first  # a request on the old one keeps it
    promote(tracking, DROPOUT, first)
    assert follower.poll(after).versions()["dropout"] == first
    assert follower.problems == {}


def test_a_broken_new_champion_keeps_the_last_good_one_and_the_other_target(registry, tmp_path):
    tracking, follower, _, _ = registry
    served = follower.load()
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "MLmodel").write_text("not: [a model")
    promote(tracking, DROPOUT, new_version(tracking, DROPOUT, source=str(broken)))
    after = follower.poll(served)
    assert after.versions() == served.versions()
    assert "cannot be loaded" in follower.problems["dropout"]
    assert "still serving version" in follower.problems["dropout"]
    assert "certification" not in follower.problems


def test_an_unreadable_registry_keeps_serving_what_was_loaded(registry):
    _, follower, _, db = registry
    served = follower.load()
    db.write_bytes(b"this is no database" * 100)
    after = follower.poll(served)
    assert after.versions() == served.versions()
    assert "cannot be read" in follower.problems["registry"]
    db.unlink()
    follower.poll(after)
    assert "does not exist" in follower.problems["registry"]


def test_new_data_is_followed_and_bad_data_is_not(registry):
    _, follower, data, _ = registry
    served = follower.load()
    events = pd.read_parquet(data / "events.parquet")
    events.iloc[: len(events) - 10].to_parquet(data / "events.parquet")
    after = follower.poll(served)
    assert after.store.version != served.store.version
    (data / "events.parquet").write_bytes(b"garbage")
    kept = follower.poll(after)
    assert kept.store is after.store
    assert "cannot be served" in follower.problems["data"]


def test_nothing_loadable_is_not_ready_and_never_raises(tmp_path):
    tracking = TrackingSettings.of(tracking_uri=f"sqlite:///{tmp_path}/none.db")
    follower = Follower(tracking, PathSettings.of(store_dir=tmp_path / "s"), ServiceSettings.of(),
                        EngineSettings.of())
    served = follower.load()
    assert served == Served({}, None) or not served.scorers
    assert "does not exist" in follower.problems["registry"]
    assert not (tmp_path / "none.db").exists()  # not created by looking


@pytest.mark.parametrize("make, says", [
    (lambda d: None, "does not exist"),
    (lambda d: (d / "r.db").write_bytes(b"garbage" * 500), "cannot be read"),
])
def test_serve_without_a_usable_model_exits_at_once_with_one_line(served, tmp_path, make, says):
    make(tmp_path)
    cli = Path(sys.executable).parent / "mooc-risk"
    env = {**os.environ, **served.env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/r.db"}
    started = time.monotonic()
    done = subprocess.run([str(cli), "serve", "--data", str(served.data), "--port", str(free_port())],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert time.monotonic() - started < 60
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0] and lines[0].startswith("error: nothing to serve")


@pytest.mark.slow
def test_a_live_service_follows_a_promotion_and_reports_a_broken_registry(served, registry):
    tracking, _, data, db = registry
    port, cli = free_port(), Path(sys.executable).parent / "mooc-risk"
    env = {**os.environ, **served.env, **tracking.to_env(), "MOOC_RISK_POLL_SECONDS": "1"}
    process = subprocess.Popen([str(cli), "serve", "--data", str(data), "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until_ready(url, 120), process.stdout.read1().decode()
        before = httpx.get(f"{url}/readyz").json()
        assert before["status"] == "ready" and before["data"]["version"]
        second = new_version(tracking, DROPOUT)
        promote(tracking, DROPOUT, second)
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/readyz").json()["models"]["dropout"] != second:
            assert time.monotonic() < deadline, "the promotion was not picked up"
            time.sleep(0.5)
        models = {m["target"]: m["version"] for m in httpx.get(f"{url}/model").json()["models"]}
        assert models["dropout"] == second
        db.write_bytes(b"garbage" * 1000)
        deadline = time.monotonic() + 30
        while (ready := httpx.get(f"{url}/readyz")).json()["status"] != "degraded":
            assert time.monotonic() < deadline, "the broken registry was not reported"
            time.sleep(0.5)
        assert ready.status_code == 200 and "registry" in ready.json()["problems"]
        e = pd.read_parquet(data / "enrolments.parquet")
        row = e[e.course_id == "C001"].iloc[0]
        scored = httpx.post(f"{url}/score", headers=auth(served.key), timeout=120, json={
            "course_id": "C001", "run_id": row.run_id, "learner_ids": [row.learner_id], "as_of_day": 7})
        assert scored.status_code == 200  # still serving the last good models
        (data / "events.parquet").write_bytes(b"replaced mid-flight by a broken copy")
        deadline = time.monotonic() + 30
        while "data" not in (ready := httpx.get(f"{url}/readyz").json())["problems"]:
            assert time.monotonic() < deadline, "the broken data version was not reported"
            time.sleep(0.5)
        assert ready["data"] == before["data"]  # the pinned version is still the one served
        listed = httpx.post(f"{url}/courses/C001/predictions", headers=auth(served.key), timeout=120,
                            json={"as_of_day": 7, "run_id": row.run_id, "page_size": 5})
        assert listed.status_code == 200 and listed.json()["total"] > 0
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def test_an_app_with_nothing_loaded_is_not_ready_and_answers_503(tmp_path):
    from mooc_risk.serving.app import RiskApp, Unavailable

    tracking = TrackingSettings.of(tracking_uri=f"sqlite:///{tmp_path}/none.db")
    app = RiskApp.from_settings(tracking, PathSettings.of(store_dir=tmp_path / "s",
                                                          keys_file=tmp_path / "k.yaml"),
                                ServiceSettings.of(), EngineSettings.of())
    ready = app.readiness()
    assert ready["status"] == "not ready" and "registry" in ready["problems"]
    with pytest.raises(Unavailable, match="does not exist"):
        app.models_info()


def test_an_as_of_day_far_past_the_run_is_refused_before_any_computation(client, served):
    e = pd.read_parquet(served.data / "enrolments.parquet")
    row = e[e.course_id == "C001"].iloc[0]
    length = (e[(e.course_id == "C001") & (e.run_id == row.run_id)].course_end.max()
              - e[(e.course_id == "C001") & (e.run_id == row.run_id)].course_start.min()).days
    body = {"course_id": "C001", "run_id": row.run_id, "learner_ids": [row.learner_id],
            "as_of_day": length + 29}
    refused = client.post("/score", json=body, headers=auth(served.key))
    assert refused.status_code == 400 and f"at most {length + 28}" in refused.json()["error"]
    listed = client.post("/courses/C001/predictions", headers=auth(served.key),
                         json={"as_of_day": length + 40, "run_id": row.run_id})
    assert listed.status_code == 400 and "as_of_day: at most" in listed.json()["error"]


def test_a_request_in_flight_finishes_on_the_models_and_data_it_started_with(registry, served):
    """Data replaced and a new champion promoted while a request runs: the request is answered
    from what it started with; the next request gets the new ones."""
    from mooc_risk.serving.app import RiskApp
    from mooc_risk.serving.keys import Keys
    from mooc_risk.serving.schemas import ScoreRequest

    tracking, follower, data, _ = registry
    app = RiskApp(ServiceSettings.of(data_dir=data), follower, Keys(served.paths.keys_file), follower.load())
    row = pd.read_parquet(data / "enrolments.parquet").query("course_id == 'C001'").iloc[0]
    request = ScoreRequest(course_id="C001", run_id=row.run_id, learner_ids=[row.learner_id],
                           as_of_day=7, targets=["dropout"])
    with app.pinned() as started:
        events = pd.read_parquet(data / "events.parquet")
        events.iloc[: len(events) - 10].to_parquet(data / "events.parquet")
        second = new_version(tracking, DROPOUT)
        promote(tracking, DROPOUT, second)
        app.poll()  # the service's thread, mid-request
        assert app.readiness()["models"]["dropout"] == second
        answer = app.score(request, served.key)
        assert app.served is started
    assert answer.predictions[0].scores["dropout"].model_version == started.versions()["dropout"] != second
    with app.pinned() as next_request:
        assert next_request.versions()["dropout"] == second
        assert next_request.store.version != started.store.version
        assert app.score(request, served.key).predictions[0].scores["dropout"].model_version == second


def test_the_services_feature_engine_has_a_memory_limit_and_a_spill_folder_in_the_store(served, tmp_path):
    import pydantic

    data = tmp_path / "data"
    shutil.copytree(served.data, data)
    store_dir = tmp_path / "store"
    stale = store_dir / ".spill" / "999999999.gone"  # a process that no longer runs
    stale.mkdir(parents=True)
    follower = Follower(served.tracking, PathSettings.of(store_dir=store_dir),
                        ServiceSettings.of(data_dir=data), EngineSettings.of(feature_memory="300MB"))
    store = follower.load().store
    assert store.memory_limit == "300MB"
    assert store.spill_dir.parent == store_dir / ".spill" and store.spill_dir.is_dir()
    assert store.spill_dir.name.startswith(f"{os.getpid()}.") and not stale.exists()
    default = Follower(served.tracking, PathSettings.of(store_dir=store_dir),
                       ServiceSettings.of(data_dir=data), EngineSettings.of()).load().store
    assert default.memory_limit.endswith("MB") and int(default.memory_limit[:-2]) >= 512
    with pytest.raises(pydantic.ValidationError, match=r"feature_memory|MOOC_RISK_FEATURE_MEMORY"):
        EngineSettings.of(feature_memory="lots")


def test_answering_without_waiting_reads_no_table_and_says_not_ready_instead(registry, served, monkeypatch):
    """The service answers /score on its event loop only from memory: a new data version, a
    day not scored yet or raw learners are NotReady (answered in a worker thread), never
    computed on the loop."""
    from mooc_risk.serving.app import RiskApp
    from mooc_risk.serving.follow import NotReady
    from mooc_risk.serving.keys import Keys
    from mooc_risk.serving.schemas import ScoreRequest
    from mooc_risk.serving.store import FeatureStore

    _, follower, data, _ = registry
    app = RiskApp(ServiceSettings.of(data_dir=data), follower, Keys(served.paths.keys_file), follower.load())
    row = pd.read_parquet(data / "enrolments.parquet").query("course_id == 'C001'").iloc[0]

    def ask(day: int) -> ScoreRequest:
        return ScoreRequest(course_id="C001", run_id=row.run_id, learner_ids=[row.learner_id], as_of_day=day)

    with app.pinned():
        with pytest.raises(NotReady):  # nothing read yet: not even the runs' dates
            app.score(ask(7), served.key, wait=False)
        waited = app.score(ask(7), served.key)
        reads = []
        monkeypatch.setattr(FeatureStore, "features", lambda *a, **k: reads.append(a) or 1 / 0)
        monkeypatch.setattr(FeatureStore, "tables", lambda *a, **k: reads.append(a) or 1 / 0)
        assert app.score(ask(7), served.key, wait=False) == waited  # from memory
        with pytest.raises(NotReady):
            app.score(ask(0), served.key, wait=False)  # another day: not scored yet
        assert reads == []
