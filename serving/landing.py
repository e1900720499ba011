"""The service's own front door, in place of BentoML's generated index page.

An ASGI middleware (``RiskService.add_asgi_middleware``) answering three paths before BentoML:

- ``GET /``: a landing page linking to the course-team app (``/app``) and the API docs;
- ``GET /api-docs``: Swagger UI from the files BentoML ships (``/static_content``), with no
  third-party script (BentoML's own index page loads Google Tag Manager);
- ``GET /docs.json``: BentoML's OpenAPI document with the API-key security schemes declared
  (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``) and required on every route that
  checks a key, so "Try it out" can send one; and with the status codes the routes really
  answer (400, not FastAPI's 422, for a bad request; 401, 403, 404, 413, 415, 503), each with
  the service's error body ``{"error": "..."}``.

Everything else passes through untouched.
"""

from __future__ import annotations

import json

from starlette.responses import HTMLResponse, JSONResponse

SECURITY_SCHEMES = {
    "bearerKey": {"type": "http", "scheme": "bearer",
                  "description": "a course key from `mooc-risk keys add --course C`"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "the same key, in a header of its own"},
}
KEYED_PATHS = ("/score", "/courses/")  # routes that check a key (serving.keys)
ERROR_SCHEMA = "ErrorMessage"
ERROR = {  # every error body of the service: {"error": message} (400s add each problem)
    "type": "object", "title": ERROR_SCHEMA, "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong, naming the field"},
        "detail": {"type": "array", "description": "400: each problem",
                   "items": {"type": "object", "properties": {
                       "loc": {"type": "array", "items": {"anyOf": [{"type": "string"},
                                                                    {"type": "integer"}]}},
                       "msg": {"type": "string"}}}},
    },
}
ERRORS = {  # status → when the service answers it
    400: "Bad request: the message names the field",
    401: "No API key, or an unknown, revoked or expired one",
    403: "The key does not open this course",
    404: "Unknown course, run, learner or model",
    413: "Request body too large (MOOC_RISK_MAX_BODY_BYTES)",
    415: "Content-Type is not application/json",
    500: "Server fault (logged)",
    503: "The service cannot check keys right now, or has no model loaded yet",
}
KEYED_ERRORS = (400, 401, 403, 404, 413, 503)  # and 415 where there is a request body
PATH_ERRORS = {"/model": (503,)}  # no model loaded yet (serving.app.Unavailable)

LANDING = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mooc-risk</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}</style>
</head><body>
<h1>mooc-risk</h1>
<p>Completion and dropout risk for the learners of your courses, with the reasons and a suggested
action for each.</p>
<ul>
<li><a href="/app/">Course teams: sign in</a> with your course key to see who needs help today,
record what was done and export the list.</li>
<li><a href="/api-docs">API documentation</a> (OpenAPI: <a href="/docs.json">/docs.json</a>) for
dashboards and scripts; each call needs a course key.</li>
<li>Health: <a href="/readyz">/readyz</a> · models loaded: <a href="/model">/model</a></li>
</ul>
</body></html>"""

API_DOCS = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mooc-risk API</title>
<link rel="stylesheet" href="./static_content/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="./static_content/swagger-ui-bundle.js"></script>
<script src="./static_content/swagger-ui-standalone-preset.js"></script>
<script src="./static_content/swagger-initializer.js"></script>
</body></html>"""


def secured(spec: dict) -> dict:
    """The OpenAPI document with ``SECURITY_SCHEMES`` in its components and required on every
    operation under ``KEYED_PATHS``; the statuses declared as the service answers them (see
    ``declare_errors``); the title and contact are the project's."""
    components = spec.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    components.setdefault("schemas", {})[ERROR_SCHEMA] = ERROR
    info = spec.setdefault("info", {})
    info["title"] = "mooc-risk"
    info.pop("contact", None)
    requirement = [{name: []} for name in SECURITY_SCHEMES]
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                keyed = path.startswith(KEYED_PATHS)
                if keyed:
                    operation["security"] = requirement
                declare_errors(operation, keyed, PATH_ERRORS.get(path, ()))
    return spec


def declare_errors(operation: dict, keyed: bool, also: tuple[int, ...] = ()) -> None:
    """The operation's error statuses as the service answers them: 400 for a bad request (not
    FastAPI's 422: ``service._invalid``); on a route that checks a key, 401, 403, 404 and 503
    too (``serving.keys``, ``serving.app``); 413 and 415 where there is a body
    (``serving.guards``); ``also``; every error with the ``ERROR`` body."""
    responses = operation["responses"]
    if responses.pop("422", None) is not None:
        responses["400"] = {}
    statuses = {int(s) for s in responses if s.isdigit() and int(s) >= 400} | set(also)
    if keyed:
        statuses |= set(KEYED_ERRORS)
    if "requestBody" in operation:
        statuses |= {400, 413, 415}
    body = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}}
    for status in sorted(statuses):
        responses[str(status)] = {"description": ERRORS.get(status, "Error"), **body}


class FrontDoor:
    """ASGI middleware serving ``/``, ``/api-docs`` and a secured ``/docs.json``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path == "/":
            return await HTMLResponse(LANDING)(scope, receive, send)
        if path == "/api-docs":
            return await HTMLResponse(API_DOCS)(scope, receive, send)
        if path == "/docs.json":
            return await self._secured_spec(scope, receive, send)
        return await self.app(scope, receive, send)

    async def _secured_spec(self, scope, receive, send):
        start: dict = {}
        body = bytearray()

        async def keep(message):
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, keep)
        if start.get("status") != 200:
            return await JSONResponse({"error": "the OpenAPI document could not be built"},
                                      status_code=500)(scope, receive, send)
        return await JSONResponse(secured(json.loads(body)))(scope, receive, send)
