"""Training configs: every key is checked, so a typo is an error that lists the valid keys."""

import pytest

from mooc_risk.errors import InputError
from mooc_risk.training.config import load_config


@pytest.mark.parametrize(("override", "message"), [
    ("lightgbm.num_leavs=4", "unknown LightGBM parameter 'num_leavs' (did you mean 'num_leaves'?)"),
    ("gate.ece_ceilng=0.1", "unknown key 'gate.ece_ceilng' (did you mean 'gate.ece_ceiling'?); "
                            "valid keys: gate.auc_tolerance, gate.ece_ceiling, gate.group_gap_tolerance"),
    ("as_of_day=[7]", "unknown key 'as_of_day' (did you mean 'as_of_days'?)"),
    ("thresholds.hihg=0.9", "unknown key 'thresholds.hihg' (did you mean 'thresholds.high'?)"),
    ("lightgbm={num_leavs: 4}", "--set lightgbm={num_leavs: 4}: unknown LightGBM parameter 'num_leavs'"),
    ("gate={ece_ceilng: 1}", "--set gate={ece_ceilng: 1}: unknown key 'gate.ece_ceilng'"),
    ("split.seed.x=1", "split.seed is a single value, not a section"),
    ("exclude_features.0=x", "'exclude_features' is a single value, not a section; set it whole"),
])
def test_an_unknown_set_key_is_an_error_that_lists_the_valid_keys(override, message):
    with pytest.raises(InputError, match="--set") as raised:
        load_config(None, [override], target="dropout")
    assert message in str(raised.value)


def test_lightgbm_accepts_its_own_parameter_names_and_aliases():
    config = load_config(None, ["lightgbm.min_data_in_leaf=30", "lightgbm.extra_trees=true",
                                "lightgbm.num_leaves=8"], target="certification")
    assert config.lightgbm["min_data_in_leaf"] == 30 and config.lightgbm["num_leaves"] == 8


def test_an_unknown_key_in_a_config_file_is_refused_too(tmp_path):
    shipped = load_config(None, target="dropout").model_dump(
        mode="json", exclude={"label", "registered_name", "risk_of"})
    path = tmp_path / "mine.yaml"
    import yaml

    path.write_text(yaml.safe_dump({**shipped, "thresholds": {"medium": 0.5, "hihg": 0.8}}))
    with pytest.raises(InputError, match=r"mine.yaml: unknown key 'thresholds.hihg'"):
        load_config(path)
    path.write_text(yaml.safe_dump({**shipped, "label": "certified"}))
    with pytest.raises(InputError, match="label 'certified' disagrees with target 'dropout'"):
        load_config(path)
    path.write_text(yaml.safe_dump({**shipped, "label": "dropped_out"}))  # as configs used to say
    assert load_config(path).label == "dropped_out"
    path.write_text(yaml.safe_dump(shipped))
    assert load_config(path).label == "dropped_out"  # the label follows the target


def test_a_config_in_the_working_folder_is_used_before_the_shipped_one(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "dropout.yaml").write_text(
        load_config(None, target="dropout").model_dump_json(
            exclude={"label", "registered_name", "risk_of"}).replace('"as_of_days":[0,7,14,21,28,35,42]',
                                                                     '"as_of_days":[3]'))
    monkeypatch.chdir(tmp_path)
    assert load_config(None, target="dropout").as_of_days == [3]
    assert load_config(None, target="certification").as_of_days != [3]


def test_as_of_day_cannot_be_excluded_from_the_features():
    """Each row's model and Venn-Abers calibrator are chosen by its as-of day; training without
    it used to fail later with a KeyError."""
    with pytest.raises(InputError, match="exclude_features cannot hold as_of_day"):
        load_config(None, ["exclude_features=[country, as_of_day]"], target="dropout")
