"""Benchmark: the nightly refresh (`mooc-risk refresh`) of an Open edX platform with 10^7 and
10^8 historical events, plus one new day of tracking logs.

    .venv/bin/python -m bench.refresh [--events 10000000,100000000] [--out bench/out/refresh]
        [--import-memory 2GB] [--feature-memory SIZE]

The platform's history is written straight into a data folder as a log import leaves it
(events with edX event names, learner ids keyed by ``MOOC_RISK_ID_SECRET``, the import
manifest) by DuckDB from ``range()`` — no pandas, no JSON — so 10^8 events take a minute or
two: 20 courses × 4 quarterly runs of 2024, 100 events per enrolment on average (10^5
enrolments for 10^7 events, 10^6 for 10^8), the last run of each course running on the
refresh date. The new day is an edX tracking log (JSON lines, written by DuckDB) with the
running runs' events of the day before the date (a year's events / 365).

The models are trained once, on a small synthetic set, with the shipped configurations
(``models/*.yaml``: as-of days 0, 7, …, 42) — the benchmark measures the refresh, not
training. Each measurement is the whole command in a fresh process (``bench.measure``): a
copy of the platform's data folder, an empty feature store and history; wall time and the
peak RSS of the process (``getrusage`` high-water mark: Python, pandas and DuckDB together),
with the seconds per step from the refresh's own result. Then the same night again (nothing
new in the logs: the pinned version and its features are found). Results go to
``bench/results/refresh.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

HERE = Path(__file__).parent
ROOT = HERE.parent
SECRET = "bench-refresh-secret"
COURSES, RUNS, EVENTS_PER_ENROLMENT = 20, 4, 100
YEAR = datetime(2024, 1, 1)
RUN_STARTS = [YEAR + timedelta(days=91 * r) for r in range(RUNS)]  # quarterly
CUT = datetime(2024, 11, 14)  # the history ends here; the new log is this day's
NIGHT = date(2024, 11, 15)  # the refresh's date: scored as of 00:00 UTC, after the new day


def course_key(course: int, run: int) -> str:
    return f"course-v1:BenchX+C{course:02d}+2024_T{run + 1}"


def _runs_sql() -> str:
    """One row per run: its number (run × COURSES + course), edX key, course and run ids."""
    from mooc_risk.features.sources.course_keys import course_and_run

    rows = []
    for r in range(RUNS):
        for c in range(COURSES):
            key = course_key(c, r)
            course_id, run_id = course_and_run(key)
            start = RUN_STARTS[r] + timedelta(days=c)  # courses start a day apart
            rows.append(f"({r * COURSES + c}, {r}, '{key}', '{course_id}', '{run_id}', "
                        f"TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}')")
    return ("CREATE TABLE runs AS SELECT * FROM (VALUES " + ", ".join(rows)
            + ") t(run_no, quarter, course_key, course_id, run_id, run_start)")


def generate_platform(folder: Path, n_events: int) -> dict:
    """The history as a log import of ``n_events`` events leaves it; returns counts."""
    from mooc_risk.features.sources.identity import create_keys_table, pseudonym_sql
    from mooc_risk.features.sources.log_tables import write_manifest

    folder.mkdir(parents=True, exist_ok=True)
    n_runs = COURSES * RUNS
    n_enrol = n_events // EVENTS_PER_ENROLMENT
    con = duckdb.connect()
    con.execute(f"SET TimeZone = 'UTC'; SET temp_directory = '{folder}/.tmp'; SET memory_limit = '4GB'")
    create_keys_table(con, SECRET.encode())
    con.execute(_runs_sql())
    cut = f"TIMESTAMP '{CUT:%Y-%m-%d %H:%M:%S}'"
    # one user per enrolment; enrolled from 14 days before the start to 25 days after; active
    # for a day (30 %) or 1-84 days; 10 % unenrol when they stop; 20 % verified
    con.execute(f"""
        CREATE TABLE enr AS
        WITH base AS (
            SELECT e AS user_no, run_no,
                   run_start + to_seconds((hash(e, 1) % 3369600)::BIGINT - 1209600) AS enrolled_at,
                   CASE WHEN hash(e, 2) % 10 < 3 THEN 86400
                        ELSE 86400 * (1 + hash(e, 3) % 84) END AS active_s,
                   hash(e, 4) % 10 = 0 AS unenrols,
                   CASE WHEN hash(e, 5) % 5 = 0 THEN 'verified' ELSE 'audit' END AS mode
            FROM (SELECT e, e % {n_runs} AS run_no FROM range({n_enrol}) t(e)) JOIN runs USING (run_no))
        SELECT base.*, r.course_key, r.course_id, r.run_id,
               greatest(least(active_s, epoch({cut}) - epoch(enrolled_at) - 1), 1)::BIGINT AS span_s,
               {pseudonym_sql("CAST(user_no AS VARCHAR)")} AS learner_id
        FROM base JOIN runs r USING (run_no), hmac_keys""")
    n_unenrol = con.execute("SELECT count(*) FROM enr WHERE unenrols").fetchone()[0]
    n_activity = n_events - n_enrol - n_unenrol
    kinds = """CASE WHEN k < 45 THEN 'play_video' WHEN k < 65 THEN 'edx.ui.lms.sequence.next_selected'
                    WHEN k < 80 THEN 'problem_check' WHEN k < 90 THEN 'edx.forum.thread.viewed'
                    ELSE 'page_close' END"""
    types = """CASE WHEN k < 45 THEN 'video' WHEN k < 65 THEN 'navigation' WHEN k < 80 THEN 'assessment'
                    WHEN k < 90 THEN 'forum' ELSE 'page' END"""
    objects = """CASE WHEN k < 45 THEN 'video' || (o % 40) WHEN k < 65 THEN NULL
                      WHEN k < 80 THEN 'problem' || (o % 25) WHEN k < 90 THEN 'thread' || (o % 60)
                      ELSE NULL END"""
    con.execute(f"""
        COPY (
            SELECT learner_id, course_id, run_id, ts, event_type, object_id, value, event_name,
                   CAST(NULL AS VARCHAR) AS event_id
            FROM (
                SELECT learner_id, course_id, run_id,
                       enrolled_at + to_seconds((hash(i, 9) % span_s)::BIGINT) AS ts,
                       {types} AS event_type, {objects} AS object_id,
                       CASE WHEN k >= 65 AND k < 80 THEN (hash(i, 11) % 101)::DOUBLE END AS value,
                       {kinds} AS event_name
                FROM (SELECT i, hash(i, 10) % 100 AS k, hash(i, 12) AS o,
                             least(hash(i, 7) % {n_enrol}, hash(i, 8) % {n_enrol}) AS user_no
                      FROM range({n_activity}) t(i))
                JOIN enr USING (user_no)
                UNION ALL
                SELECT learner_id, course_id, run_id, enrolled_at, 'enrolment', mode, NULL,
                       'edx.course.enrollment.activated' FROM enr
                UNION ALL
                SELECT learner_id, course_id, run_id, enrolled_at + to_seconds(span_s), 'enrolment',
                       NULL, NULL, 'edx.course.enrollment.deactivated' FROM enr WHERE unenrols))
        TO '{folder}/events.parquet' (FORMAT parquet, COMPRESSION zstd)""")
    con.execute(f"""
        COPY (SELECT learner_id, course_id, run_id, enrolled_at, CAST(NULL AS TIMESTAMP) AS course_start,
                     CAST(NULL AS TIMESTAMP) AS course_end, 'openedx' AS platform, mode AS credential_type,
                     CAST(NULL AS DOUBLE) AS credential_cost, CAST(NULL AS VARCHAR) AS paid_by
              FROM enr) TO '{folder}/enrolments.parquet' (FORMAT parquet)""")
    con.execute(f"""
        COPY (SELECT learner_id, course_id, run_id, CAST(NULL AS BOOLEAN) AS certified,
                     CASE WHEN unenrols THEN true END AS dropped_out,
                     enrolled_at + to_seconds(span_s) AS last_active_at,
                     CASE WHEN unenrols THEN enrolled_at + to_seconds(span_s) END AS dropped_at
              FROM enr) TO '{folder}/outcomes.parquet' (FORMAT parquet)""")
    write_manifest(folder, "openedx")  # what --append checks: the platform and the id rules
    shutil.rmtree(folder / ".tmp", ignore_errors=True)
    n_written = con.execute(f"SELECT count(*) FROM '{folder}/events.parquet'").fetchone()[0]
    con.close()
    return {"events": n_written, "enrolments": n_enrol}


def write_new_day(path: Path, n_events: int) -> int:
    """An edX tracking log of CUT's day: the running (last) runs' learners, n_events // 365
    events; the number of lines."""
    n_runs = COURSES * RUNS
    n_enrol = n_events // EVENTS_PER_ENROLMENT
    n_new = max(n_events // 365, 1)
    per_run = n_enrol // n_runs
    last = (RUNS - 1) * COURSES
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(_runs_sql())
    cut = f"TIMESTAMP '{CUT:%Y-%m-%d %H:%M:%S}'"
    con.execute(f"""
        COPY (
            SELECT name, name AS event_type,
                   strftime(ts, '%Y-%m-%dT%H:%M:%S.%f') || '+00:00' AS time,
                   CASE WHEN name = 'problem_check' THEN 'server' ELSE 'browser' END AS event_source,
                   'learner' || user_no AS username, '10.0.0.1' AS ip,
                   {{'course_id': course_key, 'user_id': user_no, 'path': '/event'}} AS context,
                   {{'id': CASE WHEN name <> 'problem_check' THEN 'video' || (o % 40) END,
                     'problem_id': CASE WHEN name = 'problem_check' THEN 'problem' || (o % 25) END,
                     'grade': CASE WHEN name = 'problem_check' THEN (o % 11)::DOUBLE END,
                     'max_grade': CASE WHEN name = 'problem_check' THEN 10.0 END}} AS data
            FROM (SELECT i, hash(i, 3) AS o,
                         CASE WHEN hash(i, 4) % 100 < 60 THEN 'play_video'
                              WHEN hash(i, 4) % 100 < 80 THEN 'problem_check'
                              ELSE 'edx.forum.thread.viewed' END AS name,
                         {cut} + to_seconds((hash(i, 5) % 86400)::BIGINT) AS ts,
                         (hash(i, 1) % {per_run}) * {n_runs} + {last} + hash(i, 2) % {COURSES} AS user_no
                  FROM range({n_new}) t(i))
            JOIN runs ON runs.run_no = user_no % {n_runs})
        TO '{path}' (FORMAT json)""")
    con.close()
    return n_new


def train_models(root: Path) -> dict[str, str]:
    """Both targets' champions in a private MLflow store (trained once); its environment."""
    from mooc_risk.settings import TrackingSettings

    tracking = TrackingSettings.of(tracking_uri=f"sqlite:///{root}/mlflow.db",
                                   artifact_root=root / "artifacts")
    if (root / "trained").exists():
        return tracking.to_env()
    from mooc_risk.features.build import default_spec
    from mooc_risk.features.canonical.engine import connect
    from mooc_risk.features.canonical.tables import read_tables
    from mooc_risk.features.constructs import load_construct_map
    from mooc_risk.features.synthetic.generate import generate
    from mooc_risk.training.config import load_config
    from mooc_risk.training.publish import publish
    from mooc_risk.training.train import fit_and_assess

    shutil.rmtree(root, ignore_errors=True)
    cmap = load_construct_map()
    data = root / "synthetic"
    generate(data, 3000, 4, 42, cmap, runs=3)
    tables = read_tables(data, connect(), cmap)
    spec = default_spec(tables, cmap)
    for target in ("dropout", "certification"):
        config = load_config(ROOT / "models" / f"{target}.yaml",
                             ["compare_horizon_strategies=false", "gate.ece_ceiling=0.2"])
        publish(fit_and_assess(tables, config, spec), tables, tracking, root / "cards", source=str(data))
    (root / "trained").write_text("ok\n")
    return tracking.to_env()


def measure(args: list[str], env: dict[str, str], out: Path) -> dict:
    """One command in a fresh process (``bench.measure``): seconds, peak MB, exit code."""
    report = out / "measure.json"
    done = subprocess.run([sys.executable, "-m", "bench.measure", str(report), *args], env=env,
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"refresh failed ({done.returncode}):\n{done.stderr[-3000:]}")
    measured = json.loads(report.read_text())
    measured["stdout"] = done.stdout.strip()
    return measured


def bench_size(n_events: int, out: Path, model_env: dict[str, str], import_memory: str,
               feature_memory: str | None = None) -> dict:
    platform_dir = out / f"platform-{n_events:.0e}".replace("+", "")
    base = platform_dir / "base"
    if not (base / "import_manifest.json").exists():
        print(f"generating {n_events:,} events into {base} …", flush=True)
        start = time.perf_counter()
        counts = generate_platform(base, n_events)
        print(f"  {counts['events']:,} events, {counts['enrolments']:,} enrolments in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    log = platform_dir / "tracking.log.1"
    new_lines = write_new_day(log, n_events)
    work = platform_dir / "night"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base, work / "data")
    env = {**os.environ, **model_env, "MOOC_RISK_ID_SECRET": SECRET,
           "MOOC_RISK_STORE": str(work / "store"), "MOOC_RISK_HISTORY": str(work / "history")}
    env.pop("MOOC_RISK_NOW", None)
    args = ["refresh", "--data", str(work / "data"), "--logs", str(log), "--source", "edx",
            "--date", f"{NIGHT}", "--import-memory", import_memory]
    if feature_memory:
        args += ["--feature-memory", feature_memory]
    print(f"refresh of {n_events:,} events + {new_lines:,} new …", flush=True)
    first = measure(args, env, work)
    result = json.loads((work / "history" / "_runs" / f"{NIGHT}.json").read_text())
    print(f"  {first['seconds']:.1f} s, {first['peak_mb']:,.0f} MB", flush=True)
    again = measure(args, env, work)
    print(f"  again: {again['seconds']:.1f} s, {again['peak_mb']:,.0f} MB", flush=True)
    import pyarrow.parquet as pq

    history_rows = pq.ParquetFile(result["partition"]).metadata.num_rows
    data_bytes = sum(p.stat().st_size for p in (work / "data").glob("*.parquet"))
    return {"events": pq.ParquetFile(base / "events.parquet").metadata.num_rows, "new": new_lines,
            "first": first, "again": again, "result": result, "history_rows": history_rows,
            "data_gb": data_bytes / 1e9}


def report(rows: list[dict], command: str, import_memory: str, feature_memory: str | None = None) -> str:
    steps = ["append_logs", "pin", "plan", "materialize", "score", "write"]
    lines = [
        f"# Nightly refresh benchmark ({date.today()})",
        "",
        f"`{command}` on {platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
        f"{_memory_gb():.0f} GB RAM. An Open edX platform ({COURSES} courses × {RUNS} quarterly "
        f"runs, ~{EVENTS_PER_ENROLMENT} events per enrolment, generated by DuckDB `range()` as a "
        "log import leaves the folder) and one new day of tracking log (a year's events / 365, "
        f"JSON lines), refreshed for {NIGHT}: `mooc-risk refresh --data DIR --logs "
        f"tracking.log.1 --source edx --import-memory {import_memory}"
        + (f" --feature-memory {feature_memory}" if feature_memory else "")
        + "` in a fresh process, empty "
        "feature store; models trained "
        "on a small synthetic set with the shipped configurations (as-of days 0, 7, …, 42: the "
        "runs are self-paced — edX logs carry no run dates — so every trained day a learner "
        "reached is materialized). Peak memory: the process's RSS high-water mark "
        "(`getrusage`), Python, pandas and DuckDB together.",
        "",
        "| history events | new events | data GB | learners scored (per target) | feature days | "
        "wall s | peak RSS MB | same night again: s | MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        counts = row["result"]["counts"]
        learners = max(counts["learners_scored"].values())
        lines.append(f"| {row['events']:,} | {row['new']:,} | {row['data_gb']:.2f} | {learners:,} | "
                     f"{counts['days_materialized']} | {row['first']['seconds']:.1f} | "
                     f"{row['first']['peak_mb']:,.0f} | {row['again']['seconds']:.1f} | "
                     f"{row['again']['peak_mb']:,.0f} |")
    lines += ["", "Seconds per step (the refresh's own result; `total` excludes the process start "
              "and loading the models):", "",
              "| history events | " + " | ".join(steps) + " | total |",
              "|---:|" + "---:|" * (len(steps) + 1)]
    for row in rows:
        seconds = row["result"]["seconds"]
        lines.append(f"| {row['events']:,} | " + " | ".join(f"{seconds.get(s, 0):.1f}" for s in steps)
                     + f" | {seconds['total']:.1f} |")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        factor = b["events"] / a["events"]
        lines += ["", f"- from {a['events']:,} to {b['events']:,} events (×{factor:.0f}): wall time "
                  f"×{b['first']['seconds'] / a['first']['seconds']:.1f}, peak memory "
                  f"×{b['first']['peak_mb'] / a['first']['peak_mb']:.1f}"]
    lines += NOTES
    return "\n".join(lines) + "\n"


NOTES = [
    "- materializing the trained days is one `build_features` call for the 7 days "
    "(`FeatureStore.materialize_days`: one pass over the events; the store keeps a day's rows "
    "of all enrolments, finished runs included), each day then written to its own file;",
    "- the feature engine's DuckDB has a memory limit (`--feature-memory`, default 40 % of the "
    "machine's memory) and spills to `STORE/.spill` beyond it; the pandas frames of the 7 days "
    "come on top;",
    "- a fixed 512 MB DuckDB limit for the log import (the former default) runs out of memory "
    "at 10^8 events (10^6 enrolments) when it rebuilds enrolments and outcomes from all events; "
    "`import --memory` and refresh's `--import-memory` default to 40 % of the machine's memory, "
    "and running out exits 1 naming the option;",
    "- same night again: the logs hold nothing new, so the data folder is left as it was and the "
    "pinned version and its feature files are found; what is left is reading the log and checking "
    "it against the history, validating the tables and scoring.",
]


def _memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", default="10000000,100000000",
                        help="history sizes, comma separated (default 10^7 and 10^8)")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "refresh")
    parser.add_argument("--import-memory", default="2GB",
                        help="refresh --import-memory (the import command's 512MB runs out at 10^8)")
    parser.add_argument("--feature-memory", default=None,
                        help="refresh --feature-memory (default: refresh's, 40%% of the machine's memory)")
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.events.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    print("training the models (once) …", flush=True)
    model_env = train_models(args.out / "models")
    rows = [bench_size(n, args.out, model_env, args.import_memory, args.feature_memory) for n in sizes]
    command = ".venv/bin/python -m bench.refresh" + (
        "" if args.events == parser.get_default("events") else f" --events {args.events}") + (
        "" if args.import_memory == parser.get_default("import_memory")
        else f" --import-memory {args.import_memory}") + (
        f" --feature-memory {args.feature_memory}" if args.feature_memory else "")
    text = report(rows, command, args.import_memory, args.feature_memory)
    print(text)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "refresh.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
