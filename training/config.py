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

from mooc_risk.errors import InputError
from mooc_risk.models.bundle import Thresholds
from mooc_risk.models.targets import LABELS, Target

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
    split: SplitConfig = SplitConfig()
    lightgbm: dict[str, Any] = {}
    early_stopping_rounds: int = Field(50, ge=1)
    calibration: Literal["isotonic", "sigmoid"] = "isotonic"
    thresholds: Thresholds
    gate: GateConfig = GateConfig()

    @model_validator(mode="after")
    def _days(self) -> TrainConfig:
        if min(self.as_of_days) < 0:
            raise ValueError("as_of_days must be ≥ 0")
        self.as_of_days = sorted(set(self.as_of_days))
        return self

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


def load_config(path: Path | str | None, overrides: list[str] | None = None, *,
                target: Target | str | None = None, as_of_days: list[int] | None = None) -> TrainConfig:
    """Read a config (``path``, or the shipped one of ``target``), apply ``key.sub=value``
    overrides (values parsed as YAML) and ``as_of_days``; InputError on anything invalid."""
    if path is None and target is None:
        raise ValueError("load_config needs a path or a target")
    source = str(path) if path is not None else f"{Target(target).value}.yaml"
    try:
        data = yaml.safe_load(Path(path).read_text() if path is not None else default_config(target))
    except OSError as exc:
        raise InputError(f"{path}: cannot read config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: not valid YAML: {exc}") from None
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set {item!r}: expected key=value, e.g. lightgbm.num_leaves=63")
        _check_key(key.strip())
        _assign(data, key.strip().split("."), yaml.safe_load(value))
    if as_of_days is not None:
        data["as_of_days"] = list(as_of_days)
    _check_keys(data, source)
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise InputError(f"{source}: invalid training config: {problems}") from None


def _assign(data: dict, keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        data = data.setdefault(key, {})
        if not isinstance(data, dict):
            raise InputError(f"--set {'.'.join(keys)}: {key!r} is not a section")
    data[keys[-1]] = value


SECTIONS: dict[str, type[BaseModel]] = {"split": SplitConfig, "gate": GateConfig,
                                        "thresholds": Thresholds}


def _settable(model: type[BaseModel]) -> list[str]:
    return [name for name in model.model_fields]


def _check_key(key: str) -> None:
    """An unknown ``--set`` key is an error listing the valid keys at that level."""
    head, _, rest = key.partition(".")
    if head not in TrainConfig.model_fields:
        _unknown(f"--set {key}", head, _settable(TrainConfig))
    if head in SECTIONS and rest:
        if "." in rest or rest not in SECTIONS[head].model_fields:
            _unknown(f"--set {key}", rest, [f"{head}.{k}" for k in _settable(SECTIONS[head])])
    elif head == "lightgbm" and rest:
        _check_lightgbm([rest], f"--set {key}")
    elif rest:
        _unknown(f"--set {key}", key, _settable(TrainConfig))


def _check_keys(data: Any, source: str) -> None:
    """Unknown keys in a config file: the same errors as for ``--set``."""
    if not isinstance(data, dict):
        return  # the model's validation words this
    for key in data:
        if key in TrainConfig.model_computed_fields:
            raise InputError(f"{source}: {key!r} comes from the target (mooc_risk.models.targets); "
                             "remove it from the config")
        if key not in TrainConfig.model_fields:
            _unknown(source, str(key), _settable(TrainConfig))
    for name, model in SECTIONS.items():
        section = data.get(name)
        for key in section if isinstance(section, dict) else ():
            if key not in model.model_fields:
                _unknown(source, f"{name}.{key}", [f"{name}.{k}" for k in _settable(model)])
    if isinstance(data.get("lightgbm"), dict):
        _check_lightgbm(list(data["lightgbm"]), source)


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
