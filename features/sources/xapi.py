"""xAPI statements → the shared log-import columns (see ``logs.py``).

User: the actor's account name (else mbox_sha1sum, mbox, openid); course: the parent context
activity (else the object, for course-level verbs), as a course key; the event name is
"<verb id> <object activity type>"; a score is ``result.score.scaled`` (or raw / max); the
statement ``id`` is the event id. Files may hold statements one per line, as JSON arrays, or
one pretty-printed statement.
"""

from __future__ import annotations

PLATFORM = "xapi"
EXPANDS = True  # a line may hold a JSON array of statements
ENVELOPE = None

_PATHS = ["$.actor.account.name", "$.actor.mbox_sha1sum", "$.actor.mbox", "$.actor.openid",
          "$.context.contextActivities.parent[0].id", "$.object.id", "$.object.definition.type",
          "$.timestamp", "$.verb.id", "$.result.score.scaled", "$.result.score.raw",
          "$.result.score.max", "$.id",
          '$.object.definition.extensions."https://w3id.org/xapi/acrossx/extensions/type"']


def fields_sql(docs: str) -> str:
    paths = ", ".join(f"'{p}'" for p in _PATHS)
    course_type = "http://adlnet.gov/expapi/activities/course"
    # the course: a context activity (or the object) whose id is a course URL, else the
    # course key inside an object's block key (block-v1:ORG+COURSE+RUN+type@…)
    return f"""
    SELECT line, blank, ok,
           coalesce(f[1], f[2], f[3], f[4]) AS user_raw,
           coalesce(
             list_filter(list_concat(
                 try(json_extract_string(doc, '$.context.contextActivities.parent[*].id')),
                 try(json_extract_string(doc, '$.context.contextActivities.grouping[*].id')),
                 [f[6]]), x -> x LIKE '%/course/%')[1],
             'course-v1:' || nullif(regexp_extract(f[6], 'block-v1:([^+]+[+][^+]+[+][^+]+)[+]type@', 1), '')
           ) AS course_raw,
           f[8] AS ts_raw,
           f[9] || ' ' || coalesce(f[7], '') AS event_name,
           CASE WHEN f[7] = '{course_type}' THEN f[14] ELSE f[6] END AS object_id,  -- mode
           coalesce(100 * TRY_CAST(f[10] AS DOUBLE),
                    CASE WHEN TRY_CAST(f[12] AS DOUBLE) > 0
                         THEN 100 * TRY_CAST(f[11] AS DOUBLE) / TRY_CAST(f[12] AS DOUBLE) END) AS score,
           coalesce(f[13], md5(doc)) AS event_id,
           NULL::VARCHAR AS fallback, NULL::VARCHAR AS voids, NULL::VARCHAR AS hint
    FROM (SELECT *, f IS NOT NULL AS ok
          FROM (SELECT line, blank, doc, try(json_extract_string(doc, [{paths}])) AS f
                FROM (SELECT line, text IS NULL OR trim(text) = '' AS blank, text AS doc
                      FROM {docs})))"""
