"""Benchmark: the HTTP service on loopback and the batch scorer.

    .venv/bin/python -m bench.serving [--learners 20000] [--requests 2000] [--batch-rows 1000000]

In one run: trains both targets on a synthetic data set (into bench/out, once), starts
`mooc-risk serve` on a free port, and measures
  * p50/p99 latency of POST /score for one learner without and with top-5 reasons, and of
    GET /healthz (the framework's floor), sequential requests on one keep-alive connection;
  * throughput of /score (one learner, with reasons) with 8 concurrent clients;
  * batch scorer rows/s with top-5 reasons (TargetScorer.score, the code `mooc-risk predict`
    and the service use) against bare LightGBM pred_contrib on the same rows.
Targets (issue #4): no-reasons p99 ≤ 2× the floor's p99; with-reasons p99 ≤ 10 ms;
batch ≥ 0.6× bare pred_contrib. Results go to bench/results/serving.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from mooc_risk.serving.readiness import wait_until_ready

HERE = Path(__file__).parent
DAY = 14


def setup(out: Path, learners: int) -> tuple[dict[str, str], Path, str]:
    """Data, trained champions and a key, all under ``out`` (reused when present)."""
    from mooc_risk.features.build import default_spec
    from mooc_risk.features.canonical.engine import connect
    from mooc_risk.features.canonical.tables import read_tables
    from mooc_risk.features.constructs import load_construct_map
    from mooc_risk.features.synthetic.generate import generate
    from mooc_risk.models.registry import CHAMPION, client, version_by_alias
    from mooc_risk.models.targets import Target
    from mooc_risk.serving.keys import add_key
    from mooc_risk.settings import PathSettings, ServiceSettings, TrackingSettings
    from mooc_risk.training.config import load_config
    from mooc_risk.training.publish import publish
    from mooc_risk.training.train import fit_and_assess

    data = out / f"serving-data-{learners}"
    tracking = TrackingSettings.of(tracking_uri=f"sqlite:///{out}/serving-mlflow.db",
                                artifact_root=out / "serving-artifacts")
    paths = PathSettings.of(cards_dir=out / "serving-cards", store_dir=out / "serving-store",
                         keys_file=out / "serving-keys.yaml")
    cmap = load_construct_map()
    if not (data / "outcomes.parquet").exists():
        generate(data, learners, 8, 42, cmap)
    c = client(tracking)
    tables = None
    for target in Target:
        if version_by_alias(c, target.registered_name, CHAMPION) is None:
            tables = tables or read_tables(data, connect(), cmap)
            config = load_config(None, ["compare_horizon_strategies=false"], target=target)
            print(f"training {target} …", flush=True)
            publish(fit_and_assess(tables, config, default_spec(tables, cmap)), tables,
                    tracking, paths.cards_dir, str(data))
    env = {**tracking.to_env(), **paths.to_env(), **ServiceSettings.of(data_dir=data).to_env()}
    return env, data, add_key(paths.keys_file, "C001")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def timed(client: httpx.Client, n: int, call) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        response = call(client)
        out.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return out


def closed_loop(url: str, key: str, call, clients: int, seconds: float, timeout: float = 60) -> float:
    """Requests/s that ``clients`` threads get through for ``seconds``, each sending the next
    request as soon as the last one is answered; ``call(client, n)`` sends request ``n`` of
    its thread (n = thread, thread + clients, …); only 200s count."""
    done = [0] * clients
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout) as c:
            while time.perf_counter() < stop:
                if call(c, i + done[i] * clients).status_code == 200:
                    done[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / seconds


def throughput(url: str, key: str, bodies: list[dict], clients: int, seconds: float) -> float:
    """``closed_loop`` over ``/score`` with ``bodies``; any answer but 200 fails the bench."""

    def call(client: httpx.Client, n: int) -> httpx.Response:
        response = client.post("/score", json=bodies[n % len(bodies)])
        assert response.status_code == 200, response.text
        return response

    return closed_loop(url, key, call, clients, seconds, timeout=5.0)


def batch(env: dict[str, str], data: Path, rows: int) -> tuple[float, float, int]:
    """Scorer with top-5 reasons vs bare pred_contrib, on the same ``rows`` feature rows."""
    from mooc_risk.features.build import build_features
    from mooc_risk.features.canonical.engine import connect
    from mooc_risk.features.canonical.tables import read_tables
    from mooc_risk.features.constructs import load_construct_map
    from mooc_risk.models.contributions import pipelines
    from mooc_risk.models.registry import load_bundle
    from mooc_risk.models.targets import Target
    from mooc_risk.serving.reasons import load_catalogue
    from mooc_risk.serving.scoring import TargetScorer
    from mooc_risk.settings import TrackingSettings

    tracking = TrackingSettings.of(tracking_uri=env["MLFLOW_TRACKING_URI"],
                                   artifact_root=env["MOOC_RISK_ARTIFACT_ROOT"])
    model = load_bundle(tracking, Target.DROPOUT.registered_name)
    scorer = TargetScorer.build(model, load_catalogue())
    base = build_features(read_tables(data, connect(), load_construct_map()), [DAY], model.spec)
    features = base.iloc[np.arange(rows) % len(base)].reset_index(drop=True)
    features["learner_id"] = [f"B{i:07d}" for i in range(rows)]
    start = time.perf_counter()
    scored = scorer.score(features, top_k=5)
    t_ours = time.perf_counter() - start
    assert len(scored) == rows and scored["reason_1_text"].notna().any()
    pipeline = pipelines(model.estimator)[max(d for d in pipelines(model.estimator) if (d or 0) <= DAY)]
    encoded = pipeline["prep"].transform(scorer.inputs(features))
    start = time.perf_counter()
    pipeline["model"].booster_.predict(encoded, pred_contrib=True)
    t_bare = time.perf_counter() - start
    return t_ours, t_bare, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--learners", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--batch-rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env, data, key = setup(args.out, args.learners)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cli = Path(sys.executable).parent / "mooc-risk"
    server = subprocess.Popen([str(cli), "serve", "--data", str(data), "--port", str(port)],
                              env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        results = measure(url, key, data, args.requests)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    t_ours, t_bare, rows = batch(env, data, args.batch_rows)
    report(args, results, t_ours, t_bare, rows)


def measure(url: str, key: str, data: Path, n: int) -> dict:
    if not wait_until_ready(url, 180):
        raise SystemExit(f"the service at {url} did not become ready")
    e = pd.read_parquet(data / "enrolments.parquet")
    e = e[e.course_id == "C001"]
    picks = e.sample(200, random_state=0)
    bodies = [{"course_id": "C001", "run_id": r.run_id, "learner_ids": [r.learner_id],
               "as_of_day": DAY, "targets": ["dropout"]} for r in picks.itertuples()]
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as c:
        c.post("/score", json=bodies[0])  # first request for the day fills the store
        i = iter(range(10**9))
        bare = [{**b, "explain": False} for b in bodies]
        for _ in range(200):  # warm up
            c.get("/healthz")
            c.post("/score", json=bare[next(i) % 200])
        floor = timed(c, n, lambda cl: cl.get("/healthz"))
        plain = timed(c, n, lambda cl: cl.post("/score", json=bare[next(i) % 200]))
        explained = timed(c, n, lambda cl: cl.post("/score", json={**bodies[next(i) % 200],
                                                                    "top_k": 5}))
    rps = throughput(url, key, [{**b, "top_k": 5} for b in bodies], clients=8, seconds=10)
    return {"floor": percentiles(floor), "plain": percentiles(plain),
            "explained": percentiles(explained), "rps": rps}


def report(args, r: dict, t_ours: float, t_bare: float, rows: int) -> None:
    (f50, f99), (p50, p99), (e50, e99) = r["floor"], r["plain"], r["explained"]
    lines = [
        f"# Serving benchmark ({date.today()})",
        "",
        f"`.venv/bin/python -m bench.serving --learners {args.learners} --requests {args.requests} "
        f"--batch-rows {args.batch_rows}`; loopback, 1 BentoML worker, 2 cores, as-of day {DAY}, "
        "dropout model, one learner per request.",
        "",
        "| request | p50 ms | p99 ms |",
        "|---|---:|---:|",
        f"| GET /healthz (framework floor) | {f50:.2f} | {f99:.2f} |",
        f"| POST /score, no reasons | {p50:.2f} | {p99:.2f} |",
        f"| POST /score, top-5 reasons | {e50:.2f} | {e99:.2f} |",
        "",
        f"- no-reasons p99 / floor p99 = **{p99 / f99:.2f}×** (target ≤ 2×); with reasons p99 "
        f"**{e99:.2f} ms** (target ≤ 10 ms)",
        f"- throughput, 8 concurrent clients, top-5 reasons: **{r['rps']:.0f} requests/s**",
        f"- batch scorer, {rows:,} rows with top-5 reasons: {rows / t_ours:,.0f} rows/s "
        f"({t_ours:.1f} s) vs bare LightGBM pred_contrib {rows / t_bare:,.0f} rows/s "
        f"({t_bare:.1f} s): **{t_bare / t_ours:.2f}×** (target ≥ 0.6×)",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "serving.md").write_text(text)


if __name__ == "__main__":
    main()
