"""Soak benchmark: the service under a steady load for minutes, on loopback only.

    .venv/bin/python -m bench.soak [--minutes 10] [--rate R] [--learners 20000]

The rate: twice what a platform of 50,000 learners would need at its busiest. Assumed (stated
in the report): 30% of learners active on a given day, 2 sessions each, 3 risk lookups per
session (the LMS page, a tutor's list, a dashboard tile), all within an 8-hour working window
→ 50,000 × 0.3 × 2 × 3 / (8 × 3600) ≈ 3.1 requests/s; twice that is 6.25 requests/s.

Open-loop: requests start on a fixed schedule (not when the previous one ends), so a slow
service shows as latency, not as a lower rate. The mix: 45% ``POST /score`` one learner without
reasons, 45% with the top 3 reasons, 10% ``POST /courses/C001/predictions`` (a page of 50).
Reported: errors, p50/p99 per endpoint, the service's RSS (the `mooc-risk serve` process tree)
at the start, at half time and at the end (goal: flat within 10%); then the throughput of
``/score`` with reasons at 8 closed-loop clients against ``/healthz`` at 8 clients, the
framework's bare floor on the same machine (goal ≥ 0.8×). Results → bench/results/soak.md.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import httpx
import pandas as pd
import psutil

from bench.serving import DAY, HERE, closed_loop, free_port, percentiles, setup
from mooc_risk.serving.readiness import wait_until_ready

PLATFORM_LEARNERS = 50_000
ACTIVE_SHARE, SESSIONS, LOOKUPS, WINDOW_HOURS = 0.3, 2, 3, 8
NEEDED = PLATFORM_LEARNERS * ACTIVE_SHARE * SESSIONS * LOOKUPS / (WINDOW_HOURS * 3600)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, MB."""
    parent = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 2**20


def requests_for(data: Path) -> list[tuple[str, str, dict]]:
    e = pd.read_parquet(data / "enrolments.parquet")
    picks = e[e.course_id == "C001"].sample(200, random_state=0)
    out = []
    for n, r in enumerate(picks.itertuples()):
        body = {"course_id": "C001", "run_id": r.run_id, "learner_ids": [r.learner_id],
                "as_of_day": DAY, "targets": ["dropout"]}
        out.append(("score", "/score", {**body, "explain": False}))
        out.append(("score+reasons", "/score", {**body, "top_k": 3}))
        if n % 4 == 0:
            out.append(("course list", "/courses/C001/predictions",
                        {"as_of_day": DAY, "run_id": r.run_id, "page_size": 50}))
    return out


def soak(url: str, key: str, calls: list, rate: float, seconds: float, pid: int) -> dict:
    """Open-loop load at ``rate`` for ``seconds``: latencies and errors per endpoint, RSS."""
    tickets: queue.Queue = queue.Queue()
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    lock = threading.Lock()
    stop = object()

    def worker() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
            while (ticket := tickets.get()) is not stop:
                name, path, body = ticket
                start = time.perf_counter()
                try:
                    ok = c.post(path, json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies[name].append(time.perf_counter() - start)
                    errors[name] += not ok

    workers = [threading.Thread(target=worker) for _ in range(16)]
    for w in workers:
        w.start()
    rss = {"start": rss_mb(pid)}
    begin, n = time.perf_counter(), 0
    while (now := time.perf_counter() - begin) < seconds:
        due = n / rate
        if due > now:
            time.sleep(due - now)
        tickets.put(calls[n % len(calls)])
        n += 1
        if "half" not in rss and now >= seconds / 2:
            rss["half"] = rss_mb(pid)
    for _ in workers:
        tickets.put(stop)
    for w in workers:
        w.join()
    rss["end"] = rss_mb(pid)
    return {"sent": n, "latencies": dict(latencies), "errors": dict(errors), "rss": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=2 * NEEDED, help="requests/s (default: 2× need)")
    parser.add_argument("--learners", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env, data, key = setup(args.out, args.learners)
    port, cli = free_port(), Path(sys.executable).parent / "mooc-risk"
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(cli), "serve", "--data", str(data), "--port", str(port)],
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        if not wait_until_ready(url, 300):
            raise SystemExit(f"the service at {url} did not become ready")
        calls = requests_for(data)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600) as c:
            for _, path, body in calls[:3]:  # the day's first requests fill the store
                assert c.post(path, json=body).status_code == 200
        result = soak(url, key, calls, args.rate, args.minutes * 60, server.pid)
        scored = [b for name, _, b in calls if name == "score+reasons"]
        ours = closed_loop(url, key, lambda c, i: c.post("/score", json=scored[i % len(scored)]), 8, 20)
        floor = closed_loop(url, key, lambda c, i: c.get("/healthz"), 8, 20)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    report(args, result, ours, floor)


def report(args, r: dict, ours: float, floor: float) -> None:
    rss = r["rss"]
    drift = (rss["end"] - rss["start"]) / rss["start"]
    lines = [
        "# Soak: the service under steady load (loopback)", "",
        f"`python -m bench.soak --minutes {args.minutes:g} --rate {args.rate:.2f} --learners "
        f"{args.learners}` on {date.today()}, {os.cpu_count()} cores.", "",
        f"Rate: {args.rate:.2f} requests/s, open loop — twice the {NEEDED:.2f}/s a platform of "
        f"{PLATFORM_LEARNERS:,} learners needs at its busiest ({ACTIVE_SHARE:.0%} active a day × "
        f"{SESSIONS} sessions × {LOOKUPS} lookups in an {WINDOW_HOURS}-hour window). "
        f"{r['sent']:,} requests sent in {args.minutes:g} minutes.", "",
        "| endpoint | requests | errors | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
    for name, samples in sorted(r["latencies"].items()):
        p50, p99 = percentiles(samples)
        lines.append(f"| {name} | {len(samples):,} | {r['errors'].get(name, 0)} | {p50:.1f} | {p99:.1f} |")
    lines += ["", f"RSS of the service (process tree): start {rss['start']:.0f} MB, half time "
              f"{rss['half']:.0f} MB, end {rss['end']:.0f} MB ({drift:+.1%}; goal within ±10%).", "",
              f"Throughput at 8 clients: `/score` with reasons {ours:.0f} req/s, `/healthz` (the "
              f"framework's floor) {floor:.0f} req/s → {ours / floor:.2f}× (goal ≥ 0.8×)."]
    out = HERE / "results" / "soak.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
