"""With nothing to score with, the jobs stop in one line that says why, per target."""

import pytest
from cli_helpers import run_cli
from factories import tiny_frames, write_folder


@pytest.mark.parametrize("job", [["predict", "--all", "--as-of", "7", "--out", "{tmp}/p.parquet"],
                                 ["monitor", "--date", "2024-01-20", "--out", "{tmp}/report"],
                                 ["refresh", "--date", "2024-01-20"]])
def test_no_usable_champion_is_exit_2_naming_each_targets_reason(job, private_tracking, tmp_path,
                                                                  capsys, monkeypatch):
    monkeypatch.setenv("MOOC_RISK_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("MOOC_RISK_HISTORY", str(tmp_path / "history"))
    data = write_folder(tmp_path / "data", tiny_frames())
    args = [a.replace("{tmp}", str(tmp_path)) for a in job]
    result = run_cli([args[0], "--data", data, *args[1:]], capsys, monkeypatch)
    assert result.code == 2, result.err
    assert "no target has a usable @champion model" in result.err
    assert "dropout:" in result.err and "certification:" in result.err
    assert "Traceback" not in result.err
