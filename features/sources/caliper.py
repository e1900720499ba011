"""IMS Caliper events (bare, or in sensor envelopes' ``data``) → the shared log-import columns.

- **Who** (Caliper 1.1/1.2): the learner is the ``actor``, except where the event acts on a
  learner: a ``GradeEvent``'s object is an ``Attempt`` whose ``assignee`` is the learner (the
  actor is the grader; Open edX writes it in the Attempt's ``extensions``, Caliper 1.0 names it
  the Attempt's ``actor``) — a grade without it is
  skipped, never given to the grader —, and an event on a ``Membership`` is about its
  ``member``.
- **Course**: Open edX's ``object.extensions.isPartOf``; the object's ``isPartOf`` when it is a
  ``CourseOffering``/``CourseSection`` (an item is also "part of" an assessment, a message of a
  thread: those are no course); the object itself when it is one; a Membership's
  ``organization``; the event's ``group`` (Caliper's course context); as a fallback (named in
  the report) an Open edX course key in the object's IRI (``…/courses/course-v1:…/jump_to/…``).
  Courses keep their full IRI (``course_keys``).
- **When**: ``eventTime``, which Caliper defines as UTC: a time without a zone is read as UTC
  (named in the report).
- The event name is "<type>.<action> <object type>"; a score is ``generated.scoreGiven /
  generated.maxScore`` (Open edX: ``generated.score.…``); the event ``id`` is the event id.
"""

from __future__ import annotations

from mooc_risk.features.sources.course_keys import V1_KEY_IN_URL
from mooc_risk.features.sources.timestamps import ZONE

PLATFORM = "caliper"
EXPANDS = True  # a line may hold an array, or an envelope of events
ENVELOPE = "$.data[*]"  # a sensor envelope carries its events in data

_PATHS = ["$.actor.id", "$.object.extensions.isPartOf.id", "$.object.type", "$.object.id",
          "$.eventTime", "$.type", "$.action", "$.object.extensions.assignable.id",
          "$.generated.scoreGiven", "$.generated.maxScore", "$.id", "$.group.id",
          "$.object.isPartOf.id", "$.object.assignee.id", "$.object.member.id",
          "$.object.organization.id", "$.object.assignable.id", "$.object.isPartOf.type",
          "$.generated.attempt.assignee.id", "$.object.actor.id", "$.object.extensions.assignee.id",
          "$.generated.score.scoreGiven", "$.generated.score.maxScore"]
_COURSE_TYPES = ("CourseOffering", "CourseSection")
NO_ASSIGNEE = "a grade without the graded learner (no Attempt assignee)"
UNIDENTIFIED = (NO_ASSIGNEE,)  # learner activity whose learner cannot be told: broken records
_KEY_IN_OBJECT = f"nullif(regexp_extract(f[4], '/courses?/({V1_KEY_IN_URL})', 1), '')"


def fields_sql(docs: str) -> str:
    paths = ", ".join(f"'{p}'" for p in _PATHS)
    courses = ", ".join(f"'{t}'" for t in _COURSE_TYPES)
    graded = "(f[6] = 'GradeEvent' OR f[3] = 'Attempt')"
    documented = (f"coalesce(f[2], CASE WHEN f[18] IN ({courses}) THEN f[13] END, "
                  f"CASE WHEN f[3] IN ({courses}) THEN f[4] END, "
                  f"CASE WHEN f[3] = 'Membership' THEN f[16] END, f[12])")
    return f"""
    SELECT line, blank, ok, user_raw,
           coalesce({documented}, {_KEY_IN_OBJECT}) AS course_raw,
           CASE WHEN f[5] IS NULL OR regexp_matches(f[5], '{ZONE}') THEN f[5]
                ELSE f[5] || 'Z' END AS ts_raw,
           f[6] || '.' || f[7] || ' ' || coalesce(f[3], '') AS event_name,
           CASE WHEN f[3] IN ({courses}) THEN NULL ELSE coalesce(f[8], f[17], f[4]) END AS object_id,
           CASE WHEN TRY_CAST(coalesce(f[10], f[23]) AS DOUBLE) > 0
                THEN 100 * TRY_CAST(coalesce(f[9], f[22]) AS DOUBLE)
                     / TRY_CAST(coalesce(f[10], f[23]) AS DOUBLE) END AS score,
           coalesce(f[11], md5(doc)) AS event_id,
           nullif(concat_ws('; ',
               CASE WHEN {documented} IS NULL AND {_KEY_IN_OBJECT} IS NOT NULL
                    THEN 'course from the Open edX course key in the object''s IRI' END,
               CASE WHEN f[5] IS NOT NULL AND NOT regexp_matches(f[5], '{ZONE}')
                    THEN 'eventTime without a zone read as UTC (Caliper defines UTC)' END), '') AS fallback,
           NULL::VARCHAR AS voids,
           CASE WHEN ok AND user_raw IS NULL AND {graded}
                THEN '{NO_ASSIGNEE}' END AS hint
    FROM (SELECT *, CASE WHEN {graded} THEN coalesce(f[14], f[21], f[19], f[20])  -- never the grader
                         WHEN f[3] = 'Membership' THEN f[15] ELSE f[1] END AS user_raw
          FROM (SELECT *, f IS NOT NULL AS ok
                FROM (SELECT line, blank, doc, try(json_extract_string(doc, [{paths}])) AS f
                      FROM (SELECT line, text IS NULL OR trim(text) = '' AS blank, text AS doc
                            FROM {docs}))))"""
