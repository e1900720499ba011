"""/metrics with bounded labels (route templates, never paths or ids), the gauges the service
sets, the access log and the JSON log format: on a tiny Starlette app and through the service."""

import io
import json
import logging
import os
import random
import string
import warnings
from datetime import datetime

import pandas as pd
import pytest
from http_helpers import auth
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from mooc_risk.serving import logs, metrics
from mooc_risk.serving.metrics import OTHER, ROUTES, Metrics, ServiceMetrics, route_of, status_class
from mooc_risk.settings import OpsSettings

TEMPLATES = {template for _, template in ROUTES} | {OTHER}
ID_PATHS = [("POST", "/courses/C001/predictions"), ("POST", "/courses/C002/predictions"),
            ("POST", "/courses/a%2Fb/predictions"), ("GET", "/app/courses/C001/learner?id=L1")]
CLIENT_LOGGERS = ("httpx", "httpcore")  # the test client's own logs, not the service's
IDS = ["C001", "C002", "a/b", "a%2Fb", "id=L1", '"L1"', " L1"]


def junk_paths(n: int, seed: int = 0) -> list[str]:
    """Fuzzer-like paths, each with a token of its own (``Jxxxxxxxxxx``)."""
    rng = random.Random(seed)
    prefixes = ["", "courses/", "app/", "app/courses/x/", "score/", "static/", "wp-admin/", "courses/"]
    return [f"/{rng.choice(prefixes)}J{''.join(rng.choices(string.ascii_lowercase + string.digits, k=10))}"
            f"{rng.choice(['', '/', '.php', '/predictions/x', '?q=1'])}" for _ in range(n)]


def tiny_app(registry: ServiceMetrics) -> Starlette:
    async def ok(request):
        return PlainTextResponse("ok")

    async def boom(request):
        raise RuntimeError("boom")

    return Starlette(routes=[Route("/courses/{course_id:path}/predictions", ok, methods=["GET", "POST"]),
                             Route("/app/courses/{course_id:path}/learner", ok),
                             Route("/score", ok, methods=["POST"]), Route("/boom", boom)],
                     middleware=[Middleware(Metrics, metrics=registry)])


def request_series(text: str) -> set[tuple[tuple[str, str], ...]]:
    """The label sets of mooc_risk_http_requests_total."""
    return {tuple(sorted(s.labels.items())) for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "mooc_risk_http_requests_total"}


def all_label_values(text: str) -> set[str]:
    return {v for family in text_string_to_metric_families(text) for s in family.samples
            for k, v in s.labels.items() if k != "le"}


def send(client, requests):
    for method, path in requests:
        client.request(method, path)


@pytest.fixture
def tiny():
    registry = ServiceMetrics()
    with TestClient(tiny_app(registry), raise_server_exceptions=False) as client:
        client.registry = registry
        yield client


# --- route templates ------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "template"), [
    ("/", "/"), ("/metrics", "/metrics"), ("/score", "/score"), ("/model", "/model"),
    ("/readyz", "/readyz"), ("/docs.json", "/docs.json"), ("/api-docs", "/api-docs"),
    ("/static_content/swagger-ui.css", "/static_content/{file}"),
    ("/courses/C001/predictions", "/courses/{course_id}/predictions"),
    ("/courses/a/b/predictions", "/courses/{course_id}/predictions"),
    ("/courses/C001/interventions", "/courses/{course_id}/interventions"),
    ("/courses/C001/feedback", "/courses/{course_id}/feedback"),
    ("/app", "/app/"), ("/app/", "/app/"), ("/app/sign-in", "/app/sign-in"),
    ("/app/sign-out", "/app/sign-out"), ("/app/courses", "/app/courses"),
    ("/app/courses/C001", "/app/courses/{course_id}"),
    ("/app/courses/a/b", "/app/courses/{course_id}"),
    ("/app/courses/C001/learner", "/app/courses/{course_id}/learner"),
    ("/app/courses/C001/interventions", "/app/courses/{course_id}/interventions"),
    ("/app/courses/C001/feedback", "/app/courses/{course_id}/feedback"),
    ("/app/courses/C001/export.csv", "/app/courses/{course_id}/export.csv"),
    ("/app/courses/C001/mail-merge.csv", "/app/courses/{course_id}/mail-merge.csv"),
    ("/courses/C001", OTHER), ("/courses//predictions", OTHER), ("/score/x", OTHER),
    ("/metrics/x", OTHER), ("/score\n", OTHER),
    ("/courses/a\nb/predictions", "/courses/{course_id}/predictions"), ("/wp-admin/setup.php", OTHER), ("", OTHER),
])
def test_paths_map_to_their_route_template(path, template):
    assert route_of(path) == template


def test_status_classes():
    assert [status_class(s) for s in (200, 201, 303, 404, 413, 500, 504, None, 999)] == [
        "2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "5xx", "5xx", "5xx"]


# --- the middleware on a tiny app -------------------------------------------------------------
def test_metrics_label_route_templates_never_paths_or_ids(tiny):
    send(tiny, ID_PATHS)
    junk = junk_paths(50)
    send(tiny, [("GET", p) for p in junk])
    response = tiny.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    series = request_series(text)
    routes = {dict(labels)["route"] for labels in series}
    assert routes <= TEMPLATES
    assert {"/courses/{course_id}/predictions", "/app/courses/{course_id}/learner", OTHER} <= routes
    assert dict(next(iter(s for s in series if dict(s)["route"] == "/courses/{course_id}/predictions"))) == {
        "route": "/courses/{course_id}/predictions", "method": "POST", "status": "2xx"}
    for secret in IDS:
        assert secret not in text, secret
    for path in junk:
        token = path.split("J", 1)[1][:10]
        assert token not in text, path
    predictions = tiny.registry.requests.labels("/courses/{course_id}/predictions", "POST", "2xx")
    assert predictions._value.get() == 3


def test_the_number_of_series_stays_bounded_however_many_junk_paths(tiny):
    send(tiny, ID_PATHS)
    send(tiny, [("GET", p) for p in junk_paths(50, seed=1)])
    before = request_series(tiny.get("/metrics").text)
    assert len(before) < 40
    send(tiny, [(m, p) for m in ("GET", "POST", "DELETE", "PROPFIND", "X" * 30)
                for p in junk_paths(100, seed=2)])
    after = request_series(tiny.get("/metrics").text)
    assert len(after) < 40
    methods = {dict(s)["method"] for s in after}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", OTHER}
    assert len(all_label_values(tiny.get("/metrics").text)) < 40


def test_status_class_of_errors_and_exceptions(tiny):
    tiny.get("/nowhere")
    tiny.get("/boom")
    tiny.put("/score")
    series = {(d["route"], d["method"], d["status"]) for d in map(dict, request_series(tiny.get("/metrics").text))}
    assert {(OTHER, "GET", "4xx"), (OTHER, "GET", "5xx"), ("/score", "PUT", "4xx")} <= series


def test_metrics_answers_get_and_head_itself(tiny):
    assert tiny.head("/metrics").status_code == 200
    assert tiny.head("/metrics").content == b""
    tiny.get("/metrics")
    scrapes = tiny.registry.requests.labels("/metrics", "GET", "2xx")._value.get()
    assert scrapes >= 1


def test_gauges_set_by_the_setters_appear():
    registry = ServiceMetrics()
    registry.set_model_version("dropout", "3")
    registry.set_model_version("certification", 12)
    registry.set_data_time(datetime(2024, 3, 1))  # naive: UTC
    registry.set_last_refresh(1_700_000_000)
    registry.set_ready(True)
    text = registry.exposition().decode()
    assert 'mooc_risk_model_version{target="dropout"} 3.0' in text
    assert 'mooc_risk_model_version{target="certification"} 12.0' in text
    assert "mooc_risk_data_time_seconds 1.7092512e+09" in text
    assert "mooc_risk_last_refresh_time_seconds 1.7e+09" in text
    assert "mooc_risk_ready 1.0" in text
    registry.set_ready(False)
    registry.set_model_version("certification", None)
    registry.set_model_versions([("dropout", 4)])
    text = registry.exposition().decode()
    assert "mooc_risk_ready 0.0" in text and "certification" not in text
    assert 'mooc_risk_model_version{target="dropout"} 4.0' in text


def test_the_module_setters_are_the_services_registry():
    assert metrics.set_ready.__self__ is metrics.METRICS
    assert metrics.set_model_version.__self__ is metrics.METRICS
    assert metrics.set_data_time.__self__ is metrics.METRICS
    assert metrics.set_last_refresh.__self__ is metrics.METRICS


# --- through the service -----------------------------------------------------------------------
def test_service_metrics_have_route_templates_and_no_ids(client, served):
    enrolments = pd.read_parquet(served.data / "enrolments.parquet")
    learner = enrolments[enrolments.course_id == "C001"].learner_id.iloc[0]
    response = client.post("/courses/C001/predictions", json={"as_of_day": 7, "page_size": 5},
                           headers=auth(served.key))
    assert response.status_code == 200, response.text
    client.post("/courses/C002/predictions", json={"as_of_day": 7}, headers=auth(served.key))  # 403
    client.post("/courses/a%2Fb/predictions", json={"as_of_day": 7}, headers=auth(served.key))
    client.get(f"/app/courses/C001/learner?id={learner}", follow_redirects=False)
    client.get("/model")
    junk = junk_paths(50, seed=3)
    for path in junk:
        client.get(path, follow_redirects=False)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    assert "bentoml_" not in text  # BentoML's path-labelled metrics are off
    series = {(d["route"], d["method"], d["status"]) for d in map(dict, request_series(text))}
    assert {("/courses/{course_id}/predictions", "POST", "2xx"),
            ("/courses/{course_id}/predictions", "POST", "4xx"),
            ("/app/courses/{course_id}/learner", "GET", "3xx"), ("/model", "GET", "2xx")} <= series
    assert {route for route, _, _ in series} <= TEMPLATES
    assert len(series) < 40
    for secret in [*IDS, learner, served.key]:
        assert secret not in text, secret
    for path in junk:
        assert path.split("J", 1)[1][:10] not in text, path
    for name in ("mooc_risk_http_request_duration_seconds_bucket", "mooc_risk_ready",
                 "mooc_risk_data_time_seconds", "mooc_risk_last_refresh_time_seconds"):
        assert name in text


def test_service_setters_show_in_its_metrics(client):
    gauges = metrics.METRICS
    before = gauges.last_refresh._value.get(), gauges.ready._value.get()
    try:
        metrics.set_last_refresh(1_234_567_890)
        metrics.set_ready(True)
        text = client.get("/metrics").text
        assert "mooc_risk_last_refresh_time_seconds 1.23456789e+09" in text
        assert "mooc_risk_ready 1.0" in text
    finally:
        gauges.last_refresh.set(before[0])
        gauges.ready.set(before[1])


def test_service_logs_no_ids(client, served, caplog):
    enrolments = pd.read_parquet(served.data / "enrolments.parquet")
    learner = enrolments[enrolments.course_id == "C001"].learner_id.iloc[0]
    caplog.set_level(logging.INFO)
    client.post("/courses/C001/predictions", json={"as_of_day": 7, "page_size": 5}, headers=auth(served.key))
    client.post("/courses/C002/predictions", json={"as_of_day": 7}, headers=auth(served.key))
    client.get(f"/app/courses/C001/learner?id={learner}", follow_redirects=False)
    client.get(f"/courses/C001/interventions?learner_id={learner}", headers=auth(served.key))
    access = [r for r in caplog.records if r.name == "mooc_risk.access"]
    assert {(r.method, r.route) for r in access} >= {
        ("POST", "/courses/{course_id}/predictions"), ("GET", "/app/courses/{course_id}/learner"),
        ("GET", "/courses/{course_id}/interventions")}
    assert not [r for r in caplog.records if r.name in ("bentoml.access", "uvicorn.access")]
    for record in caplog.records:
        if record.name.startswith(CLIENT_LOGGERS):
            continue
        line = record.getMessage() + " " + " ".join(str(v) for v in record.__dict__.values())
        for secret in ("C001", "C002", learner, served.key):
            assert secret not in line, (record.name, record.getMessage())


# --- logs -----------------------------------------------------------------------------------------
@pytest.fixture
def logging_restored():
    """Every handler's formatter and the levels ``logs.configure`` changes, put back after."""
    loggers = [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger))]
    formatters = {h: h.formatter for lg in loggers for h in lg.handlers}
    names = (logs.ACCESS_LOGGER, *logs.RAW_PATH_LOGGERS)
    levels = {name: logging.getLogger(name).level for name in names}
    root_handlers = list(logging.getLogger().handlers)
    yield
    for handler, formatter in formatters.items():
        handler.setFormatter(formatter)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().handlers[:] = root_handlers
    logging.captureWarnings(False)


@pytest.fixture
def root_stream(logging_restored):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(lambda record: not record.name.startswith(CLIENT_LOGGERS))
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def test_json_logs_are_one_object_per_line_with_route_templates_and_no_ids(root_stream):
    logs.configure(OpsSettings.of(log_format="json"))
    registry = ServiceMetrics()
    with TestClient(tiny_app(registry), raise_server_exceptions=False) as client:
        send(client, ID_PATHS)
        client.get("/boom")
        client.get("/metrics")  # counted, not access-logged
    logging.getLogger("mooc_risk.serving.app").warning("not serving %s: %s", "dropout", "no champion")
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("mooc_risk.test").exception("failed")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", UserWarning, stacklevel=1)
    lines = root_stream.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    access = [e for e in entries if e["logger"] == "mooc_risk.access"]
    assert [(e["method"], e["route"], e["status"]) for e in access] == [
        ("POST", "/courses/{course_id}/predictions", 200), ("POST", "/courses/{course_id}/predictions", 200),
        ("POST", "/courses/{course_id}/predictions", 200), ("GET", "/app/courses/{course_id}/learner", 200),
        ("GET", OTHER, 500)]
    assert all(isinstance(e["duration_ms"], float) and e["level"] == "INFO" for e in access)
    assert access[0]["time"].endswith("Z")
    assert any(e["logger"] == "mooc_risk.serving.app" and e["message"] == "not serving dropout: no champion"
               for e in entries)
    failed = next(e for e in entries if e["message"] == "failed")
    assert failed["level"] == "ERROR" and "ValueError: broken" in failed["exception"]
    assert any(e["logger"] == "py.warnings" and "deprecated thing" in e["message"] for e in entries)
    for line in lines:
        for secret in IDS:
            assert secret not in line, line


def test_text_logs_name_route_templates_only(root_stream):
    logs.configure(OpsSettings.of(log_format="text"))
    with TestClient(tiny_app(ServiceMetrics()), raise_server_exceptions=False) as client:
        send(client, ID_PATHS)
    lines = root_stream.getvalue().splitlines()
    assert lines[0].startswith("POST /courses/{course_id}/predictions 200 ")
    assert lines[3].startswith("GET /app/courses/{course_id}/learner 200 ")
    for line in lines:
        for secret in IDS:
            assert secret not in line, line
    assert logging.getLogger("uvicorn.access").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("bentoml.access").getEffectiveLevel() >= logging.WARNING


def test_the_access_log_can_be_turned_off_and_requests_are_still_counted(root_stream):
    logs.configure(OpsSettings.of(access_log=False))
    registry = ServiceMetrics()
    with TestClient(tiny_app(registry), raise_server_exceptions=False) as client:
        send(client, ID_PATHS)
        exposed = client.get("/metrics").text
    assert root_stream.getvalue() == ""
    assert any(dict(labels).get("route") == "/courses/{course_id}/predictions"
               for labels in request_series(exposed))
    logs.configure(OpsSettings.of())  # on again by default
    with TestClient(tiny_app(ServiceMetrics()), raise_server_exceptions=False) as client:
        send(client, ID_PATHS[:1])
    assert root_stream.getvalue().startswith("POST /courses/{course_id}/predictions 200 ")


def test_the_last_refresh_is_a_gauge(client, served, tmp_path):
    from mooc_risk.serving.service import _publish
    from mooc_risk.serving.web.pages import web

    runs = served.paths.history_dir / "_runs"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "2024-05-01.json").write_text("{}")
    os.utime(runs / "2024-05-01.json", (1_700_000_000, 1_700_000_000))
    client.get("/readyz")
    _publish(web.state.ctx.risk)
    assert "mooc_risk_last_refresh_time_seconds 1.7e+09" in client.get("/metrics").text
