"""``/readyz`` with the reason: an ASGI middleware answering it from the running service's
``RiskApp.readiness()`` — 200 when ready or degraded (serving, with the problems listed),
503 when not ready (no model loaded, or the service still starting) — and answering every
other request on the ``Served`` it started with (``RiskApp.pinned``). ``/healthz`` and
``/livez`` stay BentoML's (the process is alive)."""

from __future__ import annotations

from starlette.responses import JSONResponse


class Health:
    """``current``: a callable giving the running ``RiskApp`` or None while it starts."""

    def __init__(self, app, current=None):
        self.app = app
        self.current = current

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        risk = self.current() if self.current else None
        if scope["path"] == "/readyz" and scope["method"] in ("GET", "HEAD"):
            if risk is None:
                body, status = {"status": "not ready", "problems": {"service": "starting"}}, 503
            else:
                body = risk.readiness()
                status = 503 if body["status"] == "not ready" else 200
            return await JSONResponse(body, status_code=status)(scope, receive, send)
        if risk is None:
            return await self.app(scope, receive, send)
        with risk.pinned():
            return await self.app(scope, receive, send)
