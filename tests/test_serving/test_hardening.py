"""Issue #14: inputs that were 500s get a 4xx naming the field, request limits (413, 415, page),
a broken keys file (503, details only in the log), one-line validation logs without values,
and an OpenAPI document declaring the statuses the service answers. In-process (``client``)."""

import asyncio
import json
import logging
import sys

import pytest
from http_helpers import auth
from test_service import raw_learner
from test_web import sign_in

from mooc_risk.serving import log_hygiene
from mooc_risk.serving.guards import Guards
from mooc_risk.serving.keys import AuthError, Keys, KeysUnavailable

LIMIT = 1_000_000  # OpsSettings.max_body_bytes's default: the session's service runs with it


def late(learner: dict, learner_id: str = "late-one") -> dict:
    """``learner`` in a run starting 2030-01-01 that they join on day 19."""
    return {**learner, "enrolment": {**learner["enrolment"], "learner_id": learner_id,
                                     "course_start": "2030-01-01T00:00:00Z",
                                     "course_end": "2030-03-01T00:00:00Z",
                                     "enrolled_at": "2030-01-20T00:00:00Z"}}


def assert_names(response, status: int, field: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"].startswith(f"{field}: "), body
    return body


# --- 1. inputs that were 500s -------------------------------------------------------------
def test_a_raw_learner_not_enrolled_yet_alone_in_the_request_is_not_found(client, served):
    # the same answer as when others are scored with them (test_service): no 500 on an
    # empty population
    response = client.post("/score", json={"learners": [late(raw_learner(served))], "as_of_day": 0},
                           headers=auth(served.admin_key))
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [], "not_found": ["late-one"]}


@pytest.mark.parametrize(("where", "value"), [
    ("enrolment.enrolled_at", "9999-12-31T00:00:00Z"),
    ("enrolment.enrolled_at", "0001-01-01T00:00:00+05:00"),
    ("enrolment.course_end", "2101-01-01T00:00:00Z"),
    ("enrolment.unenrolled_at", "1989-12-31T23:59:59"),
    ("events.0.ts", "9999-12-31T23:59:59Z"),
])
def test_absurd_times_are_refused_naming_the_field(client, served, where, value):
    learner = raw_learner(served)
    part, name = where.rsplit(".", 1)
    if part == "enrolment":
        learner["enrolment"] = {**learner["enrolment"], name: value}
    else:
        learner["events"][0] = {**learner["events"][0], name: value}
    response = client.post("/score", json={"learners": [learner], "as_of_day": 0},
                           headers=auth(served.admin_key))
    body = assert_names(response, 400, f"learners.0.{where}")
    assert "from 1990 to 2100" in body["error"]


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e400"])
@pytest.mark.parametrize("where", ["events.0.value", "enrolment.credential_cost",
                                   "survey.hours_per_week_planned"])
def test_numbers_that_are_not_finite_are_refused_naming_the_field(client, served, number, where):
    learner = raw_learner(served)
    part, name = where.rsplit(".", 1)
    if part == "events.0":
        learner["events"][0] = {**learner["events"][0], name: "__N__"}
    else:
        learner[part] = {**(learner[part] or {}), name: "__N__"}
    text = json.dumps({"learners": [learner], "as_of_day": 0}).replace('"__N__"', number)
    response = client.post("/score", content=text, headers={
        **auth(served.admin_key), "Content-Type": "application/json"})
    body = assert_names(response, 400, f"learners.0.{where}")
    assert "finite number" in body["error"]


def test_multipart_without_a_boundary_is_415_not_500(client):
    response = client.post("/score", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data"})
    assert_names(response, 415, "Content-Type")
    assert response.json() == {"error": "Content-Type: expected application/json, not 'multipart/form-data'"}


@pytest.mark.parametrize("path", ["/score", "/courses/C001/predictions", "/courses/C001/interventions",
                                  "/courses/C001/feedback"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml",
                                          "application/x-www-form-urlencoded",
                                          "application/vnd.bentoml+pickle", "multipart/form-data; boundary=b"])
def test_an_undeclared_content_type_on_a_json_route_is_415(client, served, path, content_type):
    response = client.post(path, content=b'{"as_of_day": 7}', headers={
        **auth(served.admin_key), "Content-Type": content_type})
    assert_names(response, 415, "Content-Type")


def test_json_with_a_charset_is_read_and_a_body_without_a_content_type_is_415(client, served):
    body = json.dumps({"as_of_day": 7, "page_size": 1}).encode()
    response = client.post("/courses/C001/predictions", content=body, headers={
        **auth(served.key), "Content-Type": "Application/JSON; charset=utf-8"})
    assert response.status_code == 200, response.text
    for path in ("/courses/C001/predictions", "/score"):
        response = client.post(path, content=body, headers=auth(served.key))
        assert response.json() == {"error": "Content-Type: expected application/json, none given"}
        assert response.status_code == 415


# --- 2. limits ----------------------------------------------------------------------------
def test_a_body_over_the_limit_is_413_by_its_length(client, served):
    body = b'{"as_of_day": 7, "run_id": "' + b"x" * LIMIT + b'"}'
    for path in ("/score", "/courses/C001/predictions", "/app/sign-in"):
        response = client.post(path, content=body, headers={
            **auth(served.key), "Content-Type": "application/json"})
        assert response.status_code == 413, (path, response.text)
        assert response.json() == {"error": f"request body: at most {LIMIT} bytes"}


def test_a_chunked_body_over_the_limit_is_413(client, served):
    def chunks():  # no Content-Length: Transfer-Encoding: chunked
        for _ in range(11):
            yield b" " * 100_000

    response = client.post("/score", content=chunks(), headers={
        **auth(served.key), "Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json() == {"error": f"request body: at most {LIMIT} bytes"}


def test_a_body_at_the_limit_is_read(client, served):
    body = json.dumps({"as_of_day": 7, "page_size": 1}).encode()
    body = body[:-1] + b" " * (LIMIT - len(body)) + b"}"
    assert len(body) == LIMIT
    response = client.post("/courses/C001/predictions", content=body, headers={
        **auth(served.key), "Content-Type": "application/json"})
    assert response.status_code == 200, response.text


def _run(guards: Guards, messages: list[dict], headers: list | None = None, path: str = "/score"):
    """Drive ``guards`` with a request of these body messages; (status, body, messages read,
    what the app behind it received)."""
    read, sent, got = [], [], []

    async def receive():
        message = messages[len(read)] if len(read) < len(messages) else {"type": "http.disconnect"}
        read.append(message)
        return message

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        while True:
            message = await receive()
            got.append(message)
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guards.app = app
    scope = {"type": "http", "method": "POST", "path": path,
             "headers": headers or [(b"content-type", b"application/json")]}
    asyncio.run(guards(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body, read, got


def test_guards_count_a_chunked_body_and_stop_reading_at_the_limit():
    chunk = {"type": "http.request", "body": b"x" * 400, "more_body": True}
    status, body, read, got = _run(Guards(None, max_body_bytes=1000), [chunk] * 10)
    assert status == 413 and json.loads(body) == {"error": "request body: at most 1000 bytes"}
    assert len(read) == 3 and got == []  # 1200 bytes read of 4000; the route never ran
    last = {"type": "http.request", "body": b"x" * 200, "more_body": False}
    status, body, read, got = _run(Guards(None, max_body_bytes=1000), [chunk, chunk, last])
    assert status == 200 and got == [{"type": "http.request", "body": b"x" * 1000, "more_body": False}]


def test_guards_refuse_by_content_length_before_reading():
    status, _, read, got = _run(Guards(None, max_body_bytes=1000), [],
                                headers=[(b"content-length", b"1001")], path="/app/sign-in")
    assert status == 413 and read == [] and got == []


def test_guards_read_their_limit_from_the_settings(monkeypatch):
    monkeypatch.setenv("MOOC_RISK_MAX_BODY_BYTES", "5000")
    assert Guards(None).max_body_bytes == 5000


def test_a_page_beyond_the_last_possible_is_refused_naming_page(client, served):
    response = client.post("/courses/C001/predictions", json={"as_of_day": 7, "page": 100_001},
                           headers=auth(served.key))
    assert_names(response, 400, "page")
    response = client.post("/courses/C001/predictions", json={"as_of_day": 7, "page": 100_000,
                                                              "page_size": 1}, headers=auth(served.key))
    assert response.status_code == 200 and response.json()["rows"] == []


# --- 3. a broken keys file ----------------------------------------------------------------
@pytest.fixture
def broken_keys(served):
    """The session's keys file with a malformed last line, put back afterwards."""
    path = served.paths.keys_file
    before = path.read_text()
    path.write_text(before + "- {course: C001, sha256: SECRET-LOOKING-LINE\n")
    try:
        yield path
    finally:
        path.write_text(before)


def test_a_broken_keys_file_is_503_with_a_generic_message_and_the_details_in_the_log(
        client, served, broken_keys, caplog):
    caplog.set_level(logging.INFO, logger="mooc_risk.serving.keys")
    run = {"as_of_day": 7, "page_size": 1}
    calls = [("post", "/score", {"course_id": "C001", "run_id": "r", "learner_ids": ["x"], "as_of_day": 7}),
             ("post", "/courses/C001/predictions", run),
             ("get", "/courses/C001/interventions", None),
             ("post", "/courses/C001/interventions", {"learner_ids": ["x"], "action": "a", "done_by": "me"}),
             ("post", "/courses/C001/feedback", {"learner_id": "x", "useful": True})]
    for key in (served.key, "mrk_not-a-key"):
        for method, path, body in calls:
            response = client.request(method.upper(), path, json=body, headers=auth(key))
            assert response.status_code == 503, (path, response.text)
            assert response.json() == {"error": "the service cannot check keys right now"}
    logged = [r.getMessage() for r in caplog.records if r.name == "mooc_risk.serving.keys"]
    assert len(logged) == 1, logged  # once, not at every request
    assert str(broken_keys) in logged[0] and "not valid YAML" in logged[0]
    broken_keys.write_text(broken_keys.read_text().rsplit("- {course", 1)[0])  # fixed: served again
    assert client.post("/courses/C001/predictions", json=run, headers=auth(served.key)).status_code == 200


def test_a_broken_keys_file_is_a_503_page_in_the_web_app(client, served, broken_keys):
    broken_keys.write_text(broken_keys.read_text().rsplit("- {course", 1)[0])
    assert sign_in(client, served.key).status_code == 303
    broken_keys.write_text(broken_keys.read_text() + "keys: twice\n")
    try:
        page = client.get("/app/courses/C001")
        assert page.status_code == 503 and "the service cannot check keys right now" in page.text
        assert str(broken_keys) not in page.text and "twice" not in page.text
    finally:
        client.cookies.clear()


def test_keys_unavailable_is_refused_wherever_an_auth_error_is():
    assert issubclass(KeysUnavailable, AuthError) and KeysUnavailable().status == 503
    assert str(KeysUnavailable()) == "the service cannot check keys right now"


def test_keys_unavailable_while_the_file_is_unreadable(tmp_path, caplog):
    path = tmp_path / "keys.yaml"
    path.write_bytes(b"keys:\n- course: \xff\xfe\n")  # not UTF-8
    keys = Keys(path)
    with pytest.raises(KeysUnavailable) as refused:
        keys.current()
    assert str(path) not in str(refused.value)
    assert str(path) in caplog.text
    path.write_text("keys: []\n")
    assert keys.current().entries == []


# --- 4. validation errors: one log line without values, the field in the answer ---------------
def test_an_invalid_score_body_is_one_log_line_without_values_and_a_400_naming_the_field(
        client, served, caplog):
    log_hygiene.install()  # RiskService.__init__ installs it in a served process
    log_hygiene.install()  # once, however often called
    learner = raw_learner(served)
    learner["enrolment"] = {**learner["enrolment"], "learner_id": "L-PRIVATE-4711",
                            "enrolled_at": "not-a-time"}
    caplog.set_level(logging.INFO)
    caplog.clear()
    response = client.post("/score", json={"learners": [learner], "as_of_day": 0},
                           headers=auth(served.admin_key))
    body = assert_names(response, 400, "learners.0.enrolment.enrolled_at")
    assert body["detail"][0]["loc"] == ["learners", 0, "enrolment", "enrolled_at"]
    assert "not-a-time" not in response.text and "L-PRIVATE" not in response.text
    records = [r for r in caplog.records if r.name == log_hygiene.BENTOML_HTTP_LOGGER]
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    assert record.levelno == logging.WARNING and record.exc_info is None and not record.exc_text
    assert record.getMessage().startswith(
        "invalid request to /score: learners.0.enrolment.enrolled_at: Input should be a valid datetime")
    assert "\n" not in record.getMessage()
    assert "L-PRIVATE" not in caplog.text and "not-a-time" not in caplog.text


def test_invalid_json_and_a_bad_mode_are_400s_naming_where(client, served):
    response = client.post("/score", content=b"{nope", headers={"Content-Type": "application/json"})
    assert_names(response, 400, "body")
    response = client.post("/score", json={"learner_ids": ["x"]}, headers=auth(served.key))
    body = assert_names(response, 400, "body")
    assert "missing course_id, run_id" in body["error"]
    response = client.post("/courses/C001/predictions", content=b"[]",
                           headers={**auth(served.key), "Content-Type": "application/json"})
    assert_names(response, 400, "body")


def test_every_error_of_a_json_route_has_the_error_shape(client, served):
    response = client.post("/courses/C001/predictions", content=b'J\xff',
                           headers={**auth(served.key), "Content-Type": "application/json"})
    assert response.status_code == 400  # FastAPI's own {"detail": "There was an error parsing the body"}
    assert response.json() == {"error": "body: There was an error parsing the body"}
    response = client.get("/courses/C001/predictions", headers=auth(served.key))
    assert response.status_code == 405 and response.json() == {"error": "Method Not Allowed"}


def test_a_validation_error_of_the_service_itself_stays_an_error_with_its_traceback():
    from pydantic import BaseModel, ValidationError

    class Out(BaseModel):
        risk: float

    value = "L-PRIVATE-4711"  # as if from the request (the traceback shows source lines, not values)
    try:
        Out(risk=value)
    except ValidationError:
        record = logging.LogRecord(log_hygiene.BENTOML_HTTP_LOGGER, logging.ERROR, __file__, 1,
                                   "Exception on %s [%s]", ("/score", "POST"), exc_info=sys.exc_info())
    assert log_hygiene.ValidationErrorLines().filter(record)
    text = logging.Formatter().format(record)
    assert record.levelno == logging.ERROR and "Traceback" in text and "risk: Input should be" in text
    assert "L-PRIVATE" not in text


# --- 5. the OpenAPI document declares the statuses the service answers -------------------------
def test_the_openapi_document_declares_400_not_422_and_the_keyed_errors(client):
    spec = client.get("/docs.json").json()
    assert "ErrorMessage" in spec["components"]["schemas"]
    assert set(spec["components"]["securitySchemes"]) == {"bearerKey", "apiKeyHeader"}
    keyed = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            for status, response in responses.items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorMessage"}, (method, path, status)
            if path.startswith(("/score", "/courses/")):
                keyed += 1
                assert operation["security"] == [{"bearerKey": []}, {"apiKeyHeader": []}]
                expected = {"400", "401", "403", "404", "413", "503"} | (
                    {"415"} if "requestBody" in operation else set())
                assert expected <= set(responses), (method, path, sorted(responses))
    assert keyed == 5
    assert set(spec["paths"]["/model"]["get"]["responses"]) == {"200", "503"}  # 503: no model yet
