"""The course-team web app under ``/app``: sign in with a course key, see who is at risk today
and why, record what was done, say whether a prediction helped, export the list.

Server-rendered (Jinja2, plain HTML forms, no JavaScript). The service builds a ``WebContext``
when it starts and sets it on ``web.state.ctx``; nothing here reads settings or files at
import time. Pages answer 303 to the sign-in page without a valid session, a 403 page for a
course the key does not open, 404 for an unknown course, run or learner, 400 for bad input.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlencode

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from mooc_risk.errors import InputError
from mooc_risk.serving import holdout
from mooc_risk.serving.app import NotFound, RiskApp, Unavailable
from mooc_risk.serving.holdout import HoldoutConfig
from mooc_risk.serving.keys import ALL_COURSES, AuthError, KeysUnavailable
from mooc_risk.serving.logbook import Logbook
from mooc_risk.serving.monitor_status import course_status
from mooc_risk.serving.roster import Roster
from mooc_risk.serving.web import views
from mooc_risk.serving.web.session import COOKIE, SIGN_IN_COOKIE, Session, Sessions

web = FastAPI(title="mooc-risk app", docs_url=None, redoc_url=None, openapi_url=None)
TARGET_WORDS = {"dropout": "dropping out", "certification": "not earning the credential"}
# the banners a page shows, by code: a link cannot put words of its own on a page
WHY = {"ended": "your key was revoked or has expired; sign in with a current key",
       "signed-out": "you are signed out"}
DONE = {"recorded": "recorded {n} intervention(s)", "feedback": "thank you: your feedback was recorded"}


@dataclass
class WebContext:
    """What the pages work with, built once at the service's start."""

    risk: RiskApp
    logbook: Logbook
    sessions: Sessions
    roster: Roster | None
    holdout: dict[str, HoldoutConfig] = field(default_factory=dict)  # course → config (opt-in)


@cache
def templates() -> Jinja2Templates:
    """The Jinja2 templates (autoescaping every value: Starlette turns it on for .html)."""
    found = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
    found.env.filters["course_url"] = course_url
    found.env.globals["TARGET_WORDS"] = TARGET_WORDS
    return found


def course_url(course_id: str, tail: str = "", **query) -> str:
    """``/app/courses/<course>`` (+ ``tail``), the course id percent-encoded, with a query."""
    url = f"/app/courses/{quote(course_id, safe='')}{tail}"
    query = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{url}?{urlencode(query)}" if query else url


def _ctx(request: Request) -> WebContext:
    return request.app.state.ctx


def _page(request: Request, name: str, status: int = 200, session: Session | None = None,
          **values) -> HTMLResponse:
    """A page; its forms carry ``session``'s CSRF token (none without a session)."""
    return templates().TemplateResponse(
        request, name, {"csrf": session.csrf if session else "", "done": _done(request), **values},
        status_code=status)


def _done(request: Request) -> str:
    """The confirmation a page shows after a form (``?done=CODE&n=N``), from fixed wording."""
    code = request.query_params.get("done", "")
    if code not in DONE:
        return ""
    n = request.query_params.get("n", "")
    return DONE[code].format(n=int(n) if n.isdigit() else "")


def _problem(request: Request, status: int, message: str) -> HTMLResponse:
    """The error page; signed in, it keeps the header (who, sign out)."""
    ctx = _ctx(request)
    session = ctx.sessions.read(request.cookies.get(COOKIE))
    entry = ctx.risk.keys.active(session.key_id) if session and session.key_id else None
    return _page(request, "problem.html", status, session if entry else None, status_code=status,
                 message=message, entry=entry)


class SignIn(Exception):
    """No valid session: go to the sign-in page (with why, when a key was revoked or expired)."""

    def __init__(self, why: str = ""):
        self.why = why


def _signed_in(request: Request):
    """(session, key entry) of a valid session; SignIn otherwise."""
    ctx = _ctx(request)
    session = ctx.sessions.read(request.cookies.get(COOKIE))
    if session is None or session.key_id is None:
        raise SignIn()
    entry = ctx.risk.keys.active(session.key_id)
    if entry is None:
        raise SignIn("ended")
    return session, entry


def _home_of(entry) -> str:
    """Where a key lands: its course's page, or the course list for a key to every course."""
    return "/app/courses" if entry.course == ALL_COURSES else course_url(entry.course)


def _opens(entry, course_id: str) -> bool:
    return entry.course in (ALL_COURSES, course_id)


async def _form(request: Request, session: Session) -> dict:
    """The posted form, after its CSRF token is checked (AuthError 403 when it does not match)."""
    form = await request.form()
    if not session.csrf_ok(form.get("csrf")):
        raise AuthError(403, "the form's security token is missing or out of date; reload the page")
    return form


@web.exception_handler(SignIn)
async def _to_sign_in(request: Request, exc: SignIn) -> Response:
    if request.method == "GET" and request.headers.get("sec-fetch-site") == "cross-site":
        # a link from another site (webmail, chat): the SameSite=Strict cookie was not sent;
        # reloading from this site sends it, so a signed-in user is not sent to sign in again
        return HTMLResponse('<!DOCTYPE html><meta http-equiv="refresh" content="0">'
                            '<p>Opening mooc-risk…</p>', headers={"Cache-Control": "no-store"})
    return RedirectResponse("/app/sign-in" + (f"?why={exc.why}" if exc.why else ""), status_code=303)


@web.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    first = exc.errors()[0] if exc.errors() else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p not in ("query", "body"))
    return _problem(request, 400, f"{where}: {first['msg']}")


@web.exception_handler(AuthError)
async def _refused(request: Request, exc: AuthError) -> Response:
    return _problem(request, exc.status, str(exc))


@web.exception_handler(KeysUnavailable)
async def _keys_unavailable(request: Request, exc: KeysUnavailable) -> Response:
    # not _problem: it reads the keys, which cannot be read (the cause is in the log)
    return _page(request, "problem.html", 503, status_code=503, message=KeysUnavailable.MESSAGE,
                 entry=None)


@web.exception_handler(NotFound)
async def _not_found(request: Request, exc: NotFound) -> Response:
    return _problem(request, 404, str(exc))


@web.exception_handler(Unavailable)
async def _unavailable(request: Request, exc: Unavailable) -> Response:
    return _problem(request, 503, "the service has no model loaded yet; try again in a minute")


@web.exception_handler(InputError)
async def _bad_input(request: Request, exc: InputError) -> Response:
    return _problem(request, 400, str(exc))


# --- sign-in ----------------------------------------------------------------------------
@web.get("/", include_in_schema=False)
def home(request: Request) -> Response:
    _, entry = _signed_in(request)
    return RedirectResponse(_home_of(entry), status_code=303)


@web.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, why: str = "") -> HTMLResponse:
    ctx = _ctx(request)
    session = ctx.sessions.read(request.cookies.get(SIGN_IN_COOKIE))
    fresh = session is None
    session = session or Session.fresh()
    response = _page(request, "sign_in.html", session=session, message=WHY.get(why, ""))
    if fresh:  # only the sign-in form's cookie: a sign-in cookie is never overwritten here
        ctx.sessions.write(response, session)
    return response


@web.post("/sign-in")
async def sign_in(request: Request) -> Response:
    ctx = _ctx(request)
    session = ctx.sessions.read(request.cookies.get(SIGN_IN_COOKIE))
    if session is None:
        raise AuthError(403, "your browser did not keep the sign-in page's cookie; reload and try again")
    form = await _form(request, session)
    try:
        entry = ctx.risk.keys.identify(str(form.get("key", "")).strip())
    except AuthError as exc:
        return _page(request, "sign_in.html", 401, session=session, message=str(exc))
    response = RedirectResponse(_home_of(entry), status_code=303)
    ctx.sessions.write(response, Session.fresh(entry.id))  # new tokens: no session fixation
    return response


@web.post("/sign-out")
async def sign_out(request: Request) -> Response:
    ctx = _ctx(request)
    session = ctx.sessions.read(request.cookies.get(COOKIE))
    if session is None:
        return RedirectResponse("/app/sign-in", status_code=303)
    await _form(request, session)
    response = RedirectResponse("/app/sign-in?why=signed-out", status_code=303)
    ctx.sessions.end(response, session)
    return response


# --- courses ----------------------------------------------------------------------------
@web.get("/courses", response_class=HTMLResponse)
def courses(request: Request) -> Response:
    session, entry = _signed_in(request)
    ctx = _ctx(request)
    if entry.course != ALL_COURSES:
        return RedirectResponse(course_url(entry.course), status_code=303)
    known = sorted(ctx.risk._need_store().courses(ctx.risk._instrument()))
    return _page(request, "courses.html", session=session, entry=entry, courses=known)


def _open(request: Request, course_id: str):
    """(session, entry) when the key opens the course; AuthError 403 otherwise, NotFound for an
    unknown course."""
    session, entry = _signed_in(request)
    if not _opens(entry, course_id):
        raise AuthError(403, "your key does not open this course")
    _ctx(request).risk._check_course(course_id)
    return session, entry


def _choices(risk: RiskApp, course_id: str, params) -> tuple[str, str, int]:
    """(run, target, as-of day) asked for in a query or form, checked: the run one of the
    course's started runs (default: the running run), the target a loaded model's, the day one
    of ``as_of_choices`` (default: the run's current day). InputError naming the parameter."""
    run = str(params.get("run") or "") or risk.running_run(course_id)
    if run not in risk.runs_of(course_id):
        raise InputError(f"run: {run[:40]!r} is not a run of this course that has started")
    target = str(params.get("target") or "") or next(iter(risk.scorers))
    if target not in risk.scorers:
        raise InputError(f"target: one of {', '.join(risk.scorers)}")
    days = risk.as_of_choices(course_id, run)
    day = risk.current_day(course_id, run)
    if params.get("as_of"):
        day = _int(params.get("as_of"), "as_of")
        if day not in days:
            raise InputError(f"as_of: one of the days {', '.join(map(str, days))}")
    return run, target, day


def _with_holdout(ctx: WebContext, course_id: str, run: str, day: int, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with ``holdout_until`` (a date; None: not held out). Where the course has a
    holdout (``serving.holdout``, opt-in), the list of today's day draws its learners with a
    suggested action first — the one action chosen over all targets, so the draw does not
    depend on the target shown (recorded once: a learner's draw never changes); a held-out
    learner's suggested action is withheld until that date."""
    rows = rows.assign(holdout_until=None)
    if course_id not in ctx.holdout:
        return rows
    now = ctx.risk.today()
    if day == ctx.risk.current_day(course_id, run):
        holdout.assign_scored(ctx.logbook.journal, course_id, rows, ctx.holdout, now,
                              ctx.risk._catalogue().none)
        ctx.logbook.forget_withheld(course_id, run)  # the API withholds the new draws at once
    until = holdout.withheld(ctx.logbook.journal, course_id, run, now)
    rows["holdout_until"] = rows["learner_id"].map(lambda lid: until[lid].date() if lid in until else None)
    return rows


def _listing(ctx: WebContext, course_id: str, params) -> dict:
    """The run's scored rows with filters and the newest intervention, for a page or export."""
    run, target, day = _choices(ctx.risk, course_id, params)
    rows = _with_holdout(ctx, course_id, run, day, ctx.risk.run_rows(course_id, run, target, day))
    filters = views.Filters(**{k: str(params.get(k, "")) for k in ("band", "status", "category", "action")})
    shown = views.with_last(filters.apply(rows), ctx.logbook.last(course_id, run))
    return {"run": run, "target": target, "day": day, "all_rows": rows, "rows": shown,
            "filters": filters}


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: not a whole number: {str(value)[:20]!r}") from None


@web.get("/courses/{course_id:path}/learner", response_class=HTMLResponse)
def learner_page(request: Request, course_id: str, id: str) -> Response:
    session, entry = _open(request, course_id)
    ctx = _ctx(request)
    risk = ctx.risk
    run, target, day = _choices(risk, course_id, request.query_params)
    found = _with_holdout(ctx, course_id, run, day, risk.run_rows(course_id, run, target, day))
    found = found[found["learner_id"] == id]
    if found.empty:
        raise NotFound(f"learner {id[:40]!r} is not listed in run {run!r} of this course at day {day}")
    row = found.iloc[0].to_dict()
    people = ctx.roster.people([id]) if ctx.roster else None
    history = risk.risk_history(course_id, run, id, target, day)
    return _page(request, "learner.html", session=session, entry=entry, course_id=course_id, run=run,
                 target=target, targets=list(risk.scorers), day=day, row=row,
                 reasons=views.reasons(row), person=people.iloc[0].to_dict() if people is not None else None,
                 chart=views.chart_points(history),
                 constructs=_constructs(risk, course_id, run, id, day),
                 interventions=ctx.logbook.journal.interventions(course_id, run_id=run, learner_id=id),
                 feedback=ctx.logbook.journal.feedback(course_id, run_id=run, learner_id=id),
                 actions=ctx.logbook.actions())


def _constructs(risk: RiskApp, course_id: str, run: str, learner_id: str, day: int) -> list[dict]:
    """The learner's survey construct scores beside the median of training learners who
    finished (the dropout model's reference; the certification model's when alone)."""
    scorer = risk.scorers.get("dropout") or next(iter(risk.scorers.values()))
    spec, reference = scorer.bundle.spec, scorer.bundle.metadata.reference
    features = risk._need_store().features(spec, day)
    key = (course_id, run, learner_id)
    out = []
    for name, construct in spec.constructs.constructs.items():
        value = features.loc[key, name] if key in features.index and name in features.columns else None
        ref = reference.get(name, {})
        median = ref[min(ref, key=int)] if ref else None  # day 0's: the earliest day
        out.append({"label": construct.label,
                    "value": None if value is None or pd.isna(value) else round(float(value), 1),
                    "finishers": None if median is None else round(float(median), 1)})
    return out


@web.post("/courses/{course_id:path}/interventions")
async def record_intervention(request: Request, course_id: str) -> Response:
    session, entry = _open(request, course_id)
    form = await _form(request, session)
    # scoring and the journal's writes run in a worker thread, not on the service's event loop
    # (to_thread copies the request's pinned models and data)
    return await asyncio.to_thread(_record_intervention, request, course_id, entry, form)


def _record_intervention(request: Request, course_id: str, entry, form) -> Response:
    ctx = _ctx(request)
    run, target, day = _choices(ctx.risk, course_id, form)
    if form.get("scope") == "filtered":  # the list shown, but for the learners in the holdout
        rows = _listing(ctx, course_id, form)["rows"]
        learner_ids = list(rows.loc[rows["holdout_until"].isna(), "learner_id"])
        if not learner_ids:
            raise InputError("the filtered list is empty (or all in the holdout): nothing was recorded")
    else:
        learner_ids = [str(v) for v in form.getlist("learner_id") if str(v)]
        if not learner_ids:
            raise InputError("learner_id: tick at least one learner")
    rows = ctx.logbook.record_interventions(
        course_id, learner_ids, str(form.get("record_action", "")), str(form.get("done_by", "")),
        str(form.get("note", "")), run_id=run, target=target, day=day, key_id=entry.id)
    return RedirectResponse(_back(form, course_id, done="recorded", n=len(rows)), status_code=303)


@web.post("/courses/{course_id:path}/feedback")
async def record_feedback(request: Request, course_id: str) -> Response:
    session, entry = _open(request, course_id)
    form = await _form(request, session)
    return await asyncio.to_thread(_record_feedback, request, course_id, entry, form)


def _record_feedback(request: Request, course_id: str, entry, form) -> Response:
    ctx = _ctx(request)
    run, target, day = _choices(ctx.risk, course_id, form)
    learner_id = str(form.get("learner_id", "")).strip()
    if not learner_id:
        raise InputError("learner_id: required")
    useful = str(form.get("useful", ""))
    if useful not in ("yes", "no"):
        raise InputError("useful: answer 'yes' or 'no'")
    ctx.logbook.record_feedback(course_id, learner_id, useful == "yes", str(form.get("reason", "")),
                                run_id=run, target=target, day=day, key_id=entry.id)
    return RedirectResponse(_back(form, course_id, done="feedback"), status_code=303)


def _back(form, course_id: str, **done) -> str:
    """Where a form returns to: its ``back`` path when it is a page of this course, else the
    course page; with the confirmation's code (``DONE``)."""
    back = str(form.get("back", ""))
    if not back.startswith(course_url(course_id)) or "//" in back or "\\" in back:
        back = course_url(course_id)
    return back + ("&" if "?" in back else "?") + urlencode(done)


@web.get("/courses/{course_id:path}/export.csv")
def export(request: Request, course_id: str) -> Response:
    _open(request, course_id)
    ctx = _ctx(request)
    listing = _listing(ctx, course_id, request.query_params)
    until = ctx.risk.data_until()
    frame = views.export_frame(listing["rows"], listing["day"], f"{until:%Y-%m-%d}" if until else "")
    return _csv(frame, f"{course_id}-{listing['run']}-day{listing['day']}-{listing['target']}.csv")


@web.get("/courses/{course_id:path}/mail-merge.csv")
def mail_merge(request: Request, course_id: str) -> Response:
    _open(request, course_id)
    ctx = _ctx(request)
    if ctx.roster is None or ctx.roster.current() is None:
        raise NotFound("there is no roster (roster.csv or roster.parquet) in the data folder")
    listing = _listing(ctx, course_id, request.query_params)
    people = ctx.roster.people(listing["rows"]["learner_id"])
    return _csv(views.mail_merge_frame(listing["rows"], people),
                f"{course_id}-{listing['run']}-mail-merge.csv")


def _csv(frame: pd.DataFrame, name: str) -> Response:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return Response("\ufeff" + buffer.getvalue(), media_type="text/csv; charset=utf-8",  # BOM: Excel
                    headers={"Content-Disposition": f'attachment; filename="{safe}"'})


@web.get("/courses/{course_id:path}", response_class=HTMLResponse)
def course_page(request: Request, course_id: str, page: int = 1) -> Response:
    session, entry = _open(request, course_id)
    ctx = _ctx(request)
    listing = _listing(ctx, course_id, request.query_params)
    rows, page, pages = views.page_of(listing["rows"], page)
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    people = ctx.roster.people(rows["learner_id"]) if ctx.roster else None
    for n, record in enumerate(records):
        record["reasons"] = views.reasons(record)
        record["person"] = people.iloc[n].to_dict() if people is not None else None
    all_rows = listing["all_rows"]
    query = {"run": listing["run"], "target": listing["target"], "as_of": listing["day"],
             **listing["filters"].query()}
    return _page(
        request, "course.html", session=session, entry=entry, course_id=course_id, rows=records,
        page=page, pages=pages, total=len(listing["rows"]), listed=len(all_rows), query=query,
        run=listing["run"], runs=ctx.risk.runs_of(course_id), target=listing["target"],
        targets=list(ctx.risk.scorers), day=listing["day"],
        days=ctx.risk.as_of_choices(course_id, listing["run"]), filters=listing["filters"],
        bands=views.BANDS, statuses=views.STATUSES, categories=views.categories(all_rows),
        actions_shown=sorted(all_rows["intervention"].dropna().unique()),
        actions=ctx.logbook.actions(), has_roster=people is not None,
        model_version=str(all_rows["model_version"].iloc[0]) if len(all_rows) else "",
        model=ctx.risk.scorer(listing["target"]).bundle.name, today=ctx.risk.today(),
        data_until=ctx.risk.data_until(), holdout=ctx.holdout.get(course_id),
        checked=course_status(ctx.risk.follower.paths.history_dir, course_id, ctx.risk.today().date()),
        held_out=int(all_rows["holdout_until"].notna().sum()),
        held_listed=int(listing["rows"]["holdout_until"].notna().sum()))
