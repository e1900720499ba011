"""Open edX tracking-log events → the shared log-import columns (see ``logs.py``).

Records are (name, event_type, time, timestamp, username, context, data, event) with the last
three as JSON. A JSON-lines file is read by DuckDB's JSON reader straight into these columns
(``records_fast``; it skips blank lines, and ``lines.py`` numbers the records that must be
reported); a file with logger prefixes or malformed lines is read line by line
(``records_lines``), which is slower. Both give the same records.

The payload is ``data`` (newer events) or ``event`` (an object in server events, a JSON string
in browser events). User: the payload's ``user_id`` — the learner the event is about (a grade
or completion computed for learner 4 when staff 3 acted: ``context.user_id`` is the actor) —
else ``context.user_id``; course: ``context.course_id``;
a server-side ``problem_check`` with ``grade``/``max_grade`` carries a score; for enrolment
events the mode (audit, verified…) is kept as the ``object_id``. Implicit events are named by
their URL path, which may hold the username or user id (``/api/user/v1/accounts/NAME``): such
path segments become ``{user}``; the username is read for that and nothing else. Tracking
logs carry no event id: an edX event is identified by what is stored of it (``log_tables``).
"""

from __future__ import annotations

from pathlib import Path

from mooc_risk.features.sources.course_keys import V1_KEY_IN_URL
from mooc_risk.features.sources.documents import MAX_LINE, compression, json_text
from mooc_risk.features.sources.staging import quoted
from mooc_risk.features.sources.timestamps import TIME_OF_DAY
from mooc_risk.features.sources.timestamps import ZONE as _ZONE

PLATFORM = "openedx"
EXPANDS = False  # one event per line

_TEXT = ("name", "event_type", "time", "timestamp", "username", "page")
_JSON = ("context", "data", "event")
_PAYLOAD = ('{"user_id":"VARCHAR","course_id":"VARCHAR","id":"VARCHAR","problem_id":"VARCHAR",'
            '"block_id":"VARCHAR","mode":"VARCHAR","grade":"DOUBLE","max_grade":"DOUBLE"}')
_CONTEXT = ('{"user_id":"VARCHAR","course_id":"VARCHAR","path":"VARCHAR",'
            '"module":{"usage_key":"VARCHAR"}}')
# a course key inside a URL: course-v1:/ccx-v1: anywhere; an old-style ORG/COURSE/RUN only right
# after the LMS's /courses/ (an API path such as /api/courses/v1/courses/… holds no old key)
_V1_IN_URL = f"({V1_KEY_IN_URL})"
_OLD_IN_URL = r"^(?:[a-z]+://[^/]+)?/courses/([^/?#\s]+/[^/?#\s]+/[^/?#\s]+)"
# URL path segments after these name a user (a profile, an account, a learner's progress page,
# an enrolment "USER,COURSE"): replaced by {user}, unless it is an API version ("v1")
USER_ROUTES = ("u", "users", "accounts", "profile", "profiles", "progress", "enrollment")
ONLY_USERNAME = "only a username (no user_id)"
UNIDENTIFIED = (ONLY_USERNAME,)  # learner activity whose learner cannot be told: broken records
_UTC = "time without a zone read as UTC (edX documents UTC)"


def records_fast(path: Path) -> str:
    """Records of a clean JSON-lines file (DuckDB raises on a malformed line), in file order;
    ``line`` is left empty (``logs`` numbers the rows it needs to report)."""
    columns = ", ".join([*(f"'{c}': 'VARCHAR'" for c in _TEXT), *(f"'{c}': 'JSON'" for c in _JSON)])
    return f"""
        SELECT NULL::BIGINT AS line, false AS blank, true AS ok, *
        FROM read_json({quoted(path)}, format='newline_delimited', columns={{{columns}}},
                       compression='{compression(path)}',
                       maximum_object_size={MAX_LINE})"""


def records_lines(docs: str) -> str:
    """Records from numbered text lines (``line, text``), any prefix stripped."""
    text_paths = ", ".join(f"'$.{c}'" for c in _TEXT)
    json_paths = ", ".join(f"'$.{c}'" for c in _JSON)
    return f"""
        SELECT line, blank, t IS NOT NULL AS ok,
               t[1] AS name, t[2] AS event_type, t[3] AS time, t[4] AS timestamp,
               t[5] AS username, t[6] AS page, j[1] AS context, j[2] AS data, j[3] AS event
        FROM (SELECT line, blank, try(json_extract_string(doc, [{text_paths}])) AS t,
                     try(json_extract(doc, [{json_paths}])) AS j
              FROM (SELECT line, text IS NULL OR trim(text) = '' AS blank, {json_text()} AS doc
                    FROM {docs}))"""


def fields_sql(records: str) -> str:
    """The shared fields. The course is ``context.course_id``, else the payload's, else the
    course key in the event's URL (an implicit event's name), ``page`` or ``context.path``
    (each named in ``fallback``). A ``time`` without an offset is UTC, as edX documents."""
    url = ", ".join(f"{{'k': coalesce(nullif(regexp_extract({c}, '{_V1_IN_URL}', 1), ''), "
                    f"nullif(regexp_extract({c}, '{_OLD_IN_URL}', 1), '')), 'what': '{what}'}}"
                    for c, what in (
        ("name", "course from the event URL"), ("page", "course from the page URL"),
        ("c.path", "course from context.path")))
    routes = ", ".join(f"'{r}'" for r in USER_ROUTES)
    return f"""
    SELECT line, blank, ok, user_raw,
           coalesce(key, url.k) AS course_raw,
           CASE WHEN zoned OR NOT regexp_matches(ts_text, '{TIME_OF_DAY}') THEN ts_text
                ELSE ts_text || '+00:00' END AS ts_raw,
           CASE WHEN segments IS NOT NULL  -- a URL path: no username or user id in it
                THEN array_to_string(list_transform(segments, lambda part, i:
                         CASE WHEN part IN (username, user_raw)
                                   OR (i > 1 AND part <> '' AND NOT regexp_full_match(part, 'v[0-9]+')
                                       AND segments[i - 1] IN ({routes}))
                              THEN '{{user}}' ELSE part END), '/')
                ELSE name END AS event_name,
           CASE WHEN name LIKE 'edx.course.enrollment.%' THEN p.mode
                ELSE coalesce(p.id, p.problem_id, c.module.usage_key, p.block_id) END AS object_id,
           CASE WHEN p.max_grade > 0 THEN 100 * p.grade / p.max_grade END AS score,
           NULL::VARCHAR AS event_id,
           nullif(concat_ws('; ', CASE WHEN key IS NULL THEN url.what
                                       WHEN from_payload THEN 'course from the payload''s course_id' END,
                            CASE WHEN ts_text IS NOT NULL AND NOT zoned THEN '{_UTC}' END), '') AS fallback,
           NULL::VARCHAR AS voids,
           CASE WHEN user_raw IS NULL AND nullif(trim(username), '') IS NOT NULL
                THEN '{ONLY_USERNAME}' END AS hint
    FROM (
      SELECT *,
             CASE WHEN key IS NULL  -- the fallbacks, only where needed (regexes are slow)
                  THEN list_filter([{url}], x -> x.k IS NOT NULL)[1] END AS url,
             coalesce(time, timestamp) AS ts_text,
             CASE WHEN starts_with(name, '/') THEN string_split(name, '/') END AS segments,
             CASE WHEN ends_with(coalesce(time, timestamp), '+00:00') THEN true
                  ELSE regexp_matches(coalesce(time, timestamp, ''), '{_ZONE}') END AS zoned
      FROM (
        SELECT *, coalesce(nullif(trim(p.user_id), ''), nullif(trim(c.user_id), '')) AS user_raw,
               coalesce(nullif(trim(c.course_id), ''), nullif(trim(p.course_id), '')) AS key,
               coalesce(c.course_id, '') = '' AND nullif(trim(p.course_id), '') IS NOT NULL AS from_payload
        FROM (
          SELECT line, blank, ok, time, timestamp, username, page,
                 coalesce(nullif(name, ''), event_type) AS name,
                 try(json_transform(context, '{_CONTEXT}')) AS c,
                 CASE WHEN data IS NOT NULL THEN try(json_transform(data, '{_PAYLOAD}'))
                      WHEN json_type(event) = 'VARCHAR'
                      THEN try(json_transform(json_extract_string(event, '$'), '{_PAYLOAD}'))
                      ELSE try(json_transform(event, '{_PAYLOAD}')) END AS p
          FROM {records})))"""
