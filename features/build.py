"""``build_features``: the one feature code path for training, serving and batch scoring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import ibis
import pandas as pd

from mooc_risk.days import DAY_SECONDS
from mooc_risk.features import calendar, clickstream
from mooc_risk.features.canonical.schemas import KEYS, FeatureTable
from mooc_risk.features.canonical.tables import Tables
from mooc_risk.features.clickstream import ClickstreamSpec
from mooc_risk.features.constructs import ConstructMap, construct_scores, load_construct_map

DEMOGRAPHICS = ("gender", "age_band", "education_level", "employment", "country", "disability")
CONTEXT_CATEGORICAL = ("platform", "credential_type", "paid_by", "expected_benefits")
DEFAULT_EVENT_TYPE_LIMIT = 12
FEATURES_VERSION = 3  # raised whenever a feature's meaning changes (stored feature files expire)
DISPLAY_ONLY = ("credential_currency",)  # carried for the words of reasons, never a model input


@dataclass(frozen=True)
class FeatureSpec:
    """Everything that decides which feature columns exist; stored with a trained model so that
    serving builds exactly the columns the model was trained on."""

    clickstream: ClickstreamSpec
    constructs: ConstructMap = field(default_factory=load_construct_map)

    def to_dict(self) -> dict:
        return {
            "event_types": list(self.clickstream.event_types),
            "assessment_types": list(self.clickstream.assessment_types),
            "session_gap_minutes": self.clickstream.session_gap_minutes,
            "cohort": self.clickstream.cohort,
            "constructs": self.constructs.model_dump(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        return cls(
            ClickstreamSpec(
                event_types=tuple(data["event_types"]),
                assessment_types=tuple(data["assessment_types"]),
                session_gap_minutes=int(data["session_gap_minutes"]),
                cohort=bool(data.get("cohort", False)),
            ),
            ConstructMap.model_validate(data["constructs"]),
        )

    def categorical_columns(self) -> list[str]:
        return [*CONTEXT_CATEGORICAL, *DEMOGRAPHICS]


def discover_event_types(
    events: ibis.Table,
    assessment_types: Sequence[str] = ("assessment",),
    limit: int = DEFAULT_EVENT_TYPE_LIMIT,
) -> tuple[str, ...]:
    """The most frequent non-assessment event types (sorted by name); the rest count as other."""
    ev = events.filter(~events.event_type.isin(list(assessment_types)))
    top = ev.group_by("event_type").aggregate(n=ev.count()).order_by([ibis.desc("n"), "event_type"])
    return tuple(sorted(top.limit(limit).event_type.to_pandas().tolist()))


def default_spec(tables: Tables, constructs: ConstructMap | None = None) -> FeatureSpec:
    """A spec fitted to the data: its frequent event types and the given (or default) instrument."""
    return FeatureSpec(
        ClickstreamSpec(event_types=discover_event_types(tables.events)),
        constructs or load_construct_map(),
    )


def context_features(tables: Tables, spec: FeatureSpec) -> ibis.Table:
    """Enrolment context and survey answers: known from day 0, one row per enrolment."""
    e = tables.enrolments
    s = tables.surveys
    scores = construct_scores(s, spec.constructs)
    survey = s.select(
        *KEYS,
        survey_answered=ibis.literal(1.0),
        **{c: s[c] for c in DEMOGRAPHICS},
        expected_benefits=s.expected_benefits,
        prior_attempts=s.prior_attempts.cast("float64"),
        hours_per_week_planned=s.hours_per_week_planned.cast("float64"),
        intends_credential=s.intends_credential.cast("float64"),
        **scores,
    )
    self_paced = e.course_end.isnull()
    enrolment = e.select(
        *KEYS,
        platform=e.platform,
        credential_type=e.credential_type,
        paid_by=e.paid_by,
        credential_cost=e.credential_cost.cast("float64"),
        credential_currency=e.credential_currency,
        self_paced=self_paced.cast("float64"),
        days_enrolled_before_start=ibis.ifelse(  # no fixed start for a self-paced run
            self_paced, None, (e.course_start.epoch_seconds() - e.enrolled_at.epoch_seconds()) / DAY_SECONDS
        ).cast("float64"),
        course_length_days=ibis.ifelse(
            self_paced, None, (e.course_end.epoch_seconds() - e.course_start.epoch_seconds()) / DAY_SECONDS
        ).cast("float64"),
    )
    joined = enrolment.left_join(survey, list(KEYS))
    return joined.mutate(survey_answered=joined.survey_answered.fill_null(0.0)).drop(
        *[f"{k}_right" for k in KEYS if f"{k}_right" in joined.columns]
    )


def feature_table(tables: Tables, as_of_days: Sequence[int], spec: FeatureSpec) -> ibis.Table:
    """The feature rows as one lazy Ibis expression (see ``build_features``).

    One expression, not a chain of cached steps: the engine plans the whole thing, shares the
    single pass over the events between the daily, object and run aggregates, and streams.
    """
    days = sorted({int(d) for d in as_of_days})
    if not days or days[0] < 0:
        raise ValueError(f"as-of days must be whole numbers ≥ 0, got {list(as_of_days)}")
    cs = spec.clickstream
    anchored = clickstream.anchors(tables.enrolments)
    ev = clickstream.event_days(tables.events, anchored, cs)
    hz = clickstream.horizons(anchored, days)
    calendar_rows = calendar.calendar_features(
        hz, calendar.calendar_of_runs(tables.assessments, anchored), calendar.first_submissions(ev))
    click = clickstream.clickstream_features(
        hz,
        clickstream.daily_activity(ev, cs),
        clickstream.learner_objects(ev),
        clickstream.course_objects(ev),
        cs,
        calendar_rows,
    )
    context = context_features(tables, spec)
    rows = context.join(click, list(KEYS))
    rows = rows.mutate(  # how far through the course the as-of day is (scheduled runs)
        course_elapsed_share=(rows.as_of_day.cast("float64") / rows.course_length_days)
    )
    order = [*KEYS, "as_of_day", *[c for c in context.columns if c not in KEYS],
             "course_elapsed_share", *[c for c in click.columns if c not in (*KEYS, "as_of_day")]]
    return rows.select(order)


def without_run_context(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (``build_features`` rows) with the columns that need the whole run emptied:
    the cohort columns, the course calendar and the share of the run's material opened. For
    learners scored from a request alone (raw ``POST /score``): the request holds neither the
    run's other learners nor its calendar, so computing them from it would give a learner
    another cohort, and another risk, with every other learner in the request. Empty is what
    the model sees for a run without a calendar; a copy is returned."""
    run_wide = ("objects_touched_share",)  # of the objects anyone in the run had opened
    columns = [c for c in (*clickstream.COHORT_COLUMNS, *clickstream.CALENDAR_COHORT_COLUMNS,
                           *calendar.CALENDAR_COLUMNS, *run_wide) if c in frame.columns]
    out = frame.copy()
    out[columns] = float("nan")
    return out


def build_features(tables: Tables, as_of_days: Sequence[int], spec: FeatureSpec) -> pd.DataFrame:
    """One row per enrolment × as-of day, keyed ``learner_id, course_id, run_id, as_of_day``.

    Pure: reads only ``tables``; a row uses only events before its cutoff (module docstring of
    ``mooc_risk.features.clickstream``). Training, serving and batch scoring all call this.
    """
    frame = feature_table(tables, as_of_days, spec).to_pyarrow().to_pandas()
    frame = frame.sort_values([*KEYS, "as_of_day"], kind="stable").reset_index(drop=True)
    frame["as_of_day"] = frame["as_of_day"].astype("int64")
    return FeatureTable.validate(frame)
