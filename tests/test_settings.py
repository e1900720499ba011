"""Settings by concern, read from the documented variables only, with errors that name them."""

from datetime import datetime
from pathlib import Path

import pytest

from mooc_risk.days import course_day, parse_days
from mooc_risk.errors import InputError
from mooc_risk.settings import (
    Backend,
    EngineSettings,
    IdentitySettings,
    PathSettings,
    ServiceSettings,
    TrackingSettings,
)

VARIABLES = ("MLFLOW_TRACKING_URI", "MOOC_RISK_ARTIFACT_ROOT", "MOOC_RISK_CARDS_DIR", "MOOC_RISK_STORE",
             "MOOC_RISK_KEYS_FILE", "MOOC_RISK_DATA", "MOOC_RISK_NOW", "MOOC_RISK_ID_SECRET",
             "MOOC_RISK_ID_SECRET_FILE", "MOOC_RISK_BACKEND")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_each_concern_reads_its_documented_variables(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///x/m.db")
    monkeypatch.setenv("MOOC_RISK_STORE", "s")
    monkeypatch.setenv("MOOC_RISK_NOW", "2024-02-03T10:00:00+02:00")
    monkeypatch.setenv("MOOC_RISK_ID_SECRET", "")  # empty counts as unset
    monkeypatch.setenv("MOOC_RISK_BACKEND", "pyspark")
    for stray in ("DATA_DIR", "data_dir", "now", "backend", "id_secret", "tracking_uri"):
        monkeypatch.setenv(stray, "/not/ours")  # a field's own name is not a variable of ours
    assert TrackingSettings.from_env().tracking_uri == "sqlite:///x/m.db"
    assert PathSettings.from_env().store_dir == Path("s")
    service = ServiceSettings.from_env()
    assert service.now == datetime(2024, 2, 3, 8, 0) and service.data_dir is None
    assert IdentitySettings.from_env().id_secret is None
    assert EngineSettings.from_env().backend is Backend.PYSPARK


def test_settings_travel_to_another_process_as_the_same_variables(tmp_path, monkeypatch):
    paths = PathSettings.of(cards_dir=tmp_path / "cards", keys_file=tmp_path / "keys.yaml")
    for name, value in paths.to_env().items():
        monkeypatch.setenv(name, value)
    assert PathSettings.from_env() == paths
    assert "hush" not in repr(IdentitySettings.of(id_secret="hush"))


def test_settings_given_in_code_read_no_environment(monkeypatch):
    monkeypatch.setenv("MOOC_RISK_NOW", "2024-02-03T10:00:00Z")
    monkeypatch.setenv("MOOC_RISK_STORE", "from-the-environment")
    assert ServiceSettings.of(data_dir=Path("d")).now is None
    assert PathSettings.of(cards_dir=Path("c")).store_dir == Path(".mooc-risk/store")
    with pytest.raises(TypeError, match="no field"):
        PathSettings.of(card_dir=Path("c"))


@pytest.mark.parametrize(("name", "value", "cls"), [("MOOC_RISK_NOW", "next tuesday", ServiceSettings),
                                                     ("MOOC_RISK_NOW", "1700000000", ServiceSettings),
                                                     ("MOOC_RISK_BACKEND", "spark", EngineSettings)])
def test_a_bad_variable_is_an_input_error_naming_it(monkeypatch, name, value, cls):
    monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match=f"{name}='{value}'"):
        cls.from_env()


def test_days_are_parsed_in_one_place():
    assert parse_days("14, 0,7,7") == [0, 7, 14]
    for bad in ("", "7,x", "-1", "1.5"):
        with pytest.raises(ValueError, match="days"):
            parse_days(bad)
    assert course_day(datetime(2024, 1, 8), datetime(2024, 1, 22, 23, 59)) == 14
    assert course_day(datetime(2024, 1, 8), datetime(2024, 1, 1)) == 0
