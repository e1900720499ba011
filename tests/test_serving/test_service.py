"""The HTTP service in-process: parity with the in-memory pipeline, reasons, access, errors."""

import io

import numpy as np
import pandas as pd
import pytest
from http_helpers import auth

from mooc_risk.features.build import build_features, without_run_context
from mooc_risk.features.canonical.tables import tables_from_frames
from mooc_risk.models import registry
from mooc_risk.models.contributions import tree_contributions
from mooc_risk.models.estimators import as_model_input, served_probability
from mooc_risk.serving.raw import raw_frames
from mooc_risk.serving.schemas import RawLearner


@pytest.fixture(scope="module")
def learners(served):
    e = pd.read_parquet(served.data / "enrolments.parquet")
    run = min(e[e.course_id == "C001"].run_id.unique())
    ids = e[(e.course_id == "C001") & (e.run_id == run)].learner_id.head(4).tolist()
    return run, ids


def raw_learner(served, learner_id="L0000001", day=14):
    e = pd.read_parquet(served.data / "enrolments.parquet")
    row = e[e.learner_id == learner_id].iloc[0]
    ev = pd.read_parquet(served.data / "events.parquet")
    ev = ev[(ev.learner_id == learner_id) & (ev.course_id == row.course_id)].head(40)
    s = pd.read_parquet(served.data / "surveys.parquet")
    s = s[(s.learner_id == learner_id) & (s.course_id == row.course_id)]
    survey = None
    if len(s):
        answers = s.iloc[0].drop(["learner_id", "course_id", "run_id"]).to_dict()
        survey = {k: (None if pd.isna(v) else (int(v) if k.startswith("q") else v))
                  for k, v in answers.items()}
    enrolment = {k: (None if pd.isna(v) else (v.isoformat() if hasattr(v, "isoformat") else v))
                 for k, v in row.to_dict().items()}
    events = [{"ts": t.isoformat(), "event_type": k, "object_id": o,
               "value": None if pd.isna(v) else float(v)}
              for t, k, o, v in ev[["ts", "event_type", "object_id", "value"]].itertuples(index=False)]
    return {"enrolment": enrolment, "survey": survey, "events": events or [
        {"ts": enrolment["enrolled_at"], "event_type": "page"}]}


def test_raw_request_probability_equals_the_in_memory_pipeline(client, served):
    body = {"learners": [raw_learner(served, f"L000000{i}") for i in (1, 2, 3)],
            "as_of_day": 14, "top_k": 3}
    response = client.post("/score", json=body, headers=auth(served.admin_key))
    assert response.status_code == 200, response.text
    served_p = {p["learner_id"]: p["scores"]["dropout"]["probability"]
                for p in response.json()["predictions"]}
    model = registry.load_bundle(served.tracking, "mooc-risk-dropout")
    frames = raw_frames([RawLearner.model_validate(x) for x in body["learners"]])
    features = without_run_context(
        build_features(tables_from_frames(frames, model.spec.constructs), [14], model.spec))
    X = as_model_input(features, model.feature_columns, model.categorical_columns)
    expected = dict(zip(features.learner_id, served_probability(model.estimator, X, confidence=model.confidence),
                        strict=True))
    assert served_p.keys() == expected.keys()
    for learner_id, p in expected.items():
        assert served_p[learner_id] == pytest.approx(p, abs=1e-12), learner_id


def test_reasons_contributions_and_base_value_add_up_to_the_raw_score(client, served, learners):
    run, ids = learners
    body = {"course_id": "C001", "run_id": run, "learner_ids": ids, "as_of_day": 7, "top_k": 4}
    response = client.post("/score", json=body, headers=auth(served.key))
    assert response.status_code == 200, response.text
    model = registry.load_bundle(served.tracking, "mooc-risk-dropout")
    store = pd.read_parquet(next((served.paths.store_dir / "features").glob("*/*/day-7.parquet")))
    for prediction in response.json()["predictions"]:
        for score in prediction["scores"].values():
            ex = score["explanation"]
            total = ex["base_value"] + sum(r["contribution"] for r in ex["reasons"]) + ex["rest"]
            assert total == pytest.approx(ex["raw_score"], abs=1e-9)
            assert len(ex["reasons"]) <= 4
            assert all(r["category"] in {"engagement", "motivation", "prior knowledge",
                                         "assessment", "context"} for r in ex["reasons"])
            assert all(r["text"] for r in ex["reasons"])
        row = store[(store.learner_id == prediction["learner_id"]) & (store.run_id == run)]
        X = as_model_input(row, model.feature_columns, model.categorical_columns)
        _, base, raw = tree_contributions(model.estimator, X)
        dropout = prediction["scores"]["dropout"]["explanation"]
        assert dropout["raw_score"] == pytest.approx(raw[0]) and dropout["base_value"] == pytest.approx(base[0])


def test_dropout_reasons_raise_the_risk(client, served, learners):
    run, ids = learners
    body = {"course_id": "C001", "run_id": run, "learner_ids": ids, "as_of_day": 14,
            "targets": ["dropout", "certification"]}
    for p in client.post("/score", json=body, headers=auth(served.key)).json()["predictions"]:
        assert all(r["contribution"] > 0 for r in p["scores"]["dropout"]["explanation"]["reasons"])
        # certification risk is 1 - P(certified): its reasons push P(certified) down
        assert all(r["contribution"] < 0
                   for r in p["scores"]["certification"]["explanation"]["reasons"])


def test_unknown_learner_is_listed_not_failed(client, served, learners):
    run, ids = learners
    body = {"course_id": "C001", "run_id": run, "learner_ids": [ids[0], "nobody"], "as_of_day": 7,
            "explain": False}
    response = client.post("/score", json=body, headers=auth(served.key))
    assert response.status_code == 200
    out = response.json()
    assert [p["learner_id"] for p in out["predictions"]] == [ids[0]]
    assert out["not_found"] == ["nobody"]
    assert out["predictions"][0]["scores"]["dropout"]["explanation"] is None


def test_access_is_per_course(client, served, learners):
    run, ids = learners
    body = {"course_id": "C001", "run_id": run, "learner_ids": ids, "as_of_day": 7}
    other = {**body, "course_id": "C002"}
    page = {"as_of_day": 7}
    for method, path, payload in (("post", "/score", body),
                                  ("post", "/courses/C001/predictions", page)):
        assert getattr(client, method)(path, json=payload).status_code == 401
        assert getattr(client, method)(path, json=payload,
                                       headers=auth("mrk_wrong")).status_code == 401
    assert client.post("/score", json=other, headers=auth(served.key)).status_code == 403
    assert client.post("/courses/C002/predictions", json=page,
                       headers=auth(served.key)).status_code == 403
    assert client.post("/courses/C002/predictions", json=page,
                       headers={"X-API-Key": served.admin_key}).status_code == 200


def _long_survey(served):
    learner = raw_learner(served)
    learner["survey"] = {**(learner["survey"] or {}), "q07": 9}
    return learner


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        (lambda s, b: {k: v for k, v in b.items() if k != "run_id"}, 400, "run_id"),
        (lambda s, b: {**b, "as_of_day": "soon"}, 400, "as_of_day"),
        (lambda s, b: {**b, "learner_ids": "L1"}, 400, "learner_ids"),
        (lambda s, b: {"learners": [_long_survey(s)], "as_of_day": 7}, 400, "q07"),
        (lambda s, b: {**b, "course_id": "C999"}, 403, "C999"),
        (lambda s, b: {"learners": [raw_learner(s)] * 101, "as_of_day": 7}, 400, "learners"),
        (lambda s, b: {"learners": [{**raw_learner(s), "events": []}], "as_of_day": 7}, 400, "events"),
        (lambda s, b: {"learners": [{**raw_learner(s), "events": [{}]}], "as_of_day": 7}, 400, "ts"),
        (lambda s, b: {**b, "top_k": 99}, 400, "top_k"),
    ],
)
def test_bad_requests_get_a_4xx_that_names_the_problem(client, served, learners, change, status, says):
    run, ids = learners
    body = {"course_id": "C001", "run_id": run, "learner_ids": ids, "as_of_day": 7}
    response = client.post("/score", json=change(served, body), headers=auth(served.key))
    assert response.status_code == status, response.text
    assert says in response.text


def test_unknown_course_with_an_all_courses_key_is_404(client, served, learners):
    run, ids = learners
    body = {"course_id": "C999", "run_id": run, "learner_ids": ids, "as_of_day": 7}
    response = client.post("/score", json=body, headers=auth(served.admin_key))
    assert response.status_code == 404 and "C999" in response.json()["error"]


def test_invalid_raw_data_is_a_400_from_the_canonical_reader(client, served):
    learner = raw_learner(served)
    learner["enrolment"] = {**learner["enrolment"], "course_start": None,
                            "course_end": "2024-05-01T00:00:00"}
    response = client.post("/score", json={"learners": [learner], "as_of_day": 7},
                           headers=auth(served.admin_key))
    assert response.status_code == 400 and "course_start" in response.json()["error"]


def test_course_predictions_sorted_by_risk_paged_json_and_csv(client, served):
    body = {"as_of_day": 7, "page_size": 50, "top_k": 2}
    first = client.post("/courses/C001/predictions", json=body, headers=auth(served.key)).json()
    assert first["total"] > 50 and len(first["rows"]) == 50
    risks = [r["risk"] for r in first["rows"]]
    assert risks == sorted(risks, reverse=True)
    assert {r["course_id"] for r in first["rows"]} == {"C001"}
    second = client.post("/courses/C001/predictions", json={**body, "page": 2},
                         headers=auth(served.key)).json()
    assert second["rows"][0]["risk"] <= risks[-1]
    assert not {r["learner_id"] + r["run_id"] for r in first["rows"]} & {
        r["learner_id"] + r["run_id"] for r in second["rows"]}
    csv = client.post("/courses/C001/predictions", json={**body, "format": "csv"},
                      headers=auth(served.key))
    assert csv.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(csv.text))
    assert len(table) == 50 and "reason_1_text" in table and "reason_3_text" not in table
    np.testing.assert_allclose(table["risk"], risks)
    bad = client.post("/courses/C001/predictions", json={"as_of_day": -1}, headers=auth(served.key))
    assert bad.status_code == 400 and "as_of_day" in bad.json()["error"]


def test_model_endpoint_and_docs(client):
    models = client.get("/model").json()["models"]
    assert {m["target"] for m in models} == {"dropout", "certification"}
    assert all(m["version"] and "test_auc" in m["test_metrics"] and m["trained_at"] for m in models)
    paths = client.get("/docs.json").json()["paths"]
    assert {"/score", "/courses/{course_id}/predictions", "/model"} <= set(paths)
    assert client.get("/healthz").status_code == 200


def test_a_raw_learners_risk_does_not_depend_on_who_else_is_in_the_request(client, served, learners):
    """Cohort and calendar columns need the whole run; from a request alone they are empty."""
    def dropout(learners):
        body = {"learners": learners, "as_of_day": 14, "explain": False}
        response = client.post("/score", json=body, headers=auth(served.admin_key))
        assert response.status_code == 200, response.text
        return {p["learner_id"]: p["scores"]["dropout"]["probability"] for p in response.json()["predictions"]}

    _, ids = learners  # four learners of one run
    alone = dropout([raw_learner(served, ids[0])])
    together = dropout([raw_learner(served, i) for i in ids])
    assert together[ids[0]] == pytest.approx(alone[ids[0]], abs=1e-12)
    # and the feature rows the raw path scores: equal on every column, the run's columns empty
    model = registry.load_bundle(served.tracking, "mooc-risk-dropout")

    def row(group):
        frames = raw_frames([RawLearner.model_validate(raw_learner(served, i)) for i in group])
        built = build_features(tables_from_frames(frames, model.spec.constructs), [14], model.spec)
        return without_run_context(built).set_index("learner_id").loc[ids[0]]

    one, four = row(ids[:1]), row(ids)
    pd.testing.assert_series_equal(one, four)
    assert one[["events_vs_cohort", "last_7d_vs_cohort", "deadlines_missed"]].isna().all()
    raw_rows = build_features(tables_from_frames(
        raw_frames([RawLearner.model_validate(raw_learner(served, i)) for i in ids]),
        model.spec.constructs), [14], model.spec).set_index("learner_id")
    assert raw_rows["events_vs_cohort"].nunique() > 1  # without emptying, the request sets them


def test_raw_learner_not_yet_enrolled_is_listed_under_not_found(client, served):
    learner = raw_learner(served)
    late = {**learner, "enrolment": {**learner["enrolment"], "learner_id": "late-one",
                                     "course_start": "2030-01-01T00:00:00Z",
                                     "course_end": "2030-03-01T00:00:00Z",
                                     "enrolled_at": "2030-01-20T00:00:00Z"}}  # enrols on day 19
    response = client.post("/score", json={"learners": [learner, late], "as_of_day": 0},
                           headers=auth(served.admin_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["not_found"] == ["late-one"] and len(body["predictions"]) == 1


def test_a_misspelt_field_of_a_raw_learner_is_refused(client, served):
    learner = {**raw_learner(served), "surveys": {"q01": 3}}
    response = client.post("/score", json={"learners": [learner], "as_of_day": 7},
                           headers=auth(served.admin_key))
    assert response.status_code == 400 and "surveys" in response.text


def test_a_new_key_works_without_a_restart(client, served, learners):
    from mooc_risk.serving.keys import add_key

    run, ids = learners
    key = add_key(served.paths.keys_file, "C001")
    body = {"course_id": "C001", "run_id": run, "learner_ids": ids[:1], "as_of_day": 7}
    assert client.post("/score", json=body, headers=auth(key)).status_code == 200
