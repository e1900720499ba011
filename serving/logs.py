"""The service process's logs: text (BentoML's format) or one JSON object per line
(``MOOC_RISK_LOG_FORMAT=json``).

``configure(settings)`` runs first thing in the service's ``__init__``, after BentoML has set up
its handlers (``bentoml serve`` configures logging before it loads the service):

- the access log is ``mooc_risk.access`` (``serving.metrics``): one line per request with the
  method, the route *template*, the status and the duration, never the path (course ids) or the
  query string (learner ids); ``MOOC_RISK_ACCESS_LOG=false`` turns it off. BentoML's access
  log is off in the service's config, and uvicorn's (``uvicorn.access``, raw paths) is held
  at WARNING, which it never logs at;
- ``json``: every handler already installed (the root's, BentoML's, uvicorn's, MLflow's) writes
  ``{"time", "level", "logger", "message"}`` (plus ``method``, ``route``, ``status``,
  ``duration_ms`` on access lines, ``exception`` with a traceback), and Python warnings are
  logged too, so each line of the process's output is one JSON object.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from mooc_risk.settings import OpsSettings

ACCESS_LOGGER = "mooc_risk.access"
RAW_PATH_LOGGERS = ("uvicorn.access", "bentoml.access")  # log raw paths and query strings
ACCESS_FIELDS = ("method", "route", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _handlers() -> list[logging.Handler]:
    """Every handler installed on the root logger or a named one (each once)."""
    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger)]
    seen: dict[int, logging.Handler] = {}
    for lg in loggers:
        for handler in lg.handlers:
            seen.setdefault(id(handler), handler)
    return list(seen.values())


def configure(settings: OpsSettings) -> None:
    """Set the service process's logging up for ``settings.log_format``; safe to call again."""
    access = logging.getLogger(ACCESS_LOGGER)
    access.setLevel(logging.INFO if settings.access_log else logging.WARNING)
    access.disabled = False
    for name in RAW_PATH_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if settings.log_format != "json":
        return
    root = logging.getLogger()
    if not root.handlers:  # not under `bentoml serve` (which installs its handler first)
        root.addHandler(logging.StreamHandler(sys.stdout))
    formatter = JsonFormatter()
    for handler in _handlers():
        handler.setFormatter(formatter)
    logging.captureWarnings(True)  # warnings.warn → the "py.warnings" logger, as JSON
