"""Who is on a list at day d: the running run's learners, enrolled by d and not unenrolled
before d — the same rule in training, the service and the batch scorer."""

import pandas as pd
import pytest
from cli_helpers import run_cli
from http_helpers import auth

from mooc_risk.features.build import default_spec
from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.training.config import load_config
from mooc_risk.training.dataset import labelled_rows

DAY = 14


def expected_population(data, course, run, day):
    e = pd.read_parquet(data / "enrolments.parquet")
    o = pd.read_parquet(data / "outcomes.parquet")
    e = e[(e.course_id == course) & (e.run_id == run)].merge(o, on=["learner_id", "course_id", "run_id"])
    anchor = e.enrolled_at.where(e.course_end.isna(), e.course_start)
    cutoff = anchor + pd.Timedelta(days=day)
    listed = (e.enrolled_at < cutoff) & ~(e.dropped_at < cutoff)
    return set(e.learner_id[listed]), set(e.learner_id[e.dropped_at < cutoff])


def latest_run(data, course):
    e = pd.read_parquet(data / "enrolments.parquet")
    e = e[e.course_id == course]
    return e.groupby("run_id").course_start.min().sort_values().index[-1]


def test_the_list_is_the_running_run_without_learners_who_unenrolled(client, served):
    page = client.post("/courses/C001/predictions", json={"as_of_day": DAY, "page_size": 10_000},
                       headers=auth(served.key)).json()
    run = latest_run(served.data, "C001")
    assert page["run_id"] == run and {r["run_id"] for r in page["rows"]} == {run}
    listed, gone = expected_population(served.data, "C001", run, DAY)
    assert gone, "the synthetic data has learners who unenrolled before the day"
    assert {r["learner_id"] for r in page["rows"]} == listed and page["total"] == len(listed)
    statuses = {r["status"] for r in page["rows"]}
    assert {"active", "never started"} <= statuses
    assert any(s.startswith("inactive for ") and s.endswith(" days") for s in statuses)
    earlier = client.post("/courses/C001/predictions", headers=auth(served.key),
                          json={"as_of_day": DAY, "run_id": sorted({run} ^ set(
                              pd.read_parquet(served.data / "enrolments.parquet")
                              .query("course_id == 'C001'").run_id))[0]}).json()
    assert earlier["run_id"] != run and earlier["total"] > 0


def test_the_batch_scorer_lists_the_same_population(served, tmp_path, capsys, monkeypatch):
    for name, value in served.env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "p.parquet"
    result = run_cli(["predict", "--data", served.data, "--course", "C001", "--as-of", DAY,
                      "--out", out, "--target", "dropout", "--top-k", "0"], capsys, monkeypatch)
    assert result.code == 0, result.err
    frame = pd.read_parquet(out)
    run = latest_run(served.data, "C001")
    listed, _ = expected_population(served.data, "C001", run, DAY)
    assert set(frame.run_id) == {run} and set(frame.learner_id) == listed
    assert frame.status.notna().all()


def test_training_uses_the_same_rule_and_never_last_activity(served, cmap, duck):
    tables = read_tables(served.data, duck, cmap)
    config = load_config(None, target="dropout", as_of_days=[DAY])
    rows = labelled_rows(tables, config, default_spec(tables, cmap)).frame
    o = pd.read_parquet(served.data / "outcomes.parquet").set_index(["learner_id", "course_id", "run_id"])
    keys = pd.MultiIndex.from_frame(rows[["learner_id", "course_id", "run_id"]])
    quiet = o.reindex(keys)["last_active_at"].notna() & (rows["days_since_last_activity"] > 7).to_numpy()
    assert quiet.sum() > 0  # learners gone quiet before the day are still in the population
    for course, run in {("C001", latest_run(served.data, "C001"))}:
        listed, _ = expected_population(served.data, course, run, DAY)
        in_rows = set(rows.loc[(rows.course_id == course) & (rows.run_id == run), "learner_id"])
        assert in_rows == listed


@pytest.mark.parametrize("day", [DAY])
def test_evaluation_reports_the_active_subset_beside_the_whole_population(served, cmap, duck, day):
    from mooc_risk.training.train import fit_and_assess

    tables = read_tables(served.data, duck, cmap)
    config = load_config(None, ["compare_horizon_strategies=false"], target="dropout",
                         as_of_days=[7, day])
    trained = fit_and_assess(tables, config, default_spec(tables, cmap))
    by_day = trained.assessment.by_day.set_index(["model", "as_of_day"])
    row = by_day.loc[("lightgbm", day)]
    assert 0 < row["active_14d_share"] < 1 and 0.5 < row["auc_active_14d"] <= 1
    assert f"test_auc_active_14d_day_{day}" in trained.assessment.metrics


def test_a_raw_learner_who_unenrolled_before_the_day_is_not_scored(client, served):
    from test_service import raw_learner

    learner = raw_learner(served)
    start = pd.Timestamp(learner["enrolment"]["course_start"] or learner["enrolment"]["enrolled_at"])
    gone = {**learner, "enrolment": {**learner["enrolment"], "learner_id": "gone",
                                     "unenrolled_at": (start + pd.Timedelta(days=3)).isoformat()}}
    later = {**learner, "enrolment": {**learner["enrolment"], "learner_id": "later",
                                      "unenrolled_at": (start + pd.Timedelta(days=30)).isoformat()}}
    response = client.post("/score", json={"learners": [learner, gone, later], "as_of_day": 14},
                           headers=auth(served.admin_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["not_found"] == ["gone"]
    assert [p["learner_id"] for p in body["predictions"]] == [learner["enrolment"]["learner_id"], "later"]


def test_an_unknown_run_is_404_and_a_day_not_reached_is_400(client, served):
    response = client.post("/courses/C001/predictions", headers=auth(served.key),
                           json={"as_of_day": DAY, "run_id": "1999-01"})
    assert response.status_code == 404 and "unknown run '1999-01'" in response.json()["error"]

    from mooc_risk.errors import InputError
    from mooc_risk.serving.app import RiskApp
    from mooc_risk.serving.schemas import CoursePredictionsRequest
    from mooc_risk.settings import EngineSettings, ServiceSettings

    run = latest_run(served.data, "C001")
    start = pd.read_parquet(served.data / "enrolments.parquet").query(
        "course_id == 'C001' and run_id == @run").course_start.min()
    five_days_in = ServiceSettings.of(data_dir=served.data, now=start + pd.Timedelta(days=5))
    app = RiskApp.from_settings(served.tracking, served.paths, five_days_in, EngineSettings.of())
    asked = CoursePredictionsRequest(as_of_day=DAY, run_id=run)
    with pytest.raises(InputError, match=f"as_of_day: {DAY} has not come yet .* at day 5 today"):
        app.course_predictions("C001", asked, served.admin_key)
    rows, total, _ = app.course_predictions("C001", asked.model_copy(update={"as_of_day": 5}),
                                            served.admin_key)
    assert total > 0 and len(rows) == min(total, asked.page_size)


@pytest.mark.parametrize("days", [[7], [0, 7, 14]])
def test_features_of_some_runs_equal_those_runs_rows_of_the_whole_folder(synthetic, cmap, duck, days):
    """Scoring some runs (predict --course, refresh, monitor) builds features on the tables
    restricted to them; each row equals that enrolment's row built on the whole folder, for
    several as-of days at once (a semi join once mixed up learners enrolled in two courses)."""
    from mooc_risk.features.build import build_features
    from mooc_risk.features.population import run_calendar, running_runs
    from mooc_risk.serving.batch import only_runs

    tables = read_tables(synthetic(1500, 3, 6, 3), duck, cmap)
    spec = default_spec(tables, cmap)
    calendar = run_calendar(tables)
    runs = running_runs(calendar, calendar["start"].max() + pd.Timedelta(days=20))
    keys = ["learner_id", "course_id", "run_id", "as_of_day"]
    some = build_features(only_runs(tables, runs), days, spec)
    whole = build_features(tables, days, spec)
    whole = whole[[runs.get(c) == r for c, r in zip(whole.course_id, whole.run_id, strict=True)]]
    assert len(some) == len(whole) > 0
    plain = [c for c in some.columns if not c.endswith("_vs_cohort") and c != "cohort_active_7d_share"]
    pd.testing.assert_frame_equal(some.sort_values(keys).reset_index(drop=True)[plain],
                                  whole.sort_values(keys).reset_index(drop=True)[plain], check_like=True)
