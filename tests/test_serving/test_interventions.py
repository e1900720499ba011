"""One suggested action per learner: by state first, then by the strongest reason over targets."""

import pandas as pd
from http_helpers import auth

from mooc_risk.serving.interventions import suggest
from mooc_risk.serving.reasons import load_catalogue

TABLE = load_catalogue().interventions


def frame(statuses, bands, categories, contributions):
    n = len(statuses)
    return pd.DataFrame({"learner_id": [f"L{i}" for i in range(n)], "course_id": "C", "run_id": "R",
                         "as_of_day": 14, "status": statuses, "risk_band": bands,
                         "reason_1_category": categories, "reason_1_contribution": contributions})


def test_state_first_then_the_strongest_reason_over_the_targets():
    dropout = frame(["never started", "inactive for 9 days", "active", "active", "active"],
                    ["high", "high", "high", "low", "medium"],
                    ["engagement", "engagement", "assessment", "assessment", "motivation"],
                    [0.9, 0.8, 0.2, 0.3, 0.1])
    certification = frame(["never started", "inactive for 9 days", "active", "active", "active"],
                          ["high", "low", "high", "low", "low"],
                          ["motivation", "context", "context", "context", "context"],
                          [-0.5, -0.1, -0.7, -0.2, -0.9])
    out = suggest(TABLE, {"dropout": dropout, "certification": certification})
    actions = out["dropout"]["intervention"].tolist()
    assert actions == [TABLE.states.never_started, TABLE.states.inactive,
                       TABLE.categories["context"],  # |−0.7| of certification beats 0.2
                       TABLE.none,  # low on every target
                       TABLE.categories["context"]]  # medium on one target is enough; strongest wins
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
