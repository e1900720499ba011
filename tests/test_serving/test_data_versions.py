"""Data versions: the service and refresh read a pinned, content-hashed copy of the tables."""

import os
import shutil

import pandas as pd

from mooc_risk.serving import data_versions
from mooc_risk.serving.data_versions import fingerprint, pin


def folder(tmp_path, name="data", events=3):
    data = tmp_path / name
    data.mkdir()
    pd.DataFrame({"learner_id": ["L1"], "course_id": ["C"], "run_id": ["r"]}).to_parquet(
        data / "enrolments.parquet")
    pd.DataFrame({"learner_id": ["L1"] * events, "n": range(events)}).to_parquet(data / "events.parquet")
    (data / "roster.csv").write_text("learner_id,display_name,email\nL1,A,a@b.org\n")
    return data


def test_the_same_content_is_the_same_version_and_a_change_is_a_new_one(tmp_path):
    data, store = folder(tmp_path), tmp_path / "store"
    first = pin(data, store)
    assert first.folder.is_dir() and (first.folder / "events.parquet").read_bytes() == (
        data / "events.parquet").read_bytes()
    assert not (first.folder / "roster.csv").exists()  # only the canonical tables
    other = folder(tmp_path, "copy")
    assert pin(other, tmp_path / "store2").version == first.version
    assert pin(data, store) == first  # found by fingerprint
    pd.DataFrame({"learner_id": ["L1"] * 4, "n": range(4)}).to_parquet(data / "events.parquet")
    assert pin(data, store).version != first.version


def test_a_file_copied_over_with_its_old_time_is_still_a_new_version(tmp_path):
    data, store = folder(tmp_path), tmp_path / "store"
    first = pin(data, store)
    stamp = os.stat(data / "events.parquet")
    replacement = tmp_path / "new.parquet"
    pd.DataFrame({"learner_id": ["L9"] * 3, "n": range(3)}).to_parquet(replacement)
    shutil.copyfile(replacement, data / "events.parquet")  # in place: same inode
    os.utime(data / "events.parquet", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    second = pin(data, store)
    assert second.version != first.version
    assert pd.read_parquet(first.folder / "events.parquet")["learner_id"].tolist() == ["L1"] * 3


def test_the_pinned_copy_does_not_change_with_the_data_folder(tmp_path):
    data, store = folder(tmp_path), tmp_path / "store"
    pinned = pin(data, store)
    (data / "events.parquet").write_bytes(b"garbage")
    assert len(pd.read_parquet(pinned.folder / "events.parquet")) == 3
    assert fingerprint(data) != pinned.fingerprint


def test_old_versions_are_pruned_and_abandoned_copies_removed(tmp_path):
    data, store = folder(tmp_path), tmp_path / "store"
    versions = []
    for n in range(data_versions.KEEP + 2):
        pd.DataFrame({"learner_id": ["L1"] * (n + 1), "n": range(n + 1)}).to_parquet(data / "events.parquet")
        versions.append(pin(data, store))
    kept = sorted(p.name for p in (store / "data").iterdir() if p.is_dir())
    assert len(kept) == data_versions.KEEP and versions[-1].short in kept
    assert versions[0].short not in kept
    dead = store / "data" / ".pin-99999999-1"
    dead.mkdir()
    pin(data, store)
    assert not dead.exists()


def test_a_data_folder_an_import_left_aside_when_killed_is_put_back_before_pinning(tmp_path):
    """An import killed between moving the old folder aside and renaming the new one in
    leaves no data folder; the next reader (the service's poll, refresh) puts it back."""
    import subprocess
    import sys

    data = folder(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    aside = tmp_path / f".data.old-{dead}.abcd1234"
    aside.mkdir()
    data.rename(aside / "data")
    version = pin(data, tmp_path / "store")
    assert data.is_dir() and not aside.exists()
    assert version.fingerprint == fingerprint(data) and len(pd.read_parquet(data / "events.parquet")) == 3
