"""The course-team app in a real browser: Playwright driving Debian's Chromium (launched by
``executable_path``; Playwright's own browser download needs internet access CI does not have)
against a ``mooc-risk serve`` subprocess on loopback.

Skipped when Chromium is not installed, unless ``MOOC_RISK_REQUIRE_BROWSER`` is set (CI sets
it). With ``MOOC_RISK_SCREENSHOTS=DIR`` the walk also saves the course and learner pages as
PNG there; with ``MOOC_RISK_BROWSER_DATA=DIR`` it serves that data folder with the default
MLflow store's champions (``make screenshots`` does both on the demo data).
"""

import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from http_helpers import free_port

from mooc_risk.serving.keys import add_key
from mooc_risk.serving.readiness import wait_until_ready

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NAME = "Ottoline Brackenridge"  # an invented roster name


def chromium() -> str:
    found = os.environ.get("MOOC_RISK_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    if found:
        return found
    if os.environ.get("MOOC_RISK_REQUIRE_BROWSER"):
        pytest.fail("MOOC_RISK_REQUIRE_BROWSER is set but Debian's chromium is not installed")
    pytest.skip("chromium not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def app_server(request, tmp_path_factory):
    """A ``mooc-risk serve`` subprocess: its URL, a C001 key, a C002 key, the data folder and
    C001's running run; ``MOOC_RISK_NOW`` 10 days into C001's latest run."""
    browser = chromium()
    root = tmp_path_factory.mktemp("browser")
    demo = os.environ.get("MOOC_RISK_BROWSER_DATA")
    if demo:  # the demo's data and its MLflow store
        data, env = Path(demo).resolve(), {}
    else:
        served = request.getfixturevalue("served")
        data, env = root / "data", dict(served.env)
        shutil.copytree(served.data, data)
    enrolments = pd.read_parquet(data / "enrolments.parquet")
    c1 = enrolments[enrolments["course_id"] == "C001"]
    run = c1.sort_values("course_start")["run_id"].iloc[-1]
    start = c1.loc[c1["run_id"] == run, "course_start"].min()
    if not demo:
        people = c1[c1["run_id"] == run].drop_duplicates("learner_id")
        pd.DataFrame({"learner_id": people["learner_id"],
                      "display_name": [f"{NAME} {n}" for n in range(len(people))],
                      "email": [f"ob{n}@example.org" for n in range(len(people))]}).to_csv(
            data / "roster.csv", index=False)
    keys = root / "keys.yaml"
    env.update({"MOOC_RISK_KEYS_FILE": str(keys), "MOOC_RISK_DB_URL": f"sqlite:///{root}/log.db",
                "MOOC_RISK_SESSION_SECRET_FILE": str(root / "secret"),
                "MOOC_RISK_NOW": (start + timedelta(days=10)).isoformat()})
    port = free_port()
    cli = Path(sys.executable).parent / "mooc-risk"
    process = subprocess.Popen([str(cli), "serve", "--data", str(data), "--port", str(port)],
                               env={**os.environ, **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_ready(url, 180):
            pytest.fail("service did not become ready: " + process.stdout.read1().decode())
        yield {"url": url, "key": add_key(keys, "C001"), "other": add_key(keys, "C002"), "data": data,
               "run": run, "browser": browser, "process": process}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    log = process.stdout.read().decode()
    assert NAME not in log and "@example.org" not in log, "a roster value reached the service's log"


@pytest.fixture(scope="module")
def page(app_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=app_server["browser"], args=CHROMIUM_FLAGS)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.set_default_timeout(120_000)  # the first page of a day computes its features
        yield tab
        browser.close()


def sign_in(page, app_server, key: str) -> None:
    page.goto(app_server["url"] + "/app/")
    page.fill("#key", key)
    page.click("button[type=submit]")


def shoot(page, name: str) -> None:
    folder = os.environ.get("MOOC_RISK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=False)


def test_a_course_team_walks_through_the_app(page, app_server, tmp_path):
    url = app_server["url"]
    sign_in(page, app_server, app_server["key"])
    page.wait_for_url("**/app/courses/C001")
    assert "who needs help today" in page.inner_text("h1")
    assert f"Run {app_server['run']}, as-of day 10" in page.inner_text("#meta")
    rows = page.locator("#learners tbody tr[data-learner]")
    assert rows.count() > 0
    shoot(page, "course-page.png")

    # filters: high band only
    page.select_option("select[name=band]", "high")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**band=high**")
    bands = page.locator("#learners .band").all_inner_texts()
    assert bands and set(bands) == {"high"}

    # the CSV export of the filtered list, downloaded and parsed
    with page.expect_download() as info:
        page.click("#export")
    exported = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text("utf-8-sig"))))
    assert len(exported) == int(re.search(r"(\d+) of \d+ listed", page.inner_text("#meta")).group(1))
    assert {r["Risk band"] for r in exported} == {"high"}

    # the learner page
    learner = page.locator("#learners tbody tr[data-learner]").first.get_attribute("data-learner")
    page.click(f"#learners a:has-text('{learner}')")
    page.wait_for_selector("#risk-chart")
    assert page.locator("#risk-chart circle").count() >= 2  # days 0, 7 and 10 so far
    assert page.locator("#constructs tbody tr").count() == 6
    shoot(page, "learner-page.png")

    # record an intervention and see it listed
    page.select_option("#record select[name=record_action]", index=0)
    page.fill("#record input[name=done_by]", "tutor Ana")
    page.fill("#record input[name=note]", "phoned; <b>back next week</b>")
    page.click("#record button[type=submit]")
    page.wait_for_selector(".done")
    assert "phoned; <b>back next week</b>" in page.inner_text("#interventions")  # shown as text

    # feedback on the prediction
    page.check("#feedback input[value=no]")
    page.fill("#feedback input[name=reason]", "on leave, told us")
    page.click("#feedback button[type=submit]")
    page.wait_for_selector("#feedback-given")
    assert "not useful (on leave, told us)" in page.inner_text("#feedback-given")

    # the course page shows the last intervention
    page.goto(f"{url}/app/courses/C001?run={app_server['run']}&as_of=10")
    assert "tutor Ana" in page.inner_text(f"#learners tr[data-learner='{learner}']")

    # sign out: the course page asks for a key again
    page.click("header button[type=submit]")
    page.wait_for_url("**/app/sign-in**")
    page.goto(f"{url}/app/courses/C001")
    assert "/app/sign-in" in page.url


def test_another_courses_key_gets_the_403_page_and_no_learner(page, app_server):
    sign_in(page, app_server, app_server["other"])
    page.wait_for_url("**/app/courses/C002")
    response = page.goto(f"{app_server['url']}/app/courses/C001")
    assert response.status == 403
    html = page.content()
    assert "does not open this course" in html
    e = pd.read_parquet(app_server["data"] / "enrolments.parquet")
    only_c1 = set(e.loc[e.course_id == "C001", "learner_id"]) - set(e.loc[e.course_id != "C001", "learner_id"])
    assert not [lid for lid in only_c1 if lid in html]
    assert NAME not in html
