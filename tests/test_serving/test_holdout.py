"""The opt-in holdout: reproducible draws, recorded once, never changed (issue 15)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mooc_risk.errors import InputError
from mooc_risk.serving.holdout import (
    HoldoutConfig,
    Listed,
    assign,
    draw_unit,
    held_out_learners,
    load_configs,
    withheld,
)
from mooc_risk.serving.journal.journal import Journal

NOW = datetime(2025, 3, 3, 8, 0)


@pytest.fixture
def journal(tmp_path):
    with Journal.open(f"sqlite:///{tmp_path}/journal.db") as j:
        yield j


def listed(n: int, band: str = "high") -> list[Listed]:
    return [Listed("2025-01", f"L{i:05d}", band, "send a check-in", 14, 0.9) for i in range(n)]


def test_off_unless_configured(journal):
    assert assign(journal, "C001", listed(50), {}, NOW) == []
    assert journal.holdout("C001") == []
    assert load_configs(None) == {}


def test_draw_is_reproducible_and_about_the_share(journal, tmp_path):
    config = {"C001": HoldoutConfig(share=0.3, days=14)}
    first = assign(journal, "C001", listed(2000), config, NOW)
    with Journal.open(f"sqlite:///{tmp_path}/other.db") as other:
        again = assign(other, "C001", listed(2000), config, NOW)
    assert [r.held_out for r in first] == [r.held_out for r in again]  # same draw, fresh journal
    assert 0.26 < sum(r.held_out for r in first) / 2000 < 0.34
    assert all(r.until == NOW + timedelta(days=14) for r in first)
    assert draw_unit("C001", "C001", "2025-01", "L00001") == draw_unit("C001", "C001", "2025-01", "L00001")
    assert draw_unit("C001", "C001", "2025-01", "L00001") != draw_unit("salt", "C001", "2025-01", "L00001")


def test_recorded_draw_never_changes_even_when_the_config_does(journal):
    before = assign(journal, "C001", listed(300), {"C001": HoldoutConfig(share=0.2, days=14)}, NOW)
    later = NOW + timedelta(days=3)
    changed = {"C001": HoldoutConfig(share=0.8, days=30, salt="new salt")}
    after = assign(journal, "C001", listed(400), changed, later)
    assert [(r.id, r.held_out, r.until, r.share) for r in after[:300]] == \
        [(r.id, r.held_out, r.until, r.share) for r in before]
    assert {r.share for r in after[300:]} == {0.8}  # new learners get the new config
    assert len(journal.holdout("C001")) == 400


def test_low_risk_learners_are_never_drawn_and_app_view(journal):
    config = {"C001": HoldoutConfig(share=0.5, days=7)}
    rows = assign(journal, "C001", listed(100) + listed(20, "low"), config, NOW)
    assert len(rows) == 100
    current = held_out_learners(journal, "C001", NOW + timedelta(days=1))
    assert current and all(r.held_out for r in current)
    assert {r.learner_id for r in current} == {r.learner_id for r in rows if r.held_out}
    assert set(withheld(journal, "C001", "2025-01", NOW)) == {r.learner_id for r in current}
    assert held_out_learners(journal, "C001", NOW + timedelta(days=8)) == []  # ended


def test_bad_config_is_an_input_error(tmp_path):
    path = tmp_path / "impact.yaml"
    path.write_text("holdout:\n  C001: {share: 1.5, days: 14}\n")
    with pytest.raises(InputError, match="C001: share"):
        load_configs(path)
    path.write_text("holdout:\n  C001: {share: 0.2, days: 14}\n")
    assert load_configs(path)["C001"].days == 14
