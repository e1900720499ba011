"""OULAD's checked tables joined into the canonical ones: each key once, every click of a
learner enrolled in its presentation, the presentations as runs, and the enrolments, surveys,
events, outcomes and the calendar (``assessments``), as SQL over the views of ``oulad_values``;
an import that would yield no enrolments or no events says what the files hold instead.
"""

from __future__ import annotations

import duckdb

from mooc_risk.errors import InputError
from mooc_risk.features.sources.oulad_values import FIELDS, Source, locate, raise_problem, unreadable
from mooc_risk.features.sources.staging import quoted

_UNIQUE = {  # table → key columns, and what a repeated key is
    "courses": (["code_module", "code_presentation"], lambda k: f"presentation {k[0]} {k[1]}"),
    "vle": (["code_module", "code_presentation", "id_site"], lambda k: f"site {k[2]} of {k[0]} {k[1]}"),
    "assessments": (["id_assessment"], lambda k: f"assessment {k[0]}"),
    "studentInfo": (["code_module", "code_presentation", "id_student"],
                    lambda k: f"a learner (id_student) in {k[0]} {k[1]}"),
    "studentRegistration": (["code_module", "code_presentation", "id_student"],
                            lambda k: f"a learner (id_student) in {k[0]} {k[1]}"),
}


def check_unique(con: duckdb.DuckDBPyConnection, sources: dict[str, Source]) -> None:
    """One row per key: a repeated course, site, assessment or learner would repeat enrolments
    or events."""
    for name, (keys, what) in _UNIQUE.items():
        source = sources[name]
        key = con.execute(f"SELECT {', '.join(keys)} FROM {source.view} GROUP BY ALL "
                          "HAVING count(*) > 1 ORDER BY ALL LIMIT 1").fetchone()
        if key:
            condition = " AND ".join(f"{k} = {quoted(v)}" for k, v in zip(keys, key, strict=True))
            places = [where for where, _ in locate(con, source, condition, limit=2)]
            raise InputError(f"{_pair(places)}: {what(key)} is listed twice")


def _pair(places: list[str]) -> str:
    first, second = places
    head, _, number = first.rpartition(" ")
    other_head, _, other = second.rpartition(" ")
    return f"{head}s {number} and {other}" if head == other_head else f"{first} and {second}"


def create_runs(con: duckdb.DuckDBPyConnection) -> None:
    """``runs``: each presentation from 1 February (B) or 1 October (J) of its year."""
    con.execute("""
        CREATE TEMP TABLE runs AS
        SELECT code_module AS course_id, code_presentation AS run_id,
               make_timestamp(CAST(left(code_presentation, 4) AS INTEGER),
                              CASE right(code_presentation, 1) WHEN 'B' THEN 2 ELSE 10 END,
                              1, 0, 0, 0) AS course_start,
               CAST(module_presentation_length AS INTEGER) AS length_days
        FROM courses""")


def check_clicks(con: duckdb.DuckDBPyConnection, sources: dict[str, Source]) -> int:
    """studentVle's values, and that every click of a known presentation belongs to a learner
    enrolled in it (else the events would name an enrolment the enrolments table lacks).
    Returns how many rows belong to no presentation in courses (left out, and said so)."""
    source = sources["studentVle"]
    stray = "c.__problem IS NULL AND r.run_id IS NOT NULL AND i.id_student IS NULL"
    try:
        bad, count, key, unknown = con.execute(f"""
            SELECT count(*) FILTER (WHERE c.__problem IS NOT NULL), count(*) FILTER (WHERE {stray}),
                   min({{'m': c.code_module, 'p': c.code_presentation, 's': c.id_student}})
                       FILTER (WHERE {stray}),
                   count(*) FILTER (WHERE c.__problem IS NULL AND r.run_id IS NULL)
            FROM clicks c
            LEFT JOIN runs r ON r.course_id = c.code_module AND r.run_id = c.code_presentation
            LEFT JOIN (SELECT DISTINCT code_module, code_presentation, id_student FROM studentInfo) i
              ON i.code_module = c.code_module AND i.code_presentation = c.code_presentation
             AND i.id_student = c.id_student""").fetchone()
    except duckdb.Error:
        raise InputError(unreadable(source)) from None
    raise_problem(con, source, FIELDS["studentVle"], bad)
    if count:
        condition = (f"code_module = {quoted(key['m'])} AND code_presentation = {quoted(key['p'])} "
                     f"AND id_student = {quoted(key['s'])}")
        ((where, _),) = locate(con, source, condition)
        raise InputError(f"{where}, column id_student: the learner is not in "
                         f"{sources['studentInfo'].label} for {key['m']} {key['p']} "
                         f"({count:,} {source.label} row(s) of learners not enrolled)")
    return unknown


def left_out(con: duckdb.DuckDBPyConnection, clicks_without_presentation: int) -> dict[str, int]:
    """What the import leaves out, by the dataset's rules, to be said in its summary (never in
    silence): learners and clicks of presentations not in courses, submissions without a date (the
    documented "no event"), submissions of an unknown assessment or of a learner not enrolled
    in the assessment's presentation, and assessments whose presentation is not in courses or
    has no learner (the calendar holds only runs the enrolments have)."""
    undated, unknown, unplaced, not_enrolled = con.execute("""
        SELECT count(*) FILTER (WHERE s.date_submitted IS NULL),
               count(*) FILTER (WHERE s.date_submitted IS NOT NULL AND a.id_assessment IS NULL),
               count(*) FILTER (WHERE s.date_submitted IS NOT NULL AND a.id_assessment IS NOT NULL
                                      AND r.run_id IS NULL),
               count(*) FILTER (WHERE s.date_submitted IS NOT NULL AND r.run_id IS NOT NULL
                                      AND i.id_student IS NULL)
        FROM studentAssessment s
        LEFT JOIN assessments a USING (id_assessment)
        LEFT JOIN runs r ON r.course_id = a.code_module AND r.run_id = a.code_presentation
        LEFT JOIN (SELECT DISTINCT code_module, code_presentation, id_student FROM studentInfo) i
          ON i.id_student = s.id_student AND i.code_module = a.code_module
         AND i.code_presentation = a.code_presentation""").fetchone()
    learners = con.execute("""SELECT count(*) FROM studentInfo i ANTI JOIN runs r
                               ON r.course_id = i.code_module AND r.run_id = i.code_presentation
                            """).fetchone()[0]
    unplaced_assessments, unattended = con.execute("""
        SELECT count(*) FILTER (WHERE r.run_id IS NULL),
               count(*) FILTER (WHERE r.run_id IS NOT NULL AND i.code_module IS NULL)
        FROM assessments a
        LEFT JOIN runs r ON r.course_id = a.code_module AND r.run_id = a.code_presentation
        LEFT JOIN (SELECT DISTINCT code_module, code_presentation FROM studentInfo) i
          ON i.code_module = a.code_module AND i.code_presentation = a.code_presentation
        """).fetchone()
    found = {"studentInfo rows of a presentation not in courses (left out)": learners,
             "clicks of a presentation not in courses (left out)": clicks_without_presentation,
             "submissions without date_submitted (no event, as documented)": undated,
             "submissions of an assessment not in assessments (left out)": unknown,
             "submissions of an assessment of a presentation not in courses (left out)": unplaced,
             "submissions of a learner not enrolled in that presentation (left out)": not_enrolled,
             "assessments of a presentation not in courses (left out of the calendar)":
                 unplaced_assessments,
             "assessments of a presentation without learners (left out of the calendar)":
                 unattended}
    return {what: int(n) for what, n in found.items() if n}


def _presentations(con: duckdb.DuckDBPyConnection, view: str, shown: int = 6) -> str:
    found = [f"{m} {p}" for m, p in con.execute(
        f"SELECT DISTINCT code_module, code_presentation FROM {view} ORDER BY ALL").fetchall()]
    more = f" and {len(found) - shown} more" if len(found) > shown else ""
    return (", ".join(found[:shown]) + more) or "none"


def check_enrolments(con: duckdb.DuckDBPyConnection, sources: dict[str, Source]) -> None:
    rows, matched = con.execute("""
        SELECT count(*), count(r.run_id) FROM studentInfo i
        LEFT JOIN runs r ON r.course_id = i.code_module AND r.run_id = i.code_presentation
        """).fetchone()
    if matched:
        return
    info, courses = sources["studentInfo"].label, sources["courses"].label
    if not rows:
        raise InputError(f"no enrolments: {info} has no rows")
    raise InputError(f"no enrolments: 0 of {rows:,} {info} rows matched a presentation in "
                     f"{courses}; {courses} has {_presentations(con, 'courses')}, "
                     f"{info} has {_presentations(con, 'studentInfo')}")


def no_events(con: duckdb.DuckDBPyConnection, sources: dict[str, Source]) -> str:
    clicks, assessed = sources["studentVle"].label, sources["studentAssessment"].label
    total = con.execute("SELECT count(*) FROM clicks").fetchone()[0]
    submitted, dated = con.execute(
        "SELECT count(*), count(date_submitted) FROM studentAssessment").fetchone()
    if total:
        vle = (f"0 of {total:,} {clicks} rows are for a presentation in "
               f"{sources['courses'].label} ({clicks} has {_presentations(con, 'clicks')})")
    else:
        vle = f"{clicks} has no rows"
    if submitted:
        scores = (f"none of the {dated:,} dated submissions in {assessed} (of {submitted:,} rows) "
                  f"is for an assessment in {sources['assessments'].label} of a presentation in "
                  f"{sources['courses'].label} by a learner in {sources['studentInfo'].label}")
    else:
        scores = f"{assessed} has no rows"
    return f"no events: {vle}; {scores}"


# --- the canonical tables ------------------------------------------------------------------------
_DAY = "r.course_start + to_days(CAST({} AS INTEGER))"

ENROLMENTS = f"""
    SELECT i.id_student AS learner_id, i.code_module AS course_id,
           i.code_presentation AS run_id,
           {_DAY.format('coalesce(g.date_registration, 0)')} AS enrolled_at,
           r.course_start, r.course_start + to_days(r.length_days) AS course_end,
           'open-university' AS platform, 'module-credit' AS credential_type,
           CAST(NULL AS DOUBLE) AS credential_cost, CAST(NULL AS VARCHAR) AS paid_by
    FROM studentInfo i
    JOIN runs r ON r.course_id = i.code_module AND r.run_id = i.code_presentation
    LEFT JOIN studentRegistration g USING (code_module, code_presentation, id_student)"""

SURVEYS = """
    SELECT i.id_student AS learner_id, i.code_module AS course_id,
           i.code_presentation AS run_id, i.gender, i.age_band,
           i.highest_education AS education_level, i.disability,
           CAST(i.num_of_prev_attempts AS INTEGER) AS prior_attempts,
           least(round(i.studied_credits * 10 / (r.length_days / 7.0), 1), 168)
               AS hours_per_week_planned
    FROM studentInfo i
    JOIN runs r ON r.course_id = i.code_module AND r.run_id = i.code_presentation"""

# the calendar: a deadline at 00:00 of its day, like the events' ts (a submission on the due day
# has ts = due_at, on time); runs without enrolments are left out (the contract's known runs)
ASSESSMENTS = f"""
    SELECT a.code_module AS course_id, a.code_presentation AS run_id,
           a.id_assessment AS assessment_id, a.assessment_type AS kind,
           {_DAY.format('a.date')} AS due_at, a.weight
    FROM assessments a
    JOIN runs r ON r.course_id = a.code_module AND r.run_id = a.code_presentation
    WHERE EXISTS (SELECT 1 FROM studentInfo i WHERE i.code_module = a.code_module
                                                AND i.code_presentation = a.code_presentation)
    ORDER BY course_id, run_id, due_at NULLS LAST, assessment_id"""

EVENTS = f"""
    SELECT c.id_student AS learner_id, c.code_module AS course_id,
           c.code_presentation AS run_id, {_DAY.format('c.date')} AS ts,
           coalesce(v.activity_type, 'other') AS event_type,
           c.id_site AS object_id, sum(c.sum_click) AS value
    FROM clicks c
    JOIN runs r ON r.course_id = c.code_module AND r.run_id = c.code_presentation
    LEFT JOIN vle v ON v.id_site = c.id_site AND v.code_module = c.code_module
                   AND v.code_presentation = c.code_presentation
    GROUP BY ALL
    UNION ALL
    SELECT s.id_student, a.code_module, a.code_presentation,
           {_DAY.format('s.date_submitted')}, 'assessment', s.id_assessment, s.score
    FROM studentAssessment s
    JOIN assessments a USING (id_assessment)
    JOIN runs r ON r.course_id = a.code_module AND r.run_id = a.code_presentation
    JOIN studentInfo i ON i.id_student = s.id_student AND i.code_module = a.code_module
                      AND i.code_presentation = a.code_presentation
    WHERE s.date_submitted IS NOT NULL"""

OUTCOMES = f"""
    SELECT i.id_student AS learner_id, i.code_module AS course_id,
           i.code_presentation AS run_id,
           lower(i.final_result) IN ('pass', 'distinction') AS certified,
           lower(i.final_result) = 'withdrawn' AS dropped_out,
           last.last_active_at,
           CASE WHEN lower(i.final_result) = 'withdrawn' AND g.date_unregistration IS NOT NULL
                THEN {_DAY.format('g.date_unregistration')} END AS dropped_at
    FROM studentInfo i
    JOIN runs r ON r.course_id = i.code_module AND r.run_id = i.code_presentation
    LEFT JOIN studentRegistration g USING (code_module, code_presentation, id_student)
    LEFT JOIN (SELECT learner_id, course_id, run_id, max(ts) AS last_active_at FROM events
               GROUP BY ALL) last
      ON last.learner_id = i.id_student AND last.course_id = i.code_module
     AND last.run_id = i.code_presentation"""
