"""Benchmark: 10M synthetic events from Parquet → features for 3 as-of days.

Compares, in one run and on the same files:
  * mooc-risk's pipeline (read + validate + build_features, Ibis on DuckDB),
  * one hand-written DuckDB SQL query computing the same clickstream features,
  * a naive pandas implementation (read Parquet, merge, groupby per as-of day).
Targets (issue #2): ours ≥ 0.7× the hand-written query's speed, ≥ 5× faster than pandas.

    .venv/bin/python -m bench.features [--learners 80000] [--out bench/out]

Prints events/s and ratios and writes them to bench/results/features.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from mooc_risk.features.build import build_features, default_spec
from mooc_risk.features.canonical.engine import connect
from mooc_risk.features.canonical.tables import read_tables
from mooc_risk.features.constructs import load_construct_map
from mooc_risk.features.synthetic.generate import generate

AS_OF = [7, 14, 28]
ROUNDS = 3
HERE = Path(__file__).parent


def data_set(out: Path, learners: int) -> Path:
    folder = out / f"synthetic-{learners}"
    if not (folder / "outcomes.parquet").exists():
        print(f"generating {learners:,} learners into {folder} …", flush=True)
        t = time.perf_counter()
        counts = generate(folder, learners, 8, 42, load_construct_map())
        print(f"  {counts['events']:,} events in {time.perf_counter() - t:.1f} s", flush=True)
    return folder


def ours(folder: Path) -> tuple[pd.DataFrame, float, float]:
    start = time.perf_counter()
    cmap = load_construct_map()
    tables = read_tables(folder, connect(), cmap)
    validated = time.perf_counter()
    frame = build_features(tables, AS_OF, default_spec(tables, cmap))
    end = time.perf_counter()
    return frame, end - start, end - validated


def construct_sql() -> str:
    """Construct scores as SQL expressions, written out from the construct map."""
    cmap = load_construct_map()
    top = cmap.scale.min + cmap.scale.max
    parts = []
    for name, c in cmap.constructs.items():
        items = [f"({top} - {i})" if i in c.reverse else i for i in c.items]
        answered = " + ".join(f"({i} IS NOT NULL)::INT" for i in c.items)
        total = " + ".join(f"coalesce({i}, 0)" for i in items)
        need = -(-len(c.items) // 2)
        parts.append(f"CASE WHEN {answered} >= {need} THEN ({total}) / ({answered}) END AS {name}")
    return ",\n           ".join(parts)


def hand_written_sql(folder: Path, event_types: list[str]) -> tuple[pd.DataFrame, float]:
    counts = ",\n".join(
        f"sum(CASE WHEN event_type = '{t}' THEN vol ELSE 0 END) AS n_{t}" for t in event_types
    )
    sums = ", ".join(f"sum(n_{t}) AS n_{t}" for t in event_types)
    days = ", ".join(f"({d})" for d in AS_OF)
    sql = f"""
    WITH enr AS (
      SELECT learner_id, course_id, run_id,
             row_number() OVER () AS eid,
             dense_rank() OVER (ORDER BY course_id, run_id) AS rid,
             epoch(enrolled_at)::BIGINT AS enrolled_s,
             epoch(CASE WHEN course_end IS NULL THEN enrolled_at ELSE course_start END)::BIGINT AS anchor_s
      FROM read_parquet('{folder}/enrolments.parquet')),
    ev AS (
      SELECT eid, rid, epoch(ts)::BIGINT AS t_s, event_type, object_id, value, anchor_s
      FROM read_parquet('{folder}/events.parquet') JOIN enr USING (learner_id, course_id, run_id)),
    ev2 AS (
      SELECT *, floor((t_s - anchor_s) / 86400)::BIGINT AS day,
             event_type = 'assessment' AS is_a,
             CASE WHEN event_type = 'assessment' THEN 0 ELSE coalesce(value, 1) END AS vol,
             coalesce(t_s - lag(t_s) OVER (PARTITION BY eid ORDER BY t_s) > 1800, true) AS s_start
      FROM ev),
    daily AS (
      SELECT eid, day, {counts},
             sum(vol) AS vol, sum(s_start::INT) AS sessions, sum(is_a::INT) AS assessments,
             sum(CASE WHEN is_a THEN value END) AS score_sum,
             count(CASE WHEN is_a THEN value END) AS score_n,
             min(t_s) AS first_s, max(t_s) AS last_s
      FROM ev2 GROUP BY eid, day),
    daily2 AS (SELECT *, day - lag(day) OVER (PARTITION BY eid ORDER BY day) - 1 AS gap FROM daily),
    lobj AS (SELECT eid, object_id, min(day) AS first_day FROM ev2
             WHERE object_id IS NOT NULL GROUP BY eid, object_id),
    cobj AS (SELECT rid, object_id, min(t_s) AS first_s FROM ev2
             WHERE object_id IS NOT NULL GROUP BY rid, object_id),
    hz AS (SELECT enr.*, d.as_of_day, anchor_s + d.as_of_day * 86400 AS cutoff_s
           FROM enr CROSS JOIN (VALUES {days}) d(as_of_day)
           WHERE enrolled_s <= anchor_s + d.as_of_day * 86400),
    act AS (
      SELECT hz.eid, hz.as_of_day, {sums}, sum(vol) AS events_total, count(*) AS active_days,
             sum(sessions) AS sessions, sum(assessments) AS assessments_submitted,
             sum(score_sum) / nullif(sum(score_n), 0) AS assessment_mean_score,
             min(first_s) AS first_s, max(last_s) AS last_s, max(gap) AS longest_gap_days,
             sum(CASE WHEN day >= hz.as_of_day - 7 THEN vol ELSE 0 END) AS last7,
             sum(CASE WHEN day >= hz.as_of_day - 7 THEN 1 ELSE 0 END) AS active7,
             sum(CASE WHEN day >= hz.as_of_day - 14 AND day < hz.as_of_day - 7 THEN vol ELSE 0 END) AS prev7,
             sum(CASE WHEN day >= hz.as_of_day - 21 AND day < hz.as_of_day - 14 THEN vol ELSE 0 END) AS w3,
             sum(CASE WHEN day >= hz.as_of_day - 28 AND day < hz.as_of_day - 21 THEN vol ELSE 0 END) AS w4,
             count(DISTINCT CASE WHEN day >= 0 THEN floor(day / 7) END) AS active_weeks,
             sum(CASE WHEN day >= 0 AND day < 7 THEN vol ELSE 0 END) AS first_week_events,
             sum(CASE WHEN day >= 0 AND day < 7 THEN 1 ELSE 0 END) AS first_week_active_days,
             sum(CASE WHEN day >= 0 THEN vol ELSE 0 END) AS cv_sum,
             sum(CASE WHEN day >= 0 THEN vol * vol ELSE 0 END) AS cv_sq
      FROM hz JOIN daily2 d ON d.eid = hz.eid AND d.day < hz.as_of_day
      GROUP BY hz.eid, hz.as_of_day),
    mine AS (SELECT hz.eid, hz.as_of_day, count(*) AS touched
             FROM hz JOIN lobj l ON l.eid = hz.eid AND l.first_day < hz.as_of_day
             GROUP BY hz.eid, hz.as_of_day),
    seen AS (SELECT c.rid, c.cutoff_s, count(*) AS run_objects
             FROM (SELECT DISTINCT rid, cutoff_s FROM hz) c
             JOIN cobj o ON o.rid = c.rid AND o.first_s < c.cutoff_s
             GROUP BY c.rid, c.cutoff_s),
    cal AS (SELECT enr_runs.rid, a.assessment_id, epoch(a.due_at)::BIGINT AS due_s,
                   coalesce(a.weight, 0) AS weight
            FROM read_parquet('{folder}/assessments.parquet') a
            JOIN (SELECT DISTINCT course_id, run_id, rid FROM enr) enr_runs USING (course_id, run_id)),
    subs AS (SELECT eid, object_id, min(t_s) AS sub_s, arg_min(value, t_s) AS score
             FROM ev2 WHERE is_a AND object_id IS NOT NULL GROUP BY eid, object_id),
    calrows AS (
      SELECT hz.eid, hz.as_of_day, hz.cutoff_s, cal.due_s, cal.weight, subs.score,
             cal.due_s IS NOT NULL AND cal.due_s < hz.cutoff_s AS passed,
             cal.due_s IS NOT NULL AND cal.due_s < hz.cutoff_s AND cal.due_s >= hz.enrolled_s AS due,
             subs.sub_s IS NOT NULL AND subs.sub_s < hz.cutoff_s AS made, subs.sub_s
      FROM hz JOIN cal USING (rid)
      LEFT JOIN subs ON subs.eid = hz.eid AND subs.object_id = cal.assessment_id),
    calendar AS (
      SELECT eid, as_of_day,
             sum(due::INT)::DOUBLE AS deadlines_passed,
             sum((due AND made AND sub_s <= due_s)::INT)::DOUBLE AS submitted_on_time,
             sum((due AND made AND sub_s > due_s)::INT)::DOUBLE AS submitted_late,
             sum((NOT due AND made)::INT)::DOUBLE AS submitted_ahead,
             (min(CASE WHEN due_s >= cutoff_s THEN due_s END) - max(cutoff_s)) / 86400
                 AS days_to_next_deadline,
             sum(CASE WHEN passed THEN weight ELSE 0 END) / nullif(sum(weight), 0) AS weight_due_share,
             sum(CASE WHEN due AND made THEN weight * coalesce(score, 0) ELSE 0 END)
                 / nullif(sum(CASE WHEN due THEN weight ELSE 0 END), 0) AS score_on_weight_due
      FROM calrows GROUP BY eid, as_of_day),
    rows AS (
    SELECT hz.learner_id, hz.course_id, hz.run_id, hz.as_of_day, hz.rid, hz.cutoff_s,
           deadlines_passed, submitted_on_time, submitted_late,
           deadlines_passed - submitted_on_time - submitted_late AS deadlines_missed,
           (deadlines_passed - submitted_on_time - submitted_late) / nullif(deadlines_passed, 0)
               AS deadlines_missed_share,
           submitted_ahead, days_to_next_deadline, weight_due_share, score_on_weight_due,
           coalesce(w3, 0) AS events_w3, coalesce(w4, 0) AS events_w4,
           coalesce(prev7, 0) AS events_prev_7d,
           (1.5 * ln(coalesce(last7, 0) + 1) + 0.5 * ln(coalesce(prev7, 0) + 1)
            - 0.5 * ln(coalesce(w3, 0) + 1) - 1.5 * ln(coalesce(w4, 0) + 1)) / 5 AS activity_slope_4w,
           coalesce(active_weeks, 0) / nullif(ceil(hz.as_of_day / 7), 0) AS active_weeks_share,
           coalesce(first_week_events, 0) AS first_week_events,
           coalesce(first_week_active_days, 0) AS first_week_active_days,
           e.course_end IS NOT NULL AS scheduled,
           hz.as_of_day / (epoch(e.course_end) - epoch(e.course_start)) * 86400
               AS course_elapsed_share,
           coalesce(touched, 0) AS objects_touched, coalesce(last7, 0) AS events_last_7d,
           coalesce(active7, 0) AS active_days_last_7d,
           e.platform, e.credential_type, e.paid_by, e.credential_cost,
           (e.course_end IS NULL)::DOUBLE AS self_paced,
           s.gender, s.age_band, s.education_level, s.employment, s.country, s.disability,
           s.prior_attempts::DOUBLE AS prior_attempts, s.hours_per_week_planned,
           s.intends_credential::DOUBLE AS intends_credential,
           {construct_sql()},
           coalesce(events_total, 0) AS events_total, coalesce(active_days, 0) AS active_days,
           coalesce(act.sessions, 0) AS sessions,
           (hz.cutoff_s - last_s) / 86400 AS days_since_last_activity, longest_gap_days,
           ln((coalesce(last7, 0) + 1) / (coalesce(prev7, 0) + 1)) AS trend_7d,
           coalesce(touched, 0) / nullif(run_objects, 0) AS objects_touched_share,
           coalesce(assessments_submitted, 0) AS assessments_submitted, assessment_mean_score,
           (first_s - hz.enrolled_s) / 86400 AS days_to_first_activity,
           CASE WHEN cv_sum > 0 THEN sqrt(greatest(cv_sq / hz.as_of_day
                - (cv_sum / hz.as_of_day) ^ 2, 0)) / (cv_sum / hz.as_of_day) END AS daily_activity_cv
    FROM hz LEFT JOIN act USING (eid, as_of_day) LEFT JOIN mine USING (eid, as_of_day)
    LEFT JOIN calendar USING (eid, as_of_day)
    LEFT JOIN seen USING (rid, cutoff_s)
    JOIN read_parquet('{folder}/enrolments.parquet') e USING (learner_id, course_id, run_id)
    LEFT JOIN read_parquet('{folder}/surveys.parquet') s USING (learner_id, course_id, run_id)),
    cohort AS (  -- the run at the same day, among rows whose cutoff is no later
      SELECT *,
        avg(events_total) OVER w AS c_events, avg(assessments_submitted) OVER w AS c_ass,
        avg(objects_touched) OVER w AS c_obj, avg((events_last_7d > 0)::DOUBLE) OVER w AS c_active,
        avg(events_last_7d) OVER w AS c_last7, avg(active_days) OVER w AS c_days,
        avg(deadlines_missed) OVER w AS c_missed, avg(score_on_weight_due) OVER w AS c_score
      FROM rows
      WINDOW w AS (PARTITION BY rid, as_of_day, scheduled ORDER BY cutoff_s
                   RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
    SELECT * EXCLUDE (rid, scheduled, cutoff_s, c_events, c_ass, c_obj, c_active, c_last7, c_days,
                      c_missed, c_score),
           ln((events_total + 1) / (c_events + 1)) AS events_vs_cohort,
           assessments_submitted - c_ass AS assessments_vs_cohort,
           ln((objects_touched + 1) / (c_obj + 1)) AS objects_vs_cohort,
           c_active AS cohort_active_7d_share,
           ln((events_last_7d + 1) / (c_last7 + 1)) AS last_7d_vs_cohort,
           active_days - c_days AS active_days_vs_cohort,
           deadlines_missed - c_missed AS missed_vs_cohort,
           score_on_weight_due - c_score AS score_due_vs_cohort
    FROM cohort
    ORDER BY learner_id, course_id, run_id, as_of_day
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    start = time.perf_counter()
    frame = con.sql(sql).df()
    return frame, time.perf_counter() - start


def naive_pandas(folder: Path) -> tuple[pd.DataFrame, float]:
    """What a first notebook would do: load everything, merge, then filter and group per day.
    Computes the same clickstream features as the other two."""
    start = time.perf_counter()
    keys = ["learner_id", "course_id", "run_id"]
    enr = pd.read_parquet(folder / "enrolments.parquet")
    ev = pd.read_parquet(folder / "events.parquet")
    for frame in (enr, ev):
        frame[keys] = frame[keys].astype(str)
    enr["anchor"] = enr.enrolled_at.where(enr.course_end.isna(), enr.course_start)
    ev = ev.merge(enr[[*keys, "anchor", "enrolled_at"]], on=keys)
    ev["day"] = (ev.ts - ev.anchor).dt.total_seconds() // 86400
    ev = ev.sort_values([*keys, "ts"])
    gap = ev.groupby(keys).ts.diff().dt.total_seconds()
    ev["session_start"] = gap.isna() | (gap > 1800)
    ev["is_a"] = ev.event_type == "assessment"
    ev["vol"] = np.where(ev.is_a, 0.0, ev.value.fillna(1.0))
    run_first_seen = ev.dropna(subset=["object_id"]).groupby(["course_id", "run_id", "object_id"]).ts.min()
    parts = []
    for d in AS_OF:
        cutoff = enr.anchor + pd.Timedelta(days=d)
        rows = enr.loc[enr.enrolled_at <= cutoff, [*keys, "anchor", "enrolled_at"]].copy()
        rows["cutoff"] = rows.anchor + pd.Timedelta(days=d)
        past = ev[ev.day < d]
        g = past.groupby(keys)
        daily = past.groupby([*keys, "day"]).vol.sum().reset_index()
        in_course = daily[daily.day >= 0].groupby(keys).vol
        out = pd.DataFrame({
            "events_total": g.vol.sum(),
            "active_days": g.day.nunique(),
            "sessions": g.session_start.sum(),
            "first_ts": g.ts.min(),
            "last_ts": g.ts.max(),
            "longest_gap_days": g.day.apply(lambda s: (np.diff(np.unique(s)) - 1).max()
                                            if s.nunique() > 1 else np.nan),
            "assessments_submitted": g.is_a.sum(),
            "assessment_mean_score": past[past.is_a].groupby(keys).value.mean(),
            "last7": past[past.day >= d - 7].groupby(keys).vol.sum(),
            "prev7": past[(past.day >= d - 14) & (past.day < d - 7)].groupby(keys).vol.sum(),
            "objects_touched": g.object_id.nunique(),
            "cv_sum": in_course.sum(),
            "cv_sq": in_course.apply(lambda v: (v**2).sum()),
        })
        by_type = past.pivot_table(index=keys, columns="event_type", values="vol", aggfunc="sum")
        rows = rows.merge(out.join(by_type).reset_index(), on=keys, how="left")
        seen = run_first_seen.reset_index().merge(rows[["course_id", "run_id", "cutoff"]]
                                                  .drop_duplicates(), on=["course_id", "run_id"])
        seen = seen[seen.ts < seen.cutoff].groupby(["course_id", "run_id", "cutoff"]).size()
        rows = rows.merge(seen.rename("run_objects").reset_index(), how="left",
                          on=["course_id", "run_id", "cutoff"])
        rows["days_since_last_activity"] = (rows.cutoff - rows.last_ts).dt.total_seconds() / 86400
        rows["objects_touched_share"] = rows.objects_touched.fillna(0) / rows.run_objects
        rows["trend_7d"] = np.log((rows.last7.fillna(0) + 1) / (rows.prev7.fillna(0) + 1))
        mean = rows.cv_sum / d
        rows["daily_activity_cv"] = np.sqrt((rows.cv_sq / d - mean**2).clip(lower=0)) / mean
        parts.append(rows.assign(as_of_day=d))
    frame = pd.concat(parts, ignore_index=True)
    return frame, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--learners", type=int, default=80_000)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    folder = data_set(args.out, args.learners)
    n_events = pq.ParquetFile(folder / "events.parquet").metadata.num_rows

    runs = []
    for _ in range(ROUNDS):  # interleaved, so both see the same machine conditions
        frame, t_all, t_build = ours(folder)
        types = [c.removeprefix("n_") for c in frame.columns if c.startswith("n_") and c != "n_other"]
        sql_frame, t_sql = hand_written_sql(folder, types)
        runs.append((t_all, t_build, t_sql))
    _check_same(frame, sql_frame)
    t_ours, t_build, t_sql = (statistics.median(r[i] for r in runs) for i in range(3))
    _, t_pandas = naive_pandas(folder)

    rows = [
        ("mooc-risk: read + validate + build_features", t_ours),
        ("mooc-risk: build_features only", t_build),
        ("hand-written DuckDB SQL (same feature columns)", t_sql),
        ("naive pandas groupby (clickstream features only)", t_pandas),
    ]
    lines = [
        f"# Feature pipeline benchmark ({date.today()})",
        "",
        f"`.venv/bin/python -m bench.features --learners {args.learners}` on "
        f"{platform.machine()}, {_cores()} cores; {n_events:,} events, {len(frame):,} feature rows "
        f"({len(AS_OF)} as-of days: {', '.join(map(str, AS_OF))}). Median of {ROUNDS} interleaved "
        f"runs (pandas: 1 run). Ratios per round: "
        + ", ".join(f"{s / b:.2f}" for _, b, s in runs) + " (build only).",
        "",
        "| pipeline | seconds | events/s |",
        "|---|---:|---:|",
        *[f"| {name} | {t:.2f} | {n_events / t:,.0f} |" for name, t in rows],
        "",
        f"- speed vs the hand-written query, whole pipeline: **{t_sql / t_ours:.2f}×**; "
        f"build_features alone: **{t_sql / t_build:.2f}×** (target ≥ 0.7×)",
        f"- speed vs naive pandas: **{t_pandas / t_ours:.1f}×** faster (target ≥ 5×)",
        "- the hand-written query's feature values equal ours on every shared column (checked).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "features.md").write_text(text)


def _check_same(ours_frame: pd.DataFrame, sql_frame: pd.DataFrame) -> None:
    keys = ["learner_id", "course_id", "run_id", "as_of_day"]
    a = ours_frame.sort_values(keys).reset_index(drop=True)
    b = sql_frame.sort_values(keys).reset_index(drop=True)
    shared = [c for c in b.columns if c in a.columns and c not in keys]
    numeric = [c for c in shared if pd.api.types.is_numeric_dtype(a[c])]
    text = [c for c in shared if c not in numeric]
    pd.testing.assert_frame_equal(a[keys], b[keys].astype({"as_of_day": "int64"}), check_dtype=False)
    pd.testing.assert_frame_equal(a[numeric], b[numeric].astype("float64"), check_dtype=False,
                                  rtol=1e-6)
    pd.testing.assert_frame_equal(a[text].astype(object).fillna("∅"),
                                  b[text].astype(object).fillna("∅"), check_dtype=False)
    missing = sorted(set(a.columns) - set(b.columns))
    if missing:
        print(f"(columns only in ours: {', '.join(missing)})")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
