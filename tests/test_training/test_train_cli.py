"""A full train run: registered, gated, carded; a weaker candidate is refused by the gate."""

from pathlib import Path

import pytest
from cli_helpers import run_cli
from mlflow.tracking import MlflowClient

CONFIG = Path(__file__).parents[2] / "models" / "dropout.yaml"
DAYS = [0, 7, 14, 28]


def train(data, store, capsys, monkeypatch, *extra):
    args = ["train", "--data", data, "--target", "dropout", "--config", CONFIG,
            "--as-of", ",".join(map(str, DAYS)), *extra]
    result = run_cli(args, capsys, monkeypatch)
    assert result.code == 0, result.err
    return result


@pytest.mark.slow
def test_train_registers_a_champion_then_gates_a_weaker_candidate(
        synthetic_data, store, capsys, monkeypatch):
    # small data: per-day models are calibrated on a few hundred rows each
    first = train(synthetic_data, store, capsys, monkeypatch, "--set", "gate.ece_ceiling=0.1")
    assert "mooc-risk-dropout v1 → @champion" in first.out
    client = MlflowClient(store.tracking_uri)
    champion = client.get_model_version_by_alias("mooc-risk-dropout", "champion")
    assert str(champion.version) == "1"
    run = client.get_run(champion.run_id)
    names = set(run.data.metrics)
    assert {"test_auc", "test_pr_auc", "test_brier", "test_ece"} <= names
    assert {f"test_auc_day_{d}" for d in DAYS} <= names
    assert {f"baseline_test_auc_day_{d}" for d in DAYS} <= names
    assert 0.6 < run.data.metrics["test_auc"] <= 1.0
    assert run.data.tags["split_strategy"] == "by-run"
    assert len(run.data.tags["data_hash"]) == 64 and "feature_columns" in run.data.tags
    artifacts = {a.path for a in client.list_artifacts(champion.run_id, "plots")}
    assert {"plots/roc.png", "plots/calibration.png", "plots/auc_by_day.png",
            "plots/shap_summary.png"} <= artifacts
    assert {f"plots/shap_day_{d}.png" for d in DAYS} | {"plots/groups.png"} <= artifacts
    # per-day metrics as steps (MLflow draws curves) and the data sets the run used
    assert sorted(m.step for m in client.get_metric_history(champion.run_id, "test_auc_by_day")) == DAYS
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {"dropout training rows",
                                                                    "dropout test rows"}
    card = store.cards_dir / "mooc-risk-dropout-v1.md"
    assert card.exists() and "## Split" in card.read_text() and "## Groups" in card.read_text()

    weak = train(synthetic_data, store, capsys, monkeypatch, "--set", "lightgbm.n_estimators=2",
                 "--set", "compare_horizon_strategies=false", "--set", "gate.ece_ceiling=0.1")
    assert "mooc-risk-dropout v2 → @challenger" in weak.out
    assert "below the champion" in weak.out
    assert str(client.get_model_version_by_alias("mooc-risk-dropout", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("mooc-risk-dropout", "challenger").version) == "2"
    v2 = client.get_model_version("mooc-risk-dropout", "2")
    assert "below the champion" in v2.tags["gate_reason"]

    # a human override moves @champion and clears the version's @challenger
    result = run_cli(["models", "promote", "mooc-risk-dropout", "2"], capsys, monkeypatch)
    assert result.code == 0 and "now @champion (was v1)" in result.out
    model = client.get_registered_model("mooc-risk-dropout")
    assert {k: str(v) for k, v in model.aliases.items()} == {"champion": "2"}
    listing = run_cli(["models", "list"], capsys, monkeypatch)
    assert "mooc-risk-dropout" in listing.out and "@champion" in listing.out


def test_promote_unknown_version_is_a_clear_error(store, capsys, monkeypatch):
    result = run_cli(["models", "promote", "mooc-risk-dropout", "9"], capsys, monkeypatch)
    assert result.code == 2 and "no version 9" in result.err


def test_bad_config_override_is_a_clear_error(synthetic_data, store, capsys, monkeypatch):
    result = run_cli(["train", "--data", synthetic_data, "--target", "dropout", "--config", CONFIG,
                      "--set", "thresholds.medium=0.9"], capsys, monkeypatch)
    assert result.code == 2 and "thresholds.medium must be below thresholds.high" in result.err
