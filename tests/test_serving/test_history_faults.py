"""The predictions history when the disk is full: ``write_day`` fails with one clear message
naming the partition, and the date's previous file, the history's rows and the folder are as
they were (no temporary file)."""

import errno
import json
import os
import secrets
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from mooc_risk.serving import history

DAY = date(2024, 5, 20)


def predictions(rows: int) -> pd.DataFrame:
    """A night's predictions of ``rows`` learners (random ids: they do not compress)."""
    ids = [secrets.token_hex(16) for _ in range(rows)]
    return pd.DataFrame({
        "course_id": "C001", "run_id": "2024-04", "learner_id": ids, "target": "dropout",
        "as_of_day": 21, "status": "active", "inactive_days": 0,
        "probability": [n / (rows + 1) for n in range(rows)], "risk": 0.5, "risk_band": "medium",
        "intervention": [f"write to {i}" for i in ids], "model": "mooc-risk-dropout",
        "model_version": "1", "data_version": secrets.token_hex(32)})


@pytest.fixture
def before(tmp_path) -> dict:
    """A history with a small partition for DAY: its bytes and rows."""
    root = tmp_path / "history"
    path = history.write_day(root, DAY, predictions(5))
    return {"root": root, "path": path, "bytes": path.read_bytes(),
            "rows": history.read_history(root)}


def assert_as_before(before: dict) -> None:
    assert before["path"].read_bytes() == before["bytes"]
    assert not [p for p in before["root"].rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]
    pd.testing.assert_frame_equal(history.read_history(before["root"]), before["rows"])


def assert_clear(message: str, path: Path, words: str) -> None:
    assert "\n" not in message and "Traceback" not in message and "Error writing bytes" not in message
    assert message.startswith(f"cannot write the predictions history partition {path}: {words}")
    assert message.endswith("the date's previous file, if any, is left as it was")


WRITE_OVER_THE_LIMIT = """
import json, resource, signal, sys
from datetime import date
import pandas as pd
from mooc_risk.serving import history

frame = pd.read_parquet(sys.argv[2])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write beyond the limit fails with EFBIG
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    history.write_day(sys.argv[1], date.fromisoformat(sys.argv[4]), frame)
except Exception as exc:
    print(json.dumps({"type": type(exc).__name__, "oserror": isinstance(exc, OSError),
                      "errno": getattr(exc, "errno", None), "message": str(exc)}))
else:
    print(json.dumps(None))
"""


def test_a_file_size_limit_fails_clearly_and_keeps_the_previous_partition(before, tmp_path):
    bigger = tmp_path / "bigger.parquet"  # outside the history, written before the limit
    predictions(20_000).to_parquet(bigger)
    limit = 64 * 1024
    assert len(before["bytes"]) < limit < bigger.stat().st_size
    run = subprocess.run([sys.executable, "-c", WRITE_OVER_THE_LIMIT, str(before["root"]),
                          str(bigger), str(limit), DAY.isoformat()],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    failure = json.loads(run.stdout)
    assert failure is not None, "the write went through despite the limit"
    assert failure["type"] == "HistoryWriteError" and failure["oserror"]
    assert failure["errno"] == errno.EFBIG
    assert_clear(failure["message"], before["path"], "the file size limit was hit (File too large)")
    assert_as_before(before)


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "the disk is full (No space left on device)"),
    (errno.EDQUOT, "the disk quota is used up (Disk quota exceeded)"),
    (errno.EIO, "Input/output error;"),  # not a full disk: the cause only
])
def test_a_full_disk_fails_clearly_and_keeps_the_previous_partition(before, monkeypatch, code, words):
    def write_table(table, where, **options):  # as pyarrow fails: part of a file, then OSError
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError(code, f"Error writing bytes to file. Detail: [errno {code}] {os.strerror(code)}")

    monkeypatch.setattr(history, "pq", SimpleNamespace(write_table=write_table))
    with pytest.raises(history.HistoryWriteError) as failed:
        history.write_day(before["root"], DAY, predictions(50))
    assert isinstance(failed.value, OSError) and failed.value.errno == code
    assert failed.value.path == before["path"]
    assert_clear(str(failed.value), before["path"], words)
    assert_as_before(before)


def test_a_full_tmpfs_fails_clearly_and_keeps_the_previous_partition(tmp_path):
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a 1 MiB tmpfs needs root and mount(8); the file size limit and "
                    "ENOSPC tests cover the same path")
    disk = tmp_path / "small-disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        root = disk / "history"
        path = history.write_day(root, DAY, predictions(5))
        state = {"root": root, "path": path, "bytes": path.read_bytes(),
                 "rows": history.read_history(root)}
        with pytest.raises(history.HistoryWriteError) as failed:
            history.write_day(root, DAY, predictions(40_000))  # a few MiB
        assert failed.value.errno == errno.ENOSPC
        assert_clear(str(failed.value), path, "the disk is full (No space left on device)")
        assert_as_before(state)
    finally:
        subprocess.run(["umount", str(disk)], check=True)

