"""The roster (names and e-mails behind pseudonymous ids) stays in the web app: never in
features, MLflow, models, cards, predictions, reports, logs or error messages."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import assert_trains, run_cli

from mooc_risk.errors import InputError
from mooc_risk.serving.roster import Roster, read_roster

SURNAME = "Quillfeatherstonehaugh"  # invented; grepped for in every output
DOMAIN = "roster-leak.example"


def write_roster(folder: Path, learner_ids) -> None:
    pd.DataFrame({"learner_id": list(learner_ids),
                  "display_name": [f"Ada {SURNAME} {n}" for n in range(len(learner_ids))],
                  "email": [f"ada{n}@{DOMAIN}" for n in range(len(learner_ids))]}).to_csv(
        folder / "roster.csv", index=False)


def leaks(folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if SURNAME.encode() in data or DOMAIN.encode() in data:
                found.append(str(path))
    return found


@pytest.mark.slow
def test_no_roster_value_reaches_any_output(synthetic, tmp_path, private_tracking, capsys, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(synthetic(600, 2, 11, 2), data)
    write_roster(data, pd.read_parquet(data / "enrolments.parquet")["learner_id"].unique())
    outputs = []
    for args in (["survey-report", "--data", data],
                 ["features", "--data", data, "--as-of", "0,7", "--out", tmp_path / "f.parquet"]):
        result = run_cli(args, capsys, monkeypatch)
        assert result.code == 0, result.err
        outputs += [result.out, result.err]
    assert_trains(data, capsys, monkeypatch)
    predicted = run_cli(["predict", "--data", data, "--all", "--as-of", "7", "--target", "dropout",
                         "--out", tmp_path / "p.csv"], capsys, monkeypatch)
    assert predicted.code == 0, predicted.err
    outputs += [predicted.out, predicted.err]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != data]
    assert len(written) > 5  # the MLflow store, artifacts, cards, features, predictions
    assert not [p for p in leaks(tmp_path) if Path(p).parent != data]
    assert not [o for o in outputs if SURNAME in o or DOMAIN in o]


def test_roster_errors_name_the_row_not_the_value(tmp_path):
    (tmp_path / "roster.csv").write_text(
        "learner_id,display_name,email\nL1,Ada Quillfeatherstonehaugh,ada@x.org\n"
        "L2,Bo Quillfeatherstonehaugh,not-an-address\n")
    with pytest.raises(InputError) as error:
        read_roster(tmp_path / "roster.csv")
    assert "row 3: email is not an e-mail address" in str(error.value)
    assert SURNAME not in str(error.value) and "not-an-address" not in str(error.value)
    (tmp_path / "roster.csv").write_text("learner_id,display_name,email\nL1,A,a@x.org\nL1,B,b@x.org\n")
    with pytest.raises(InputError, match="row 3: learner_id repeats"):
        read_roster(tmp_path / "roster.csv")
    (tmp_path / "roster.csv").write_text("learner_id,name\nL1,A\n")
    with pytest.raises(InputError, match="missing column"):
        read_roster(tmp_path / "roster.csv")


def test_roster_is_reread_when_its_file_changes_and_gives_rows_in_order(tmp_path):
    write_roster(tmp_path, ["L1", "L2"])
    roster = Roster(tmp_path)
    people = roster.people(["L2", "L9", "L1"])
    assert list(people["email"]) == [f"ada1@{DOMAIN}", "", f"ada0@{DOMAIN}"]
    write_roster(tmp_path, ["L9"])
    assert list(roster.people(["L9"])["email"]) == [f"ada0@{DOMAIN}"]
    (tmp_path / "roster.csv").unlink()
    assert roster.people(["L9"]) is None
