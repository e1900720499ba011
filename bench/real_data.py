"""Real-data evaluation: OULAD, KDD Cup 2015 and the dataedu survey courses → bench/real_data.md.

    .venv/bin/python -m bench.real_data --shared DIR [--out bench/out/real]

DIR holds the three data sets as published: oulad/parquet, kddcup2015-daily and
dataedu-online-science (`make bench-real REAL_DATA=DIR`).

Imports each source with `mooc-risk import`, evaluates with `mooc-risk evaluate` (default
configs from models/, nothing tuned on the test side) and writes the tables, the targets of
issue #5, wall time and peak memory of the OULAD stages, and the published anchors.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd

from mooc_risk.models.targets import Target

HERE = Path(__file__).parent
OULAD_DAYS = [0, 14, 28, 56, 90, 120, 180]
KDD_DAYS = [7, 14, 21, 30]


def chosen() -> list[str]:
    """The choices bench/protocol.md's development split made (bench/development.md), as
    ``--set`` overrides of the shipped configs: one model for all as-of days, and the weekly
    family left out (it lowered the development AUC)."""
    from bench.development import ALWAYS_EXCLUDED, FAMILIES

    excluded = [*ALWAYS_EXCLUDED, *FAMILIES["weekly"]]
    return ["--set", "horizon_strategy=single", "--set", f"exclude_features={json.dumps(excluded)}"]


def run(out: Path, name: str, *args: str) -> dict:
    """One CLI command in a fresh process (so its peak memory is its own)."""
    stats = out / f"{name}.stats.json"
    print(f"$ mooc-risk {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "bench.measure", str(stats), *args], check=True,
                   env={**_env(out)})
    return json.loads(stats.read_text())


def _env(out: Path) -> dict[str, str]:
    import os

    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{out}/mlflow.db",
            "MOOC_RISK_ARTIFACT_ROOT": str(out / "artifacts")}


def metrics(report: Path, model: str = "lightgbm") -> pd.DataFrame:
    table = pd.read_csv(report / "metrics_by_day.csv")
    return table[table["model"] == model].set_index("as_of_day")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--shared", type=Path, required=True, help="folder holding oulad/parquet, "
                        "kddcup2015-daily and dataedu-online-science")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "real")
    parser.add_argument("--reuse-imports", action="store_true",
                        help="keep a data set's folder already imported in --out (its import "
                        "is not re-run; the report says so)")
    parser.add_argument("--note", help="where reused imports came from, in the runner's words "
                        "(written under the targets)")
    args = parser.parse_args()
    out, shared = args.out, args.shared
    out.mkdir(parents=True, exist_ok=True)
    days = ",".join(map(str, OULAD_DAYS))
    stats = {}
    reused = [n for n in ("oulad", "kdd", "dataedu")
              if args.reuse_imports and (out / n / "enrolments.parquet").exists()]
    if "oulad" not in reused:
        stats["import"] = run(out, "oulad-import", "import", "--source", "oulad", "--in",
                              str(shared / "oulad" / "parquet"), "--out", str(out / "oulad"))
    stats["features"] = run(out, "oulad-features", "features", "--data", str(out / "oulad"),
                            "--as-of", days, "--out", str(out / "oulad-features.parquet"))
    for target in [t.value for t in Target]:
        stats[f"evaluate {target}"] = run(
            out, f"oulad-{target}", "evaluate", "--data", str(out / "oulad"), "--target", target,
            "--split", "by-run", "--test-from", "2014-01-01", "--as-of", days,
            "--out", str(out / f"oulad-{target}"), *chosen())
    if "kdd" not in reused:
        run(out, "kdd-import", "import", "--source", "kddcup2015", "--in",
            str(shared / "kddcup2015-daily"), "--out", str(out / "kdd"))
    run(out, "kdd-dropout", "evaluate", "--data", str(out / "kdd"), "--target", "dropout",
        "--split", "by-course", "--as-of", ",".join(map(str, KDD_DAYS)), "--out", str(out / "kdd-dropout"),
        *chosen())
    if "dataedu" not in reused:
        run(out, "dataedu-import", "import", "--source", "dataedu", "--in",
            str(shared / "dataedu-online-science"), "--out", str(out / "dataedu"))
    for flag, name in (([], "with"), (["--without-survey"], "without")):
        run(out, f"dataedu-{name}", "evaluate", "--data", str(out / "dataedu"), "--target",
            "certification", "--split", "by-run", "--test-from", "2016-01-01", "--as-of", "0,120",
            "--out", str(out / f"dataedu-{name}"), *flag, *chosen())
    text = render(out, stats, reused, args.note)
    (HERE / "real_data.md").write_text(text)
    print(text)


def _fmt(table: pd.DataFrame, baseline: pd.DataFrame) -> str:
    lines = ["| day | AUC (whole population) | AUC (active in the last 14 days) | active share | "
             "PR-AUC | Brier | ECE | 90% set coverage | interval width | group AUC gap | "
             "baseline AUC | baseline ECE |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for day, row in table.iterrows():
        active = "–" if pd.isna(row.auc_active_14d) else f"{row.auc_active_14d:.3f}"
        lines.append(f"| {day} | {row.auc:.3f} | {active} | "
                     f"{row.active_14d_share:.0%} | {row.pr_auc:.3f} | {row.brier:.3f} | "
                     f"{row.ece:.3f} | {row.coverage_90:.1%} | {row.interval_width:.3f} | "
                     f"{row.group_gap:.3f} | {baseline.loc[day, 'auc']:.3f} | "
                     f"{baseline.loc[day, 'ece']:.3f} |")
    return "\n".join(lines)


def _reused(names: list[str], note: str | None) -> str:
    """Which imports were reused, and the runner's own words on where they came from."""
    if not names:
        return ""
    text = (f"\n\n**Imports reused** from an earlier run in the same folder (`--reuse-imports`): "
            f"{', '.join(names)}.")
    return text + (f" {note}" if note else "")


def _command(reused: list[str] | None) -> str:
    if reused:
        return "`.venv/bin/python -m bench.real_data --shared DIR --reuse-imports`"
    return "`make bench-real` (`.venv/bin/python -m bench.real_data --shared DIR`)"


def _check(ok: bool, text: str) -> str:
    return f"- {'met' if ok else '**not met**'}: {text}"


def render(out: Path, stats: dict, reused: list[str] | None = None, note: str | None = None) -> str:
    od, ob = metrics(out / "oulad-dropout"), metrics(out / "oulad-dropout", "baseline")
    oc, ocb = metrics(out / "oulad-certification"), metrics(out / "oulad-certification", "baseline")
    kd, kdb = metrics(out / "kdd-dropout"), metrics(out / "kdd-dropout", "baseline")
    dw, dwb = metrics(out / "dataedu-with"), metrics(out / "dataedu-with", "baseline")
    dn, dnb = metrics(out / "dataedu-without"), metrics(out / "dataedu-without", "baseline")
    eces = pd.concat([od.ece, oc.ece, kd.ece, dw.ece])
    coverage = pd.concat([od.coverage_90, oc.coverage_90, kd.coverage_90, dw.coverage_90])
    off = (coverage - 0.90).abs()

    def at_least(table: pd.DataFrame, goal: dict[int, float], what: str) -> list[str]:
        """One line per day; the goal is on the whole population, the active subset beside."""
        return [_check(table.loc[d, "auc"] >= g, f"{what} at day {d} ≥ {g:.2f}: "
                       f"{table.loc[d, 'auc']:.3f} (active subset {table.loc[d, 'auc_active_14d']:.3f})")
                for d, g in goal.items()]

    targets = [
        *at_least(od, {28: 0.73, 90: 0.76, 180: 0.76}, "OULAD dropout AUC"),
        *at_least(oc, {90: 0.86, 180: 0.94}, "OULAD certification AUC"),
        *at_least(kd, {14: 0.80, 30: 0.88}, "KDD by-course dropout AUC"),
        _check(bool((eces <= 0.05).all()), f"ECE ≤ 0.05 in every cell — worst {eces.max():.3f} "
               f"({(eces > 0.05).sum()} of {len(eces)} day × data set cells above)"),
        _check(bool((off <= 0.03).all()), f"90% set coverage within 3 points of nominal — "
               f"{coverage.min():.1%}–{coverage.max():.1%} ({(off > 0.03).sum()} of "
               f"{len(off)} cells outside 87–93%)"),
    ]
    resources = "\n".join(
        f"| {stage} | {s['seconds']:.1f} | {s['peak_mb']:,.0f} |" for stage, s in stats.items())
    return f"""# mooc-risk on real data ({date.today()})

Produced by {_command(reused)}: each source imported with
`mooc-risk import`, evaluated with `mooc-risk evaluate` using the default configs in `models/`
with the choices of the development split (`bench/protocol.md`, `bench/development.md`: one
model for all as-of days, the weekly family left out) — LightGBM, sigmoid then Venn-Abers
calibration per as-of day, logistic baseline; sensitive attributes audited, not features.
Nothing is tuned on the test side. "90% set coverage" is the share of test rows whose outcome
lies in their 90% conformal set (nominal 90%); "interval width" the mean width of the
Venn-Abers interval. Only OULAD has a course calendar (`assessments`); the KDD Cup copy and
the dataedu courses carry no deadlines. **The population at as-of day *d* is every
learner enrolled by *d* and not unenrolled before *d*** (`date_unregistration` in OULAD) — the
rule serving uses; going quiet removes nobody. AUC is reported on that whole population and on
the learners active in the 14 days before *d* (the hard, actionable subset). Features use only
data from before *d*. The group AUC gap compares groups with at least 30 test rows and 5 of
each class; a small group still moves it (OULAD's "No Formal quals": about 100 learners a day,
a handful of withdrawals), so read it with the group sizes in each report.

## OULAD, by run: 2013 presentations → 2014 presentations
Dropout = Withdrawn (leaving on `date_unregistration`):

{_fmt(od, ob)}

Certification = Pass or Distinction:

{_fmt(oc, ocb)}

## KDD Cup 2015 (daily counts, 16 courses), by course: seeded course-disjoint split
Dropout = no activity in the 10 days after the 30-day window (everyone is enrolled through day 30):

{_fmt(kd, kdb)}

## dataedu online science courses, by run: S116 → S216 (certification = final grade ≥ 60)
At day 0 only the enrolment and the pre-course survey are known; the data has no timestamps,
so LMS minutes and gradebook items sit on the run's last day (they enter at day 120), and no
one has been active by day 0 (–: no active subset).

With the survey constructs (interest, utility value, perceived competence):

{_fmt(dw, dwb)}

Without them:

{_fmt(dn, dnb)}

What the survey adds at day 0: AUC {dw.loc[0, 'auc']:.3f} with vs {dn.loc[0, 'auc']:.3f} without
(LightGBM), {dwb.loc[0, 'auc']:.3f} vs {dnb.loc[0, 'auc']:.3f} (baseline) — on a test side of
about 200 enrolments, so ±0.05 is within noise.

## Targets (issue #16; an AUC goal is on the whole population, the active subset shown beside it)
{chr(10).join(targets)}

What each feature family and setting added on the development split, and what it chose:
`bench/development.md` (`make bench-dev`).{_reused(reused or [], note)}

## OULAD resources (one process per stage, 2 cores)
| stage | wall s | peak MB |
|---|---:|---:|
{resources}

## Published anchors, and why ours differ
- **KDD Cup 2015**: the winning AUC was **0.9074**, from the full raw logs (event times, sources,
  objects, course structure) and features across a learner's other courses, with a split
  inside the same courses. This copy has only daily counts of 7 event kinds and no user ids,
  and we test on courses the model never saw (as for a new course). Inside the same courses
  (random learners) our features reach about the same AUC as by course, so the gap is the data
  copy, not the split.
- **OULAD withdrawal**: papers report 0.88–0.93, mostly with features from the whole course,
  random (not time-ordered) splits, and a population that keeps learners who had already left
  — for whom "no activity for weeks" makes withdrawal easy to call. Here the population at day
  *d* is only the learners still registered at *d*, the model is trained on 2013 and tested on
  2014, and Withdrawn is separated from Fail, whose disengaged learners look alike. That task
  is harder, and closer to what a course team can act on.
- **OULAD certification** is easier early on because Fail and Withdrawn fall on the same side;
  at day 180 most assessments are in.
"""


if __name__ == "__main__":
    main()
