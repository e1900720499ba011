"""Plain-language reasons from TreeSHAP contributions, and the suggested intervention.

Contributions are summed per reason group (``reasons.yaml``), the groups that raise the risk
most become the learner's reasons, and each is worded with the learner's value and what
learners with the good outcome looked like at the same as-of day. Vectorised: a batch of a
million rows is a few matrix operations plus one formatting pass per distinct sentence.
"""

from __future__ import annotations

import fnmatch
import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ValidationError

from mooc_risk.errors import InputError, validation_problems
from mooc_risk.models.targets import Target
from mooc_risk.serving.interventions import InterventionTable
from mooc_risk.serving.wording import GroupSpec, rounded, sentence, shows


class CatalogueFile(BaseModel):
    groups: dict[str, GroupSpec]


@dataclass(frozen=True)
class Catalogue:
    groups: dict[str, GroupSpec]
    interventions: InterventionTable


def _read_yaml(path: Path | None, default: str) -> tuple[dict, str]:
    if path is None:
        return yaml.safe_load((importlib.resources.files("mooc_risk.serving") / default).read_text()), default
    try:
        return yaml.safe_load(Path(path).read_text()), str(path)
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None


def load_catalogue(reasons: Path | None = None, interventions: Path | None = None) -> Catalogue:
    data, source = _read_yaml(reasons, "reasons.yaml")
    try:
        groups = CatalogueFile.model_validate(data).groups
    except ValidationError as exc:
        raise InputError(f"{source}: not a valid reason catalogue: "
                         f"{validation_problems(exc, first_only=True)}") from None
    actions, source = _read_yaml(interventions, "interventions.yaml")
    try:
        table = InterventionTable.model_validate(actions)
    except ValidationError as exc:
        raise InputError(f"{source}: not a valid intervention table: "
                         f"{validation_problems(exc, first_only=True)}") from None
    missing = sorted({g.category for g in groups.values()} - set(table.categories))
    if missing:
        raise InputError(f"{source}: no intervention for categor(ies) {missing}")
    unknown = sorted(set(table.groups) - set(groups))
    if unknown:
        raise InputError(f"{source}: groups {unknown} are not reason groups of the catalogue")
    return Catalogue(groups, table)


@dataclass(frozen=True)
class ReasonTable:
    """Top reasons of n rows: ``group`` indices and ``contribution`` of shape (n, k); -1 / NaN
    where a row has fewer than k risk-raising groups."""

    names: list[str]
    group: np.ndarray
    contribution: np.ndarray
    rest: np.ndarray


class Explainer:
    """Reasons for one model: its feature columns grouped as the catalogue says. ``hidden``
    features (the sensitive attributes) and features no group claims never become reasons;
    their contributions count in ``rest``."""

    def __init__(self, catalogue: Catalogue, feature_columns: list[str], target: Target,
                 reference: dict[str, dict[int, float]], hidden: list[str] = (),
                 scale_max: float = 5):
        self.catalogue = catalogue
        self.sign = 1.0 if target.risk_of == "label" else -1.0
        self.good = target.good_outcome
        self.reference = reference
        self.scale_max = scale_max
        self.specs: list[tuple[str, GroupSpec]] = []
        shown = [c for c in feature_columns if c not in set(hidden)]
        membership = []
        for name, spec in catalogue.groups.items():
            members = [c for c in shown
                       if any(fnmatch.fnmatchcase(c, pattern) for pattern in spec.features)]
            if members:
                self.specs.append((name, spec))
                membership.append(members)
        self.matrix = np.zeros((len(feature_columns), len(self.specs)))
        for j, members in enumerate(membership):
            for column in members:
                self.matrix[feature_columns.index(column), j] = 1.0

    def top(self, contributions: np.ndarray, k: int, values: pd.DataFrame | None = None,
            days: np.ndarray | None = None) -> ReasonTable:
        """The k groups that raise each row's risk most (contributions: n × features). With
        the rows' ``values`` and as-of ``days``, a group whose value is not on its risky side
        of the reference (``wording.shows``) is passed over for the next one."""
        grouped = contributions @ self.matrix
        raising = grouped * self.sign
        if values is not None:
            raising = np.where(self._shown(values, days), raising, -np.inf)
        k = min(k, grouped.shape[1])
        order = np.argsort(-raising, axis=1, kind="stable")[:, :k]
        picked = np.take_along_axis(grouped, order, axis=1)
        keep = np.take_along_axis(raising, order, axis=1) > 0
        group = np.where(keep, order, -1)
        contribution = np.where(keep, picked, np.nan)
        rest = contributions.sum(axis=1) - np.nansum(contribution, axis=1)
        return ReasonTable([n for n, _ in self.specs], group, contribution, rest)

    def _shown(self, values: pd.DataFrame, days: np.ndarray) -> np.ndarray:
        """Which groups may be a reason for each row: on the risky side of the reference, and
        with a value, unless the group has words for a missing one."""
        shown = np.ones((len(values), len(self.specs)), dtype=bool)
        for j, (_, spec) in enumerate(self.specs):
            if spec.primary not in values:
                continue
            raw = pd.to_numeric(values[spec.primary], errors="coerce").to_numpy(dtype="float64")
            refs = _references(self.reference.get(spec.primary, {}), days)
            shown[:, j] = shows(spec, raw, refs)
            if spec.missing is None:
                shown[:, j] &= ~np.isnan(raw)
        return shown

    def texts(self, table: ReasonTable, rank: int, values: pd.DataFrame,
              days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(feature, value, category, text) of the reason at ``rank`` for every row."""
        n = len(values)
        feature = np.full(n, None, dtype=object)
        value = np.full(n, None, dtype=object)
        category = np.full(n, None, dtype=object)
        text = np.full(n, None, dtype=object)
        column = table.group[:, rank]
        currency = (values["credential_currency"].to_numpy() if "credential_currency" in values
                    else np.full(n, None, dtype=object))
        for j in np.unique(column[column >= 0]):
            rows = np.flatnonzero(column == j)
            _, spec = self.specs[j]
            raw = (values[spec.primary].to_numpy()[rows] if spec.primary in values
                   else np.full(len(rows), None))
            feature[rows], value[rows], category[rows] = spec.primary, raw, spec.category
            text[rows] = self._word(spec, raw, days[rows], currency[rows])
        return feature, value, category, text

    def _word(self, spec: GroupSpec, raw: np.ndarray, days: np.ndarray,
              currency: np.ndarray) -> list[str]:
        refs = _references(self.reference.get(spec.primary, {}), days)
        cache: dict = {}
        out = []
        for v, r, c in zip(raw, refs, currency, strict=True):
            v = None if pd.isna(v) else float(v)
            c = None if pd.isna(c) else str(c)
            key = (None if v is None else float(rounded(spec, v)), r, c)  # as the words show it
            if key not in cache:
                cache[key] = sentence(spec, v, None if np.isnan(r) else float(r), self.good,
                                      self.scale_max, c)
            out.append(cache[key])
        return out


def _references(reference: dict, days: np.ndarray) -> np.ndarray:
    """Per row, the reference at the latest as-of day at or before the row's day (the
    earliest one before that); NaN when the model has no reference for the feature."""
    if not reference:
        return np.full(len(days), np.nan)
    known = sorted((int(d), float(v)) for d, v in reference.items())
    at = np.array([d for d, _ in known])
    values = np.array([v for _, v in known])
    index = np.clip(np.searchsorted(at, np.asarray(days, dtype=float), side="right") - 1, 0, len(at) - 1)
    return values[index]
