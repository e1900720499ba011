"""Over real HTTP (a `mooc-risk serve` subprocess), the batch scorer, and API keys."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from cli_helpers import run_cli
from http_helpers import auth, free_port

from mooc_risk.serving.readiness import wait_until_ready


@pytest.mark.slow
def test_score_over_real_http_then_stop_cleanly(served, tmp_path):
    port = free_port()
    cli = Path(sys.executable).parent / "mooc-risk"
    env = {**os.environ, **served.env}
    process = subprocess.Popen([str(cli), "serve", "--data", str(served.data), "--port", str(port)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_ready(url, 120):
            pytest.fail("service did not become ready: " + process.stdout.read1().decode())
        e = pd.read_parquet(served.data / "enrolments.parquet")
        row = e[e.course_id == "C001"].iloc[0]
        body = {"course_id": "C001", "run_id": row.run_id, "learner_ids": [row.learner_id],
                "as_of_day": 7}
        response = httpx.post(f"{url}/score", json=body, headers=auth(served.key), timeout=120)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["scores"]["dropout"]["risk_band"] in (
            "low", "medium", "high")
        assert httpx.post(f"{url}/score", json=body, timeout=30).status_code == 401
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        code = process.wait(timeout=60)
    log = process.stdout.read().decode()
    assert code in (0, -signal.SIGTERM), log
    assert served.key not in log and row.learner_id not in log  # no keys or learner ids in logs


def test_batch_scorer_writes_the_same_scores_as_the_service(served, client, tmp_path, capsys, monkeypatch):
    for name, value in served.env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "predictions.parquet"
    result = run_cli(["predict", "--data", served.data, "--course", "C001", "--as-of", "7",
                      "--out", out, "--top-k", "2"], capsys, monkeypatch)
    assert result.code == 0, result.err
    frame = pd.read_parquet(out)
    assert set(frame.target) == {"dropout", "certification"} and set(frame.course_id) == {"C001"}
    assert "reason_2_text" in frame and "reason_3_text" not in frame
    dropout = frame[frame.target == "dropout"]
    assert dropout.risk.is_monotonic_decreasing
    # where the calibrated risk ties (a Venn-Abers step), the model's own order holds
    for _, step in dropout.groupby("risk", sort=False):
        assert step.raw_score.is_monotonic_decreasing
    assert dropout.risk.duplicated().any()  # the data has such steps: the check is not vacuous
    page = client.post("/courses/C001/predictions", json={"as_of_day": 7, "page_size": 20},
                       headers=auth(served.key)).json()["rows"]
    listed = dropout.set_index(["learner_id", "run_id"]).index
    assert [(r["learner_id"], r["run_id"]) for r in page] == list(listed[:20])  # same order
    served_risk = {(r["learner_id"], r["run_id"]): r["risk"] for r in page}
    batch_risk = dropout.set_index(["learner_id", "run_id"])["risk"]
    for key, risk in served_risk.items():
        assert batch_risk[key] == pytest.approx(risk, abs=1e-12)


def test_batch_scorer_leaves_no_partial_file_and_keeps_the_old_one(served, tmp_path, capsys,
                                                                  monkeypatch):
    import pyarrow.csv

    for name, value in served.env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "predictions.csv"
    out.write_text("previous\n")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as if the run were stopped while writing

    monkeypatch.setattr(pyarrow.csv, "write_csv", killed)
    result = run_cli(["predict", "--data", served.data, "--all", "--as-of", "0", "--out", out,
                      "--target", "dropout", "--top-k", "0"], capsys, monkeypatch)
    assert result.code != 0  # click turns the interrupt into "Aborted!"
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.csv"]


@pytest.mark.parametrize("args", [["--course", "C999"], ["--all", "--course", "C001"], []])
def test_batch_scorer_bad_arguments(served, tmp_path, capsys, monkeypatch, args):
    for name, value in served.env.items():
        monkeypatch.setenv(name, value)
    result = run_cli(["predict", "--data", served.data, "--as-of", "7", "--out",
                      tmp_path / "p.parquet", *args], capsys, monkeypatch)
    assert result.code == 2 and "Traceback" not in result.err
    assert not (tmp_path / "p.parquet").exists()


def test_keys_add_prints_the_key_once_and_stores_only_its_hash(tmp_path, capsys, monkeypatch):
    keys = tmp_path / "keys.yaml"
    monkeypatch.setenv("MOOC_RISK_KEYS_FILE", str(keys))
    result = run_cli(["keys", "add", "--course", "C007"], capsys, monkeypatch)
    assert result.code == 0
    key = result.out.split()[-1]
    assert key.startswith("mrk_") and len(key) > 40
    stored = keys.read_text()
    assert key not in stored and key[4:12] not in stored
    assert yaml.safe_load(stored)["keys"][0]["course"] == "C007"
    from mooc_risk.serving.keys import KeyRing

    ring = KeyRing.load(keys)
    ring.check(key, "C007")
    with pytest.raises(Exception, match="not valid for course"):
        ring.check(key, "C001")


def test_predict_both_scores_the_targets_that_have_a_champion_and_names_the_others(
        served, tmp_path, capsys, monkeypatch):
    import mlflow

    from mooc_risk.features.build import build_features
    from mooc_risk.features.canonical.engine import connect
    from mooc_risk.features.canonical.tables import read_tables
    from mooc_risk.models import registry
    from mooc_risk.settings import TrackingSettings

    dropout = registry.load_bundle(served.tracking, "mooc-risk-dropout")
    only_dropout = TrackingSettings.of(tracking_uri=f"sqlite:///{tmp_path}/m.db",
                                       artifact_root=tmp_path / "a")
    c = registry.client(only_dropout)
    example = build_features(read_tables(served.data, connect(), dropout.spec.constructs), [7],
                             dropout.spec).head(5)
    with mlflow.start_run():
        version = dropout.log(example).registered_model_version
    registry.set_alias(c, "mooc-risk-dropout", registry.CHAMPION, str(version))
    for name, value in {**served.env, **only_dropout.to_env()}.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "p.csv"
    result = run_cli(["predict", "--data", served.data, "--course", "C001", "--as-of", "7",
                      "--out", out, "--top-k", "0"], capsys, monkeypatch)
    assert result.code == 0, result.err
    assert "certification not predicted: no model mooc-risk-certification@champion" in result.err
    assert set(pd.read_csv(out).target) == {"dropout"}
    result = run_cli(["predict", "--data", served.data, "--course", "C001", "--as-of", "7",
                      "--out", out, "--target", "certification"], capsys, monkeypatch)
    assert result.code == 2 and "no model mooc-risk-certification@champion" in result.err
