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
