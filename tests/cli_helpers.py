"""Run the real ``mooc-risk`` entry point in-process, as a user's shell would."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(args: list[str], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Result:
    from mooc_risk.cli import main

    monkeypatch.setattr(sys, "argv", ["mooc-risk", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def assert_trains(data, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """An imported data folder goes through ``train`` (dropout, days 0/7/14) to a registered
    model; use with the ``private_tracking`` fixture."""
    trained = run_cli(["train", "--data", data, "--target", "dropout", "--as-of", "0,7,14",
                       "--set", "compare_horizon_strategies=false", "--set", "gate.ece_ceiling=0.2"],
                      capsys, monkeypatch)
    assert trained.code == 0, trained.err
    assert "mooc-risk-dropout v1" in trained.out
