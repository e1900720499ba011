"""Throughput of ``POST /score`` against the framework's bare floor, on loopback only.

    .venv/bin/python -m bench.throughput [--rounds 3] [--seconds 10] [--learners 20000]

The service (``mooc-risk serve``, one worker, the demo-sized synthetic platform of
``bench.serving.setup``) answers 8 closed-loop clients: ``GET /healthz`` — BentoML's own route
through the same middleware, the floor — and ``POST /score`` for one learner with the top 3
reasons, on a day already scored. Rounds alternate floor and ``/score`` so a busy machine
weighs on both alike; the ratio reported is the median of the rounds' ratios (issue #14's goal:
≥ 0.8×). Run twice: with the access log (the default) and with ``MOOC_RISK_ACCESS_LOG=false``.
The 8 clients are Python threads on the same 2 cores as the service, so absolute rates are
the machine's, the ratio is the point. Results → bench/results/throughput.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx

from bench.serving import HERE, closed_loop, free_port, setup
from bench.soak import requests_for
from mooc_risk.serving.readiness import wait_until_ready


def measure(env: dict[str, str], data: Path, key: str, rounds: int,
            seconds: float) -> list[tuple[float, float]]:
    """(floor, /score) requests/s for each round, on a service started with ``env``."""
    port = free_port()
    log = (HERE / "out" / "throughput-serve.log").open("w")
    server = subprocess.Popen([str(Path(sys.executable).parent / "mooc-risk"), "serve", "--data", str(data),
                               "--port", str(port)], env={**os.environ, **env}, start_new_session=True,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_ready(url, 300):
            raise SystemExit(f"the service did not start; see {log.name}")
        bodies = [b for name, _, b in requests_for(data) if name == "score+reasons"]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600) as c:
            assert c.post("/score", json=bodies[0]).status_code == 200  # the day is scored once
        out = []
        for _ in range(rounds):
            floor = closed_loop(url, key, lambda c, i: c.get("/healthz"), 8, seconds)
            ours = closed_loop(url, key, lambda c, i: c.post("/score", json=bodies[i % len(bodies)]),
                               8, seconds)
            print(f"  floor {floor:.0f} req/s, /score {ours:.0f} req/s → {ours / floor:.2f}×", flush=True)
            out.append((floor, ours))
        return out
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--learners", type=int, default=20_000)
    args = parser.parse_args()
    env, data, key = setup(HERE / "out", args.learners)
    results = {}
    services = (("access log on (default)", {}), ("access log off", {"MOOC_RISK_ACCESS_LOG": "false"}))
    for label, extra in services:
        print(label, flush=True)
        results[label] = measure({**env, **extra}, data, key, args.rounds, args.seconds)
    lines = ["# Throughput: `/score` against the framework's floor (loopback)", "",
             f"`python -m bench.throughput --rounds {args.rounds} --seconds {args.seconds:g} --learners "
             f"{args.learners}` on {date.today()}, {os.cpu_count()} cores, one service worker, 8 "
             "closed-loop clients (Python threads on the same cores). Floor: `GET /healthz`; ours: "
             "`POST /score`, one learner, top 3 reasons, a day already scored. Rounds alternate the "
             "two; the ratio is the median of the rounds' (goal ≥ 0.8×).", "",
             "| service | round | floor req/s | /score req/s | ratio |", "|---|---:|---:|---:|---:|"]
    for label, rounds in results.items():
        for n, (floor, ours) in enumerate(rounds, 1):
            lines.append(f"| {label} | {n} | {floor:.0f} | {ours:.0f} | {ours / floor:.2f}× |")
    lines.append("")
    for label, rounds in results.items():
        lines.append(f"- {label}: median ratio **{statistics.median(o / f for f, o in rounds):.2f}×**")
    out = HERE / "results" / "throughput.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
