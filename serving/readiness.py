"""Waiting for a service to answer ``/readyz`` (the CLI client, tests, benchmarks)."""

from __future__ import annotations

import time

import httpx


def wait_until_ready(url: str, seconds: float) -> bool:
    """Poll ``url/readyz`` until it answers 200 or ``seconds`` pass; True when ready."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
