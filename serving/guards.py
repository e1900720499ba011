"""Checks on every request before a route sees it, and one repair of BentoML's answers: an
ASGI middleware, ``RiskService.add_asgi_middleware(Guards)``.

- **Body size**: a body larger than ``OpsSettings.max_body_bytes`` (``MOOC_RISK_MAX_BODY_BYTES``)
  gets 413 ``{"error": "request body: at most N bytes"}``: by its ``Content-Length`` before any
  of it is read, else (a chunked body) as soon as the bytes read pass the limit. A body within
  the limit is read here, then handed on whole.
- **Content type**: a request with a body to a JSON route (``POST /score``,
  ``/courses/...``) must declare ``application/json``; anything else, or nothing, gets 415
  naming the header. BentoML would otherwise pick another parser by the header (a multipart
  body without a boundary was a 500), FastAPI would not read the body as JSON.
- **Error bodies of the JSON routes in one shape**, ``{"error": "..."}``: BentoML answers a
  ``POST /score`` body that fails validation with 400 ``{"error": "1 validation error for
  ScoreRequestIODescriptor", "detail": [...]}``, rewritten as the FastAPI routes answer
  (``service._invalid``): ``{"error": "<field path>: <problem>", "detail": [{"loc": [...],
  "msg": "..."}]}``, never with the values sent; FastAPI's and Starlette's own
  ``{"detail": "<text>"}`` (a body that is not UTF-8 JSON, an unknown path) becomes
  ``{"error": "<text>"}`` (``"body: <text>"`` for a 400).
"""

from __future__ import annotations

import json
import re

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from mooc_risk.settings import OpsSettings

JSON_ROUTES = ("/score", "/courses/")  # a path equal to the first, or under the second
JSON_TYPE = "application/json"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_BENTOML_INVALID = re.compile(r"\d+ validation errors? for \w+")


def is_json_route(path: str) -> bool:
    return path == JSON_ROUTES[0] or path.startswith(JSON_ROUTES[1])


def field_error(errors: list[dict]) -> dict:
    """The 400 body for pydantic errors (dicts with ``loc`` and ``msg``): the first problem as
    ``"<field path>: <problem>"`` ("body" for the body as a whole), each as loc and msg."""
    detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in errors]
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
    return {"error": f"{where}: {first['msg'].removeprefix('Value error, ')}", "detail": detail}


class Guards:
    """ASGI middleware: body size (413), Content-Type of JSON routes (415), and BentoML's
    validation answers in the service's own shape (see the module docstring).
    ``max_body_bytes`` defaults to ``OpsSettings.from_env()``'s, read when the app is built."""

    def __init__(self, app, max_body_bytes: int | None = None):
        self.app = app
        self.max_body_bytes = (OpsSettings.from_env().max_body_bytes if max_body_bytes is None
                               else max_body_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            return await self._too_large(scope, receive, send)
        json_route = is_json_route(scope["path"])
        if json_route and scope["method"] in BODY_METHODS:
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if media != JSON_TYPE:
                given = f"not {media[:80]!r}" if media else "none given"
                return await JSONResponse({"error": f"Content-Type: expected {JSON_TYPE}, {given}"},
                                          status_code=415)(scope, receive, send)
        body = bytearray()
        last: dict = {"type": "http.request", "body": b"", "more_body": False}
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: pass it on
                last = message
                break
            body.extend(message.get("body", b""))
            if len(body) > self.max_body_bytes:
                return await self._too_large(scope, receive, send)
            if not message.get("more_body", False):
                break
        replay = [{"type": "http.request", "body": bytes(body), "more_body": False}]
        if last["type"] != "http.request":
            replay.append(last)

        async def replayed():
            return replay.pop(0) if replay else await receive()

        return await self.app(scope, replayed, _ErrorBodies(send) if json_route else send)

    async def _too_large(self, scope, receive, send):
        response = JSONResponse({"error": f"request body: at most {self.max_body_bytes} bytes"},
                                status_code=413, headers={"Connection": "close"})
        return await response(scope, receive, send)


class _ErrorBodies:
    """A ``send`` that gives JSON error answers the service's shape (see the module
    docstring); every other response passes untouched."""

    def __init__(self, send):
        self.send = send
        self.start: dict | None = None
        self.body = bytearray()

    async def __call__(self, message):
        if message["type"] == "http.response.start":
            if message["status"] >= 400 and Headers(raw=message.get("headers", [])).get(
                    "content-type", "").startswith(JSON_TYPE):
                self.start = message  # held until the body is complete
                return None
            return await self.send(message)
        if self.start is None or message["type"] != "http.response.body":
            return await self.send(message)
        self.body.extend(message.get("body", b""))
        if message.get("more_body", False):
            return None
        body = _repaired(self.start["status"], bytes(self.body))
        headers = [(k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"]
        await self.send({**self.start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        return await self.send({"type": "http.response.body", "body": body, "more_body": False})


def _repaired(status: int, body: bytes) -> bytes:
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict):
        return body
    detail = data.get("detail")
    if ("error" not in data and isinstance(detail, str)  # FastAPI's HTTPException
            and set(data) == {"detail"}):
        return json.dumps({"error": f"body: {detail}" if status == 400 else detail}).encode()
    if (status == 400 and isinstance(data.get("error"), str) and _BENTOML_INVALID.fullmatch(data["error"])
            and isinstance(detail, list) and all(isinstance(e, dict) for e in detail)):
        return json.dumps(field_error(detail)).encode()
    return body
