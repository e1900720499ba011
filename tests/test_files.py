"""The one atomic-write helper: a file is replaced whole or not at all."""

import stat

import pandas as pd
import pytest

from mooc_risk.files import folder_replacing, replacing, write_table, write_text


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


# A writer of a folder, in its own process: it fills the new folder with new.txt, and stops at
# POINT — "block" (inside the block), "aside" (right after the old folder is moved aside) or
# "in" (right after the new folder is renamed in) — by ACTION: "kill" (SIGKILL, no cleanup at
# all) or "wait" (print "paused", wait for a line on stdin, then carry on).
FOLDER_WRITER = """
import os, pathlib, signal, sys
from mooc_risk.files import folder_replacing

out, point, action = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]

def stop():
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    print("paused", flush=True)
    sys.stdin.readline()

rename = pathlib.Path.rename
def stopping_rename(self, target):
    moved = rename(self, target)
    if (point == "aside" and self == out) or (point == "in" and pathlib.Path(target) == out):
        stop()
    return moved
pathlib.Path.rename = stopping_rename

with folder_replacing(out) as stage:
    (stage / "new.txt").write_text("new")
    if point == "block":
        stop()
print("done", flush=True)
"""


def _folder_writer(out, point, action):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", FOLDER_WRITER, str(out), point, action],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _killed_folder_writer(out, point):
    writer = _folder_writer(out, point, "kill")
    writer.communicate(timeout=120)
    assert writer.returncode == -9  # it died where it was told to


def _old_folder(tmp_path):
    with folder_replacing(tmp_path / "data") as stage:
        (stage / "old.txt").write_text("old")
    return tmp_path / "data"


def _contents(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_writer_killed_between_the_two_renames_leaves_the_old_folder_to_the_next_reader(tmp_path):
    from mooc_risk.files import recover_folder

    out = _old_folder(tmp_path)
    _killed_folder_writer(out, "aside")
    assert not out.exists()  # the gap: the old folder moved aside, the new one not yet in
    recover_folder(out)  # what a reader calls before reading
    assert _contents(out) == ["old.txt"] and (out / "old.txt").read_text() == "old"
    assert _contents(tmp_path) == ["data"]  # the new folder and the moved-aside one are gone


def test_the_next_write_puts_back_the_folder_a_killed_writer_moved_aside(tmp_path):
    out = _old_folder(tmp_path)
    _killed_folder_writer(out, "aside")
    with pytest.raises(RuntimeError), folder_replacing(out) as stage:
        assert _contents(out) == ["old.txt"]  # back before the new folder is written
        (stage / "half.txt").write_text("half")
        raise RuntimeError("this write fails too")
    assert _contents(out) == ["old.txt"] and _contents(tmp_path) == ["data"]
    with folder_replacing(out) as stage:
        (stage / "newer.txt").write_text("newer")
    assert _contents(out) == ["newer.txt"] and _contents(tmp_path) == ["data"]


@pytest.mark.parametrize("point, left", [("block", "old.txt"), ("in", "new.txt")])
def test_what_a_killed_writer_leaves_is_removed_by_the_next_write(tmp_path, point, left):
    out = _old_folder(tmp_path)
    _killed_folder_writer(out, point)
    assert _contents(out) == [left]  # killed before the swap: the old folder; after: the new one
    assert len(_contents(tmp_path)) == 2  # its unfinished new folder, or the old one moved aside
    with folder_replacing(out) as stage:
        (stage / "newer.txt").write_text("newer")
    assert _contents(out) == ["newer.txt"] and _contents(tmp_path) == ["data"]


def test_a_running_writers_folders_are_left_alone(tmp_path):
    from mooc_risk.files import recover_folder

    out = _old_folder(tmp_path)
    writing = _folder_writer(out, "block", "wait")  # filling its new folder right now
    try:
        assert writing.stdout.readline() == "paused\n"
        assert recover_folder(out) == []
        with folder_replacing(out) as stage:  # another write meanwhile (callers lock; a test can)
            (stage / "other.txt").write_text("other")
        assert _contents(out) == ["other.txt"]
        [stage] = [p for p in tmp_path.iterdir() if p.name != "data"]
        assert _contents(stage) == ["new.txt"]  # the running writer's folder is still there
    finally:
        out_text, _ = writing.communicate("\n", timeout=120)
    assert writing.returncode == 0 and out_text == "done\n"
    assert _contents(out) == ["new.txt"] and _contents(tmp_path) == ["data"]


def test_a_running_writer_between_its_renames_is_not_undone(tmp_path):
    from mooc_risk.files import recover_folder

    out = _old_folder(tmp_path)
    swapping = _folder_writer(out, "aside", "wait")
    try:
        assert swapping.stdout.readline() == "paused\n"
        assert recover_folder(out) == [] and not out.exists()  # it is about to rename the new one in
    finally:
        out_text, _ = swapping.communicate("\n", timeout=120)
    assert swapping.returncode == 0 and out_text == "done\n"
    assert _contents(out) == ["new.txt"] and _contents(tmp_path) == ["data"]
