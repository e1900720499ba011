"""pandera contracts of the canonical tables (README, "Data folder") and of the feature table.

The models are the single source of truth: which columns a table must have (``Optional`` means
the column may be absent), their types, and the value checks. ``validation`` uses them to cast
raw files and to name the first offending rows when a check fails.
"""

from __future__ import annotations

import ibis.expr.datatypes as dt
import pandera.ibis as pa
import pandera.pandas as ppd

KEYS: tuple[str, str, str] = ("learner_id", "course_id", "run_id")  # one enrolment
ROW_KEYS: tuple[str, str, str, str] = (*KEYS, "as_of_day")  # one feature row


class Enrolments(pa.DataFrameModel):
    """One row per learner × course run."""

    learner_id: str
    course_id: str
    run_id: str
    enrolled_at: dt.Timestamp
    course_start: dt.Timestamp | None = pa.Field(nullable=True)
    course_end: dt.Timestamp | None = pa.Field(nullable=True)  # null = self-paced
    platform: str | None = pa.Field(nullable=True)
    credential_type: str | None = pa.Field(nullable=True)
    credential_cost: float | None = pa.Field(nullable=True, ge=0)
    credential_currency: str | None = pa.Field(nullable=True)  # ISO 4217 code of the cost
    paid_by: str | None = pa.Field(nullable=True)

    class Config:
        strict = False


class Surveys(pa.DataFrameModel):
    """At most one row per enrolment; every answer optional. Likert items are added per
    instrument (see ``survey_schema``)."""

    learner_id: str
    course_id: str
    run_id: str
    gender: str | None = pa.Field(nullable=True)
    age_band: str | None = pa.Field(nullable=True)
    education_level: str | None = pa.Field(nullable=True)
    employment: str | None = pa.Field(nullable=True)
    country: str | None = pa.Field(nullable=True)
    disability: str | None = pa.Field(nullable=True)
    prior_attempts: int | None = pa.Field(nullable=True, ge=0)
    hours_per_week_planned: float | None = pa.Field(nullable=True, ge=0, le=168)
    intends_credential: bool | None = pa.Field(nullable=True)
    expected_benefits: str | None = pa.Field(nullable=True)

    class Config:
        strict = False


class Events(pa.DataFrameModel):
    """One row per event. ``value`` is the score for assessment events and otherwise the number
    of actions the row stands for (clicks; null counts as 1)."""

    learner_id: str
    course_id: str
    run_id: str
    ts: dt.Timestamp
    event_type: str
    object_id: str | None = pa.Field(nullable=True)
    value: float | None = pa.Field(nullable=True, ge=0)

    class Config:
        strict = False


class Outcomes(pa.DataFrameModel):
    """One row per enrolment: the labels. A source may know only one of them (KDD Cup has no
    certification, the dataedu courses no dropout): the unknown one is empty."""

    learner_id: str
    course_id: str
    run_id: str
    certified: bool | None = pa.Field(nullable=True)
    dropped_out: bool | None = pa.Field(nullable=True)
    last_active_at: dt.Timestamp | None = pa.Field(nullable=True)
    # when the learner unenrolled (an unregistration date or an unenrolment event), where the
    # source knows it: the population rule's only input (features.population)
    dropped_at: dt.Timestamp | None = pa.Field(nullable=True)

    class Config:
        strict = False


class Assessments(pa.DataFrameModel):
    """The course calendar (optional): one row per assessment of a run, known before the run
    starts. A learner's submission is an assessment event (``Events``, an event type of the
    spec's assessment types) whose ``object_id`` is the ``assessment_id``; its ``value`` is the
    score (0–100 in OULAD). ``due_at`` empty: no deadline is known (OULAD's final exams);
    ``weight`` in the course's own units (OULAD: percent of the module score), empty = unknown.
    """

    course_id: str
    run_id: str
    assessment_id: str
    kind: str | None = pa.Field(nullable=True)  # the source's own word: TMA, CMA, Exam, quiz
    due_at: dt.Timestamp | None = pa.Field(nullable=True)
    weight: float | None = pa.Field(nullable=True, ge=0)

    class Config:
        strict = False


TABLE_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "enrolments": Enrolments,
    "surveys": Surveys,
    "events": Events,
    "outcomes": Outcomes,
    "assessments": Assessments,
}
ASSESSMENT_KEYS: tuple[str, str, str] = ("course_id", "run_id", "assessment_id")


def survey_schema(items: list[str], scale_min: int, scale_max: int) -> pa.DataFrameSchema:
    """The surveys schema with the instrument's Likert items as optional, range-checked columns."""
    likert = {
        item: pa.Column(
            float,
            checks=pa.Check.in_range(scale_min, scale_max),
            nullable=True,
            required=False,
        )
        for item in items
    }
    return Surveys.to_schema().add_columns(likert)


def table_schema(name: str) -> pa.DataFrameSchema:
    return TABLE_MODELS[name].to_schema()


class FeatureTable(ppd.DataFrameModel):
    """The output of ``build_features``: one row per enrolment × as-of day.

    Only the columns every feature set has are listed; event-type counts and construct scores
    depend on the vocabulary and the instrument.
    """

    learner_id: str = ppd.Field(nullable=False)
    course_id: str = ppd.Field(nullable=False)
    run_id: str = ppd.Field(nullable=False)
    as_of_day: int = ppd.Field(ge=0)
    events_total: float = ppd.Field(ge=0)
    active_days: float = ppd.Field(ge=0)
    sessions: float = ppd.Field(ge=0)
    days_since_last_activity: float = ppd.Field(nullable=True, ge=0)
    objects_touched_share: float = ppd.Field(nullable=True, ge=0, le=1)
    assessments_submitted: float = ppd.Field(ge=0)

    class Config:
        strict = False
        coerce = False
        unique = ["learner_id", "course_id", "run_id", "as_of_day"]  # noqa: RUF012 (pandera API)
