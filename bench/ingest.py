"""Benchmark: importing an Open edX tracking log of 5M events (plain and gzip).

    .venv/bin/python -m bench.ingest [--events 5000000] [--repeat 3] [--out bench/out]

Generates (once) a synthetic data set and writes it as edX tracking logs; then, each in a
fresh process and alternating, measures `mooc-risk import --source edx` (events/s, peak
memory) and, as the floor, DuckDB `read_json` of the same file into a table, ``--repeat``
times (this machine's speed drifts between runs, so the report gives medians and the range of
the paired ratios). Also times a Python orjson parse loop (parse only), the alternative
parser the issue asked to measure. Targets (issue #6): ours ≥ 0.5× the floor's speed on the
5M-event log, plain and gzip; peak memory flat from 1M to 5M events.
Results go to bench/results/ingest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).parent
LEARNERS_PER_MILLION = 8_000  # the synthetic default writes ~125 events per learner

FLOOR = """
import duckdb, json, resource, sys, time
path = sys.argv[1]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
start = time.perf_counter()
con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{path}', format='newline_delimited', "
            "maximum_depth=1)")
rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
print(json.dumps({"seconds": time.perf_counter() - start, "rows": rows,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

ORJSON = """
import json, sys, time
import orjson
start = time.perf_counter(); n = 0; out = []
with open(sys.argv[1], "rb") as f:
    for line in f:
        e = orjson.loads(line); n += 1
        ctx = e.get("context") or {}; p = e.get("data") or e.get("event") or {}
        if isinstance(p, str):
            p = orjson.loads(p)
        out.append((ctx.get("user_id"), ctx.get("course_id"), e.get("time") or e.get("timestamp"),
                    e.get("name") or e.get("event_type"), p.get("id") or p.get("problem_id"),
                    p.get("grade"), p.get("max_grade")))
print(json.dumps({"seconds": time.perf_counter() - start, "rows": n}))
"""

DUCKDB_PARSE = """
import json, sys, time
from pathlib import Path
from mooc_risk.features.sources import edx
from mooc_risk.features.sources.staging import duckdb_connection
con = duckdb_connection()
start = time.perf_counter()
con.execute(f"CREATE TABLE t AS {edx.fields_sql('(' + edx.records_fast(Path(sys.argv[1])) + ')')}")
rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
print(json.dumps({"seconds": time.perf_counter() - start, "rows": rows}))
"""


def logs(out: Path, events: int) -> dict[str, Path]:
    from mooc_risk.features.constructs import load_construct_map
    from mooc_risk.features.synthetic.edx_log import write_edx_log
    from mooc_risk.features.synthetic.generate import generate

    data = out / f"ingest-synthetic-{events}"
    if not (data / "outcomes.parquet").exists():
        generate(data, int(events / 1e6 * LEARNERS_PER_MILLION) + 1000, 8, 42, load_construct_map())
    big = f"{events / 1e6:.0f}M"
    files = {"1M plain": (out / "edx-1m.log", 1_000_000),
             f"{big} plain": (out / f"edx-{events}.log", events),
             f"{big} gzip": (out / f"edx-{events}.log.gz", events)}
    for name, (path, limit) in files.items():
        if not path.exists():
            print(f"writing {name} log …", flush=True)
            partial = path.with_name(path.name + ".partial" + path.suffix)
            write_edx_log(data, partial, limit=limit)
            partial.rename(path)
    return {name: path for name, (path, _) in files.items()}


def measure_import(path: Path, out: Path) -> dict:
    stats = out / "ingest.stats.json"
    env = {**os.environ, "MOOC_RISK_ID_SECRET": "bench"}
    target = out / "ingest-imported"
    subprocess.run([sys.executable, "-m", "bench.measure", str(stats), "import", "--source", "edx",
                    "--in", str(path), "--out", str(target)], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = json.loads(stats.read_text())
    import pyarrow.parquet as pq

    result["rows"] = pq.ParquetFile(target / "events.parquet").metadata.num_rows
    return result


def python_stats(code: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="measurements per log (medians reported)")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    files = logs(args.out, args.events)
    rows = []
    for name, path in files.items():
        lines = sum(1 for _ in open(path, "rb")) if path.suffix != ".gz" else None
        pairs = []
        for _ in range(args.repeat):
            pairs.append((measure_import(path, args.out), python_stats(FLOOR, path)))
            print(name, *pairs[-1], flush=True)
        ours, floor = (_median([pair[i] for pair in pairs]) for i in (0, 1))
        ratios = [f["seconds"] / o["seconds"] for o, f in pairs]
        rows.append((name, path, lines or floor["rows"], ours, floor, ratios))
    parsers = {"Python orjson loop": python_stats(ORJSON, files["1M plain"]),
               "DuckDB (json reader + json_transform)": python_stats(DUCKDB_PARSE, files["1M plain"])}
    report(args, rows, parsers)


def _median(results: list[dict]) -> dict:
    """The median of each measure over repeated runs."""
    import statistics

    return {key: statistics.median(r[key] for r in results) for key in ("seconds", "peak_mb")} | {
        "rows": results[0].get("rows")}


def report(args, rows, parsers) -> None:
    table = [f"| {name} | {path.stat().st_size / 1e9:.2f} | {lines / ours['seconds']:,.0f} | "
             f"{ours['peak_mb']:,.0f} | {lines / floor['seconds']:,.0f} | {floor['peak_mb']:,.0f} | "
             f"**{floor['seconds'] / ours['seconds']:.2f}×** ({min(ratios):.2f}–{max(ratios):.2f}) |"
             for name, path, lines, ours, floor, ratios in rows]
    (_, _, small, small_ours, _, _), (_, _, big, big_ours, _, _) = rows[0], rows[1]
    text = "\n".join([
        f"# Event-log import benchmark ({date.today()})",
        "",
        f"`.venv/bin/python -m bench.ingest --events {args.events} --repeat {args.repeat}`: a "
        "synthetic data set written as an Open edX tracking log (one JSON event per line, with the "
        "username, IP, agent and session a real log carries), imported by `mooc-risk import "
        "--source edx` (the whole command: DuckDB, 512 MB memory limit) and, as the floor, loaded "
        "by DuckDB `read_json` into a table (top-level fields as columns, nested objects as JSON); "
        f"each in a fresh process on 2 cores, alternating, {args.repeat} times: medians, and in "
        "brackets the range of the paired ratios. Events/s counts input lines.",
        "",
        "| log | GB | import events/s | import peak MB | read_json events/s | read_json peak MB "
        "| import / floor (range) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *table,
        "",
        f"- peak memory of the import: {small_ours['peak_mb']:,.0f} MB for {small:,} events, "
        f"{big_ours['peak_mb']:,.0f} MB for {big:,} events (target: flat)",
        "- parser choice, parsing the 1M-line log and extracting the fields the importer needs: "
        + "; ".join(f"{name} {p['rows'] / p['seconds']:,.0f} lines/s" for name, p in parsers.items())
        + f" → the importer uses {max(parsers, key=lambda n: parsers[n]['rows'] / parsers[n]['seconds'])}.",
    ]) + "\n"
    print(text)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "ingest.md").write_text(text)


if __name__ == "__main__":
    main()
