"""The one atomic-write helper: a file is replaced whole or not at all."""

import stat

import pandas as pd
import pytest

from mooc_risk.files import replacing, write_table, write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = write_text(tmp_path / "report.md", "old\n")
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed while writing")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_written_files_get_the_asked_mode_or_the_usual_one(tmp_path):
    secret = write_text(tmp_path / "keys.yaml", "keys: []\n", mode=0o600)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    table = write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    assert stat.S_IMODE(table.stat().st_mode) & 0o044  # readable by others, as files usually are
    with pytest.raises(ValueError, match=r"must end in \.parquet or \.csv"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.txt")


def _dead_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid  # exited and reaped: no process has this pid now (pids are not reused at once)


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    import os

    target = tmp_path / "predictions.csv"
    dead, alive = _dead_pid(), os.getppid()
    stale = tmp_path / f".predictions.csv.{dead}.abcd_123.tmp"  # a run killed while writing
    running = tmp_path / f".predictions.csv.{alive}.efgh_456.tmp"  # a run writing right now
    others = [tmp_path / name for name in (
        f".other.csv.{dead}.abcd_123.tmp",  # another file's
        ".predictions.csv.abcd_123.tmp",  # not replacing's pattern (no pid)
        f".predictions.csv.{dead}.abcd_123.tmp.keep",
        f"predictions.csv.{dead}.abcd_123.tmp",
    )]
    for path in (stale, running, *others):
        path.write_text("half")
    write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert not stale.exists()
    assert running.exists() and all(path.exists() for path in others)


def test_the_temporary_file_names_its_writer(tmp_path):
    import os
    import re

    with replacing(tmp_path / "report.md") as tmp:
        assert re.fullmatch(rf"\.report\.md\.{os.getpid()}\.[a-z0-9_]{{8}}\.tmp", tmp.name), tmp.name
        tmp.write_text("x")
        write_text(tmp_path / "report.md.other", "y")  # a sibling's write leaves this one alone
        assert tmp.exists()
    assert (tmp_path / "report.md").read_text() == "x"
