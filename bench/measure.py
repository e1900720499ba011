"""Run one `mooc-risk` command in this process and report its wall time and peak memory.

    python -m bench.measure OUT.json mooc-risk-args...
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    from mooc_risk.cli import main as cli

    sys.argv = ["mooc-risk", *args]
    start = time.perf_counter()
    code = 0
    try:
        cli()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(out, "w") as handle:
        json.dump({"seconds": seconds, "peak_mb": peak_mb, "exit": code}, handle)
    sys.exit(code)


if __name__ == "__main__":
    main()
