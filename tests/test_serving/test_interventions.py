"""One suggested action per learner: by state first, then by the strongest reason over targets."""

import pandas as pd
from http_helpers import auth

from mooc_risk.serving.interventions import suggest
from mooc_risk.serving.reasons import load_catalogue

TABLE = load_catalogue().interventions


def frame(statuses, bands, groups, categories, contributions):
    n = len(statuses)
    return pd.DataFrame({"learner_id": [f"L{i}" for i in range(n)], "course_id": "C", "run_id": "R",
                         "as_of_day": 14, "status": statuses, "risk_band": bands,
                         "reason_1_group": groups, "reason_1_category": categories,
                         "reason_1_contribution": contributions})


def test_state_first_then_the_strongest_reason_over_the_targets_at_risk():
    statuses = ["never started", "inactive for 9 days", "active", "active", "active", "active"]
    dropout = frame(statuses, ["high", "high", "high", "low", "medium", "high"],
                    ["inactivity", "inactivity", "assessment", "assessment", "self_efficacy",
                     "timing"],
                    ["engagement", "engagement", "assessment", "assessment", "motivation", "context"],
                    [0.9, 0.8, 0.2, 0.3, 0.1, 0.4])
    certification = frame(statuses, ["high", "low", "high", "low", "low", "medium"],
                          ["intent", "credential", "credential", "credential", "credential", "intent"],
                          ["motivation", "context", "context", "context", "context", "motivation"],
                          [-0.5, -0.1, -0.7, -0.2, -0.9, -0.1])
    out = suggest(TABLE, {"dropout": dropout, "certification": certification})
    actions = out["dropout"]["intervention"].tolist()
    assert actions == [
        TABLE.states.never_started,
        TABLE.states.inactive,
        TABLE.groups["credential"],  # |−0.7| on certification (high) beats 0.2: the cost's own action
        TABLE.none,  # low on every target
        TABLE.categories["motivation"],  # certification is low: its −0.9 does not count
        TABLE.categories["context"],  # enrolment timing is context, not money
    ]
    assert TABLE.categories["context"] != TABLE.groups["credential"]
    assert out["certification"]["intervention"].tolist() == actions  # the same in every target
    alone = suggest(TABLE, {"dropout": dropout})["dropout"]["intervention"].tolist()
    assert alone[2] == TABLE.categories["assessment"]


def test_the_service_suggests_one_action_per_learner_across_targets(client, served):
    e = pd.read_parquet(served.data / "enrolments.parquet").query("course_id == 'C001'")
    run = e.run_id.max()
    ids = e[e.run_id == run].learner_id.head(30).tolist()
    body = {"course_id": "C001", "run_id": run, "learner_ids": ids, "as_of_day": 14}
    predictions = client.post("/score", json=body, headers=auth(served.key)).json()["predictions"]
    assert predictions
    for p in predictions:
        actions = {s["intervention"] for s in p["scores"].values()}
        assert len(p["scores"]) == 2 and len(actions) == 1, p


def test_the_list_score_and_predict_suggest_the_same_action_with_or_without_reasons(
        client, served, tmp_path, capsys, monkeypatch):
    from cli_helpers import run_cli

    page = client.post("/courses/C001/predictions", headers=auth(served.key),
                       json={"as_of_day": 14, "page_size": 10_000}).json()
    listed = {r["learner_id"]: r["intervention"] for r in page["rows"]}
    ids = list(listed)[:40]
    for explain in (True, False):
        body = {"course_id": "C001", "run_id": page["run_id"], "learner_ids": ids,
                "as_of_day": 14, "explain": explain}
        scored = client.post("/score", json=body, headers=auth(served.key)).json()["predictions"]
        assert {p["learner_id"]: p["scores"]["dropout"]["intervention"] for p in scored} == \
            {i: listed[i] for i in ids}
    for name, value in served.env.items():
        monkeypatch.setenv(name, value)
    for top_k in ("0", "3"):
        out = tmp_path / f"p{top_k}.parquet"
        result = run_cli(["predict", "--data", served.data, "--course", "C001", "--as-of", "14",
                          "--out", out, "--top-k", top_k], capsys, monkeypatch)
        assert result.code == 0, result.err
        assert "suggested actions for" in result.out and "learners (one each" in result.out
        frame = pd.read_parquet(out).query("target == 'dropout'")
        assert dict(zip(frame.learner_id, frame.intervention, strict=True)) == listed


def test_a_broken_intervention_table_or_catalogue_is_an_error_naming_the_field(tmp_path):
    import pytest
    import yaml

    from mooc_risk.errors import InputError

    old = tmp_path / "interventions.yaml"  # the flat layout of before: category → action
    old.write_text(yaml.safe_dump({"none": "x", "default": "y", "engagement": "z"}))
    with pytest.raises(InputError, match=r"interventions.yaml: not a valid intervention table: states: "):
        load_catalogue(interventions=old)
    reasons = tmp_path / "reasons.yaml"
    reasons.write_text(yaml.safe_dump({"groups": {"inactivity": {"category": "engagement"}}}))
    with pytest.raises(InputError, match=r"not a valid reason catalogue: groups\.inactivity\.features: "):
        load_catalogue(reasons=reasons)
