"""The BentoML service: ``bentoml serve mooc_risk.serving.service:RiskService`` (or
``mooc-risk serve``).

Settings come from the environment (``mooc_risk.settings``), read once when the service starts:
it loads ``mooc-risk-dropout@champion`` and ``mooc-risk-certification@champion`` from MLflow.
``POST /score`` is a BentoML API; ``POST /courses/{course_id}/predictions``, the intervention
log and feedback (``/courses/{course_id}/interventions``, ``.../feedback``) and ``GET /model``
live in a FastAPI app mounted into the same service (BentoML APIs are POST-only and have no
path parameters); the course-team web app is mounted under ``/app`` (``serving.web.pages``) and
``serving.landing`` answers ``/``, ``/api-docs`` and ``/docs.json``. Bad requests get a 4xx
with a message that names the problem; anything else is a server fault (500, logged).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import datetime

import bentoml
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse, Response

from mooc_risk.errors import InputError
from mooc_risk.serving import log_hygiene, logs, metrics, schemas
from mooc_risk.serving.app import NotFound, RiskApp, Unavailable
from mooc_risk.serving.follow import NotReady
from mooc_risk.serving.guards import Guards
from mooc_risk.serving.health import Health
from mooc_risk.serving.holdout import load_configs
from mooc_risk.serving.journal.journal import Journal
from mooc_risk.serving.keys import AuthError, bearer
from mooc_risk.serving.landing import FrontDoor
from mooc_risk.serving.logbook import Logbook
from mooc_risk.serving.metrics import Metrics
from mooc_risk.serving.roster import Roster
from mooc_risk.serving.web.pages import WebContext, web
from mooc_risk.serving.web.session import Sessions
from mooc_risk.settings import (
    DatabaseSettings,
    EngineSettings,
    OpsSettings,
    PathSettings,
    ServiceSettings,
    TrackingSettings,
    WebSettings,
)

log = logging.getLogger(__name__)
api = FastAPI(title="mooc-risk", docs_url=None, redoc_url=None, openapi_url=None)
api.mount("/app", web)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _fail(exc: Exception) -> JSONResponse:
    """Map the app's exceptions to HTTP; anything else propagates (a real 500, logged).
    A broken keys file is ``keys.KeysUnavailable``, an AuthError of status 503 with a generic
    message (the file and the problem are in the log only)."""
    if isinstance(exc, AuthError):
        return error(exc.status, str(exc))
    if isinstance(exc, NotFound):
        return error(404, str(exc))
    if isinstance(exc, InputError):
        return error(400, str(exc))
    if isinstance(exc, Unavailable):
        return error(503, str(exc))
    raise exc


@api.exception_handler(Unavailable)
async def _unavailable(request: Request, exc: Unavailable) -> JSONResponse:
    return error(503, str(exc))


@api.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
    message = first["msg"].removeprefix("Value error, ")
    return JSONResponse({"error": f"{where}: {message}", "detail": detail}, status_code=400)


def _follow(app: RiskApp, seconds: float) -> None:
    """Every ``seconds``: a new champion, data version or materialized day (serving.follow)."""
    while True:
        time.sleep(seconds)
        try:
            app.poll()
            _publish(app)
        except Exception:  # the thread must outlive any one failed poll (logged)
            log.exception("looking for new models or data failed; trying again in %s s", seconds)


def _publish(app: RiskApp) -> None:
    """What is served, as gauges on /metrics: model versions, newest event, readiness, the
    time of the last ``refresh`` result in the predictions history."""
    ready = app.readiness()
    metrics.METRICS.set_model_versions(list(ready["models"].items()))
    metrics.METRICS.set_ready(ready["status"] != "not ready")
    runs = sorted((app.follower.paths.history_dir / "_runs").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if runs:  # the newest result `mooc-risk refresh` wrote
        metrics.METRICS.set_last_refresh(runs[-1].stat().st_mtime)
    if ready["data"] and ready["data"]["newest_event"]:
        metrics.METRICS.set_data_time(datetime.fromisoformat(ready["data"]["newest_event"].removesuffix("Z")))


def _current() -> RiskApp | None:
    """The running service's RiskApp (None while it starts), for the middleware."""
    ctx = getattr(web.state, "ctx", None)
    return ctx.risk if ctx is not None else None


@bentoml.service(name="mooc-risk", traffic={"timeout": 600}, workers=1,
                 metrics={"enabled": False},  # serving.metrics: /metrics by route template
                 logging={"access": {"enabled": False}})  # mooc_risk.access: no raw paths
@bentoml.asgi_app(api, path="/")
class RiskService:
    def __init__(self) -> None:
        service, ops = ServiceSettings.from_env(), OpsSettings.from_env()
        logs.configure(ops)
        log_hygiene.install()
        self.app = RiskApp.from_settings(TrackingSettings.from_env(), PathSettings.from_env(),
                                         service, EngineSettings.from_env())
        _publish(self.app)
        threading.Thread(target=_follow, args=(self.app, ops.poll_seconds), daemon=True,
                         name="mooc-risk-follow").start()
        self.logbook = Logbook(self.app, Journal.open(DatabaseSettings.from_env().db_url))
        web.state.ctx = WebContext(self.app, self.logbook, Sessions(WebSettings.from_env()),
                                   Roster(service.data_dir) if service.data_dir else None,
                                   load_configs(PathSettings.from_env().holdout_file))

    @bentoml.api(route="/score")
    async def score(self, request: schemas.ScoreRequest, /, ctx: bentoml.Context) -> schemas.ScoreResponse:
        """Risk, band, reasons and a suggested intervention per learner and target."""
        headers = ctx.request.headers
        try:
            key = bearer(headers.get("authorization"), headers.get("x-api-key"))
            try:
                return self._score(request, key, wait=False)  # lookups only: on the event loop
            except NotReady:  # features to compute or raw learners to score: a worker thread,
                # with the request's pinned models and data (to_thread copies the context)
                return await asyncio.to_thread(self._score, request, key)
        except (AuthError, NotFound, InputError, Unavailable) as exc:
            response = _fail(exc)
            ctx.response.status_code = response.status_code  # BentoML applies ctx's status
            return response

    def _score(self, request: schemas.ScoreRequest, key: str | None,
               wait: bool = True) -> schemas.ScoreResponse:
        response = self.app.score(request, key, wait=wait)
        if request.learners is not None:  # raw learners: not on a run's list, no holdout
            return response
        return self.logbook.withhold_scores(request.course_id, request.run_id, response, wait=wait)

    @api.post("/courses/{course_id:path}/predictions", response_model=schemas.CoursePredictionsPage,
              responses={200: {"content": {"text/csv": {}}}})
    def course_predictions(
        self, course_id: str, request: schemas.CoursePredictionsRequest,
        authorization: str | None = Header(None), x_api_key: str | None = Header(None),
    ):
        """All learners of a course as of a day, riskiest first, paged; JSON or CSV."""
        try:
            rows, total, run_id = self.app.course_predictions(course_id, request,
                                                              bearer(authorization, x_api_key))
            rows = self.logbook.withhold_rows(course_id, run_id, rows)
        except (AuthError, NotFound, InputError) as exc:
            return _fail(exc)
        if request.format == "csv":
            return Response(rows.to_csv(index=False), media_type="text/csv",
                            headers={"X-Total-Count": str(total)})
        records = rows.astype(object).where(rows.notna(), None).to_dict("records")
        return schemas.CoursePredictionsPage(
            course_id=course_id, run_id=run_id, target=request.target, as_of_day=request.as_of_day,
            page=request.page, page_size=request.page_size, total=total, rows=records)

    @api.post("/courses/{course_id:path}/interventions", status_code=201,
              response_model=schemas.LoggedRows)
    def record_interventions(
        self, course_id: str, request: schemas.InterventionsRequest,
        authorization: str | None = Header(None), x_api_key: str | None = Header(None),
    ):
        """Record what was done about learners of a run, with the risk shown at the time."""
        key = bearer(authorization, x_api_key)
        try:
            self.app.keys.check(key, course_id)
            rows = self.logbook.record_interventions(
                course_id, request.learner_ids, request.action, request.done_by, request.note,
                run_id=request.run_id, target=request.target, day=request.as_of_day,
                key_id=self.app.keys.identify(key).id)
        except (AuthError, NotFound, InputError) as exc:
            return _fail(exc)
        return schemas.LoggedRows(course_id=course_id, rows=[r.to_dict() for r in rows])

    @api.get("/courses/{course_id:path}/interventions", response_model=schemas.LoggedRows)
    def interventions(
        self, course_id: str, learner_id: str | None = None, run_id: str | None = None,
        authorization: str | None = Header(None), x_api_key: str | None = Header(None),
    ):
        """The course's intervention log, newest first (one learner's, or one run's)."""
        try:
            self.app.keys.check(bearer(authorization, x_api_key), course_id)
            self.app._check_course(course_id)
        except (AuthError, NotFound) as exc:
            return _fail(exc)
        rows = self.logbook.journal.interventions(course_id, run_id=run_id, learner_id=learner_id)
        return schemas.LoggedRows(course_id=course_id, rows=[r.to_dict() for r in rows])

    @api.post("/courses/{course_id:path}/feedback", status_code=201, response_model=schemas.LoggedRows)
    def feedback(
        self, course_id: str, request: schemas.FeedbackRequest,
        authorization: str | None = Header(None), x_api_key: str | None = Header(None),
    ):
        """Say whether a prediction was useful (stored with the risk and model version shown)."""
        key = bearer(authorization, x_api_key)
        try:
            self.app.keys.check(key, course_id)
            row = self.logbook.record_feedback(
                course_id, request.learner_id, request.useful, request.reason, run_id=request.run_id,
                target=request.target, day=request.as_of_day, key_id=self.app.keys.identify(key).id)
        except (AuthError, NotFound, InputError) as exc:
            return _fail(exc)
        return schemas.LoggedRows(course_id=course_id, rows=[row.to_dict()])

    @api.get("/model", response_model=schemas.ModelsResponse)
    def model(self) -> schemas.ModelsResponse:
        """Names, versions, training time and test metrics of the loaded models."""
        return self.app.models_info()



RiskService.add_asgi_middleware(Metrics)  # first: outermost of ours, times FrontDoor's pages too
RiskService.add_asgi_middleware(FrontDoor)
RiskService.add_asgi_middleware(Health, current=_current)  # /readyz; a request on one Served
RiskService.add_asgi_middleware(Guards)  # body size (413), Content-Type (415), /score's 400s
