"""The course-team web app (/app), the intervention log API, the landing page and the OpenAPI
document, in-process (the browser tests drive the same pages in Chromium)."""

import csv
import io
import re
import shutil
from urllib.parse import quote

import pandas as pd
import pytest
from http_helpers import auth

from mooc_risk.serving.keys import add_key

ROSTER_NAME = "Zelda Quintessa-Marlowe"  # in the served data folder's roster (conftest.served)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def learner_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-learner="([^"]+)"', html)


@pytest.fixture(scope="module")
def web(client, served):
    """The in-process service (the session's ``client``), with C001's latest run, the data
    folder and the run's current day as the app shows it (the real clock: the synthetic runs
    are over, so it is the run's last day)."""
    enrolments = pd.read_parquet(served.data / "enrolments.parquet")
    c1 = enrolments[enrolments["course_id"] == "C001"]
    client.run_id = c1.sort_values("course_start")["run_id"].iloc[-1]
    run = c1[c1["run_id"] == client.run_id]
    client.day = (run["course_end"].max() - run["course_start"].min()).days
    client.data = served.data
    return client


def sign_in(client, key: str):
    client.cookies.clear()
    page = client.get("/app/sign-in")
    assert page.status_code == 200
    return client.post("/app/sign-in", data={"key": key, "csrf": csrf(page.text)}, follow_redirects=False)


def test_sign_in_sets_a_strict_http_only_cookie_and_opens_the_course(web, served):
    response = sign_in(web, served.key)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/courses/C001"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Path=/app" in cookie
    assert served.key not in cookie  # the key is never in the cookie
    page = web.get("/app/courses/C001")
    assert page.status_code == 200
    assert f"Run {web.run_id}, as-of day {web.day}" in page.text


def test_a_wrong_key_is_refused_on_the_sign_in_page(web):
    response = sign_in(web, "mrk_not-a-key")
    assert response.status_code == 401
    assert "unknown API key" in response.text


def test_without_a_session_pages_go_to_sign_in(web):
    web.cookies.clear()
    response = web.get("/app/courses/C001", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/app/sign-in")


def test_course_page_lists_riskiest_first_with_filters_and_paging(web, served):
    sign_in(web, served.key)
    first = web.get("/app/courses/C001")
    ids = learner_ids(first.text)
    assert len(ids) == 25  # a page
    risks = [int(r) for r in re.findall(r'</span> (\d+)%\s', first.text)]
    assert len(risks) == len(ids)  # every row's risk, not the range beside it
    assert risks == sorted(risks, reverse=True)
    second = web.get("/app/courses/C001", params={"page": 2})
    assert not set(ids) & set(learner_ids(second.text))
    high = web.get("/app/courses/C001", params={"band": "high"})
    bands = re.findall(r'class="band band-(\w+)"', high.text.split('<table id="learners">')[1])
    assert bands and set(bands) == {"high"}
    never = web.get("/app/courses/C001", params={"status": "never started"}).text
    statuses = re.findall(r"<td>(never started|active|inactive for \d+ days?)</td>", never)
    assert statuses and set(statuses) == {"never started"}


def test_another_courses_key_gets_403_and_sees_none_of_its_learners(web, served):
    sign_in(web, served.key)
    c2 = web.get("/app/courses/C002")
    assert c2.status_code == 403
    assert "does not open this course" in c2.text
    other = pd.read_parquet(web.data / "enrolments.parquet")
    others = set(other.loc[other["course_id"] == "C002", "learner_id"]) - set(
        other.loc[other["course_id"] == "C001", "learner_id"])
    assert not [lid for lid in others if lid in c2.text]
    exported = web.get("/app/courses/C002/export.csv")
    assert exported.status_code == 403


def test_csrf_missing_or_wrong_is_refused_and_nothing_is_recorded(web, served):
    sign_in(web, served.key)
    page = web.get("/app/courses/C001")
    learner = learner_ids(page.text)[0]
    form = {"learner_id": learner, "record_action": "other (described in the note)", "done_by": "tutor",
            "note": "csrf probe", "run": web.run_id}
    assert web.post("/app/courses/C001/interventions", data=form).status_code == 403
    assert web.post("/app/courses/C001/interventions", data={**form, "csrf": "forged"}).status_code == 403
    log = web.get("/courses/C001/interventions", headers=auth(served.key)).json()["rows"]
    assert not [r for r in log if r["note"] == "csrf probe"]


def test_recording_an_intervention_shows_it_escaped_and_keeps_the_risk_shown(web, served):
    sign_in(web, served.key)
    page = web.get("/app/courses/C001")
    learner = learner_ids(page.text)[0]
    note = "<script>alert('x')</script> called twice"
    response = web.post("/app/courses/C001/interventions", data={
        "csrf": csrf(page.text), "learner_id": learner, "record_action": "other (described in the note)",
        "done_by": "<b>tutor</b>", "note": note, "run": web.run_id, "as_of": "7"})
    assert response.status_code == 200  # after the redirect
    assert "recorded 1 intervention(s)" in response.text
    assert "other (described in the note)" in response.text  # last intervention column
    detail = web.get(f"/app/courses/C001/learner?id={quote(learner)}&run={web.run_id}").text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; called twice" in detail
    assert "<script>alert" not in detail and "<b>tutor</b>" not in detail
    rows = web.get("/courses/C001/interventions", params={"learner_id": learner},
                   headers=auth(served.key)).json()["rows"]
    assert rows[0]["note"] == note and rows[0]["as_of_day"] == 7
    assert rows[0]["model_version"] and 0 <= rows[0]["risk"] <= 1 and rows[0]["risk_band"]


def test_recording_for_the_filtered_list_records_each_listed_learner(web, served):
    sign_in(web, served.key)
    page = web.get("/app/courses/C001", params={"status": "active"})
    total = int(re.search(r"(\d+) of \d+ listed learners", page.text).group(1))
    assert total > 25  # more than one page: the whole list, not the page, is recorded
    response = web.post("/app/courses/C001/interventions", data={
        "csrf": csrf(page.text), "scope": "filtered", "status": "active", "run": web.run_id,
        "target": "dropout", "record_action": "other (described in the note)", "note": "group e-mail",
        "done_by": "support desk"})
    assert f"recorded {total} intervention(s)" in response.text
    log = web.get("/courses/C001/interventions", headers=auth(served.key)).json()["rows"]
    recorded = {r["learner_id"] for r in log if r["done_by"] == "support desk"}
    exported = web.get("/app/courses/C001/export.csv", params={"status": "active"})
    listed = {r["Learner ID"] for r in csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff")))}
    assert recorded == listed and len(recorded) == total


def test_feedback_is_recorded(web, served):
    sign_in(web, served.key)
    page = web.get("/app/courses/C001")
    learner = learner_ids(page.text)[1]
    detail = web.get(f"/app/courses/C001/learner?id={quote(learner)}&run={web.run_id}")
    assert '<svg id="risk-chart"' in detail.text and "Median of those who finished" in detail.text
    response = web.post("/app/courses/C001/feedback", data={
        "csrf": csrf(detail.text), "learner_id": learner, "useful": "no", "reason": "already on leave",
        "run": web.run_id, "as_of": "7",
        "back": f"/app/courses/C001/learner?id={quote(learner)}&run={web.run_id}"})
    assert "your feedback was recorded" in response.text and "not useful (already on leave)" in response.text


def test_export_csv_has_the_filtered_list(web, served):
    sign_in(web, served.key)
    page = web.get("/app/courses/C001", params={"band": "high"})
    total = int(re.search(r"(\d+) of \d+ listed learners", page.text).group(1))
    exported = web.get("/app/courses/C001/export.csv", params={"band": "high", "run": web.run_id})
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert len(rows) == total and {r["Risk band"] for r in rows} == {"high"}
    assert {"Learner ID", "Risk (%)", "Reason 1", "Suggested action", "Last intervention"} <= set(rows[0])


def test_roster_names_only_on_their_courses_pages_and_mail_merge(web, served, tmp_path):
    sign_in(web, served.key)
    page = web.get("/app/courses/C001")
    assert ROSTER_NAME in page.text
    merged = web.get("/app/courses/C001/mail-merge.csv", params={"run": web.run_id})
    rows = list(csv.DictReader(io.StringIO(merged.text.lstrip("\ufeff"))))
    assert rows and {"Name", "Email", "Learner ID", "Suggested action"} <= set(rows[0])
    assert any(r["Email"].endswith("@example.org") for r in rows)
    # an admin key of another course sees no name of C001's learners on a 403
    c2_key = add_key(served.paths.keys_file, "C002")
    sign_in(web, c2_key)
    refused = web.get("/app/courses/C001")
    assert refused.status_code == 403 and ROSTER_NAME not in refused.text


def test_a_revoked_keys_session_ends(web, served):
    from mooc_risk.serving.keys import KeyRing, revoke_key

    key = add_key(served.paths.keys_file, "C001")
    sign_in(web, key)
    assert web.get("/app/courses/C001").status_code == 200
    entry = KeyRing.load(served.paths.keys_file).identify(key)
    revoke_key(served.paths.keys_file, entry.id)
    after = web.get("/app/courses/C001", follow_redirects=False)
    assert after.status_code == 303
    assert "was revoked or has expired" in web.get(after.headers["location"]).text
    assert web.post("/courses/C001/feedback", json={"learner_id": "x", "useful": True},
                    headers=auth(key)).status_code == 401
    again = sign_in(web, key)
    assert again.status_code == 401 and "this API key was revoked" in again.text


def test_sign_out_ends_the_session_even_for_a_copied_cookie(web, served):
    sign_in(web, served.key)
    page = web.get("/app/courses/C001")
    assert "set-cookie" not in page.headers  # a page never extends the sign-in
    copied = web.cookies.get("mooc_risk_session")
    out = web.post("/app/sign-out", data={"csrf": csrf(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert web.get("/app/courses/C001", follow_redirects=False).status_code == 303
    web.cookies.set("mooc_risk_session", copied, path="/app")
    assert web.get("/app/courses/C001", follow_redirects=False).status_code == 303


def test_a_link_from_another_site_reloads_instead_of_signing_out(web, served):
    web.cookies.clear()  # a SameSite=Strict cookie is not sent on a cross-site navigation
    response = web.get("/app/courses/C001", headers={"Sec-Fetch-Site": "cross-site"},
                       follow_redirects=False)
    assert response.status_code == 200 and 'http-equiv="refresh"' in response.text
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("query, field", [
    ({"target": "foo"}, "target"), ({"as_of": "-1"}, "as_of"), ({"as_of": "99999"}, "as_of"),
    ({"as_of": "x"}, "as_of"), ({"page": "abc"}, "page"), ({"run": "no-such-run"}, "run")])
def test_bad_parameters_get_a_400_page_naming_them(web, served, query, field):
    sign_in(web, served.key)
    for path in ("/app/courses/C001", "/app/courses/C001/export.csv"):
        if path.endswith(".csv") and field == "page":
            continue
        response = web.get(path, params=query)
        assert response.status_code == 400, (path, query, response.text[:300])
        assert field in response.text


def test_bad_forms_get_a_400_naming_the_field(web, served):
    sign_in(web, served.key)
    page = web.get("/app/courses/C001")
    token = csrf(page.text)
    assert web.get("/app/courses/C001/learner").status_code == 400  # no id
    feedback = web.post("/app/courses/C001/feedback", data={"csrf": token, "useful": "yes"})
    assert feedback.status_code == 400 and "learner_id: required" in feedback.text
    empty = web.post("/app/courses/C001/interventions", data={"csrf": token, "record_action": "x",
                                                            "done_by": "me"})
    assert empty.status_code == 400 and "learner_id" in empty.text
    learner = learner_ids(page.text)[0]
    long_note = web.post("/app/courses/C001/interventions", data={
        "csrf": token, "learner_id": learner, "done_by": "me", "note": "n" * 2001,
        "record_action": "other (described in the note)"})
    assert long_note.status_code == 400 and "note" in long_note.text


def test_banners_show_only_fixed_wording(web, served):
    sign_in(web, served.key)
    page = web.get("/app/courses/C001", params={"done": "Your account is locked, call 555"})
    assert "call 555" not in page.text
    web.cookies.clear()
    assert "call 555" not in web.get("/app/sign-in", params={"why": "call 555"}).text


def test_csv_exports_quote_cells_a_spreadsheet_would_run():
    from mooc_risk.serving.web.views import export_frame, mail_merge_frame

    rows = pd.DataFrame({
        "learner_id": pd.array(["=cmd|' /C calc'!A0", "L2"], dtype="string"), "run_id": ["r", "r"],
        "status": ["active", "active"], "inactive_days": [0, 1], "risk_band": ["high", "low"],
        "risk": [0.9, -0.0], "reason_1_text": ["+1", "ok"], "intervention": ["@SUM(1)", "none"],
        "model": ["m", "m"], "model_version": ["1", "1"], "last_action": [None, "-x"],
        "last_at": [None, None], "last_by": pd.array(["=HYPERLINK(1)", "me"], dtype="string")})
    frame = export_frame(rows, 7, "2024-01-01")
    assert frame["Learner ID"].tolist()[0] == "'=cmd|' /C calc'!A0"
    assert frame["Reason 1"].tolist()[0] == "'+1" and frame["Suggested action"].tolist()[0] == "'@SUM(1)"
    assert frame["Last intervention by"].tolist()[0] == "'=HYPERLINK(1)"
    assert frame["Last intervention"].tolist()[1] == "'-x"
    assert frame["Risk (%)"].tolist() == [90.0, -0.0]  # numbers untouched
    people = pd.DataFrame({"display_name": pd.array(["=evil()", "Bo"], dtype="string"),
                           "email": ["a@b.org", "b@b.org"]})
    assert mail_merge_frame(rows, people)["Name"].tolist()[0] == "'=evil()"


# --- the HTTP API of the log ----------------------------------------------------------------
def test_api_records_interventions_with_what_was_shown(web, served):
    page = web.post("/courses/C001/predictions", json={"as_of_day": 10, "page_size": 2, "run_id": web.run_id},
                    headers=auth(served.key)).json()
    learner = page["rows"][0]["learner_id"]
    body = {"learner_ids": [learner], "action": "send a re-engagement message with a link to where they left off",
            "done_by": "api test", "as_of_day": 10, "run_id": web.run_id}
    created = web.post("/courses/C001/interventions", json=body, headers=auth(served.key))
    assert created.status_code == 201
    row = created.json()["rows"][0]
    assert row["risk"] == pytest.approx(page["rows"][0]["risk"]) and row["key_id"]
    assert row["suggested"] == page["rows"][0]["intervention"]
    assert web.post("/courses/C001/interventions", json={**body, "action": "hug"},
                    headers=auth(served.key)).status_code == 400
    assert web.post("/courses/C001/interventions", json={**body, "learner_ids": ["nobody"]},
                    headers=auth(served.key)).status_code == 404
    assert web.post("/courses/C002/interventions", json=body, headers=auth(served.key)).status_code == 403
    assert web.post("/courses/C001/interventions", json=body).status_code == 401
    assert web.post("/courses/C001/feedback", json={"learner_id": learner, "useful": "maybe"},
                    headers=auth(served.key)).status_code == 400
    assert web.get("/courses/C999/interventions", headers=auth(served.admin_key)).status_code == 404
    assert web.post("/courses/C999/interventions", json={**body, "action": "hug"},
                    headers=auth(served.admin_key)).status_code == 404


# --- the front door ---------------------------------------------------------------------------
def test_landing_page_links_the_app_and_the_api_docs_without_trackers(web):
    page = web.get("/")
    assert page.status_code == 200
    assert 'href="/app/"' in page.text and 'href="/api-docs"' in page.text
    docs = web.get("/api-docs")
    assert "swagger-ui-bundle.js" in docs.text
    for text in (page.text, docs.text):
        assert "googletagmanager" not in text


def test_openapi_declares_the_key_security_schemes(web):
    spec = web.get("/docs.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerKey"]["scheme"] == "bearer" and schemes["apiKeyHeader"]["name"] == "X-API-Key"
    assert spec["paths"]["/score"]["post"]["security"]
    assert spec["paths"]["/courses/{course_id}/interventions"]["post"]["security"]
    assert "security" not in spec["paths"]["/model"]["get"]


def test_every_value_from_data_is_html_escaped_on_every_page():
    """Course, run and learner ids, reason texts, actions, names, notes: all escaped."""
    from datetime import datetime

    from mooc_risk.serving.app import RiskPoint
    from mooc_risk.serving.web.pages import templates
    from mooc_risk.serving.web.views import Filters, chart_points

    evil = "<script>alert(1)</script>"
    row = {"learner_id": evil, "status": evil, "risk": 0.7, "risk_band": "high", "intervention": evil,
           "model": evil, "model_version": evil, "reasons": [{"text": evil, "category": evil}],
           "person": {"display_name": evil, "email": evil}, "last_action": evil,
           "last_at": datetime(2024, 1, 1), "last_by": evil}
    logged = type("Row", (), {"recorded_at": datetime(2024, 1, 1), "action": evil, "done_by": evil,
                              "note": evil, "risk": 0.5, "risk_band": evil, "as_of_day": 3,
                              "useful": False, "reason": evil})()
    common = {"csrf": evil, "entry": type("E", (), {"id": evil, "label": evil, "course": evil})(),
              "course_id": evil, "run": evil, "target": evil, "done": evil}
    course = templates().env.get_template("course.html").render(
        **common, rows=[row], page=1, pages=1, total=1, listed=1, held_listed=0, query={"band": evil}, runs=[evil],
        targets=[evil], day=3, days=[3], filters=Filters(band=evil), bands=[evil], statuses=[evil],
        categories=[evil], actions_shown=[evil], actions=[evil], has_roster=True, model_version=evil,
        model=evil, today=datetime(2024, 1, 1))
    learner = templates().env.get_template("learner.html").render(
        **common, targets=[evil], day=3, row=row, reasons=row["reasons"], person=row["person"],
        chart=chart_points([RiskPoint(0, 0.2, None, evil), RiskPoint(3, 0.7, None, evil)]), constructs=[{"label": evil, "value": 2.0, "finishers": 3.0}],
        interventions=[logged], feedback=[logged], actions=[evil])
    sign_in = templates().env.get_template("sign_in.html").render(csrf=evil, message=evil)
    problem = templates().env.get_template("problem.html").render(csrf=evil, message=evil, status_code=403)
    for html in (course, learner, sign_in, problem):
        assert "<script>" not in html
        assert "&lt;script&gt;" in html


def test_the_learner_chart_ends_at_the_risk_the_list_shows(web, served):
    sign_in(web, served.key)
    page = web.get("/app/courses/C001")
    learner = learner_ids(page.text)[2]
    listed = int(re.search(rf'data-learner="{learner}".*?</span> (\d+)%\s', page.text, re.S).group(1))
    detail = web.get(f"/app/courses/C001/learner?id={quote(learner)}&run={web.run_id}").text
    days = re.findall(r"<title>day (\d+): (\d+)% \(scored now", detail)
    assert [int(d) for d, _ in days] == [d for d in (0, 7, 14) if d < web.day] + [web.day]
    assert int(days[-1][1]) == listed


def test_the_learner_chart_shows_the_risk_each_night_issued_never_a_later_night(web, served):
    """The chart reads the predictions history the nightly refresh writes: the risk issued at
    day 3 (model version 7) is drawn as issued; a night after today is not drawn."""
    from datetime import date, timedelta

    from mooc_risk.serving.history import SCHEMA, partition, write_day

    sign_in(web, served.key)
    learner = learner_ids(web.get("/app/courses/C001").text)[2]
    start = pd.read_parquet(served.data / "enrolments.parquet").query(
        "run_id == @web.run_id")["course_start"].min().date()

    def night(day: int, risk: float, version: str) -> pd.DataFrame:
        row = dict.fromkeys(SCHEMA.names) | {
            "course_id": "C001", "run_id": web.run_id, "learner_id": learner, "target": "dropout",
            "as_of_day": day, "status": "active", "inactive_days": 0, "probability": risk,
            "risk": risk, "risk_band": "low", "intervention": "none", "model": "mooc-risk-dropout",
            "model_version": version, "data_version": "0" * 64}
        return pd.DataFrame([row])

    nights = {start + timedelta(days=3): night(3, 0.123, "7"),
              date.today() + timedelta(days=30): night(5, 0.987, "8")}
    try:
        for when, frame in nights.items():
            write_day(served.paths.history_dir, when, frame)
        detail = web.get(f"/app/courses/C001/learner?id={quote(learner)}&run={web.run_id}").text
    finally:
        for when in nights:
            partition(served.paths.history_dir, when).unlink()
    issued = start + timedelta(days=3)
    assert f"<title>day 3: 12% (issued on {issued:%Y-%m-%d}, model v7)</title>" in detail
    assert "day 5: 99%" not in detail and "model v8" not in detail
    assert re.search(r"<title>day 0: \d+% \(scored now", detail)  # no night scored day 0


def test_an_every_course_key_gets_the_course_list(web, served):
    response = sign_in(web, served.admin_key)
    assert response.headers["location"] == "/app/courses"
    page = web.get("/app/courses")
    assert [c for c in ("C001", "C002", "C003") if f'href="/app/courses/{c}"' in page.text] == [
        "C001", "C002", "C003"]
    assert web.get("/app/courses/C002").status_code == 200


def test_a_course_with_a_holdout_says_who_is_in_it_and_until_when(web, served):
    """Opt-in per course: the at-risk learners drawn into the holdout are marked with the date
    their action is withheld until, on the list, the learner page and the export, and left out
    of the mail merge; a later change of the share does not change a recorded draw."""
    from datetime import date, timedelta

    from mooc_risk.serving.holdout import HoldoutConfig, draw_unit
    from mooc_risk.serving.web.pages import web as app

    ctx = app.state.ctx
    assert ctx.holdout == {}  # off unless a course turns it on
    sign_in(web, served.key)
    assert 'id="holdout"' not in web.get("/app/courses/C001").text
    ctx.holdout = {"C001": HoldoutConfig(share=0.5, days=14)}
    try:
        exported = web.get("/app/courses/C001/export.csv", params={"run": web.run_id})
        rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
        at_risk = [r for r in rows if r["Suggested action"] != "no action needed now"]  # any target
        drawn = {r["Learner ID"] for r in at_risk if draw_unit("C001", "C001", web.run_id, r["Learner ID"]) < 0.5}
        until = (date.today() + timedelta(days=14)).isoformat()
        assert drawn and {r["Learner ID"] for r in rows if r["Holdout until"]} == drawn
        assert {r["Holdout until"] for r in rows if r["Holdout until"]} == {until}
        page = web.get("/app/courses/C001", params={"run": web.run_id}).text
        assert f"{len(drawn)} learner(s) of this run are in it now" in page
        assert f"In the holdout: no action until {until}" in page
        held = sorted(drawn)[0]
        detail = web.get(f"/app/courses/C001/learner?id={quote(held)}&run={web.run_id}").text
        assert f"In the holdout until {until}:" in detail and "Please do not act" in detail
        merged = web.get("/app/courses/C001/mail-merge.csv", params={"run": web.run_id})
        mailed = {r["Learner ID"] for r in csv.DictReader(io.StringIO(merged.text.lstrip("\ufeff")))}
        assert mailed and not mailed & drawn
        # nobody can record an action for a held-out learner: no checkbox, no form, a 400 naming why
        assert f'name="learner_id" value="{held}"' not in page
        assert 'id="record"' not in detail
        refused = web.post("/courses/C001/interventions", headers=auth(served.key), json={
            "learner_ids": [held], "action": "send a welcome message: how the course works and a "
            "link to the first activity", "done_by": "tutor", "run_id": web.run_id})
        assert refused.status_code == 400 and "holdout until" in refused.json()["error"]
        # the API withholds the action too
        scored = web.post("/score", headers=auth(served.key), json={
            "course_id": "C001", "run_id": web.run_id, "learner_ids": [held], "as_of_day": web.day})
        assert {s["intervention"] for s in scored.json()["predictions"][0]["scores"].values()} == {
            f"withheld: in the course's holdout until {until}"}
        listed = web.post("/courses/C001/predictions", headers=auth(served.key), json={
            "run_id": web.run_id, "as_of_day": web.day, "page_size": 500}).json()["rows"]
        assert {r["learner_id"] for r in listed if r["intervention"].startswith("withheld")} == drawn
        ctx.holdout = {"C001": HoldoutConfig(share=0.1, days=30)}  # a recorded draw never changes
        again = web.get("/app/courses/C001/export.csv", params={"run": web.run_id})
        rows = list(csv.DictReader(io.StringIO(again.text.lstrip("\ufeff"))))
        assert {r["Learner ID"] for r in rows if r["Holdout until"]} == drawn
    finally:  # the session's other tests run without a holdout
        ctx.holdout = {}
        import sqlalchemy as sa

        with ctx.logbook.journal._engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM holdout"))
        ctx.logbook._withheld.clear()


def test_the_course_page_shows_the_last_model_check_of_the_course(web, served):
    """``mooc-risk monitor`` leaves its status next to the predictions history; the course page
    says whether a retrain is advised, with the signals that concern this course only."""
    from datetime import date, timedelta

    from mooc_risk.serving.monitor import MonitorResult, Signal, TargetReport
    from mooc_risk.serving.monitor_status import FOLDER, write_status

    sign_in(web, served.key)
    assert "has not run for this course yet" in web.get("/app/courses/C001").text
    history = served.paths.history_dir

    def checked(day: date, *signals: Signal) -> None:
        report = TargetReport("dropout", "mooc-risk-dropout", "4", {}, signals=list(signals))
        write_status(history, MonitorResult(f"{day}", "data", None, [report]), history / "report")

    today = date.today()
    try:
        checked(today - timedelta(days=2))
        checked(today - timedelta(days=1),
                Signal("dropout", "auc_drop", 14, 0.61, 0.05, "C001", "AUC 0.61 at day 14 in C001"),
                Signal("dropout", "auc_drop", 14, 0.55, 0.05, "C002", "AUC 0.55 at day 14 in C002"))
        checked(today + timedelta(days=1))  # a date after today is not read
        page = web.get("/app/courses/C001").text
        assert f"Model check {today - timedelta(days=1)}: retrain advised" in page
        assert "AUC 0.61 at day 14 in C001" in page and "C002" not in page.split('id="monitoring"')[1].split("</p>")[0]
        checked(today)
        assert f"Model check {today}: no drift or decay past the thresholds" in web.get("/app/courses/C001").text
    finally:
        shutil.rmtree(history / FOLDER, ignore_errors=True)


def test_a_broken_file_in_the_history_does_not_take_the_learner_page_down(web, served):
    sign_in(web, served.key)
    learner = learner_ids(web.get("/app/courses/C001").text)[0]
    broken = served.paths.history_dir / "date=2024-01-01" / "predictions.parquet"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"not parquet at all")
    try:
        detail = web.get(f"/app/courses/C001/learner?id={quote(learner)}&run={web.run_id}")
    finally:
        shutil.rmtree(broken.parent)
    assert detail.status_code == 200 and re.search(r"<title>day \d+: \d+% \(scored now", detail.text)
