"""``serving.impact`` on synthetic data with a planted effect (issue 15): the randomised estimate
recovers the truth within its interval, shows no effect when none is planted, and the
observational path gives an interval with its warning and diagnostics. And the review's
fixes: contrasts grouped by the suggested action only, outcomes not observable yet left out,
one time zero (the listing) for both observational arms, the canonical reader (folders of
Parquet, times with an offset), the score test's p-value, no data in a failure's message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from mooc_risk.errors import InputError
from mooc_risk.features.synthetic.generate import generate
from mooc_risk.features.synthetic.interventions import InterventionPlan
from mooc_risk.serving import impact as im
from mooc_risk.serving import impact_command

KEYS = ["course_id", "run_id", "learner_id"]


def _data(folder: Path, cmap, seed: int, plan: InterventionPlan, learners: int = 2500) -> Path:
    generate(folder, learners, 4, seed=seed, cmap=cmap, runs=2, interventions=plan)
    return folder


def _randomised(folder: Path) -> dict[str, im.Estimate]:
    log = pd.read_parquet(folder / "interventions.parquet")
    units = im.observe(folder, im.randomised_units(pd.read_parquet(folder / "holdout.parquet"), log))
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


def test_p_value_is_the_score_tests():
    from statsmodels.stats.proportion import test_proportions_2indep

    e = im.difference_in_proportions(np.r_[np.ones(30), np.zeros(70)], np.r_[np.ones(20), np.zeros(80)])
    score = test_proportions_2indep(30, 100, 20, 100, method="score", compare="diff").pvalue
    assert e.p_value == pytest.approx(score, rel=1e-12)
    assert e.p_value == pytest.approx(0.1033330, abs=1e-6)  # not agresti-caffo's 0.1059213


def test_no_planted_effect_reports_no_effect(tmp_path, cmap):
    folder = _data(tmp_path, cmap, 4, InterventionPlan.uniform(0.0, 0.0))
    for outcome, e in _randomised(folder).items():
        assert e.low <= 0 <= e.high, outcome
        assert e.verdict == "no effect shown"
        assert e.n_excluded == 0  # every run over, every window observed


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
    log = pd.read_parquet(folder / "interventions.parquet")
    assert not (folder / "holdout.parquet").exists()
    units = im.observe(folder, im.observational_units(pd.read_parquet(folder / "at_risk.parquet"), log))
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
    assert report["assumptions"] == list(im.ASSUMPTIONS) and len(im.ASSUMPTIONS) == 5
    assert any("time zero" in a.lower() and "listing" in a for a in report["assumptions"])
    assert "listing" in report["method"]
    json.dumps(report)


# ------------------------------------------------------------------------- the review's fixes


T0 = pd.Timestamp("2024-03-01")


def _unit(i: int, **columns) -> dict:
    return {"course_id": "C1", "run_id": "R1", "learner_id": f"L{i:03d}", **columns}


def test_randomised_contrasts_group_by_the_suggested_action_not_by_what_was_done():
    # 40 listed learners, all suggested "call"; among the 20 assigned, the team e-mailed instead
    # the 10 who would come back anyway: grouping by what was done would split the assigned
    # arm on the outcome and compare "call" (none back) and "email" (all back) with the whole
    # held-out arm — no longer randomised
    holdout = pd.DataFrame([_unit(i, held_out=i >= 20, assigned_at=T0, suggested="call",
                                  risk_band="high") for i in range(40)])
    log = pd.DataFrame([_unit(i, action="email" if i < 10 else "call",
                              recorded_at=T0 + pd.Timedelta(hours=1)) for i in range(20)]
                       + [_unit(0, action="call", recorded_at=T0)])  # older row: not the newest
    events = pd.DataFrame([_unit(i, ts=T0 + pd.Timedelta(days=2)) for i in [*range(10), *range(20, 30)]]
                          + [_unit(0, ts=T0 + pd.Timedelta(days=60))])
    outcomes = pd.DataFrame([_unit(i, certified=False) for i in range(40)])
    units = im.unit_outcomes(im.randomised_units(holdout, log), events, outcomes)
    assert set(units["suggested"]) == {"call"}
    estimates = im.randomised(units)
    assert {e.group for e in estimates} == {
        "all", "suggested action: call", "risk_band: high", "risk_band × suggested action: high / call"}
    by_call = next(e for e in estimates if e.group == "suggested action: call" and e.outcome == "reengaged_7d")
    assert (by_call.rate_treated, by_call.rate_control, by_call.effect) == (0.5, 0.5, 0.0)
    done = {(r["suggested"], r["arm"], r["done"]): r["n"] for r in im.actions_done(units)}
    assert done == {("call", "assigned", "email"): 10, ("call", "assigned", "call"): 10,
                    ("call", "held out", "(none logged)"): 20}


def test_outcomes_not_observable_yet_are_left_out():
    newest = T0 + pd.Timedelta(days=30)
    units = pd.DataFrame([
        _unit(0, t0=T0),                                        # both windows over
        _unit(1, t0=newest - pd.Timedelta(days=10)),             # 7 days over, 14 not
        _unit(2, t0=newest - pd.Timedelta(days=3)),              # neither (its event counts not)
        _unit(3, t0=T0, run_id="R2"),                            # run still running
        _unit(4, t0=T0, run_id="SP"),                            # self-paced: as given
        _unit(5, t0=T0),                                         # certified unknown
        _unit(6, t0=T0),                                         # no outcome row
    ])
    events = pd.DataFrame([_unit(2, ts=newest - pd.Timedelta(days=1)), _unit(9, ts=newest),
                           _unit(1, ts=newest - pd.Timedelta(days=5))])
    outcomes = pd.DataFrame([_unit(0, certified=False), _unit(1, certified=True),
                             _unit(2, certified=False), _unit(3, run_id="R2", certified=True),
                             _unit(4, run_id="SP", certified=False), _unit(5, certified=None)])
    run_end = pd.DataFrame({"course_id": "C1", "run_id": ["R1", "R2", "SP"],
                            "course_end": [T0 + pd.Timedelta(days=20), newest + pd.Timedelta(days=1), pd.NaT]})
    out = im.unit_outcomes(units, events, outcomes, newest, run_end)
    as_list = {c: [None if pd.isna(v) else int(v) for v in out[c]] for c in im.OUTCOMES}
    assert as_list["reengaged_7d"] == [0, 1, None, 0, 0, 0, 0]
    assert as_list["reengaged_14d"] == [0, None, None, 0, 0, 0, 0]
    assert as_list["completed"] == [0, 1, 0, None, 0, None, None]
    # each estimate counts only what it can see, and says how many it left out
    big = pd.concat([out.assign(treated=t, suggested="a", risk_band="high",
                                learner_id=out["learner_id"] + f"-{k}")
                     for k in range(3) for t in (0, 1)], ignore_index=True)
    e = {x.outcome: x for x in im.randomised(big) if x.group == "all"}
    assert (e["reengaged_14d"].n_treated, e["reengaged_14d"].n_control, e["reengaged_14d"].n_excluded) == (15, 15, 12)
    assert (e["completed"].n_treated, e["completed"].n_excluded) == (12, 18)


def test_observational_time_zero_is_the_listing_for_both_arms():
    at_risk = pd.DataFrame([_unit(i, listed_at=T0, risk=0.9, risk_band="high") for i in range(4)])
    log = pd.DataFrame([_unit(0, action="call", recorded_at=T0 + pd.Timedelta(days=5)),
                        _unit(1, action="call", recorded_at=T0 + pd.Timedelta(hours=60))])
    units = im.observational_units(at_risk, log)
    assert list(units["treated"]) == [1, 1, 0, 0]
    assert (units["t0"] == T0).all()  # not the intervention's time for the treated
    events = pd.DataFrame([_unit(0, ts=T0), _unit(0, ts=T0 - pd.Timedelta(days=1)),
                           _unit(0, ts=T0 + pd.Timedelta(days=3)), _unit(2, ts=T0 + pd.Timedelta(days=3))])
    out = im.unit_outcomes(units, events, None, T0 + pd.Timedelta(days=90))
    assert list(out["events_before"]) == [1, 0, 0, 0]  # strictly before the listing
    assert list(out["reengaged_7d"]) == [1, 0, 1, 0]  # from the listing, in both arms


def _rewrite(src: Path, dst: Path) -> Path:
    """``src`` with events as a folder of Parquet files whose times carry an offset, and the
    holdout and log as CSV with offsets: the same instants, other layouts."""
    shutil.copytree(src, dst)
    events = pd.read_parquet(dst / "events.parquet")
    (dst / "events.parquet").unlink()
    (dst / "events").mkdir()
    events["ts"] = events["ts"].dt.tz_localize("UTC").dt.tz_convert("Europe/Paris")
    half = len(events) // 2
    events.iloc[:half].to_parquet(dst / "events" / "part-0.parquet")
    events.iloc[half:].to_parquet(dst / "events" / "part-1.parquet")
    for name, column in (("holdout", "assigned_at"), ("interventions", "recorded_at")):
        frame = pd.read_parquet(dst / f"{name}.parquet")
        (dst / f"{name}.parquet").unlink()
        frame[column] = frame[column].dt.tz_localize("UTC").dt.tz_convert("Asia/Kolkata").map(
            lambda t: t.isoformat())
        frame.to_csv(dst / f"{name}.csv", index=False)
    return dst


def test_analyse_reads_parquet_folders_csv_and_times_with_an_offset(tmp_path, cmap):
    plain = _data(tmp_path / "plain", cmap, 6, InterventionPlan.uniform(0.1, 0.05), learners=1200)
    other = _rewrite(plain, tmp_path / "other")
    assert (other / "events").is_dir() and (other / "holdout.csv").exists()
    a, b = im.analyse(plain), im.analyse(other)
    assert a["design"] == b["design"] == "randomised"
    assert a["estimates"] == b["estimates"] and a["units"] == b["units"]
    assert a["units"]["observable"] == {o: a["units"]["n"] for o in im.OUTCOMES}
    assert sum(r["n"] for r in a["actions_done"]) == a["units"]["n"]
    (other / "holdout.parquet").write_bytes(b"")  # two holdout tables: which one?
    with pytest.raises(InputError, match="more than once"):
        im.analyse(other)


def _impact_app() -> typer.Typer:
    app = typer.Typer()
    impact_command.register(app)
    app.command("other")(lambda: None)  # two commands: the name is the first argument
    return app


def test_a_failure_names_the_error_type_but_never_its_text(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyError("learner L-7731 of run 2024-01")

    monkeypatch.setattr(im, "analyse", boom)
    args = ["impact", "--data", str(tmp_path), "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(_impact_app(), args)
    assert result.exit_code == 1
    assert "KeyError" in result.output and "L-7731" not in result.output
    debug = CliRunner().invoke(_impact_app(), [*args, "--debug"])
    assert isinstance(debug.exception, KeyError)

    def bad_input(*args, **kwargs):
        raise InputError("holdout: missing column(s) held_out")

    monkeypatch.setattr(im, "analyse", bad_input)
    result = CliRunner().invoke(_impact_app(), args)
    assert result.exit_code == 2 and "holdout: missing column(s) held_out" in result.output
