"""Survey instruments: construct maps (data), construct scores (Ibis) and Cronbach's alpha.

A construct map is YAML (see ``mooc_risk/features/instruments/``): each construct lists its items and
which of them are reverse-keyed. Nothing about a particular instrument is written in code, so a
different questionnaire only needs a different file.
"""

from __future__ import annotations

import importlib.resources
import math
import re
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from mooc_risk.errors import InputError, validation_problems

DEFAULT_INSTRUMENT = "enrolment_v1"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Scale(BaseModel):
    min: int = 1
    max: int = 5


class Construct(BaseModel):
    label: str
    items: list[str] = Field(min_length=1)
    reverse: list[str] = []

    @model_validator(mode="after")
    def _reverse_items_belong(self) -> Construct:
        stray = sorted(set(self.reverse) - set(self.items))
        if stray:
            raise ValueError(f"reverse-keyed items {stray} are not among the items")
        return self


class ConstructMap(BaseModel):
    instrument: str
    scale: Scale = Scale()
    min_answered_share: float = Field(0.5, gt=0, le=1)
    constructs: dict[str, Construct] = Field(min_length=1)

    @model_validator(mode="after")
    def _items_unique(self) -> ConstructMap:
        seen: dict[str, str] = {}
        for name, construct in self.constructs.items():
            if not _NAME.match(name):
                raise ValueError(f"construct name {name!r} must be lower_snake_case")
            for item in construct.items:
                if item in seen:
                    raise ValueError(f"item {item!r} is in both {seen[item]!r} and {name!r}")
                seen[item] = name
        return self

    @property
    def items(self) -> list[str]:
        return [item for c in self.constructs.values() for item in c.items]


def load_construct_map(path: Path | str | None = None) -> ConstructMap:
    """Read a construct map; without a path, the six-construct enrolment instrument."""
    if path is None:
        ref = importlib.resources.files("mooc_risk.features.instruments") / f"{DEFAULT_INSTRUMENT}.yaml"
        text, source = ref.read_text(), f"{DEFAULT_INSTRUMENT}.yaml"
    else:
        source = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise InputError(f"{source}: cannot read construct map ({exc.strerror})") from None
    try:
        return ConstructMap.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        raise InputError(f"{source}: not a valid construct map: {validation_problems(exc)}") from None


INSTRUMENT_FILE = "instrument.yaml"


def construct_map_for(data_dir: Path | str, path: Path | str | None = None) -> ConstructMap:
    """The instrument of a data folder: ``path`` if given, else ``DATA/instrument.yaml`` (the
    importers write it for data with their own questionnaire), else the default instrument."""
    if path is not None:
        return load_construct_map(path)
    own = Path(data_dir) / INSTRUMENT_FILE
    return load_construct_map(own if own.exists() else None)


def _scored_items(surveys: ibis.Table, cmap: ConstructMap, construct: Construct) -> list:
    top = cmap.scale.min + cmap.scale.max
    return [
        (top - surveys[item]) if item in construct.reverse else surveys[item]
        for item in construct.items
    ]


def construct_scores(surveys: ibis.Table, cmap: ConstructMap) -> dict[str, ibis.Value]:
    """Ibis expressions, one per construct: mean of answered items (reverse-scored), or null
    when fewer than ``min_answered_share`` of the items are answered."""
    scores = {}
    for name, construct in cmap.constructs.items():
        values = _scored_items(surveys, cmap, construct)
        answered = sum(v.notnull().cast("int64") for v in values)
        total = sum(v.fill_null(0) for v in values)
        needed = math.ceil(cmap.min_answered_share * len(values))
        scores[name] = ibis.ifelse(answered >= needed, total / answered, None).cast("float64")
    return scores


def cronbach_alpha(items: pd.DataFrame) -> float:
    """Cronbach's alpha over complete rows (listwise); NaN with fewer than 2 items or rows."""
    complete = items.dropna()
    k = complete.shape[1]
    if k < 2 or len(complete) < 2:
        return float("nan")
    item_var = complete.var(axis=0, ddof=1).sum()
    total_var = complete.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return float("nan")
    return float(k / (k - 1) * (1 - item_var / total_var))


def reliability_report(surveys: pd.DataFrame, cmap: ConstructMap) -> pd.DataFrame:
    """Per construct: items, respondents with a score, complete respondents, mean, alpha."""
    rows = []
    top = cmap.scale.min + cmap.scale.max
    for name, construct in cmap.constructs.items():
        answers = surveys.reindex(columns=construct.items).astype("float64")
        for item in construct.reverse:
            answers[item] = top - answers[item]
        answered = answers.notna().sum(axis=1)
        scored = answered >= math.ceil(cmap.min_answered_share * len(construct.items))
        means = answers.mean(axis=1).where(scored)
        rows.append(
            {
                "construct": name,
                "label": construct.label,
                "items": len(construct.items),
                "reverse_keyed": len(construct.reverse),
                "scored": int(scored.sum()),
                "complete": int(answers.notna().all(axis=1).sum()),
                "mean": float(means.mean()) if scored.any() else np.nan,
                "alpha": cronbach_alpha(answers),
            }
        )
    return pd.DataFrame(rows)
