"""Training configuration: ``<target>.yaml`` shipped with the model contract (``mooc_risk.models``)
or a file of your own, overridable with ``--set key=value``.

Every key is checked: an unknown key — in the file or in ``--set`` — is an error that lists the
keys allowed there, so a typo never passes silently. The label, the direction of the risk and
the registered model name come from the target (``mooc_risk.models.targets``), not the file.
"""

from __future__ import annotations

import difflib
import importlib.resources
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field, model_validator

from mooc_risk.errors import InputError, validation_problems
from mooc_risk.models.bundle import COLD_START_MIN_LEARNERS, Thresholds
from mooc_risk.models.targets import LABELS, Target
from mooc_risk.training.fairness import GROUP_COLUMNS

OUTCOME_COLUMNS = (*LABELS, "last_active_at", "dropped_at")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitConfig(_Section):
    strategy: Literal["by-run", "by-course", "by-learner"] = "by-run"
    test_share: float = Field(0.3, gt=0, lt=1)
    test_from: date | None = None  # by-run: runs starting on or after this date are the test set
    validation_share: float = Field(0.2, gt=0, lt=1)
    seed: int = 42


class GateConfig(_Section):
    auc_tolerance: float = Field(0.005, ge=0)
    ece_ceiling: float = Field(0.05, gt=0)
    group_gap_tolerance: float = Field(0.02, ge=0)


class TrainConfig(_Section):
    target: Target
    as_of_days: list[int] = Field(min_length=1)
    horizon_strategy: Literal["single", "per_day"] = "single"
    compare_horizon_strategies: bool = True
    exclude_features: list[str] = []
    # attributes for fairness audits only: never reasons, and model features only when
    # sensitive_as_features is true (DESIGN: a config says otherwise)
    sensitive_attributes: list[str] = ["gender", "age_band", "disability", "employment"]
    sensitive_as_features: bool = False
    split: SplitConfig = SplitConfig()
    lightgbm: dict[str, Any] = {}
    early_stopping_rounds: int = Field(50, ge=1)
    calibration: Literal["isotonic", "sigmoid"] = "sigmoid"
    thresholds: Thresholds
    gate: GateConfig = GateConfig()
    # a course with fewer learners than this in the training data is flagged cold_start when
    # scored (the reason for 100: models.bundle.BundleMetadata.cold_start_min_learners)
    cold_start_min_learners: int = Field(COLD_START_MIN_LEARNERS, ge=1)

    @model_validator(mode="after")
    def _days(self) -> TrainConfig:
        if min(self.as_of_days) < 0:
            raise ValueError("as_of_days must be ≥ 0")
        if "as_of_day" in self.exclude_features:
            raise ValueError("exclude_features cannot hold as_of_day: each row's model and "
                             "Venn-Abers calibrator are chosen by it")
        self.as_of_days = sorted(set(self.as_of_days))
        return self

    @property
    def audited_groups(self) -> list[str]:
        """Group columns of the fairness audit: the default ones and the sensitive ones."""
        return list(dict.fromkeys([*GROUP_COLUMNS, *self.sensitive_attributes]))

    @computed_field
    @property
    def label(self) -> str:
        return self.target.label

    @computed_field
    @property
    def registered_name(self) -> str:
        return self.target.registered_name

    @computed_field
    @property
    def risk_of(self) -> str:
        return self.target.risk_of


def default_config(target: Target | str) -> str:
    """The shipped config's text for ``target`` (package data of ``mooc_risk.models``)."""
    return (importlib.resources.files("mooc_risk.models") / f"{Target(target).value}.yaml").read_text()


def config_path(target: Target | str) -> Path | None:
    """``models/<target>.yaml`` in the working directory if there is one (your own copy, or the
    checkout's), else None: the shipped config."""
    local = Path("models") / f"{Target(target).value}.yaml"
    return local if local.is_file() else None


def load_config(path: Path | str | None, overrides: list[str] | None = None, *,
                target: Target | str | None = None, as_of_days: list[int] | None = None) -> TrainConfig:
    """Read a config (``path``, else ``config_path(target)``, else the shipped one), apply
    ``key.sub=value`` overrides (values parsed as YAML) and ``as_of_days``.

    InputError, naming the file or the ``--set`` item, for anything invalid or unknown.
    """
    if path is None and target is None:
        raise ValueError("load_config needs a path or a target")
    path = path if path is not None else config_path(target)
    source = str(path) if path is not None else f"the shipped {Target(target).value}.yaml"
    try:
        data = yaml.safe_load(Path(path).read_text() if path is not None else default_config(target))
    except OSError as exc:
        raise InputError(f"{path}: cannot read config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a mapping of config keys, got {type(data).__name__}")
    _check_keys(data, source)
    for item in overrides or []:
        key, sep, text = item.partition("=")
        keys = key.strip().split(".")
        if not sep or not all(keys):
            raise InputError(f"--set {item!r}: expected key=value, e.g. lightgbm.num_leaves=63")
        value = yaml.safe_load(text)
        _check_keys(_nested(keys, value), f"--set {item}")
        _assign(data, keys, value)
    if as_of_days is not None:
        data["as_of_days"] = list(as_of_days)
    _drop_target_keys(data, source)
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{source}: invalid training config: {validation_problems(exc)}") from None


def _nested(keys: list[str], value: Any) -> dict:
    for key in reversed(keys):
        value = {key: value}
    return value


def _assign(data: dict, keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    data[keys[-1]] = value


SECTIONS: dict[str, type[BaseModel]] = {"split": SplitConfig, "gate": GateConfig,
                                        "thresholds": Thresholds}


def _check_keys(data: dict, where: str) -> None:
    """Every key of a (partial) config must exist; an unknown one is an InputError naming
    ``where`` and listing the valid keys at its level, with the closest as a hint."""
    top = [*TrainConfig.model_fields, *TrainConfig.model_computed_fields]
    for key, value in data.items():
        if key not in top:
            _unknown(where, str(key), list(TrainConfig.model_fields))
        if key in SECTIONS and isinstance(value, dict):
            fields = SECTIONS[key].model_fields
            for sub, subvalue in value.items():
                if sub not in fields:
                    _unknown(where, f"{key}.{sub}", [f"{key}.{k}" for k in fields])
                if isinstance(subvalue, dict):
                    raise InputError(f"{where}: {key}.{sub} is a single value, not a section")
        elif key == "lightgbm" and isinstance(value, dict):
            _check_lightgbm(list(value), where)
        elif isinstance(value, dict):
            raise InputError(f"{where}: {key!r} is a single value, not a section; set it whole, "
                             f"e.g. --set {key}=…")


def _drop_target_keys(data: dict, where: str) -> None:
    """``label``, ``registered_name`` and ``risk_of`` follow from the target; configs written
    before they did may still carry them, which is fine as long as they agree."""
    try:
        target = Target(data.get("target"))
    except ValueError:
        return  # the model's validation names the bad target
    for key in TrainConfig.model_computed_fields:
        if key in data:
            given, implied = data.pop(key), getattr(target, key)
            if given != implied:
                raise InputError(f"{where}: {key} {given!r} disagrees with target {target.value!r} "
                                 f"({key} {implied!r}); the target decides it: remove {key}")


def _check_lightgbm(keys: list[str], where: str) -> None:
    """LightGBM parameters: the sklearn API's names and LightGBM's own names and aliases."""
    import lightgbm as lgb
    from lightgbm.basic import _ConfigAliases  # LightGBM has no public list of its parameters

    sklearn_names = sorted(lgb.LGBMClassifier().get_params())
    known = set(sklearn_names)
    for name, aliases in _ConfigAliases._get_all_param_aliases().items():
        known.update([name, *aliases])
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"{where}: unknown LightGBM parameter {key!r}{hint}; valid: the "
                             f"sklearn API's {', '.join(sklearn_names)}, or any LightGBM "
                             "parameter or alias (lightgbm.readthedocs.io, Parameters)")


def _unknown(where: str, key: str, valid: list[str]) -> None:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InputError(f"{where}: unknown key {key!r}{hint}; valid keys: {', '.join(valid)}")
