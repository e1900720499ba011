"""cold_start and the Venn-Abers interval through the real scoring path and the API, and the
model card's baseline comparison, on the session's trained models."""

import numpy as np
import pandas as pd
import pytest
from http_helpers import auth

from mooc_risk.features.build import build_features
from mooc_risk.features.canonical.engine import connect
from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.models import registry
from mooc_risk.serving.reasons import load_catalogue
from mooc_risk.serving.scoring import TargetScorer


@pytest.fixture(scope="module")
def scored_rows(served):
    bundle = registry.load_bundle(served.tracking, "mooc-risk-certification")
    tables = read_tables(served.data, connect(), bundle.spec.constructs)
    features = build_features(tables, [7], bundle.spec)
    features = features[features.course_id == "C001"].head(30).reset_index(drop=True)
    return bundle, features


def test_a_trained_course_is_not_cold_and_an_unseen_one_is(scored_rows):
    bundle, features = scored_rows
    assert bundle.metadata.training_courses["C001"] >= bundle.metadata.cold_start_min_learners
    scorer = TargetScorer.build(bundle, load_catalogue())
    known = scorer.score(features, top_k=1)
    assert not known["cold_start"].any()
    unseen = scorer.score(features.assign(course_id="NEW-COURSE"), top_k=1)
    assert unseen["cold_start"].all()


def test_too_few_training_learners_is_a_cold_start(scored_rows):
    bundle, features = scored_rows
    strict = bundle.metadata.model_copy(update={"cold_start_min_learners": 10**9})
    from dataclasses import replace

    scored = TargetScorer.build(replace(bundle, metadata=strict), load_catalogue()).score(features, top_k=1)
    assert scored["cold_start"].all()


def test_the_risk_interval_is_flipped_for_certification_and_holds_the_risk(scored_rows):
    bundle, features = scored_rows
    scored = TargetScorer.build(bundle, load_catalogue()).score(features, top_k=1)
    p0, p1 = bundle.interval_of_inputs(bundle.inputs(features))
    assert bundle.risk_of == "not_label"
    np.testing.assert_allclose(scored["risk_low"], 1 - p1)
    np.testing.assert_allclose(scored["risk_high"], 1 - p0)
    assert (scored["risk_low"] <= scored["risk"]).all() and (scored["risk"] <= scored["risk_high"]).all()
    assert (scored["risk_low"] < scored["risk_high"]).any()  # an interval, not a point


def test_the_api_answer_carries_the_interval_and_cold_start(client, served):
    e = pd.read_parquet(served.data / "enrolments.parquet")
    run = min(e[e.course_id == "C001"].run_id.unique())
    ids = e[(e.course_id == "C001") & (e.run_id == run)].learner_id.head(3).tolist()
    body = {"course_id": "C001", "run_id": run, "learner_ids": ids, "as_of_day": 7, "top_k": 1}
    response = client.post("/score", json=body, headers=auth(served.key))
    assert response.status_code == 200, response.text
    for prediction in response.json()["predictions"]:
        for score in prediction["scores"].values():
            assert score["risk_low"] <= score["risk"] <= score["risk_high"]
            assert score["cold_start"] is False
    schema = client.get("/docs.json").json()["components"]["schemas"]["TargetScore"]
    assert {"risk_low", "risk_high", "cold_start"} <= set(schema["required"])


def test_the_model_card_compares_lightgbm_with_the_baseline_per_day(served):
    cards = sorted(served.paths.cards_dir.glob("mooc-risk-dropout-v*.md"))
    text = cards[-1].read_text()
    assert "### LightGBM or the logistic baseline?" in text
    assert "| as_of_day | LightGBM AUC | baseline AUC | LightGBM ECE | baseline ECE |" in text
    assert ("serving it would be a valid, simpler choice" in text
            or "LightGBM is ahead by more than 0.005 AUC at every as-of day" in text)
    assert "coverage_90" in text
