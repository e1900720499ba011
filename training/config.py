"""Training configuration: ``models/<target>.yaml``, overridable with ``--set key=value``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from mooc_risk.errors import InputError

OUTCOME_COLUMNS = ("certified", "dropped_out", "last_active_at", "dropped_at")


class SplitConfig(BaseModel):
    strategy: Literal["by-run", "by-course", "by-learner"] = "by-run"
    test_share: float = Field(0.3, gt=0, lt=1)
    test_from: date | None = None  # by-run: runs starting on or after this date are the test set
    validation_share: float = Field(0.2, gt=0, lt=1)
    seed: int = 42


class GateConfig(BaseModel):
    auc_tolerance: float = Field(0.005, ge=0)
    ece_ceiling: float = Field(0.05, gt=0)
    group_gap_tolerance: float = Field(0.02, ge=0)


class Thresholds(BaseModel):
    medium: float = Field(gt=0, lt=1)
    high: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.medium >= self.high:
            raise ValueError("thresholds.medium must be below thresholds.high")
        return self


class TrainConfig(BaseModel):
    target: Literal["dropout", "certification"]
    label: Literal["dropped_out", "certified"]
    registered_name: str
    as_of_days: list[int] = Field(min_length=1)
    horizon_strategy: Literal["single", "per_day"] = "single"
    compare_horizon_strategies: bool = True
    exclude_features: list[str] = []
    split: SplitConfig = SplitConfig()
    lightgbm: dict[str, Any] = {}
    early_stopping_rounds: int = Field(50, ge=1)
    calibration: Literal["isotonic", "sigmoid"] = "isotonic"
    risk_of: Literal["label", "not_label"] = "label"
    thresholds: Thresholds
    gate: GateConfig = GateConfig()

    @model_validator(mode="after")
    def _days(self) -> TrainConfig:
        if min(self.as_of_days) < 0:
            raise ValueError("as_of_days must be ≥ 0")
        self.as_of_days = sorted(set(self.as_of_days))
        return self


def default_config_path(target: str) -> Path:
    """``models/<target>.yaml`` of the working directory, else of the mooc-risk checkout."""
    local = Path("models") / f"{target}.yaml"
    return local if local.exists() else Path(__file__).parents[1] / "models" / f"{target}.yaml"


def load_config(path: Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a config file and apply ``key.sub=value`` overrides (values parsed as YAML)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from None
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set {item!r}: expected key=value, e.g. lightgbm.num_leaves=63")
        _assign(data, key.strip().split("."), yaml.safe_load(value))
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise InputError(f"{path}: invalid training config: {problems}") from None


def _assign(data: dict, keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        data = data.setdefault(key, {})
        if not isinstance(data, dict):
            raise InputError(f"--set {'.'.join(keys)}: {key!r} is not a section")
    data[keys[-1]] = value
