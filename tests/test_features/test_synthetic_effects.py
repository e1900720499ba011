"""The generator's planted intervention effect (issue 15): off by default (same data as ever),
and when on, consistent events and outcomes and the simulated log."""

from __future__ import annotations

import pandas as pd
import pytest
from cli_helpers import run_cli

from mooc_risk.features.synthetic.generate import generate
from mooc_risk.features.synthetic.interventions import Effect, InterventionPlan

TABLES = ("enrolments", "surveys", "events", "outcomes", "assessments")


# fingerprints of generate(300 learners, 3 courses, seed 5) without a plan (hash of every value
# as text, mod 2**61): the option changes nothing. Enrolments and surveys are those of the
# generator before the planted effect existed; events, outcomes and the calendar those of the
# generator since scheduled runs have a calendar (issue 16: submissions around the due date)
BEFORE = {"enrolments": (344, 2198033150931835971), "surveys": (275, 1729012176937757027),
          "events": (36646, 545310078787768162), "outcomes": (344, 556861530068691341),
          "assessments": (69, 807531935019459890)}


def test_without_a_plan_the_data_are_unchanged(tmp_path, cmap):
    generate(tmp_path / "a", 300, 3, seed=5, cmap=cmap)
    generate(tmp_path / "b", 300, 3, seed=5, cmap=cmap, interventions=None)
    for name in TABLES:
        a = pd.read_parquet(tmp_path / "a" / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, pd.read_parquet(tmp_path / "b" / f"{name}.parquet"))
        fingerprint = int(pd.util.hash_pandas_object(a.astype(str), index=False).sum() % 2**61)
        assert (len(a), fingerprint) == BEFORE[name], name
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(f"{n}.parquet" for n in TABLES)


def test_plan_writes_the_log_and_keeps_events_and_outcomes_consistent(tmp_path, cmap):
    plan = InterventionPlan(effects={"call": {"high": Effect(0.2, 0.1)}, "email": {}},
                            holdout_share=0.25)
    generate(tmp_path, 1500, 4, seed=2, cmap=cmap, runs=2, interventions=plan)
    log = pd.read_parquet(tmp_path / "interventions.parquet")
    holdout = pd.read_parquet(tmp_path / "holdout.parquet")
    assert {"course_id", "run_id", "learner_id", "action", "recorded_at", "as_of_day", "risk_band",
            "suggested"} <= set(log.columns)
    assert set(log.action) == {"call", "email"} and (log.as_of_day == 14).all()
    assert 0.2 < holdout.held_out.mean() < 0.3
    treated = holdout[~holdout.held_out]
    assert len(treated) == len(log)
    keys = ["course_id", "run_id", "learner_id"]
    both = log[keys].merge(holdout.loc[holdout.held_out, keys])
    assert both.empty  # nobody held out is acted on
    events = pd.read_parquet(tmp_path / "events.parquet", columns=["learner_id", "course_id", "run_id"])
    outcomes = pd.read_parquet(tmp_path / "outcomes.parquet")
    active = events.drop_duplicates().astype(str).assign(seen=True)
    certified = outcomes[outcomes.certified].astype({"learner_id": str, "course_id": str, "run_id": str})
    joined = certified.merge(active, how="left", on=["learner_id", "course_id", "run_id"])
    assert joined.seen.fillna(False).all()  # every completer has activity
    assert not (outcomes.certified & outcomes.dropped_out).any()
    truth = pd.read_parquet(tmp_path / "planted_effects.parquet")
    high_calls = truth[truth.treated & (truth.risk_band == "high") & (truth.suggested == "call")]
    assert (high_calls.p1_complete - high_calls.p0_complete).mean() == pytest.approx(0.1, abs=1e-6)
    assert (high_calls.p1_reengage_7d - high_calls.p0_reengage_7d).mean() == pytest.approx(0.2, abs=0.02)
    emails = truth[truth.treated & (truth.suggested == "email")]
    assert (emails.p1_complete == emails.p0_complete).all()


def test_a_plan_out_of_range_is_refused(tmp_path, cmap):
    with pytest.raises(ValueError, match="holdout_share"):
        generate(tmp_path, 100, 2, seed=1, cmap=cmap, interventions=InterventionPlan(holdout_share=1.5))


def test_confounded_and_holdout_share_exclude_each_other(tmp_path, capsys, monkeypatch):
    args = ["generate", "--learners", 50, "--courses", 2, "--plant-reengage", 0.1, "--out", tmp_path / "d"]
    result = run_cli([*args, "--confounded", "--holdout-share", 0.2], capsys, monkeypatch)
    assert result.code == 2
    assert "--confounded" in result.err and "--holdout-share" in result.err
    assert not (tmp_path / "d").exists()
    assert run_cli([*args, "--confounded"], capsys, monkeypatch).code == 0
    assert not (tmp_path / "d" / "holdout.parquet").exists()
    assert run_cli([*args, "--holdout-share", 0.2], capsys, monkeypatch).code == 0
    assert 0 < pd.read_parquet(tmp_path / "d" / "holdout.parquet").held_out.mean() < 0.5
