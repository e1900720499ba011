"""The registered model as a plain MLflow pyfunc: feature rows in (as `mooc-risk features`
writes them), one probability per row out — the service's probability."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from http_helpers import auth, free_port

DAY = 7


@pytest.fixture(scope="module")
def feature_rows(served, tmp_path_factory):
    """The rows `mooc-risk features` writes for the served data (run as a user would)."""
    out = tmp_path_factory.mktemp("pyfunc") / "features.parquet"
    cli = Path(sys.executable).parent / "mooc-risk"
    done = subprocess.run([str(cli), "features", "--data", str(served.data), "--as-of", str(DAY),
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return pd.read_parquet(out)


@pytest.mark.parametrize("target", ["dropout", "certification"])  # per-day and single models
def test_the_pyfunc_takes_feature_rows_and_gives_the_services_probabilities(
        served, client, feature_rows, target):
    import mlflow

    mlflow.set_tracking_uri(served.tracking.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/mooc-risk-{target}@champion")
    inputs = model.metadata.get_input_schema().input_dict()
    assert inputs["as_of_day"].type.name == "long" and inputs["as_of_day"].required
    assert not inputs["learner_id"].required  # keys travel with the rows, unused
    assert set(inputs) == set(feature_rows.columns)  # the rows `mooc-risk features` writes
    assert [c.name for c in model.metadata.get_output_schema().inputs] == ["probability"]
    predicted = np.asarray(model.predict(feature_rows))
    assert predicted.shape == (len(feature_rows),)
    page = client.post("/courses/C001/predictions", headers=auth(served.key),
                       json={"as_of_day": DAY, "page_size": 10_000, "explain": False,
                             "target": target}).json()
    served_p = {(r["learner_id"], r["run_id"]): r["probability"] for r in page["rows"]}
    ours = dict(zip(zip(feature_rows.learner_id, feature_rows.run_id, strict=True), predicted, strict=True))
    assert len(served_p) > 100
    for key, p in served_p.items():
        assert ours[key] == pytest.approx(p, abs=1e-12), key


def test_the_pyfunc_names_a_missing_feature_and_ignores_missing_keys(served, feature_rows):
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(served.tracking.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/mooc-risk-dropout@champion")
    rows = feature_rows.head(10)
    assert len(model.predict(rows.drop(columns=["learner_id", "course_id", "run_id"]))) == 10
    with pytest.raises(MlflowException, match="assessment_mean_score"):
        model.predict(rows.drop(columns=["assessment_mean_score"]))


@pytest.mark.slow
def test_mlflow_models_serve_answers_for_the_registered_model(served, feature_rows):
    port = free_port()
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    env = {**os.environ, "MLFLOW_TRACKING_URI": served.tracking.tracking_uri,  # as from an
           "PATH": f"{mlflow_cli.parent}{os.pathsep}{os.environ['PATH']}"}  # activated venv
    process = subprocess.Popen(
        [str(mlflow_cli), "models", "serve", "-m", "models:/mooc-risk-dropout@champion",
         "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("mlflow models serve did not start: " + process.stdout.read1().decode())
            time.sleep(0.5)
        rows = feature_rows.head(20)
        body = json.loads(json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split",
                                                                                  index=False))}))
        response = httpx.post(f"{url}/invocations", json=body, timeout=60)
        assert response.status_code == 200, response.text
        answered = np.asarray(response.json()["predictions"], dtype="float64").ravel()
        import mlflow

        mlflow.set_tracking_uri(served.tracking.tracking_uri)
        local = mlflow.pyfunc.load_model("models:/mooc-risk-dropout@champion").predict(rows)
        np.testing.assert_allclose(answered, np.asarray(local), rtol=1e-9)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
