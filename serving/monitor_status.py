"""What the last ``mooc-risk monitor`` found, kept for the course-team app: one small JSON file
per run of the monitor, ``HISTORY/_monitor/<date>.json`` next to the predictions history::

    {"date": "2024-05-20", "course": null, "report": "/srv/reports/monitor",
     "targets": {"dropout": {"model": "mooc-risk-dropout", "version": "3",
                             "signals": [{"rule": "auc_drop", "as_of_day": 14,
                                          "course_id": "C001", "text": "…"}]}}}

``course`` is the monitor's ``--course`` (null: every course). A signal with a ``course_id``
(decay) concerns that course; one without (drift of the running runs' features or scores)
concerns every course monitored.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from mooc_risk.files import write_text

FOLDER = "_monitor"  # "_": never read as a partition of the history


def write_status(history_dir: Path, result, report_dir: Path) -> Path:
    """Write (or replace) the status of ``result`` (a ``serving.monitor.MonitorResult``) for
    its date, atomically; the file's path."""
    targets = {t.target: {"model": t.model, "version": t.version,
                          "signals": [{"rule": s.rule, "as_of_day": s.as_of_day,
                                       "course_id": s.course_id, "text": s.text} for s in t.signals]}
               for t in result.targets}
    status = {"date": result.date, "course": result.course, "report": str(report_dir),
              "targets": targets}
    path = Path(history_dir) / FOLDER / f"{result.date}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(status, indent=1) + "\n")
    return path


def course_status(history_dir: Path, course_id: str, today: date) -> dict | None:
    """The newest status up to ``today`` that covers ``course_id`` (a monitor of every course
    or of this one), with only the signals that concern it: ``{"date", "report", "signals":
    [{"target", "version", "rule", "text"}], "versions": {target: version}}``; None when the
    monitor has not run for it (or its files cannot be read)."""
    folder = Path(history_dir) / FOLDER
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.json"), reverse=True):
        try:
            if date.fromisoformat(path.stem) > today:
                continue
            status = json.loads(path.read_text())
        except (ValueError, OSError):
            continue
        if status.get("course") not in (None, course_id):
            continue
        signals = [{"target": target, "version": entry["version"], "rule": s["rule"], "text": s["text"]}
                   for target, entry in status["targets"].items() for s in entry["signals"]
                   if s.get("course_id") in (None, course_id)]
        return {"date": status["date"], "report": status.get("report"), "signals": signals,
                "versions": {t: e["version"] for t, e in status["targets"].items()}}
    return None
