"""``mooc-risk monitor``: drift against the training reference stored with the model, decay of
the predictions issued, the retrain signal (exit 3 and the model version's tag), and a model
without a reference."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from sklearn.metrics import average_precision_score, roc_auc_score
from typer.testing import CliRunner

from mooc_risk.models import registry
from mooc_risk.models.targets import Target
from mooc_risk.serving import history
from mooc_risk.serving.monitor import (
    NO_REFERENCE,
    REFERENCE_ARTIFACT,
    SIGNAL_TAG,
    DecayThresholds,
    MonitorResult,
    Signal,
    TargetReport,
    Thresholds,
    as_dict,
    decay_cells,
    decay_signals,
    issued_with_outcomes,
    monitor,
)
from mooc_risk.serving.monitor_command import register
from mooc_risk.serving.monitor_report import render_html
from mooc_risk.serving.monitor_status import FOLDER, course_status, write_status
from mooc_risk.settings import TrackingSettings

DATE = pd.Timestamp("2024-05-20").date()  # the served data: C001 at day 21, C002 day 14, C003 day 7
NEXT = pd.Timestamp("2024-05-27").date()
FEW = Thresholds(decay=DecayThresholds(min_labelled=20))  # the test runs are small


@pytest.fixture(scope="module")
def watched(served, tmp_path_factory):
    """A private copy of the served registry (tags set here stay here; the artifacts are the
    served ones, read only) and a predictions history of two nights."""
    from mooc_risk.serving.refresh import refresh
    from mooc_risk.serving.scoring import load_scorers

    root = tmp_path_factory.mktemp("monitor")
    db = Path(served.tracking.tracking_uri.removeprefix("sqlite:///"))
    shutil.copy(db, root / "mlflow.db")
    tracking = TrackingSettings.of(tracking_uri=f"sqlite:///{root}/mlflow.db",
                                   artifact_root=root / "artifacts")
    scorers, _ = load_scorers(tracking, list(Target))
    for night in (DATE, NEXT):
        refresh(served.data, night, scorers, store_dir=root / "store", history_dir=root / "history")
    return {"tracking": tracking, "history": root / "history", "root": root}


def altered(source: Path, folder: Path, *, hours: float = 1.0, keep_events: float = 1.0) -> Path:
    """A copy of a data folder with planned hours multiplied and events thinned (kept share)."""
    shutil.copytree(source, folder)
    if hours != 1.0:
        surveys = pd.read_parquet(folder / "surveys.parquet")
        surveys["hours_per_week_planned"] = surveys["hours_per_week_planned"] * hours + 4
        surveys.to_parquet(folder / "surveys.parquet", index=False)
    if keep_events < 1.0:
        events = pd.read_parquet(folder / "events.parquet")
        events.sample(frac=keep_events, random_state=0).sort_index().to_parquet(
            folder / "events.parquet", index=False)
    return folder


def dropout(result):
    return next(t for t in result.targets if t.target == "dropout")


def test_publish_stores_a_reference_sample_with_the_model(served):
    c = registry.client(served.tracking)
    version = registry.version_by_alias(c, "mooc-risk-dropout", registry.CHAMPION)
    bundle = registry.load_bundle(served.tracking, "mooc-risk-dropout")
    path = c.download_artifacts(version.run_id, REFERENCE_ARTIFACT, str(served.root / "ref-check"))
    reference = pd.read_parquet(path)
    assert set(bundle.feature_columns) | {"as_of_day", "probability"} == set(reference.columns)
    assert sorted(reference["as_of_day"].unique()) == [0, 7, 14]
    assert reference.groupby("as_of_day").size().max() <= 5000
    assert reference["probability"].between(0, 1).all() and "learner_id" not in reference


def test_drift_is_found_in_a_shifted_column_and_not_in_a_fresh_draw(watched, synthetic, tmp_path):
    fresh = synthetic(1500, 3, 6, 2)  # the same generator, another seed
    calm = dropout(monitor(fresh, DATE, watched["tracking"], watched["history"], thresholds=FEW,
                           targets=[Target.DROPOUT]))
    tested = [d for d in calm.drift if d["tested"]]
    assert [d["as_of_day"] for d in tested] == [0, 7, 14]
    assert all(d["drift_share"] < 0.5 for d in tested), tested
    assert not [s for s in calm.signals if s.rule in ("feature_drift", "score_drift")], calm.signals
    assert not any(c["column"] == "hours_per_week_planned" for d in tested for c in d["drifted_features"])

    shifted = altered(fresh, tmp_path / "shifted", hours=3.0)
    moved = dropout(monitor(shifted, DATE, watched["tracking"], watched["history"], thresholds=FEW,
                            html_dir=tmp_path / "html", targets=[Target.DROPOUT]))
    for d in (d for d in moved.drift if d["tested"]):
        assert "hours_per_week_planned" in [c["column"] for c in d["drifted_features"]]
        assert (tmp_path / "html" / d["html"]).stat().st_size > 0  # Evidently's report


def test_decay_equals_sklearn_on_the_history_and_outcomes(served, watched):
    from mooc_risk.models.quality import expected_calibration_error

    result = monitor(served.data, DATE, watched["tracking"], watched["history"], thresholds=FEW)
    issued = history.read_history(watched["history"])
    assert issued["date"].max() == NEXT  # the night after DATE is in the history, and not read:
    issued = issued[pd.to_datetime(issued["date"]) <= pd.Timestamp(DATE)]  # as of DATE
    outcomes = pd.read_parquet(served.data / "outcomes.parquet")
    for report in result.targets:
        target = Target(report.target)
        rows = (issued[issued["target"] == target.value].sort_values("date", kind="stable")
                .drop_duplicates(["course_id", "run_id", "learner_id", "as_of_day"])
                .merge(outcomes, on=["course_id", "run_id", "learner_id"]))
        rows = rows[rows[target.label].notna()]
        expected = {}
        for (course, day), cell in rows.groupby(["course_id", "as_of_day"]):
            y, p = cell[target.label].astype(int).to_numpy(), cell["probability"].to_numpy()
            if len(cell) >= 20 and 0 < y.sum() < len(y):
                y_risk, risk = (y, p) if target.risk_of == "label" else (1 - y, 1 - p)
                k = int(np.ceil(0.1 * len(y)))
                expected[(course, day)] = (roc_auc_score(y, p), average_precision_score(y, p),
                                           expected_calibration_error(y, p),
                                           y_risk[np.argsort(-risk, kind="stable")[:k]].mean())
        got = {(c["course_id"], c["as_of_day"]): (c["auc"], c["pr_auc"], c["ece"], c["precision_top10"])
               for c in report.decay if c["status"] == "ok"}
        assert got.keys() == expected.keys() and len(got) >= 3
        for key, figures in expected.items():
            assert got[key] == pytest.approx(figures, abs=1e-12), key
        assert report.test_metrics["test_auc"] > 0.5 and set(report.test_auc_by_day) == {0, 7, 14}
    # too few outcomes: the cells say so, and no decay rule fires
    rows = issued_with_outcomes(issued[issued["target"] == "dropout"], outcomes)
    cells = decay_cells(rows, "label", min_labelled=100_000)
    assert {c["status"] for c in cells} == {"too few outcomes yet (< 100000)"}
    assert all(c["auc"] is None for c in cells)


def run_monitor(args, env) -> "typer.testing.Result":
    app = typer.Typer()
    register(app)
    app.command("other")(lambda: None)  # two commands: the name is the first argument
    return CliRunner().invoke(app, ["monitor", *map(str, args)], env=env)


def test_a_fired_rule_exits_3_tags_the_model_version_and_writes_the_report(
        watched, synthetic, tmp_path):
    thinned = altered(synthetic(1500, 3, 6, 2), tmp_path / "thinned", hours=3.0, keep_events=0.2)
    out = tmp_path / "report"
    env = {**watched["tracking"].to_env(), "MOOC_RISK_HISTORY": str(watched["history"]),
           "MOOC_RISK_STORE": str(tmp_path / "store")}
    result = run_monitor(["--data", thinned, "--date", DATE, "--out", out], env)
    assert result.exit_code == 3, (result.output, result.exception)
    assert "drift" in result.output
    report = json.loads((out / "monitor.json").read_text())
    assert report["retrain"] is True
    fired = report["targets"]["dropout"]["signals"]
    assert {s["rule"] for s in fired} & {"feature_drift", "score_drift"}
    c = registry.client(watched["tracking"])
    version = registry.version_by_alias(c, "mooc-risk-dropout", registry.CHAMPION)
    assert version.tags[SIGNAL_TAG].startswith(fired[0]["text"][:20])
    page = (out / "index.html").read_text()
    assert "Retrain" in page and "<script" not in page and "http" not in page.replace("http-equiv", "")
    for d in report["targets"]["dropout"]["drift"]:
        assert (out / d["html"]).is_file() and d["html"] in page
    assert (out / "scores-dropout.png").is_file() and (out / "auc-dropout.png").is_file()
    runs = c.search_runs([c.get_experiment_by_name("mooc-risk-monitor").experiment_id])
    assert runs and "dropout_drift_share_day_7" in runs[0].data.metrics
    # the next monitor of every course with nothing past its thresholds clears the tag
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("drift: {feature_share: 1.0, score: false}\ndecay: {auc_drop: 0.99, ece: 0.99}\n")
    again = run_monitor(["--data", thinned, "--date", DATE, "--out", tmp_path / "again",
                         "--thresholds", lenient], env)
    assert again.exit_code == 0, (again.output, again.exception)
    assert SIGNAL_TAG not in c.get_model_version("mooc-risk-dropout", version.version).tags


def test_bad_input_raises_input_error(watched, tmp_path):
    from mooc_risk.errors import InputError

    env = {**watched["tracking"].to_env(), "MOOC_RISK_HISTORY": str(watched["history"])}
    result = run_monitor(["--data", tmp_path / "nowhere", "--date", DATE, "--out", tmp_path / "r"], env)
    assert isinstance(result.exception, InputError)  # mooc_risk.cli turns it into exit 2
    assert not (tmp_path / "r").exists()


def test_a_model_without_a_reference_gets_the_message_and_still_decay(served, watched, tmp_path):
    import mlflow

    root = tmp_path
    shutil.copy(Path(watched["tracking"].tracking_uri.removeprefix("sqlite:///")), root / "m.db")
    tracking = TrackingSettings.of(tracking_uri=f"sqlite:///{root}/m.db", artifact_root=root / "a")
    c = registry.client(tracking)
    champion = registry.version_by_alias(c, "mooc-risk-dropout", registry.CHAMPION)
    experiment = c.create_experiment("old", artifact_location=(root / "a" / "old").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:  # a run from before references
        mlflow.set_tag("note", "published without a reference")
    old = str(c.create_model_version("mooc-risk-dropout", champion.source,
                                     run_id=run.info.run_id).version)
    registry.set_alias(c, "mooc-risk-dropout", registry.CHAMPION, old)
    report = dropout(monitor(served.data, DATE, tracking, watched["history"], thresholds=FEW,
                             targets=[Target.DROPOUT]))
    assert NO_REFERENCE in report.notes and report.drift == []
    issued = history.read_history(watched["history"])
    assert (issued["model_version"] != old).all()  # the history holds the other version
    assert report.decay == [] and "in the history yet" in " ".join(report.notes)
    # with the history re-labelled to this version, decay is computed without a reference
    relabelled = replace_history(watched["history"], root / "history", old)
    report = dropout(monitor(served.data, DATE, tracking, relabelled, thresholds=FEW,
                             targets=[Target.DROPOUT]))
    assert NO_REFERENCE in report.notes and [c for c in report.decay if c["status"] == "ok"]


def replace_history(source: Path, folder: Path, version: str) -> Path:
    for day in history.dates(source):
        frame = pd.read_parquet(history.partition(source, day))
        history.write_day(folder, day, frame.assign(model_version=version))
    return folder



def test_a_back_dated_monitor_reads_only_the_predictions_issued_by_its_date(watched, served):
    """The history holds DATE and NEXT; a monitor as of the day before DATE has nothing issued
    yet, and one as of DATE only the predictions of DATE."""
    before = DATE - pd.Timedelta(days=1)
    report = dropout(monitor(served.data, before, watched["tracking"], watched["history"],
                             thresholds=FEW, targets=[Target.DROPOUT]))
    assert report.decay == [] and "in the history yet" in " ".join(report.notes), report.notes


def reported(decay: list[dict], by_day: dict[int, float], test_auc: float | None = 0.80) -> TargetReport:
    report = TargetReport("dropout", "mooc-risk-dropout", "3",
                          {} if test_auc is None else {"test_auc": test_auc}, by_day)
    report.decay = [{"course_id": course, "as_of_day": day, "n": 300, "positives": 90, "auc": auc,
                     "pr_auc": 0.5, "ece": 0.02, "precision_top10": 0.6, "status": "ok"}
                    for course, day, auc in decay]
    return report


def test_the_auc_of_an_as_of_day_is_compared_with_the_test_auc_of_that_day():
    """Test AUC by day 0: 0.65, 7: 0.72, 14: 0.85 (pooled 0.80). Day 0 at 0.62 is fine (the
    pooled AUC would fire), day 14 at 0.78 has decayed (the pooled AUC would not fire); a day
    not trained on is compared with the latest trained day before it (day 10 at 0.70 with day
    7's 0.72: fine; the pooled AUC would fire), and with the pooled AUC when there is none."""
    report = reported([("C1", 0, 0.62), ("C1", 14, 0.78), ("C1", 21, 0.74), ("C1", 7, 0.70),
                       ("C1", 10, 0.70)], {0: 0.65, 7: 0.72, 14: 0.85})
    decay_signals(report, DecayThresholds())
    fired = {(s.course_id, s.as_of_day): s for s in report.signals if s.rule == "auc_drop"}
    assert set(fired) == {("C1", 14), ("C1", 21)}
    assert fired[("C1", 14)].threshold == pytest.approx(0.80)  # 0.85 - 0.05
    assert fired[("C1", 21)].threshold == pytest.approx(0.80)  # day 14's 0.85 - 0.05
    assert "day 14" in fired[("C1", 14)].text and "0.850" in fired[("C1", 14)].text
    cells = {c["as_of_day"]: c for c in report.decay}
    assert (cells[0]["test_auc"], cells[0]["test_auc_of"]) == (0.65, "as-of day 0")
    assert (cells[10]["test_auc"], cells[10]["test_auc_of"]) == (0.72, "as-of day 7")
    assert (cells[21]["test_auc"], cells[21]["test_auc_of"]) == (0.85, "as-of day 14")
    early = reported([("C1", 3, 0.60)], {7: 0.72, 14: 0.85})  # before any trained day: pooled
    decay_signals(early, DecayThresholds())
    assert (early.decay[0]["test_auc"], early.decay[0]["test_auc_of"]) == (0.80, "pooled")
    # monitor.json and the report say which test AUC each cell was compared with
    result = MonitorResult("2024-05-20", "data", None, [report])
    cell = next(c for c in as_dict(result)["targets"]["dropout"]["decay"] if c["as_of_day"] == 14)
    assert (cell["test_auc"], cell["test_auc_of"]) == (0.85, "as-of day 14")
    page = render_html(result, {})
    assert "test AUC" in page and "0.850 (as-of day 14)" in page and "0.720 (as-of day 7)" in page
    # no test AUC at all: no auc_drop, and the cell says so
    bare = reported([("C1", 0, 0.51)], {}, test_auc=None)
    decay_signals(bare, DecayThresholds())
    assert bare.signals == [] and bare.decay[0]["test_auc"] is None


def status_of(day: str, course: str | None, *signals: Signal) -> MonitorResult:
    return MonitorResult(day, "data", course, [TargetReport("dropout", "mooc-risk-dropout", "3", {},
                                                            signals=list(signals))])


def test_a_course_monitor_keeps_the_all_courses_status_of_the_same_date(tmp_path):
    history_dir, report = tmp_path / "history", tmp_path / "report"
    weird = "course-v1:MITx+6.00x/2024_T1"  # "/" and "+" in a course id
    today = pd.Timestamp("2024-05-21").date()
    write_status(history_dir, status_of("2024-05-20", None,
                                        Signal("dropout", "auc_drop", 14, 0.6, 0.7, "C2", "AUC C2"),
                                        Signal("dropout", "auc_drop", 14, 0.6, 0.7, weird, "AUC weird")),
                 report)
    write_status(history_dir, status_of("2024-05-20", "C2"), report)  # C2 re-checked: nothing fired
    write_status(history_dir, status_of("2024-05-20", weird,
                                        Signal("dropout", "ece", 7, 0.3, 0.1, weird, "ECE weird")), report)
    files = sorted(p.name for p in (history_dir / FOLDER).iterdir())
    assert len(files) == 3 and all("/" not in f and "+" not in f for f in files), files
    # C1: the all-courses run is still there (the C2 run did not replace it)
    assert course_status(history_dir, "C1", today) == {
        "date": "2024-05-20", "report": str(report), "signals": [], "versions": {"dropout": "3"}}
    # C2 and the weird course: their own run of the same date wins over the all-courses one
    assert course_status(history_dir, "C2", today)["signals"] == []
    assert [s["text"] for s in course_status(history_dir, weird, today)["signals"]] == ["ECE weird"]
    # a later all-courses run wins over an older course run
    write_status(history_dir, status_of("2024-05-21", None), report)
    assert course_status(history_dir, weird, today)["date"] == "2024-05-21"
    assert course_status(history_dir, weird, pd.Timestamp("2024-05-20").date())["signals"][0]["text"] \
        == "ECE weird"


@pytest.mark.parametrize("broken", [
    {"date": "2024-05-21", "course": None},  # no targets
    {"date": "2024-05-21", "course": None, "targets": {"dropout": {"version": "3"}}},  # no signals
    {"date": "2024-05-21", "course": None, "targets": {"dropout": {"version": "3", "signals": [{}]}}},
    {"date": "2024-05-21", "course": None, "targets": ["dropout"]},
    {"date": "2024-05-21", "course": None, "targets": {"dropout": {"version": "3", "signals": 3}}},
    {"course": None, "targets": {}},  # no date
    ["not", "an", "object"],
])
def test_a_status_file_missing_keys_is_skipped(tmp_path, broken):
    history_dir = tmp_path / "history"
    write_status(history_dir, status_of("2024-05-20", None), tmp_path / "report")
    (history_dir / FOLDER / "2024-05-21.json").write_text(json.dumps(broken))
    found = course_status(history_dir, "C1", pd.Timestamp("2024-05-22").date())
    assert found is not None and found["date"] == "2024-05-20"
