"""xAPI statements → the shared log-import columns (see ``logs.py``), by the xAPI 1.0.3
specification's own rules.

- **Who**: an Agent is identified by its inverse functional identifier (IFI): ``account``
  (``homePage`` *and* ``name``), ``mbox``, ``mbox_sha1sum`` or ``openid`` (the spec allows exactly
  one; an agent that carries several is read in this order). ``mbox`` is taken as its
  ``mbox_sha1sum`` (SHA-1 of the ``mailto:`` IRI, as the spec defines it), so one learner seen
  with either is one learner. The learner is the actor, except when the object is an Agent
  (a statement about that agent, e.g. a tutor grading a learner): then the object. A Group actor
  is not a learner (skipped, said in the report).
- **Course**: a context activity (parent, grouping, category, other; an array or a single
  object) whose ``definition.type`` is a course type (ADL's ``…/activities/course``, or
  ``http://id.tincanapi.com/activitytype/lms/course`` as Moodle's logstore_xapi sends), else
  the object when it is the course; as fallbacks (named in the report) the first parent or
  grouping IRI, then the object's IRI, with ``/course/`` or ``/courses/`` in its path (cut after
  the segment that follows it: ``…/courses/42/pages/intro`` is course ``…/courses/42``), then the
  course key of an Open edX block IRI (a CCX block gives its CCX run). Courses keep their full
  IRI (``course_keys``).
- **When**: ``timestamp``, else ``stored`` (the LRS sets it; a fallback). A timestamp must carry
  its zone.
- **Voiding**: a statement with verb ``…/verbs/voided`` and a ``StatementRef`` object voids the
  statement it names: the voided statement is removed from every table it fed (``log_tables``),
  and the voiding statement is not an event.
- The event name is "<verb id> <object activity type>"; a score is ``result.score.scaled`` (or
  raw / max); the statement ``id`` (lower case) is the event id. Files may hold statements one
  per line, as JSON arrays, as an LRS page (``{"statements": [...], "more": …}``) or as one
  pretty-printed statement.
"""

from __future__ import annotations

PLATFORM = "xapi"
EXPANDS = True  # a line may hold a JSON array of statements
ENVELOPE = "$.statements[*]"  # an LRS's paged result carries its statements in statements

COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"
# agents a statement names but that identify no one: broken records, not "nobody's activity"
UNIDENTIFIED = ("an account name without its homePage",
                "an agent without mbox, mbox_sha1sum, openid or account")
# the activity types that mean "a course": ADL's, and the one Moodle's logstore_xapi sends
COURSE_TYPES = (COURSE_TYPE, "http://id.tincanapi.com/activitytype/lms/course")
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
_CONTEXTS = ("parent", "grouping", "category", "other")
_AGENT_PATHS = ("mbox", "mbox_sha1sum", "openid", "account.homePage", "account.name", "objectType")
_PATHS = ["$.object.id", "$.object.definition.type", "$.timestamp", "$.stored", "$.verb.id",
          "$.result.score.scaled", "$.result.score.raw", "$.result.score.max", "$.id",
          '$.object.definition.extensions."https://w3id.org/xapi/acrossx/extensions/type"',
          "$.object.objectType",
          *(f"$.actor.{p}" for p in _AGENT_PATHS), *(f"$.object.{p}" for p in _AGENT_PATHS)]
_ACTOR, _OBJECT_AGENT = 12, 18  # 1-based positions in _PATHS of the two agents' fields


def _ifi(first: int) -> str:
    """The agent's IFI as text, from its six fields starting at ``f[first]``."""
    mbox, sha1sum, openid, home, name = (f"nullif(trim(f[{first + i}]), '')" for i in range(5))
    return (f"coalesce('account:' || {home} || ' ' || {name}, 'mbox_sha1sum:' || sha1({mbox}), "
            f"'mbox_sha1sum:' || lower({sha1sum}), 'openid:' || {openid})")


def _no_ifi_hint(first: int) -> str:
    return (f"CASE WHEN f[{first + 5}] = 'Group' THEN 'the actor is a Group, not a learner' "
            f"WHEN f[{first + 4}] IS NOT NULL AND f[{first + 3}] IS NULL "
            f"THEN '{UNIDENTIFIED[0]}' ELSE '{UNIDENTIFIED[1]}' END")


def _activities(doc: str, keys: tuple[str, ...] = _CONTEXTS) -> str:
    """The context activities under ``keys`` as JSON, whether each holds an array or one object."""
    parts = [f"""CASE try(json_type({doc}, '$.context.contextActivities.{k}'))
                    WHEN 'ARRAY' THEN json_extract({doc}, '$.context.contextActivities.{k}[*]')
                    WHEN 'OBJECT' THEN [json_extract({doc}, '$.context.contextActivities.{k}')]
                    ELSE [] END""" for k in keys]
    return "list_concat(" + ", ".join(parts) + ")"


def fields_sql(docs: str) -> str:
    paths = ", ".join(f"'{p}'" for p in _PATHS)
    course_types = ", ".join(f"'{t}'" for t in COURSE_TYPES)
    learner_is_object = "f[11] = 'Agent'"
    return f"""
    SELECT line, blank, ok, user_raw,
           coalesce(course.typed, course.url, course.block) AS course_raw,
           coalesce(f[3], f[4]) AS ts_raw,
           f[5] || ' ' || coalesce(f[2], '') AS event_name,
           CASE WHEN f[2] IN ({course_types}) THEN f[10] ELSE f[1] END AS object_id,  -- mode
           coalesce(100 * TRY_CAST(f[6] AS DOUBLE),
                    CASE WHEN TRY_CAST(f[8] AS DOUBLE) > 0
                         THEN 100 * TRY_CAST(f[7] AS DOUBLE) / TRY_CAST(f[8] AS DOUBLE) END) AS score,
           lower(coalesce(f[9], md5(doc))) AS event_id,
           nullif(concat_ws('; ',
               CASE WHEN course.typed IS NULL AND course.url IS NOT NULL
                    THEN 'course from an activity IRI with /course/ in it (no activity of a course type)'
                    WHEN course.typed IS NULL AND course.block IS NOT NULL
                    THEN 'course from the object''s Open edX block IRI' END,
               CASE WHEN f[3] IS NULL AND f[4] IS NOT NULL THEN 'time from stored (no timestamp)' END),
               '') AS fallback,
           CASE WHEN f[5] = '{VOIDED}' AND f[11] = 'StatementRef' THEN lower(f[1]) END AS voids,
           CASE WHEN ok AND user_raw IS NULL THEN
                CASE WHEN {learner_is_object} THEN {_no_ifi_hint(_OBJECT_AGENT)}
                     ELSE {_no_ifi_hint(_ACTOR)} END END AS hint
    FROM (SELECT *,
                 CASE WHEN {learner_is_object} THEN {_ifi(_OBJECT_AGENT)}
                      WHEN f[{_ACTOR + 5}] = 'Group' THEN NULL ELSE {_ifi(_ACTOR)} END AS user_raw,
                 {{'typed': coalesce(
                      json_extract_string(list_filter(acts, lambda a: json_extract_string(
                          a, '$.definition.type') IN ({course_types}))[1], '$.id'),
                      CASE WHEN f[2] IN ({course_types}) THEN f[1] END),
                   -- an IRI up to its /course/<id> or /courses/<id> segment: the course, not
                   -- the activity inside it (…/courses/42/pages/intro is course …/courses/42)
                   'url': nullif(regexp_extract(list_filter(list_append(
                              list_transform(parents, lambda a: json_extract_string(a, '$.id')), f[1]),
                                      lambda x: x LIKE '%/course/%' OR x LIKE '%/courses/%')[1],
                              '^(.*?/courses?/[^/#]+)', 1), ''),
                   'block': CASE WHEN f[1] LIKE '%ccx-block-v1:%'
                                 THEN 'ccx-v1:' || nullif(regexp_extract(
                                     f[1], 'ccx-block-v1:([^+]+[+][^+]+[+][^+]+[+]ccx@[^+]+)[+]type@', 1), '')
                                 ELSE 'course-v1:' || nullif(regexp_extract(
                                     f[1], 'block-v1:([^+]+[+][^+]+[+][^+]+)[+]type@', 1), '') END}} AS course
          FROM (SELECT *, f IS NOT NULL AS ok, {_activities("doc")} AS acts,
                       {_activities("doc", ("parent", "grouping"))} AS parents
                FROM (SELECT line, blank, doc, try(json_extract_string(doc, [{paths}])) AS f
                      FROM (SELECT line, text IS NULL OR trim(text) = '' AS blank, text AS doc
                            FROM {docs}))))"""
