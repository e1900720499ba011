"""Write a synthetic data set as an Open edX tracking log (JSON lines, optionally gzipped).

For benchmarks and round-trip tests of ``mooc-risk import --source edx``: each canonical event
becomes the edX event a platform would log for it, with the personal fields a real log carries
(username, IP, user agent, session) — which the importer must drop.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd

NAMES = {"video": "play_video", "page": "edx.ui.lms.sequence.next_selected",
         "problem": "problem_check", "forum": "edx.forum.thread.viewed", "other": "edx.bookmark.added"}


def course_key(course_id: str, run_id: str) -> str:
    return f"course-v1:Synth+{course_id}+{run_id}"


def user_number(learner_id: str) -> int:
    return int(learner_id.lstrip("L"))


def _time(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"


def _event(name: str, ts: pd.Timestamp, user: int, course: str, data: dict, source: str) -> str:
    return json.dumps({
        "name": name, "event_type": name, "time": _time(ts), "event_source": source,
        "username": f"learner{user}", "ip": f"10.{user % 250}.{user % 7}.9",
        "agent": "Mozilla/5.0 (X11; Linux x86_64)", "host": "courses.example.org",
        "session": f"{user:032x}", "referer": "https://courses.example.org/dashboard",
        "context": {"course_id": course, "user_id": user, "org_id": "Synth", "path": "/event"},
        "data": data,
    }, separators=(",", ":"))


def write_edx_log(data_dir: Path, out: Path, limit: int | None = None) -> int:
    """Write the events (and enrolment / grade lifecycle) of ``data_dir`` to ``out``."""
    enrolments = pd.read_parquet(data_dir / "enrolments.parquet")
    outcomes = pd.read_parquet(data_dir / "outcomes.parquet")
    events = pd.read_parquet(data_dir / "events.parquet")
    if limit is not None:
        events = events.iloc[:limit]
    opener = gzip.open if out.suffix == ".gz" else open
    written = 0
    with opener(out, "wt", encoding="utf-8", **({"compresslevel": 1} if out.suffix == ".gz" else {})) as f:
        for e in enrolments.itertuples(index=False):
            f.write(_event("edx.course.enrollment.activated", e.enrolled_at, user_number(e.learner_id),
                           course_key(e.course_id, e.run_id), {"mode": e.credential_type}, "server") + "\n")
            written += 1
        keys = [course_key(c, r) for c, r in zip(events.course_id, events.run_id, strict=True)]
        users = events.learner_id.str.lstrip("L").astype(int).to_numpy()
        for ts, kind, obj, value, user, course in zip(events.ts, events.event_type, events.object_id,
                                                      events.value, users, keys, strict=True):
            if kind == "assessment":
                data = {"problem_id": obj, "grade": float(value) / 100 if not np.isnan(value) else None,
                        "max_grade": 1.0}
                name, source = "problem_check", "server"
            else:
                data, name, source = {"id": obj}, NAMES.get(kind, NAMES["other"]), "browser"
            f.write(_event(name, ts, int(user), course, data, source) + "\n")
            written += 1
        for o in outcomes.merge(enrolments, on=["learner_id", "course_id", "run_id"]).itertuples():
            name = ("edx.course.grade.passed.first_time" if o.certified else
                    "edx.course.enrollment.deactivated" if o.dropped_out else None)
            if name and pd.notna(o.last_active_at):
                f.write(_event(name, o.last_active_at + pd.Timedelta(hours=1), user_number(o.learner_id),
                               course_key(o.course_id, o.run_id), {}, "server") + "\n")
                written += 1
    return written
