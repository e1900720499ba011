"""IMS Caliper events (bare, or in sensor envelopes' ``data``) → the shared log-import columns.

- **Who** (Caliper 1.1/1.2): the learner is the ``actor``, except where the event acts on a
  learner: a ``GradeEvent``'s object is an ``Attempt`` whose ``assignee`` is the learner (the
  actor is the grader), and an event on a ``Membership`` is about its ``member``.
- **Course**: the object's ``isPartOf`` (in ``extensions`` as Open edX writes it, or the
  entity's own property), the object itself when it is a ``CourseOffering``/``CourseSection``,
  a Membership's ``organization``; fallbacks (named in the report): the event's ``group``,
  then an Open edX course key in the object's IRI (``…/courses/course-v1:…/jump_to/…``).
  Courses keep their full IRI (``course_keys``).
- **When**: ``eventTime``, which Caliper defines as UTC: a time without a zone is read as UTC
  (named in the report).
- The event name is "<type>.<action> <object type>"; a score is ``generated.scoreGiven /
  generated.maxScore``; the event ``id`` is the event id.
"""

from __future__ import annotations

from mooc_risk.features.sources.timestamps import ZONE

PLATFORM = "caliper"
EXPANDS = True  # a line may hold an array, or an envelope of events
ENVELOPE = "$.data[*]"  # a sensor envelope carries its events in data

_PATHS = ["$.actor.id", "$.object.extensions.isPartOf.id", "$.object.type", "$.object.id",
          "$.eventTime", "$.type", "$.action", "$.object.extensions.assignable.id",
          "$.generated.scoreGiven", "$.generated.maxScore", "$.id", "$.group.id",
          "$.object.isPartOf.id", "$.object.assignee.id", "$.object.member.id",
          "$.object.organization.id", "$.object.assignable.id"]
_COURSE_TYPES = ("CourseOffering", "CourseSection")
_KEY_IN_OBJECT = r"nullif(regexp_extract(f[4], '/courses?/((course|ccx)-v1:[^/?#]+)', 1), '')"


def fields_sql(docs: str) -> str:
    paths = ", ".join(f"'{p}'" for p in _PATHS)
    courses = ", ".join(f"'{t}'" for t in _COURSE_TYPES)
    return f"""
    SELECT line, blank, ok,
           CASE WHEN f[3] = 'Attempt' AND f[14] IS NOT NULL THEN f[14]
                WHEN f[3] = 'Membership' THEN f[15] ELSE f[1] END AS user_raw,
           coalesce(f[2], f[13], CASE WHEN f[3] IN ({courses}) THEN f[4] END,
                    CASE WHEN f[3] = 'Membership' THEN f[16] END, f[12], {_KEY_IN_OBJECT}) AS course_raw,
           CASE WHEN f[5] IS NULL OR regexp_matches(f[5], '{ZONE}') THEN f[5]
                ELSE f[5] || 'Z' END AS ts_raw,
           f[6] || '.' || f[7] || ' ' || coalesce(f[3], '') AS event_name,
           CASE WHEN f[3] IN ({courses}) THEN NULL ELSE coalesce(f[8], f[17], f[4]) END AS object_id,
           CASE WHEN TRY_CAST(f[10] AS DOUBLE) > 0
                THEN 100 * TRY_CAST(f[9] AS DOUBLE) / TRY_CAST(f[10] AS DOUBLE) END AS score,
           coalesce(f[11], md5(doc)) AS event_id,
           nullif(concat_ws('; ',
               CASE WHEN coalesce(f[2], f[13], CASE WHEN f[3] IN ({courses}) THEN f[4] END,
                                  CASE WHEN f[3] = 'Membership' THEN f[16] END) IS NULL
                         AND f[12] IS NOT NULL THEN 'course from the event''s group'
                    WHEN coalesce(f[2], f[13], CASE WHEN f[3] IN ({courses}) THEN f[4] END,
                                  CASE WHEN f[3] = 'Membership' THEN f[16] END, f[12]) IS NULL
                         AND {_KEY_IN_OBJECT} IS NOT NULL
                    THEN 'course from the Open edX course key in the object''s IRI' END,
               CASE WHEN f[5] IS NOT NULL AND NOT regexp_matches(f[5], '{ZONE}')
                    THEN 'eventTime without a zone read as UTC (Caliper defines UTC)' END), '') AS fallback,
           NULL::VARCHAR AS voids, NULL::VARCHAR AS hint
    FROM (SELECT *, f IS NOT NULL AS ok
          FROM (SELECT line, blank, doc, try(json_extract_string(doc, [{paths}])) AS f
                FROM (SELECT line, text IS NULL OR trim(text) = '' AS blank, text AS doc
                      FROM {docs})))"""
