"""What the last ``mooc-risk monitor`` found, kept for the course-team app: one small JSON file
per date and scope of the monitor next to the predictions history::

    HISTORY/_monitor/2024-05-20.json                      the run of every course
    HISTORY/_monitor/2024-05-20.course-<sha256[:16]>.json a ``--course`` run (the id hashed:
                                                          ids may hold "/", "+", ":")

each::

    {"date": "2024-05-20", "course": null, "report": "/srv/reports/monitor",
     "targets": {"dropout": {"model": "mooc-risk-dropout", "version": "3",
                             "signals": [{"rule": "auc_drop", "as_of_day": 14,
                                          "course_id": "C001", "text": "…"}]}}}

``course`` is the monitor's ``--course`` (null: every course). A signal with a ``course_id``
(decay) concerns that course; one without (drift of the running runs' features or scores)
concerns every course monitored. A run replaces only the file of its date and scope, so a
``--course C2`` run leaves that day's all-courses status (and other courses') in place.

A course's status (``course_status``) is the newest date's; on one date the course's own run
wins over the all-courses run (it looked at this course only, and is what someone ran to
re-check it). A file that cannot be read or lacks a key is skipped, never an error: the app
reads it on every course page.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

from mooc_risk.files import write_text

FOLDER = "_monitor"  # "_": never read as a partition of the history


def status_path(history_dir: Path, day: str, course: str | None) -> Path:
    """The file of the status of ``day`` (YYYY-MM-DD) for ``course`` (None: every course)."""
    folder = Path(history_dir) / FOLDER
    if course is None:
        return folder / f"{day}.json"
    return folder / f"{day}.course-{hashlib.sha256(course.encode()).hexdigest()[:16]}.json"


def write_status(history_dir: Path, result, report_dir: Path) -> Path:
    """Write (or replace) the status of ``result`` (a ``serving.monitor.MonitorResult``) for
    its date and course (``status_path``), atomically; the file's path."""
    targets = {t.target: {"model": t.model, "version": t.version,
                          "signals": [{"rule": s.rule, "as_of_day": s.as_of_day,
                                       "course_id": s.course_id, "text": s.text} for s in t.signals]}
               for t in result.targets}
    status = {"date": result.date, "course": result.course, "report": str(report_dir),
              "targets": targets}
    path = status_path(history_dir, result.date, result.course)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(status, indent=1) + "\n")
    return path


def course_status(history_dir: Path, course_id: str, today: date) -> dict | None:
    """The newest status up to ``today`` that covers ``course_id`` (on one date, the course's
    own run over the all-courses run), with only the signals that concern it: ``{"date",
    "report", "signals": [{"target", "version", "rule", "text"}], "versions": {target:
    version}}``; None when the monitor has not run for it. Files that cannot be read, are not
    the expected JSON or lack a key are skipped."""
    folder = Path(history_dir) / FOLDER
    if not folder.is_dir():
        return None
    own = status_path(history_dir, "", course_id).name.removeprefix(".")  # course-<hash>.json
    candidates = []
    for path in folder.glob("*.json"):
        day, _, scope = path.name.partition(".")
        if scope not in ("json", own):
            continue
        try:
            if date.fromisoformat(day) > today:
                continue
        except ValueError:
            continue
        candidates.append((day, scope == own, path))
    for _day, _own, path in sorted(candidates, reverse=True):  # newest date, own run first
        try:
            found = _covering(json.loads(path.read_text()), course_id)
        except (ValueError, OSError, KeyError, TypeError, AttributeError):
            continue
        if found is not None:
            return found
    return None


def _covering(status: dict, course_id: str) -> dict | None:
    """``status`` as ``course_status`` returns it, None when it is of another course; raises
    KeyError / TypeError / AttributeError on a status lacking a key or of another shape."""
    if status.get("course") not in (None, course_id):
        return None
    signals = [{"target": target, "version": entry["version"], "rule": s["rule"], "text": s["text"]}
               for target, entry in status["targets"].items() for s in entry["signals"]
               if s.get("course_id") in (None, course_id)]
    return {"date": str(status["date"]), "report": status.get("report"), "signals": signals,
            "versions": {t: str(e["version"]) for t, e in status["targets"].items()}}
