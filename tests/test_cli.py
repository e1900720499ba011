"""The command line a user runs: help on every command, the data → features path end to end."""

import pandas as pd
import pytest
from cli_helpers import run_cli

from mooc_risk.cli import build_app


def command_names() -> list[str]:
    import typer.main

    return sorted(typer.main.get_command(build_app()).commands)


def test_every_command_has_help(capsys, monkeypatch):
    assert {"generate", "features", "survey-report"} <= set(command_names())
    for name in command_names():
        result = run_cli([name, "--help"], capsys, monkeypatch)
        assert result.code == 0, name
        assert "Usage" in result.out and "--" in result.out, name


def test_generate_then_features_then_survey_report(tmp_path, capsys, monkeypatch):
    data, out = tmp_path / "data", tmp_path / "features.parquet"
    result = run_cli(["generate", "--learners", 400, "--courses", 3, "--seed", 3, "--out", data],
                     capsys, monkeypatch)
    assert result.code == 0, result.err
    assert {p.name for p in data.iterdir()} == {
        "enrolments.parquet", "surveys.parquet", "events.parquet", "outcomes.parquet",
        "assessments.parquet"}

    result = run_cli(["features", "--data", data, "--as-of", "14,0,7", "--out", out],
                     capsys, monkeypatch)
    assert result.code == 0, result.err
    frame = pd.read_parquet(out)
    assert list(frame.columns[:4]) == ["learner_id", "course_id", "run_id", "as_of_day"]
    assert set(frame.as_of_day) == {0, 7, 14}
    assert not frame.duplicated(["learner_id", "course_id", "run_id", "as_of_day"]).any()
    assert f"{len(frame):,} rows" in result.out

    result = run_cli(["survey-report", "--data", data], capsys, monkeypatch)
    assert result.code == 0, result.err
    for construct in ("strategic_thinking", "self_efficacy", "perceived_usefulness",
                      "knowledge_expertise", "group_work", "achievement_drive"):
        assert construct in result.out
    assert "alpha" in result.out


def test_generate_csv_is_readable_by_features(tmp_path, capsys, monkeypatch):
    data = tmp_path / "csv"
    assert run_cli(["generate", "--learners", 50, "--courses", 2, "--format", "csv", "--out", data],
                   capsys, monkeypatch).code == 0
    out = tmp_path / "f.csv"
    result = run_cli(["features", "--data", data, "--as-of", "7", "--out", out], capsys, monkeypatch)
    assert result.code == 0, result.err
    assert len(pd.read_csv(out)) > 0


@pytest.mark.parametrize("args", [["generate", "--learners", "0", "--out", "x"],
                                  ["generate", "--format", "xml", "--out", "x"],
                                  ["features", "--data", "x", "--out", "f.txt"]])
def test_bad_options_are_usage_errors(args, capsys, monkeypatch):
    result = run_cli(args, capsys, monkeypatch)
    assert result.code == 2
    assert "Traceback" not in result.err


def test_serve_stops_on_a_bad_setting_before_starting_the_service(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MOOC_RISK_NOW", "next tuesday")
    result = run_cli(["serve", "--data", tmp_path], capsys, monkeypatch)
    assert result.code == 2 and "MOOC_RISK_NOW='next tuesday'" in result.err
    assert "Traceback" not in result.err
