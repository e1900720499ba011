"""IMS Caliper events (bare, or in sensor envelopes' ``data``) → the shared log-import columns.

User: ``actor.id``; course: the object's ``isPartOf`` (or the object itself when it is a
CourseOffering), as a course key; the event name is "<type>.<action> <object type>"; a score
is ``generated.scoreGiven / generated.maxScore``; the event ``id`` is the event id.
"""

from __future__ import annotations

PLATFORM = "caliper"
EXPANDS = True  # a line may hold an array, or an envelope of events
ENVELOPE = "$.data[*]"  # a sensor envelope carries its events in data

_PATHS = ["$.actor.id", "$.object.extensions.isPartOf.id", "$.object.type", "$.object.id",
          "$.eventTime", "$.type", "$.action", "$.object.extensions.assignable.id",
          "$.generated.scoreGiven", "$.generated.maxScore", "$.id", "$.group.id"]


def fields_sql(docs: str) -> str:
    paths = ", ".join(f"'{p}'" for p in _PATHS)
    return f"""
    SELECT line, blank, ok,
           f[1] AS user_raw,
           coalesce(f[2], CASE WHEN f[3] = 'CourseOffering' THEN f[4] END, f[12]) AS course_raw,
           f[5] AS ts_raw,
           f[6] || '.' || f[7] || ' ' || coalesce(f[3], '') AS event_name,
           CASE WHEN f[3] = 'CourseOffering' THEN NULL ELSE coalesce(f[8], f[4]) END AS object_id,
           CASE WHEN TRY_CAST(f[10] AS DOUBLE) > 0
                THEN 100 * TRY_CAST(f[9] AS DOUBLE) / TRY_CAST(f[10] AS DOUBLE) END AS score,
           coalesce(f[11], md5(doc)) AS event_id,
           NULL::VARCHAR AS fallback, NULL::VARCHAR AS voids, NULL::VARCHAR AS hint
    FROM (SELECT *, f IS NOT NULL AS ok
          FROM (SELECT line, blank, doc, try(json_extract_string(doc, [{paths}])) AS f
                FROM (SELECT line, text IS NULL OR trim(text) = '' AS blank, text AS doc
                      FROM {docs})))"""
