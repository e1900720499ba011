"""The BentoML service: ``bentoml serve mooc_risk.serving.service:RiskService`` (or
``mooc-risk serve``).

Settings come from the environment (``mooc_risk.settings``), read once when the service starts:
it loads ``mooc-risk-dropout@champion`` and ``mooc-risk-certification@champion`` from MLflow.
``POST /score`` is a BentoML API; ``POST /courses/{course_id}/predictions`` and ``GET /model``
live in a FastAPI app mounted into the same service (BentoML APIs are POST-only and have no
path parameters). Bad requests get a 4xx with a message that names the problem; anything else
is a server fault (500, logged).
"""

from __future__ import annotations

import bentoml
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse, Response

from mooc_risk.errors import InputError
from mooc_risk.serving import schemas
from mooc_risk.serving.app import NotFound, RiskApp
from mooc_risk.serving.keys import AuthError, bearer
from mooc_risk.settings import EngineSettings, PathSettings, ServiceSettings, TrackingSettings

api = FastAPI(title="mooc-risk", docs_url=None, redoc_url=None, openapi_url=None)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _fail(exc: Exception) -> JSONResponse:
    """Map the app's exceptions to HTTP; anything else propagates (a real 500, logged)."""
    if isinstance(exc, AuthError):
        return error(exc.status, str(exc))
    if isinstance(exc, NotFound):
        return error(404, str(exc))
    if isinstance(exc, InputError):
        return error(400, str(exc))
    raise exc


@api.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p != "body")
    return JSONResponse({"error": f"{where}: {first['msg']}", "detail": detail}, status_code=400)


@bentoml.service(name="mooc-risk", traffic={"timeout": 600}, workers=1)
@bentoml.asgi_app(api, path="/")
class RiskService:
    def __init__(self) -> None:
        self.app = RiskApp.from_settings(TrackingSettings.from_env(), PathSettings.from_env(),
                                         ServiceSettings.from_env(), EngineSettings.from_env())

    @bentoml.api(route="/score")
    def score(self, request: schemas.ScoreRequest, /, ctx: bentoml.Context) -> schemas.ScoreResponse:
        """Risk, band, reasons and a suggested intervention per learner and target."""
        headers = ctx.request.headers
        try:
            return self.app.score(request, bearer(headers.get("authorization"),
                                                  headers.get("x-api-key")))
        except (AuthError, NotFound, InputError) as exc:
            response = _fail(exc)
            ctx.response.status_code = response.status_code  # BentoML applies ctx's status
            return response

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
        except (AuthError, NotFound, InputError) as exc:
            return _fail(exc)
        if request.format == "csv":
            return Response(rows.to_csv(index=False), media_type="text/csv",
                            headers={"X-Total-Count": str(total)})
        records = rows.astype(object).where(rows.notna(), None).to_dict("records")
        return schemas.CoursePredictionsPage(
            course_id=course_id, run_id=run_id, target=request.target, as_of_day=request.as_of_day,
            page=request.page, page_size=request.page_size, total=total, rows=records)

    @api.get("/model", response_model=schemas.ModelsResponse)
    def model(self) -> schemas.ModelsResponse:
        """Names, versions, training time and test metrics of the loaded models."""
        return self.app.models_info()
