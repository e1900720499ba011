"""Clickstream aggregates as of a cutoff, written once in Ibis for DuckDB and PySpark.

As-of rule (README, "Features"): the row for (enrolment, day d) uses only events with
``ts < anchor + d days``; the anchor is ``course_start``, or ``enrolled_at`` for self-paced runs
(``course_end`` empty). Times are compared as whole UTC seconds, so an event's course day is
``floor((ts - anchor) / 86400)`` and "before the cutoff" is exactly "course day < d".

Events are first reduced to one row per enrolment × course day (``daily_activity``); every
feature below is a sum, count, min or max over those days, so one pass over the events serves
all as-of days. Window features (sessions, gaps) look only backwards in time, never forwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ibis
from ibis import _

from mooc_risk.days import DAY_SECONDS
from mooc_risk.errors import InputError
from mooc_risk.features.calendar import CALENDAR_COLUMNS
from mooc_risk.features.canonical.schemas import KEYS

GROUP = ["eid", "as_of_day"]
WEEKS = ("events_last_7d", "events_prev_7d", "events_w3", "events_w4")  # the 4 weeks before d


@dataclass(frozen=True)
class ClickstreamSpec:
    """Which event types get their own count, and what counts as an assessment or a session."""

    event_types: tuple[str, ...]
    assessment_types: tuple[str, ...] = ("assessment",)
    session_gap_minutes: int = 30
    cohort: bool = True  # features relative to the learner's run at the same as-of day

    def count_columns(self) -> dict[str, str]:
        """Event type → feature column (``n_<type>``); every other type counts in ``n_other``."""
        columns = {t: "n_" + re.sub(r"[^0-9a-z]+", "_", t.lower()).strip("_") for t in self.event_types}
        columns = {t: c for t, c in columns.items() if c != "n_other"}
        names = [*list(columns.values()), "n_other"]
        if len(set(names)) != len(names):
            raise InputError(f"event types {list(self.event_types)} give clashing column names")
        return columns


def _epoch(ts: ibis.Value) -> ibis.Value:
    return ts.epoch_seconds().cast("int64")


def anchors(enrolments: ibis.Table) -> ibis.Table:
    """Per enrolment: integer ids (``eid``, and ``rid`` for its run), enrolment time and anchor
    in epoch seconds. The integer ids keep the big joins and sorts off the string keys."""
    e = enrolments
    anchor = ibis.ifelse(e.course_end.isnull(), e.enrolled_at, e.course_start)
    return e.select(
        *KEYS,
        eid=ibis.row_number().over(order_by=list(KEYS)),
        rid=ibis.dense_rank().over(order_by=["course_id", "run_id"]),
        enrolled_s=_epoch(e.enrolled_at),
        anchor_s=_epoch(anchor),
        scheduled=e.course_end.notnull(),
    )


def horizons(anchored: ibis.Table, as_of_days: list[int]) -> ibis.Table:
    """One row per enrolment × as-of day, for enrolments that exist by the cutoff."""
    days = ibis.memtable({"as_of_day": [int(d) for d in as_of_days]})
    rows = anchored.cross_join(days)
    rows = rows.mutate(cutoff_s=rows.anchor_s + rows.as_of_day.cast("int64") * DAY_SECONDS)
    return rows.filter(rows.enrolled_s <= rows.cutoff_s)


def event_days(events: ibis.Table, anchored: ibis.Table, spec: ClickstreamSpec) -> ibis.Table:
    """Events with their enrolment id, course day, activity volume and a session-start flag."""
    ev = events.join(anchored, list(KEYS)).select(
        "eid", "rid", "event_type", "object_id", "value", "anchor_s", t_s=_epoch(events.ts)
    )
    is_assessment = ev.event_type.isin(list(spec.assessment_types))
    previous = ev.t_s.lag().over(group_by="eid", order_by="t_s")
    return ev.select(
        "eid", "rid", "t_s", "event_type", "object_id", "value",
        day=((ev.t_s - ev.anchor_s) / DAY_SECONDS).floor().cast("int64"),
        is_assessment=is_assessment,
        volume=ibis.ifelse(is_assessment, 0.0, ev.value.fill_null(1.0)),
        session_start=(previous.isnull() | (ev.t_s - previous > spec.session_gap_minutes * 60)),
    )


def daily_activity(ev: ibis.Table, spec: ClickstreamSpec) -> ibis.Table:
    """One row per enrolment × active course day."""
    columns = spec.count_columns()
    counts = {col: ibis.ifelse(ev.event_type == t, ev.volume, 0.0).sum() for t, col in columns.items()}
    other = ~ev.event_type.isin(list(columns)) & ~ev.is_assessment
    daily = ev.group_by(["eid", "day"]).aggregate(
        **counts,
        n_other=ibis.ifelse(other, ev.volume, 0.0).sum(),
        volume=ev.volume.sum(),
        sessions=ev.session_start.cast("int64").sum(),
        assessments=ev.is_assessment.cast("int64").sum(),
        score_sum=ibis.ifelse(ev.is_assessment, ev.value, None).sum(),
        score_n=(ev.is_assessment & ev.value.notnull()).cast("int64").sum(),
        first_s=ev.t_s.min(),
        last_s=ev.t_s.max(),
    )
    previous_day = daily.day.lag().over(group_by="eid", order_by="day")
    return daily.mutate(gap_before=daily.day - previous_day - 1)


def learner_objects(ev: ibis.Table) -> ibis.Table:
    """First course day on which each learner touched each object."""
    touched = ev.filter(ev.object_id.notnull())
    return touched.group_by(["eid", "object_id"]).aggregate(first_day=touched.day.min())


def course_objects(ev: ibis.Table) -> ibis.Table:
    """First time anyone in the course run touched each object."""
    touched = ev.filter(ev.object_id.notnull())
    return touched.group_by(["rid", "object_id"]).aggregate(first_s=touched.t_s.min())


def activity_as_of(hz: ibis.Table, daily: ibis.Table, spec: ClickstreamSpec) -> ibis.Table:
    """Sums over the active days before each horizon's cutoff; weeks count back from the
    cutoff (week 1 = the 7 days before it), the first week forward from the anchor."""
    j = hz.join(daily, ["eid", daily.day < hz.as_of_day])
    d = j.as_of_day
    in_course = j.day >= 0
    types = [*spec.count_columns().values(), "n_other"]
    sums = {c: j[c].sum() for c in types}
    weeks = {name: ibis.ifelse((j.day >= d - 7 * w) & (j.day < d - 7 * (w - 1)), j.volume, 0.0).sum()
             for w, name in enumerate(WEEKS, start=1)}
    first_week = in_course & (j.day < 7)
    return j.group_by(GROUP).aggregate(
        **sums,
        **weeks,
        active_days_last_7d=ibis.ifelse(j.day >= d - 7, 1, 0).sum(),
        events_total=j.volume.sum(),
        active_days=j.day.count(),
        active_weeks=ibis.ifelse(in_course, (j.day / 7).floor(), None).nunique(),
        first_week_events=ibis.ifelse(first_week, j.volume, 0.0).sum(),
        first_week_active_days=ibis.ifelse(first_week, 1, 0).sum(),
        sessions=j.sessions.sum(),
        assessments_submitted=j.assessments.sum(),
        score_sum=j.score_sum.sum(),
        score_n=j.score_n.sum(),
        first_s=j.first_s.min(),
        last_s=j.last_s.max(),
        longest_gap_days=j.gap_before.max(),
        course_volume=ibis.ifelse(in_course, j.volume, 0.0).sum(),
        course_volume_sq=ibis.ifelse(in_course, j.volume * j.volume, 0.0).sum(),
    )


def objects_as_of(hz: ibis.Table, learner_obj: ibis.Table, course_obj: ibis.Table) -> ibis.Table:
    """Objects the learner touched, and objects the run had seen, before the cutoff."""
    mine = (
        hz.join(learner_obj, ["eid", learner_obj.first_day < hz.as_of_day])
        .group_by(GROUP)
        .aggregate(objects_touched=_.count())
    )
    cutoffs = hz.select("rid", "cutoff_s").distinct()
    seen = (
        cutoffs.join(course_obj, ["rid", course_obj.first_s < cutoffs.cutoff_s])
        .group_by(["rid", "cutoff_s"])
        .aggregate(course_objects=_.count())
    )
    return hz.left_join(mine, GROUP).left_join(seen, ["rid", "cutoff_s"])


def clickstream_features(
    hz: ibis.Table, daily: ibis.Table, learner_obj: ibis.Table, course_obj: ibis.Table,
    spec: ClickstreamSpec, calendar_rows: ibis.Table | None = None,
) -> ibis.Table:
    """The clickstream feature columns, one row per horizon row (zeros where inactive), and the
    calendar columns (``features.calendar``) when ``calendar_rows`` is given."""
    activity = activity_as_of(hz, daily, spec)
    t = objects_as_of(hz, learner_obj, course_obj).left_join(activity, GROUP)
    if calendar_rows is not None:
        t = t.left_join(calendar_rows, GROUP)
    types = [*spec.count_columns().values(), "n_other"]
    counts = [*types, "events_total", "active_days", "active_days_last_7d", "sessions",
              "assessments_submitted", *WEEKS[2:], "first_week_events", "first_week_active_days",
              *WEEKS[:2]]
    zeros = {c: t[c].fill_null(0).cast("float64") for c in counts}
    d = t.as_of_day.cast("float64")
    mean = t.course_volume / d
    variance = t.course_volume_sq / d - mean * mean
    cv = ibis.ifelse((d > 0) & (mean > 0), ibis.greatest(variance, 0.0).sqrt() / mean, None)
    touched = t.objects_touched.fill_null(0).cast("float64")
    log_week = [(zeros[w] + 1).ln() for w in WEEKS]  # week 1 is the latest
    elapsed_weeks = (d / 7).ceil()
    extra = {c: t[c] for c in CALENDAR_COLUMNS} if calendar_rows is not None else {}
    rows = t.select(
        *KEYS,
        "as_of_day",
        "rid",
        "scheduled",
        "cutoff_s",
        **zeros,
        days_since_last_activity=((t.cutoff_s - t.last_s) / DAY_SECONDS).cast("float64"),
        longest_gap_days=t.longest_gap_days.cast("float64"),
        trend_7d=((zeros["events_last_7d"] + 1) / (zeros["events_prev_7d"] + 1)).ln(),
        # least-squares slope of ln(1 + weekly events) over the last 4 weeks, per week
        activity_slope_4w=((1.5 * log_week[0] + 0.5 * log_week[1] - 0.5 * log_week[2]
                            - 1.5 * log_week[3]) / 5.0),
        active_weeks_share=ibis.ifelse(
            elapsed_weeks > 0, t.active_weeks.fill_null(0).cast("float64") / elapsed_weeks, None
        ).cast("float64"),
        objects_touched=touched,
        objects_touched_share=ibis.ifelse(
            t.course_objects > 0, touched / t.course_objects, None
        ).cast("float64"),
        assessment_mean_score=ibis.ifelse(t.score_n > 0, t.score_sum / t.score_n, None).cast(
            "float64"
        ),
        days_to_first_activity=((t.first_s - t.enrolled_s) / DAY_SECONDS).cast("float64"),
        daily_activity_cv=cv.cast("float64"),
        **extra,
    )
    rows = with_cohort(rows, calendar=calendar_rows is not None) if spec.cohort else rows
    return rows.drop("rid", "scheduled", "cutoff_s")


COHORT_COLUMNS = ("events_vs_cohort", "assessments_vs_cohort", "objects_vs_cohort",
                  "cohort_active_7d_share", "last_7d_vs_cohort", "active_days_vs_cohort")
CALENDAR_COHORT_COLUMNS = ("missed_vs_cohort", "score_due_vs_cohort")


def with_cohort(rows: ibis.Table, calendar: bool = False) -> ibis.Table:
    """The learner against the others of the same run at the same as-of day who reached that
    day no later than they did.

    The cohort of a row is the rows of the same run, as-of day and kind (scheduled or
    self-paced) whose cutoff is at or before the row's own (a range window ordered by the
    cutoff): in a scheduled run with one start that is the whole run; in a self-paced run,
    by days since enrolment, the learners who enrolled no later. No other learner's events
    after the row's cutoff can reach it. Courses differ a lot in how much activity they ask
    for; these make activity comparable across courses (a new course, a different platform).
    With ``calendar``, also missed deadlines and the score on the weight due.
    """
    cohort = ibis.range_window(preceding=None, following=0,
                               group_by=["rid", "as_of_day", "scheduled"], order_by="cutoff_s")
    c_events = rows.events_total.mean().over(cohort)
    c_assessments = rows.assessments_submitted.mean().over(cohort)
    c_objects = rows.objects_touched.mean().over(cohort)
    c_active = (rows.events_last_7d > 0).cast("float64").mean().over(cohort)
    c_last7 = rows.events_last_7d.mean().over(cohort)
    c_days = rows.active_days.mean().over(cohort)
    columns = {
        "events_vs_cohort": ((rows.events_total + 1) / (c_events + 1)).ln(),
        "assessments_vs_cohort": rows.assessments_submitted - c_assessments,
        "objects_vs_cohort": ((rows.objects_touched + 1) / (c_objects + 1)).ln(),
        "cohort_active_7d_share": c_active,
        "last_7d_vs_cohort": ((rows.events_last_7d + 1) / (c_last7 + 1)).ln(),
        "active_days_vs_cohort": rows.active_days - c_days,
    }
    if calendar:
        columns["missed_vs_cohort"] = (rows.deadlines_missed
                                       - rows.deadlines_missed.mean().over(cohort))
        columns["score_due_vs_cohort"] = (rows.score_on_weight_due
                                          - rows.score_on_weight_due.mean().over(cohort))
    return rows.mutate(**columns).cast({c: "float64" for c in columns})
