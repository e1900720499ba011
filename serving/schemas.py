"""Request and response models of the HTTP API (separate input and output models)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, model_validator

from mooc_risk.models.targets import Target

MAX_RAW_LEARNERS = 100
MAX_LEARNER_IDS = 10_000
MAX_TOP_K = 10
MAX_PAGE = 100_000
YEARS = (1990, 2100)  # the times a request may give: any other is a typing error (or an attack)


def _plausible(moment: datetime) -> datetime:
    if not YEARS[0] <= moment.year <= YEARS[1]:
        raise ValueError(f"expected a time from {YEARS[0]} to {YEARS[1]}")
    return moment


Time = Annotated[datetime, AfterValidator(_plausible)]
# a request's numbers are finite: JSON as Python reads it allows Infinity and NaN
RAW = ConfigDict(extra="forbid", allow_inf_nan=False)


class RawEnrolment(BaseModel):
    model_config = RAW
    learner_id: str = Field(min_length=1)
    course_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    enrolled_at: Time
    course_start: Time | None = None
    course_end: Time | None = None
    platform: str | None = None
    credential_type: str | None = None
    credential_cost: float | None = Field(None, ge=0)
    credential_currency: str | None = Field(None, description="ISO 4217 code, e.g. USD")
    paid_by: str | None = None
    unenrolled_at: Time | None = Field(None, description="when the learner unenrolled, if "
                                       "they did: not scored at a day after it")


_LIKERT = {f"q{i:02d}": (int | None, Field(None, ge=1, le=5)) for i in range(1, 36)}
RawSurveyAnswers = create_model("RawSurveyAnswers", __config__=RAW, **_LIKERT)


class RawSurvey(RawSurveyAnswers):  # type: ignore[misc, valid-type]
    """The enrolment survey: every answer optional; Likert items q01..q35 from 1 to 5."""

    gender: str | None = None
    age_band: str | None = None
    education_level: str | None = None
    employment: str | None = None
    country: str | None = None
    disability: str | None = None
    prior_attempts: int | None = Field(None, ge=0)
    hours_per_week_planned: float | None = Field(None, ge=0, le=168)
    intends_credential: bool | None = None
    expected_benefits: str | None = None


class RawEvent(BaseModel):
    model_config = RAW
    ts: Time
    event_type: str = Field(min_length=1)
    object_id: str | None = None
    value: float | None = Field(None, ge=0)


class RawLearner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enrolment: RawEnrolment
    survey: RawSurvey | None = None
    events: list[RawEvent] = Field(min_length=1, description="at least one event")


class ScoreRequest(BaseModel):
    """Either learners of a course run by id (features from the store), or raw data for a few
    learners (features computed by the same code as training)."""

    model_config = ConfigDict(extra="forbid")
    course_id: str | None = Field(None, min_length=1)
    run_id: str | None = Field(None, min_length=1)
    learner_ids: list[str] | None = Field(None, min_length=1, max_length=MAX_LEARNER_IDS)
    learners: list[RawLearner] | None = Field(None, min_length=1, max_length=MAX_RAW_LEARNERS)
    as_of_day: int | None = Field(None, ge=0, le=3650)
    targets: list[Target] | None = Field(None, min_length=1, description="default: every loaded model")
    explain: bool = True
    top_k: int = Field(5, ge=1, le=MAX_TOP_K)

    @model_validator(mode="after")
    def _one_mode(self) -> ScoreRequest:
        by_id = self.learner_ids is not None or self.course_id is not None
        if by_id and self.learners is not None:
            raise ValueError("give either course_id + run_id + learner_ids, or learners, not both")
        if self.learners is None:
            missing = [n for n in ("course_id", "run_id", "learner_ids") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"missing {', '.join(missing)} (or give raw `learners`)")
        elif self.as_of_day is None:
            raise ValueError("as_of_day is required with raw learners")
        return self


class Reason(BaseModel):
    feature: str
    value: float | str | None
    contribution: float = Field(description="TreeSHAP contribution to the raw (log-odds) score")
    category: str
    text: str


class Explanation(BaseModel):
    base_value: float
    raw_score: float
    reasons: list[Reason]
    rest: float = Field(description="sum of the contributions not listed as reasons")


class TargetScore(BaseModel):
    probability: float = Field(description="calibrated probability of the model's label")
    risk: float = Field(description="P(dropout), or 1 − P(certified)")
    risk_band: Literal["low", "medium", "high"]
    risk_low: float = Field(description="lower end of the risk's Venn-Abers interval (0–1), "
                            "from the calibration learners of the same as-of day")
    risk_high: float = Field(description="upper end of the risk's Venn-Abers interval (0–1); "
                             "risk_low ≤ risk ≤ risk_high")
    cold_start: bool = Field(description="the learner's course had no run in the model's "
                             "training data, or fewer training learners than the model's "
                             "cold_start_min_learners (default 100): treat the risk with care")
    intervention: str
    model: str
    model_version: str
    explanation: Explanation | None = None


class LearnerScore(BaseModel):
    learner_id: str
    course_id: str
    run_id: str
    as_of_day: int
    status: str = Field(description="active, inactive for N days (nothing in the last 7), or never started")
    scores: dict[str, TargetScore]


class ScoreResponse(BaseModel):
    predictions: list[LearnerScore]
    not_found: list[str] = []


class CoursePredictionsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of_day: int = Field(ge=0, le=3650)
    run_id: str | None = Field(None, description="default: the course's running run (the one "
                                                 "that started last by today)")
    target: Target = Target.DROPOUT
    explain: bool = True
    top_k: int = Field(3, ge=1, le=MAX_TOP_K)
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(100, ge=1, le=10_000)
    format: Literal["json", "csv"] = "json"


class CoursePredictionsPage(BaseModel):
    course_id: str
    run_id: str = Field(description="the run listed: the one asked for, else the running run")
    target: Target
    as_of_day: int
    page: int
    page_size: int
    total: int
    rows: list[dict]


class ModelInfo(BaseModel):
    target: str
    name: str
    version: str
    trained_at: str | None
    horizon_days: list[int]
    test_metrics: dict[str, float]


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


# --- the intervention log and feedback (POST/GET /courses/{id}/interventions, POST .../feedback)
class InterventionsRequest(BaseModel):
    """What a course team did about one or more learners of a run. The service adds the risk,
    band, model version and suggested action it showed at ``as_of_day`` to each row."""

    model_config = ConfigDict(extra="forbid")
    learner_ids: list[str] = Field(min_length=1, max_length=MAX_LEARNER_IDS)
    action: str = Field(min_length=1, max_length=500,
                        description="one of the intervention table's actions (GET /interventions/actions)")
    done_by: str = Field(min_length=1, max_length=200, description="who did it: a name or a role")
    note: str = Field("", max_length=2000)
    run_id: str | None = Field(None, description="default: the course's running run")
    target: Target = Target.DROPOUT
    as_of_day: int | None = Field(None, ge=0, le=3650, description="default: the run's current day")


class FeedbackRequest(BaseModel):
    """Was a prediction useful? Stored with the risk and model version shown at ``as_of_day``."""

    model_config = ConfigDict(extra="forbid")
    learner_id: str = Field(min_length=1, max_length=200)
    useful: bool
    reason: str = Field("", max_length=500)
    run_id: str | None = None
    target: Target = Target.DROPOUT
    as_of_day: int | None = Field(None, ge=0, le=3650)


class LoggedRows(BaseModel):
    """Rows of the intervention log or of the feedback, newest first."""

    course_id: str
    rows: list[dict]
