"""Course-calendar features as of a cutoff: deadlines passed, submissions on time, late or
missed, the next deadline, the weight already due and the score earned on it.

The calendar (the optional ``assessments`` table) is published before a run starts, so a row
may read every deadline of its run, past or future (the next due date, the total weight).
A submission counts only once made: only a learner's *first* submission of an assessment is
used, and only when it lies before the row's cutoff (``ts < cutoff``, the as-of rule of
``mooc_risk.features.clickstream``). A later submission, or a resubmission, never changes a row.
A submission is an assessment event (``ClickstreamSpec.assessment_types``) whose ``object_id``
is the ``assessment_id``; its ``value`` is the score.

OU Analyse's "module fingerprint" (Kuzilek et al., 2015, "OU Analyse: analysing at-risk
students at The Open University") is the source of the idea that a course's own study plan
tells a missed deadline from a quiet week. Runs without a calendar get empty columns.
"""

from __future__ import annotations

import ibis

from mooc_risk.days import DAY_SECONDS

GROUP = ["eid", "as_of_day"]
CALENDAR_COLUMNS = (
    "deadlines_passed", "submitted_on_time", "submitted_late", "deadlines_missed",
    "deadlines_missed_share", "submitted_ahead", "days_to_next_deadline", "weight_due_share",
    "score_on_weight_due",
)


def calendar_of_runs(assessments: ibis.Table | None, anchored: ibis.Table) -> ibis.Table:
    """One row per assessment of a run with a calendar: ``rid``, ``assessment_id``, ``due_s``
    (epoch seconds, null when undated), ``weight`` (null → 0). Empty when no calendar is given."""
    runs = anchored.select("course_id", "run_id", "rid").distinct()
    if assessments is None:
        return runs.limit(0).select(
            "rid", assessment_id=ibis.null().cast("string"), due_s=ibis.null().cast("int64"),
            weight=ibis.null().cast("float64"))
    a = assessments
    return a.join(runs, ["course_id", "run_id"]).select(
        "rid", "assessment_id",
        due_s=a.due_at.epoch_seconds().cast("int64"),
        weight=a.weight.fill_null(0.0).cast("float64"),
    )


def first_submissions(ev: ibis.Table) -> ibis.Table:
    """Per enrolment × assessment object: the first submission's time and its score (an
    assessment resubmitted later keeps its first score)."""
    subs = ev.filter(ev.is_assessment & ev.object_id.notnull())
    return subs.group_by(["eid", "object_id"]).aggregate(
        sub_s=subs.t_s.min(), score=subs.value.argmin(subs.t_s)
    )


def calendar_features(hz: ibis.Table, calendar: ibis.Table, submissions: ibis.Table) -> ibis.Table:
    """The calendar columns (``CALENDAR_COLUMNS``) per horizon row of a run with a calendar,
    keyed ``eid, as_of_day``; days are whole or fractional days (``days_to_next_deadline``
    counts from the cutoff), shares in [0, 1], the score in the source's units.

    A learner's deadlines are those due between their enrolment and the cutoff: one that
    passed before they enrolled is neither missed nor passed for them (``weight_due_share``
    alone is the run's: the share of the total weight due by the cutoff). ``submitted_ahead``
    counts submissions of assessments not yet due *or undated* (OULAD's undated exams). A
    submission without a score scores 0 in ``score_on_weight_due``, like a missed one; when
    every weight is 0 (or none is given) the two weight columns are empty."""
    rows = hz.select("eid", "rid", "as_of_day", "cutoff_s", "enrolled_s").join(calendar, "rid")
    rows = rows.left_join(submissions, [rows.eid == submissions.eid,
                                        rows.assessment_id == submissions.object_id])
    made = rows.sub_s.notnull() & (rows.sub_s < rows.cutoff_s)
    passed = rows.due_s.notnull() & (rows.due_s < rows.cutoff_s)  # the run's calendar
    # the learner's: a deadline that passed before they enrolled was never theirs to miss
    due = passed & (rows.due_s >= rows.enrolled_s)
    upcoming = rows.due_s.notnull() & (rows.due_s >= rows.cutoff_s)
    done = rows.group_by(GROUP).aggregate(
        deadlines_passed=due.cast("int64").sum(),
        submitted_on_time=(due & made & (rows.sub_s <= rows.due_s)).cast("int64").sum(),
        submitted_late=(due & made & (rows.sub_s > rows.due_s)).cast("int64").sum(),
        submitted_ahead=(~due & made).cast("int64").sum(),
        next_due_s=ibis.ifelse(upcoming, rows.due_s, None).min(),
        cutoff_s=rows.cutoff_s.max(),
        weight_total=rows.weight.sum(),
        weight_passed=ibis.ifelse(passed, rows.weight, 0.0).sum(),
        weight_due=ibis.ifelse(due, rows.weight, 0.0).sum(),
        score_weighted=ibis.ifelse(due & made, rows.weight * rows.score.fill_null(0.0), 0.0).sum(),
    )
    passed = done.deadlines_passed.cast("float64")
    missed = passed - done.submitted_on_time - done.submitted_late
    return done.select(
        *GROUP,
        deadlines_passed=passed,
        submitted_on_time=done.submitted_on_time.cast("float64"),
        submitted_late=done.submitted_late.cast("float64"),
        deadlines_missed=missed,
        deadlines_missed_share=ibis.ifelse(passed > 0, missed / passed, None).cast("float64"),
        submitted_ahead=done.submitted_ahead.cast("float64"),
        days_to_next_deadline=((done.next_due_s - done.cutoff_s) / DAY_SECONDS).cast("float64"),
        weight_due_share=ibis.ifelse(
            done.weight_total > 0, done.weight_passed / done.weight_total, None).cast("float64"),
        score_on_weight_due=ibis.ifelse(
            done.weight_due > 0, done.score_weighted / done.weight_due, None).cast("float64"),
    )
