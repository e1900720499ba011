"""The editable event vocabulary (``vocabulary.yaml``) as SQL CASE expressions."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from mooc_risk.errors import InputError
from mooc_risk.features.sources.staging import quoted

EVENT_TYPES = ("video", "problem", "assessment", "forum", "navigation", "page", "progress",
               "enrolment", "grade", "other")
LIFECYCLE = ("enrol", "unenrol", "pass", "fail")


class SourceVocabulary(BaseModel):
    types: list[tuple[str, str]]
    lifecycle: list[tuple[str, str]] = []


def load_vocabulary(source: str, path: Path | None = None) -> SourceVocabulary:
    if path is None:
        text = (importlib.resources.files("mooc_risk.features.sources") / "vocabulary.yaml").read_text()
        origin = "vocabulary.yaml"
    else:
        try:
            text, origin = Path(path).read_text(), str(path)
        except OSError as exc:
            raise InputError(f"{path}: cannot read vocabulary ({exc.strerror})") from None
    try:
        vocabulary = SourceVocabulary.model_validate((yaml.safe_load(text) or {})[source])
    except (KeyError, TypeError):
        raise InputError(f"{origin}: no section {source!r}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise InputError(f"{origin}: not a valid vocabulary: {exc}") from None
    for pattern, kind in vocabulary.types:
        if kind not in EVENT_TYPES:
            raise InputError(f"{origin}: {pattern!r} maps to {kind!r}, not one of {EVENT_TYPES}")
    for pattern, kind in vocabulary.lifecycle:
        if kind not in LIFECYCLE:
            raise InputError(f"{origin}: {pattern!r} maps to {kind!r}, not one of {LIFECYCLE}")
    return vocabulary


def case_sql(column: str, rules: list[tuple[str, str]], default: str = "NULL") -> str:
    """``CASE WHEN column GLOB pattern THEN kind ... ELSE default END`` (first match wins)."""
    if not rules:
        return default
    whens = " ".join(f"WHEN {column} GLOB {quoted(p)} THEN {quoted(k)}" for p, k in rules)
    return f"CASE {whens} ELSE {default} END"
