"""Can a course team act on the lists? Checks a `mooc-risk predict` output against its data.

    .venv/bin/python -m bench.list_quality --data data/synthetic --predictions data/predictions.parquet

Per target and course (the listed run, at the predictions' as-of day): learners listed, the
share of distinct risk values, learners listed who had unenrolled before the day (must be 0),
reasons naming a sensitive attribute or one of its values (must be 0), and the largest share of one suggested
action. Writes bench/results/list_quality.md (`make demo` leaves both inputs in data/).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

from mooc_risk.training.markdown import markdown_table

HERE = Path(__file__).parent
SENSITIVE = {"gender", "age_band", "disability", "employment", "country"}
KEYS = ["learner_id", "course_id", "run_id"]


def sensitive_values(data: Path) -> set[str]:
    """The values of the sensitive columns in the data's surveys ("female", "55+", …)."""
    path = data / "surveys.parquet"
    if not path.exists():
        return set()
    s = pd.read_parquet(path)
    return {str(v) for c in SENSITIVE if c in s for v in s[c].dropna().unique() if len(str(v)) > 1}


def unenrolled_listed(rows: pd.DataFrame, data: Path) -> int:
    e = pd.read_parquet(data / "enrolments.parquet")
    o = pd.read_parquet(data / "outcomes.parquet")
    if "dropped_at" not in o:
        return 0
    listed = rows[[*KEYS, "as_of_day"]].merge(e, on=KEYS).merge(o[[*KEYS, "dropped_at"]], on=KEYS)
    anchor = listed["enrolled_at"].where(listed["course_end"].isna(), listed["course_start"])
    cutoff = anchor + pd.to_timedelta(listed["as_of_day"], unit="D")
    return int((listed["dropped_at"] < cutoff).sum())


def quality(predictions: pd.DataFrame, data: Path) -> pd.DataFrame:
    out = []
    reason_features = [c for c in predictions if c.startswith("reason_") and c.endswith("_feature")]
    texts = [c for c in predictions if c.startswith("reason_") and c.endswith("_text")]
    values = sensitive_values(data)
    for (target, course), rows in predictions.groupby(["target", "course_id"]):
        named = set(rows[reason_features].stack().dropna()) if reason_features else set()
        words = " | ".join(rows[texts].stack().dropna()) if texts else ""
        named |= {v for v in values if re.search(rf"(?<![\w-]){re.escape(v)}(?![\w-])", words)}
        out.append({
            "target": target, "course": course, "run": ", ".join(sorted(rows["run_id"].unique())),
            "listed": len(rows),
            "distinct risk": rows["risk"].nunique() / len(rows),
            "unenrolled listed": unenrolled_listed(rows, data),
            "sensitive reasons": len(named & SENSITIVE),
            "top action share": rows["intervention"].value_counts(normalize=True).iloc[0],
            "top action": rows["intervention"].value_counts().index[0],
        })
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    args = parser.parse_args()
    predictions = pd.read_parquet(args.predictions)
    table = quality(predictions, args.data)
    day = int(predictions["as_of_day"].iloc[0])
    shown = table.assign(**{"distinct risk": table["distinct risk"].map("{:.1%}".format),
                            "top action share": table["top action share"].map("{:.0%}".format)})
    text = (f"# Lists a course team acts on — `{args.predictions}`, as-of day {day}\n\n"
            "Command: `python -m bench.list_quality --data DATA --predictions FILE` after "
            "`mooc-risk predict --all`.\n\n" + markdown_table(shown))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "list_quality.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
