"""Schema fuzzing: every operation of the served OpenAPI document (``/docs.json``) called with
requests Schemathesis generates from it (valid and invalid), with an admin key and without a
key, against a real ``mooc-risk serve``: no answer is a 5xx, and every answer has a status, a
content type and a body its operation declares."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import schemathesis
from http_helpers import auth, free_port
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from mooc_risk.serving.readiness import wait_until_ready

pytestmark = pytest.mark.slow
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 25  # per operation and key (valid and invalid requests): 10 × 2 × 25, about a minute
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def live(served, tmp_path_factory):
    """The URL of a ``mooc-risk serve`` subprocess on 127.0.0.1 (the session's models, keys
    and data). Its log goes to a file: a pipe nobody reads fills up and blocks the service."""
    log = tmp_path_factory.mktemp("fuzz") / "serve.log"
    port = free_port()
    cli = Path(sys.executable).parent / "mooc-risk"
    with log.open("wb") as out:
        process = subprocess.Popen([str(cli), "serve", "--data", str(served.data), "--port", str(port)],
                                   env={**os.environ, **served.env}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_ready(url, 120):
            pytest.fail("service did not become ready: " + log.read_text()[-5000:])
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            raise


def fuzz(url: str, headers: dict[str, str]) -> list[str]:
    """Call every operation of ``url``'s OpenAPI document with generated requests (valid and
    invalid) and ``headers``; the problems found, one per operation at most. (Not Schemathesis's
    pytest plugin: its lazy schema needs a pytest ``Item._nodeid``, which pytest 9 no longer has.)"""
    schema = schemathesis.openapi.from_url(f"{url}/docs.json")
    problems = []
    for found in schema.get_all_operations():
        operation = found.ok()
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE))

        @FUZZ
        @given(case=cases)
        def call(case):
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)

        try:
            call()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001  (Schemathesis's FailureGroup is a BaseExceptionGroup)
            problems.append(f"{operation.label}: {exc}"[:3000])
    return problems


def test_every_operation_answers_as_declared_and_never_5xx_with_an_admin_key(live, served):
    problems = fuzz(live, auth(served.admin_key))
    assert not problems, "\n\n".join(problems)


def test_every_operation_answers_as_declared_and_never_5xx_without_a_key(live):
    problems = fuzz(live, {})
    assert not problems, "\n\n".join(problems)


def test_a_chunked_body_over_the_limit_is_413_over_real_http(live, served):
    def chunks():  # 10 MB without a Content-Length: the service stops reading at 1 MB
        for _ in range(100):
            yield b" " * 100_000

    response = httpx.post(f"{live}/score", content=chunks(), timeout=60, headers={
        **auth(served.key), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"error": "request body: at most 1000000 bytes"}
