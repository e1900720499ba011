"""Course and run from a platform's course identifier, by each standard's own rules.

- **Open edX course keys** (the grammar of edX's ``opaque-keys``): ``course-v1:ORG+COURSE+RUN``
  → course ``ORG+COURSE``, run ``RUN``; ``+branch@…`` and ``+version@…`` name a version of the
  same run and are dropped. A **CCX** (custom course) ``ccx-v1:ORG+COURSE+RUN+ccx@N`` is its
  own run of the course: run ``RUN+ccx@N``. Old-style keys ``ORG/COURSE/RUN`` → course
  ``ORG/COURSE``, run ``RUN``.
- **IRIs** (xAPI activities, Caliper entities, Moodle URLs): an IRI whose path names an edX
  course key (``…/course/course-v1:…``, ``…/courses/ccx-v1:…``) is that key; any other
  IRI is a course of its own, identified by the whole IRI: the course id is the IRI without
  ``https://`` and a trailing ``/`` (query and fragment kept, so ``…/view.php?id=12`` and
  ``…?id=45`` stay two courses), run ``default``.
- Anything else is a course id as given, run ``default``.

Every identifier is trimmed of surrounding blanks and line breaks first, so ``KEY\\n`` and
``KEY`` are one course.
"""

from __future__ import annotations

import re

DEFAULT_RUN = "default"
_V1 = re.compile(r"^(course|ccx)-v1:(?P<parts>[^/?#\s]+)$")
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# an Open edX course key as it stands inside a URL: it ends where a path segment, a query or a
# query parameter would begin (…?course_id=course-v1:A+B+C&email=… holds the key A+B+C only)
V1_KEY_IN_URL = r"(?:course|ccx)-v1:[^/?#&=,;\s]+"
_IN_PATH = re.compile(rf"/courses?/(?P<key>{V1_KEY_IN_URL})")
_VERSION = ("branch@", "version@")
BLANKS = " \t\r\n\x0b\x0c"  # around any identifier or cell: the one blank set of the imports


def course_and_run(raw: str) -> tuple[str, str]:
    """``(course_id, run_id)`` of a course identifier (see the module docstring).

    Raises:
        ValueError: ``raw`` is empty once trimmed.
    """
    key = raw.strip(BLANKS)
    if not key:
        raise ValueError("empty course identifier")
    parsed = edx_key(key)
    if parsed:
        return parsed
    if _IRI.match(key):
        inside = _IN_PATH.search(key)
        if inside:
            parsed = edx_key(inside.group("key"))
            if parsed:
                return parsed
        readable = key[len("https://"):] if key.lower().startswith("https://") else key
        return readable.rstrip("/") or key, DEFAULT_RUN
    return key, DEFAULT_RUN


def edx_key(key: str) -> tuple[str, str] | None:
    """``(course, run)`` of an Open edX course key, or None when ``key`` is not one."""
    match = _V1.match(key)
    if match:
        parts = [p for p in match.group("parts").split("+") if not p.startswith(_VERSION)]
        if len(parts) < 3 or not all(parts[:3]):
            return None
        course, run = f"{parts[0]}+{parts[1]}", parts[2]
        if match.group(1) == "ccx":
            ccx = [p for p in parts[3:] if p.startswith("ccx@")]
            if not ccx:
                return None
            run = f"{run}+{ccx[0]}"
        return course, run
    parts = key.split("/")
    if len(parts) == 3 and all(parts) and ":" not in parts[0]:
        return f"{parts[0]}/{parts[1]}", parts[2]
    return None
