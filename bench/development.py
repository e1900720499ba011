"""The development split of bench/protocol.md: choose feature families and parameters inside
the training side only, before the test side is looked at.

    .venv/bin/python -m bench.development --imported bench/out/real [--out bench/out/dev]

``--imported`` holds the folders `bench.real_data` imports (``oulad``, ``kdd``). Writes the
restricted folders (OULAD runs starting before 2014; the KDD courses of the final split's
training side), one `mooc-risk evaluate` per variant and target, and
``bench/development.md`` (the ablation table: what each family adds on the development split).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd

from bench.real_data import KDD_DAYS, OULAD_DAYS, metrics, run
from mooc_risk.features.calendar import CALENDAR_COLUMNS
from mooc_risk.features.clickstream import CALENDAR_COHORT_COLUMNS

HERE = Path(__file__).parent
TABLES = ("enrolments", "events", "surveys", "outcomes", "assessments")
# the families issue #16 added, by feature column
FAMILIES = {
    "weekly": ["events_w3", "events_w4", "activity_slope_4w", "active_weeks_share",
               "first_week_events", "first_week_active_days"],
    "cohort": ["last_7d_vs_cohort", "active_days_vs_cohort"],
    "calendar": [*CALENDAR_COLUMNS, *CALENDAR_COHORT_COLUMNS],
}
ALWAYS_EXCLUDED = ["country"]  # as in models/*.yaml
VARIANTS = {  # name → families left out
    "before #16": ["weekly", "cohort", "calendar"],
    "+ weekly": ["cohort", "calendar"],
    "+ cohort": ["weekly", "calendar"],
    "+ calendar": ["weekly", "cohort"],
    "all": [],
}
SETTINGS = {  # parameter variants, tried with all families
    "one model per day": ["horizon_strategy=per_day"],
    "one model for all days": ["horizon_strategy=single"],
    "deeper trees": ["lightgbm.num_leaves=63", "lightgbm.max_depth=-1"],
}


def restrict(source: Path, target: Path, runs: pd.DataFrame) -> Path:
    """Copy the canonical tables of ``source`` keeping only ``runs`` (course_id, run_id)."""
    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.register("keep", runs)
    for name in TABLES:
        path = source / f"{name}.parquet"
        if path.exists():
            kept = f"SELECT t.* FROM read_parquet('{path}') t JOIN keep USING (course_id, run_id)"
            con.execute(f"COPY ({kept}) TO '{target / f'{name}.parquet'}' (FORMAT parquet)")
    return target


def runs_of(folder: Path) -> pd.DataFrame:
    return duckdb.sql(f"SELECT DISTINCT course_id, run_id, min(course_start) AS start "
                      f"FROM read_parquet('{folder / 'enrolments.parquet'}') GROUP BY ALL").df()


def kdd_training_courses(folder: Path, seed: int = 42, share: float = 0.3) -> list[str]:
    """The courses on the training side of the final by-course split (same seed and share as
    models/dropout.yaml): only which courses, no outcome is read."""
    from mooc_risk.training.split import _by_group

    courses = sorted(runs_of(folder).course_id.unique())
    held = _by_group(pd.DataFrame({"course_id": courses}), "course_id", share, seed)
    return [c for c, h in zip(courses, held, strict=True) if not h]


def evaluate(out: Path, data: Path, name: str, target: str, days: list[int], split: list[str],
             excluded: list[str], settings: list[str], reuse: bool = False) -> pd.DataFrame:
    """One variant's `mooc-risk evaluate` report, rerun unless ``reuse`` and it exists (a
    report made by older code would otherwise pass for a new one)."""
    report = out / name
    if not reuse and report.exists():
        shutil.rmtree(report)
    if not (report / "metrics_by_day.csv").exists():
        sets = [a for s in settings for a in ("--set", s)]
        run(out, name, "evaluate", "--data", str(data), "--target", target, *split,
            "--as-of", ",".join(map(str, days)), "--out", str(report),
            "--set", f"exclude_features={json.dumps(excluded)}",
            "--set", "compare_horizon_strategies=false", *sets)
    return metrics(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--imported", type=Path, default=HERE / "out" / "real")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "dev")
    parser.add_argument("--reuse", action="store_true", help="keep the variants' reports already "
                        "in --out (only when the code has not changed since they were made)")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    oulad_runs = runs_of(args.imported / "oulad")
    oulad = restrict(args.imported / "oulad", out / "oulad-2013",
                     oulad_runs[oulad_runs.start < "2014-01-01"][["course_id", "run_id"]])
    kdd_courses = kdd_training_courses(args.imported / "kdd")
    kdd_runs = runs_of(args.imported / "kdd")
    kdd = restrict(args.imported / "kdd", out / "kdd-train-courses",
                   kdd_runs[kdd_runs.course_id.isin(kdd_courses)][["course_id", "run_id"]])
    by_run = ["--split", "by-run", "--test-from", "2013-07-01"]  # 2013B trains, 2013J tests
    cases = [("OULAD dropout", oulad, "dropout", OULAD_DAYS, by_run),
             ("OULAD certification", oulad, "certification", OULAD_DAYS, by_run),
             ("KDD dropout", kdd, "dropout", KDD_DAYS, ["--split", "by-course"])]
    rows = []
    for label, data, target, days, split in cases:
        slug = label.lower().replace(" ", "-")
        for variant, left_out in VARIANTS.items():
            excluded = ALWAYS_EXCLUDED + [c for f in left_out for c in FAMILIES[f]]
            m = evaluate(out, data, f"{slug}-{_slug(variant)}", target, days, split, excluded, [],
                         args.reuse)
            rows += [{"case": label, "variant": variant, "day": d, "auc": a} for d, a in m.auc.items()]
        for setting, sets in SETTINGS.items():
            m = evaluate(out, data, f"{slug}-{_slug(setting)}", target, days, split, ALWAYS_EXCLUDED,
                         sets, args.reuse)
            rows += [{"case": label, "variant": setting, "day": d, "auc": a} for d, a in m.auc.items()]
    table = pd.DataFrame(rows)
    table.to_csv(out / "ablation.csv", index=False)
    text = render(table, kdd_courses)
    (HERE / "development.md").write_text(text)
    print(text)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


def render(table: pd.DataFrame, kdd_courses: list[str]) -> str:
    parts = ["# Development split: what each feature family and setting adds",
             "",
             "Produced by `make bench-dev` (`.venv/bin/python -m bench.development`), on the training "
             "side only (bench/protocol.md): OULAD 2013B → 2013J; KDD Cup by course inside the "
             f"{len(kdd_courses)} training courses of the final split. AUC on the whole population "
             "of the development test side; `before #16` leaves out the weekly, cohort and "
             "calendar families added by issue #16.", ""]
    for case, frame in table.groupby("case", sort=False):
        wide = frame.pivot_table(index="variant", columns="day", values="auc", sort=False)
        days = list(wide.columns)
        parts += [f"## {case}", "", "| variant | " + " | ".join(f"d{d}" for d in days) + " |",
                  "|---|" + "---:|" * len(days)]
        for variant, row in wide.iterrows():
            parts.append(f"| {variant} | " + " | ".join(f"{row[d]:.3f}" for d in days) + " |")
        parts.append("")
    return "\n".join(parts + choices(table))


def choices(table: pd.DataFrame) -> list[str]:
    """The rules of bench/protocol.md applied to the table: a family stays unless adding it
    lowers the mean AUC (days, then the three cases); a setting wins when it beats the
    default's mean by more than 0.003."""
    mean = table.groupby(["case", "variant"]).auc.mean().unstack("case").mean(axis=1)
    lines = ["## Choices (the protocol's rules on the table above)", "",
             "| family or setting | mean AUC over days and cases | vs reference | chosen |",
             "|---|---:|---:|---|"]
    for family in FAMILIES:
        delta = mean[f"+ {family}"] - mean["before #16"]
        lines.append(f"| + {family} | {mean[f'+ {family}']:.4f} | {delta:+.4f} vs before #16 | "
                     f"{'kept' if delta >= 0 else 'left out'} |")
    for setting in SETTINGS:
        delta = mean[setting] - mean["all"]
        lines.append(f"| {setting} | {mean[setting]:.4f} | {delta:+.4f} vs the defaults | "
                     f"{'yes' if delta > 0.003 else 'no'} |")
    return [*lines, ""]


if __name__ == "__main__":
    main()
