"""The gate compares like with like, and days nothing can be learnt at are skipped by name."""

import pytest

from mooc_risk.errors import InputError
from mooc_risk.features.build import default_spec
from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.settings import TrackingSettings
from mooc_risk.training.config import load_config
from mooc_risk.training.publish import publish
from mooc_risk.training.train import fit_and_assess


@pytest.fixture(scope="module")
def tables(synthetic_data, cmap, duck):
    return read_tables(synthetic_data, duck, cmap)


def trained(tables, cmap, days, *extra):
    config = load_config(None, ["compare_horizon_strategies=false", "gate.ece_ceiling=0.2", *extra],
                         target="dropout", as_of_days=days)
    return fit_and_assess(tables, config, default_spec(tables, cmap))


@pytest.mark.slow
def test_a_candidate_covering_fewer_days_than_the_champion_is_not_promoted(tables, cmap, tmp_path):
    tracking = TrackingSettings.of(tracking_uri=f"sqlite:///{tmp_path}/m.db",
                                   artifact_root=tmp_path / "a")
    first = publish(trained(tables, cmap, [0, 7, 14]), tables, tracking, tmp_path / "c", "s")
    assert first.alias == "champion"
    narrow = publish(trained(tables, cmap, [7, 14]), tables, tracking, tmp_path / "c", "s")
    assert narrow.alias == "challenger"
    assert "covers fewer as-of days than the champion v1 (7, 14 vs 0, 7, 14): days 0" in \
        narrow.decision.reason
    from mlflow.tracking import MlflowClient

    tags = MlflowClient(tracking.tracking_uri).get_model_version("mooc-risk-dropout", "2").tags
    assert tags["gate_decision"] == "challenger" and "fewer as-of days" in tags["gate_reason"]
    same = publish(trained(tables, cmap, [0, 7, 14]), tables, tracking, tmp_path / "c", "s")
    assert "fewer as-of days" not in same.decision.reason and "vs champion" in same.decision.reason


def test_days_past_every_course_are_skipped_and_named(tables, cmap):
    # the synthetic scheduled courses last 6–10 weeks; self-paced runs are dropped here so that
    # day 400 is past the end of every course
    from dataclasses import replace

    e = tables.enrolments
    scheduled = e.filter(e.course_end.notnull())
    keep = {name: t.semi_join(scheduled.select("learner_id", "course_id", "run_id"),
                              ["learner_id", "course_id", "run_id"])
            for name, t in (("events", tables.events), ("surveys", tables.surveys),
                            ("outcomes", tables.outcomes))}
    only_scheduled = replace(tables, enrolments=scheduled, **keep)
    result = trained(only_scheduled, cmap, [7, 14, 400], "horizon_strategy=per_day")
    assert result.config.as_of_days == [7, 14] and result.bundle().metadata.as_of_days == [7, 14]
    assert "past the end of every course in the data" in result.skipped_days[400]
    assert set(result.rows.frame["as_of_day"]) == {7, 14}
    with pytest.raises(InputError, match="no as-of day can be trained"):
        trained(only_scheduled, cmap, [400, 500])


def test_the_last_day_of_a_course_is_kept_and_the_day_after_is_skipped():
    import numpy as np
    import pandas as pd

    from mooc_risk.training.dataset import LabelledRows
    from mooc_risk.training.split import Split
    from mooc_risk.training.train import days_to_skip

    days = [30] * 6 + [35] * 6
    frame = pd.DataFrame({"as_of_day": days, "label": [0, 1] * 6, "course_length_days": 30.0,
                          "self_paced": 0.0})
    sides = np.array(["train", "train", "valid", "valid", "test", "test"] * 2)
    split = Split(sides == "train", sides == "valid", sides == "test", "by-run", "")
    config = load_config(None, target="dropout", as_of_days=[30, 35])
    skipped = days_to_skip(LabelledRows(frame, ["as_of_day"], []), split, config)
    assert list(skipped) == [35] and "the longest lasts 30 days" in skipped[35]
