"""``serving.impact`` on synthetic data with a planted effect (issue 15): the randomised estimate
recovers the truth within its interval, shows no effect when none is planted, and the
observational path gives an interval with its warning and diagnostics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mooc_risk.features.synthetic.generate import generate
from mooc_risk.features.synthetic.interventions import InterventionPlan
from mooc_risk.serving import impact as im

KEYS = ["course_id", "run_id", "learner_id"]


def _data(folder: Path, cmap, seed: int, plan: InterventionPlan, learners: int = 2500) -> Path:
    generate(folder, learners, 4, seed=seed, cmap=cmap, runs=2, interventions=plan)
    return folder


def _tables(folder: Path):
    events = pd.read_parquet(folder / "events.parquet", columns=[*KEYS, "ts"])
    return events, pd.read_parquet(folder / "outcomes.parquet"), pd.read_parquet(folder / "interventions.parquet")


def _randomised(folder: Path) -> dict[str, im.Estimate]:
    events, outcomes, log = _tables(folder)
    units = im.unit_outcomes(im.randomised_units(pd.read_parquet(folder / "holdout.parquet"), log),
                             events, outcomes)
    return {e.outcome: e for e in im.randomised(units) if e.group == "all"}


def _truth(folder: Path) -> dict[str, float]:
    t = pd.read_parquet(folder / "planted_effects.parquet")
    t = t[t.treated]
    return {"reengaged_7d": float((t.p1_reengage_7d - t.p0_reengage_7d).mean()),
            "reengaged_14d": float((t.p1_reengage_14d - t.p0_reengage_14d).mean()),
            "completed": float((t.p1_complete - t.p0_complete).mean())}


def test_newcombe_interval_matches_a_hand_computed_case():
    e = im.difference_in_proportions(np.r_[np.ones(30), np.zeros(70)], np.r_[np.ones(20), np.zeros(80)])
    assert e.effect == pytest.approx(0.10)
    assert (e.low, e.high) == pytest.approx((-0.0202494, 0.2167344), abs=1e-6)
    assert e.verdict == "no effect shown"
    assert im.difference_in_proportions(np.ones(5), np.zeros(50)).verdict == "too few learners"


def test_no_planted_effect_reports_no_effect(tmp_path, cmap):
    folder = _data(tmp_path, cmap, 4, InterventionPlan.uniform(0.0, 0.0))
    for outcome, e in _randomised(folder).items():
        assert e.low <= 0 <= e.high, outcome
        assert e.verdict == "no effect shown"


@pytest.mark.slow
def test_planted_effect_recovered_in_at_least_90_percent_of_20_runs(tmp_path, cmap):
    plan = InterventionPlan.uniform(reengage=0.10, complete=0.05)
    covered = {"reengaged_7d": 0, "completed": 0}
    null_covered = {"reengaged_7d": 0, "reengaged_14d": 0, "completed": 0}
    for seed in range(20):
        folder = _data(tmp_path / f"s{seed}", cmap, seed, plan)
        truth, found = _truth(folder), _randomised(folder)
        assert truth["reengaged_7d"] == pytest.approx(0.10, abs=0.03)  # capped where b0 + 0.1 > 1
        assert truth["completed"] == pytest.approx(0.05, abs=1e-9)
        for outcome in covered:
            covered[outcome] += found[outcome].low <= truth[outcome] <= found[outcome].high
        null = _randomised(_data(tmp_path / f"n{seed}", cmap, 100 + seed,
                                 InterventionPlan.uniform(0.0, 0.0), learners=1500))
        for outcome, e in null.items():
            null_covered[outcome] += e.low <= 0 <= e.high
    print(f"coverage over 20 seeds: {covered}; no-effect intervals covering 0: {null_covered}")
    assert all(n >= 18 for n in covered.values()), covered
    assert all(n >= 17 for n in null_covered.values()), null_covered  # 95% intervals: 19 expected


def test_observational_gives_an_interval_diagnostics_and_the_warning(tmp_path, cmap):
    folder = _data(tmp_path, cmap, 3, InterventionPlan.uniform(0.10, 0.05, confounded=True), 3000)
    events, outcomes, log = _tables(folder)
    assert not (folder / "holdout.parquet").exists()
    units = im.unit_outcomes(im.observational_units(pd.read_parquet(folder / "at_risk.parquet"), log),
                             events, outcomes)
    naive = units.groupby("treated")["reengaged_7d"].mean()
    assert naive[1] < naive[0]  # confounded: the team acts on the riskiest
    estimates, overlap = im.observational(units)
    overall = {e.outcome: e for e in estimates if e.group == "all"}
    for e in overall.values():
        assert e.low < e.effect < e.high
    assert overall["reengaged_7d"].low > 0  # adjusted for risk, the effect is positive again
    assert set(overlap["propensity"]) == {"treated", "untreated"}
    assert 0 <= overlap["share_outside_0.05_0.95"] <= 1
    smd = overlap["smd"]["risk_logit"]
    assert abs(smd["after"]) < abs(smd["before"])
    report = im.analyse(folder)
    assert report["design"] == "observational"
    assert report["warning"] == im.OBSERVATIONAL_WARNING
    assert len(report["assumptions"]) == 4
    json.dumps(report)
