"""Prometheus metrics at ``/metrics``, with labels that cannot grow with traffic.

``Metrics`` is an ASGI middleware (``RiskService.add_asgi_middleware(Metrics)``, BentoML's own
path-labelled metrics being turned off in the service's config) that answers ``GET /metrics``
itself, from a registry of its own, and times every other request:

- ``mooc_risk_http_requests_total`` and ``mooc_risk_http_request_duration_seconds``, labelled by
  route *template* (``/courses/{course_id}/predictions``; ``other`` for any path no route
  serves), method (the standard ones, else ``other``) and status class (``2xx``…``5xx``). The
  raw path never becomes a label: it carries course ids, and a fuzzer's paths would each make a
  new series;
- gauges the service sets as it loads and refreshes: ``mooc_risk_model_version{target}``,
  ``mooc_risk_data_time_seconds`` (the newest event served), ``mooc_risk_last_refresh_time_seconds``
  and ``mooc_risk_ready`` (``set_model_version``, ``set_data_time``, ``set_last_refresh``,
  ``set_ready``).

It also writes the one access-log line per request (logger ``mooc_risk.access``): method, route
template, status and duration, never the path or the query string (learner ids).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

access_log = logging.getLogger("mooc_risk.access")

OTHER = "other"
METRICS_PATH = "/metrics"
QUIET = frozenset({METRICS_PATH, "/livez", "/healthz", "/readyz"})  # counted, not access-logged
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

# (regex on the decoded path, template), first match wins: the order of the routes that serve them
# (``{course_id:path}`` routes take ids with ``/``, so the more specific suffixes come first).
_TEMPLATES = (
    (r"^/$", "/"),
    (r"^/metrics$", "/metrics"),
    (r"^/api-docs$", "/api-docs"),
    (r"^/docs\.json$", "/docs.json"),
    (r"^/schema\.json$", "/schema.json"),
    (r"^/static_content/.+$", "/static_content/{file}"),
    (r"^/livez$", "/livez"),
    (r"^/healthz$", "/healthz"),
    (r"^/readyz$", "/readyz"),
    (r"^/score$", "/score"),
    (r"^/model$", "/model"),
    (r"^/courses/.+/predictions$", "/courses/{course_id}/predictions"),
    (r"^/courses/.+/interventions$", "/courses/{course_id}/interventions"),
    (r"^/courses/.+/feedback$", "/courses/{course_id}/feedback"),
    (r"^/app/?$", "/app/"),
    (r"^/app/sign-in$", "/app/sign-in"),
    (r"^/app/sign-out$", "/app/sign-out"),
    (r"^/app/courses$", "/app/courses"),
    (r"^/app/courses/.+/learner$", "/app/courses/{course_id}/learner"),
    (r"^/app/courses/.+/interventions$", "/app/courses/{course_id}/interventions"),
    (r"^/app/courses/.+/feedback$", "/app/courses/{course_id}/feedback"),
    (r"^/app/courses/.+/export\.csv$", "/app/courses/{course_id}/export.csv"),
    (r"^/app/courses/.+/mail-merge\.csv$", "/app/courses/{course_id}/mail-merge.csv"),
    (r"^/app/courses/.+$", "/app/courses/{course_id}"),
)
ROUTES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), template) for pattern, template in _TEMPLATES)


def route_of(path: str) -> str:
    """The template of the route that serves ``path`` (decoded, no query string), else
    ``other``."""
    for pattern, template in ROUTES:
        if pattern.fullmatch(path):  # not .match: ``$`` would also match before a final newline
            return template
    return OTHER


def method_of(method: str) -> str:
    return method if method in METHODS else OTHER


def status_class(status: int | None) -> str:
    """``2xx`` etc.; no response at all (the app raised, or was cancelled) counts as ``5xx``."""
    return f"{status // 100}xx" if status is not None and 100 <= status < 600 else "5xx"


def _seconds(moment: datetime | float | int) -> float:
    """Unix seconds of a time: a number as is, a naive datetime taken as UTC (the service's
    times are naive UTC)."""
    if isinstance(moment, datetime):
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return float(moment)


class ServiceMetrics:
    """The metrics, in a registry of their own (not prometheus_client's process-global one,
    which BentoML fills with its own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("route", "method", "status")
        self.requests = Counter("mooc_risk_http_requests", "HTTP requests, by route template, "
                                "method and status class", labels, registry=self.registry)
        self.duration = Histogram("mooc_risk_http_request_duration_seconds", "Time to answer an "
                                  "HTTP request (to the last body byte), by route template, method "
                                  "and status class", labels, buckets=BUCKETS, registry=self.registry)
        self.model_version = Gauge("mooc_risk_model_version", "Registered-model version served, "
                                   "per target", ("target",), registry=self.registry)
        self.data_time = Gauge("mooc_risk_data_time_seconds", "Time of the newest event in the data "
                               "served (unix seconds)", registry=self.registry)
        self.last_refresh = Gauge("mooc_risk_last_refresh_time_seconds", "When the service last "
                                  "loaded or refreshed its models and data (unix seconds)",
                                  registry=self.registry)
        self.ready = Gauge("mooc_risk_ready", "1 when the service can answer, else 0",
                           registry=self.registry)

    def observe(self, route: str, method: str, status: int | None, seconds: float) -> None:
        labels = (route, method_of(method), status_class(status))
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)

    def set_model_version(self, target: str, version: int | str | None) -> None:
        """The version served for ``target`` (a number, e.g. MLflow's ``"3"``); None: the target
        is no longer served (its series goes away)."""
        name = str(getattr(target, "value", target))
        if version is None:
            try:
                self.model_version.remove(name)
            except KeyError:
                pass
            return
        self.model_version.labels(name).set(float(version))

    def set_model_versions(self, versions: Iterable[tuple[str, int | str]]) -> None:
        """Exactly these (target, version) pairs: targets not listed are removed."""
        versions = [(str(getattr(t, "value", t)), v) for t, v in versions]
        self.model_version.clear()
        for target, version in versions:
            self.set_model_version(target, version)

    def set_data_time(self, moment: datetime | float) -> None:
        self.data_time.set(_seconds(moment))

    def set_last_refresh(self, moment: datetime | float | None = None) -> None:
        """When models and data were last (re)loaded; now when not given."""
        self.last_refresh.set(time.time() if moment is None else _seconds(moment))

    def set_ready(self, ready: bool) -> None:
        self.ready.set(1 if ready else 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


METRICS = ServiceMetrics()  # the service's (one process: ``workers=1``)
set_model_version = METRICS.set_model_version
set_model_versions = METRICS.set_model_versions
set_data_time = METRICS.set_data_time
set_last_refresh = METRICS.set_last_refresh
set_ready = METRICS.set_ready


class Metrics:
    """ASGI middleware: answers ``GET``/``HEAD /metrics``, times and access-logs the rest."""

    def __init__(self, app, metrics: ServiceMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics or METRICS

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        method, route = scope["method"], route_of(scope["path"])
        status: int | None = None

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if route == METRICS_PATH and method in ("GET", "HEAD"):
                await self._exposition(scope, send_status)
            else:
                await self.app(scope, receive, send_status)
        except BaseException:
            if status is None:  # no response yet: the server's error page (or a timeout's) follows
                status = 500
            raise
        finally:
            seconds = time.perf_counter() - start
            self.metrics.observe(route, method, status, seconds)
            if route not in QUIET and access_log.isEnabledFor(logging.INFO):
                shown = method_of(method)
                access_log.info("%s %s %s %.1fms", shown, route, status if status else "-",
                                seconds * 1000, extra={"method": shown, "route": route,
                                                       "status": status, "duration_ms":
                                                       round(seconds * 1000, 1)})

    async def _exposition(self, scope, send) -> None:
        body = self.metrics.exposition()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode()),
                                (b"content-length", str(len(body)).encode()),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
