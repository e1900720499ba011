"""``POST /score`` with raw learners (enrolment, survey, events in the request): canonical
frames from the request, validated again by the canonical reader, then the same feature and
scoring code as the data folder's."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from mooc_risk.features.build import build_features, without_run_context
from mooc_risk.features.canonical.tables import tables_from_frames
from mooc_risk.features.population import in_population
from mooc_risk.serving import schemas
from mooc_risk.serving.interventions import suggest

if TYPE_CHECKING:
    from mooc_risk.serving.app import RiskApp


def score_raw(app: RiskApp, request: schemas.ScoreRequest, key: str | None) -> schemas.ScoreResponse:
    """``POST /score`` with raw learners: each request's own canonical tables, built and
    scored by the same code as the data folder's (InputError for bad data)."""
    for course in {learner.enrolment.course_id for learner in request.learners}:
        app.keys.check(key, course)
    frames = raw_frames(request.learners)
    rows: dict[tuple, dict[str, dict]] = {}
    scored: dict[str, pd.DataFrame] = {}
    for target in app.targets(request.targets):
        scorer = app.scorer(target)
        tables = tables_from_frames(frames, scorer.bundle.spec.constructs,
                                    sources={n: f"learners[].{n}" for n in frames})
        features = without_run_context(build_features(tables, [request.as_of_day], scorer.bundle.spec))
        features = features[in_population(features, tables)]
        if len(features):  # else nobody of the request is enrolled by the day yet
            scored[target] = scorer.score(features, top_k=request.top_k)
    for target, frame in (suggest(app._catalogue(), scored) if scored else {}).items():
        for row in frame.to_dict("records"):
            rows.setdefault(_key(row), {})[target] = row
    order = list(dict.fromkeys(_key(e) for e in frames["enrolments"].to_dict("records")))
    return schemas.ScoreResponse(
        predictions=[app._learner(rows[k], request) for k in order if k in rows],
        # not enrolled by the as-of day's cutoff: no feature row exists for them yet
        not_found=[k[0] for k in order if k not in rows])


def raw_frames(learners: list[schemas.RawLearner]) -> dict[str, pd.DataFrame]:
    """Canonical frames from a raw request (validated again by the canonical reader)."""
    enrolments = pd.DataFrame([learner.enrolment.model_dump(exclude={"unenrolled_at"})
                               for learner in learners])
    left = [{**_ids(learner), "dropped_at": learner.enrolment.unenrolled_at}
            for learner in learners if learner.enrolment.unenrolled_at is not None]
    surveys = pd.DataFrame([
        {**learner.survey.model_dump(), **_ids(learner)} for learner in learners if learner.survey
    ])
    events = pd.DataFrame([
        {**event.model_dump(), **_ids(learner)} for learner in learners for event in learner.events
    ])
    for frame, columns in ((enrolments, ["enrolled_at", "course_start", "course_end"]), (events, ["ts"])):
        for column in columns:
            frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_localize(None)
    frames = {"enrolments": enrolments, "events": events}
    if len(surveys):
        frames["surveys"] = surveys
    if left:  # the population rule needs when a learner unenrolled, nothing else of outcomes
        outcomes = pd.DataFrame(left)
        outcomes["dropped_at"] = pd.to_datetime(outcomes["dropped_at"], utc=True).dt.tz_localize(None)
        frames["outcomes"] = outcomes
    return frames


def _ids(learner: schemas.RawLearner) -> dict[str, str]:
    e = learner.enrolment
    return {"learner_id": e.learner_id, "course_id": e.course_id, "run_id": e.run_id}


def _key(row: dict) -> tuple[str, str, str]:
    return (row["learner_id"], row["course_id"], row["run_id"])
