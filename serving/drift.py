"""Data drift of feature rows and scores with Evidently (0.7): one ``DataDriftPreset`` report of
a current frame against a reference frame, read back into plain numbers.

Evidently picks each column's test by the reference's size and the column's kind (its
defaults, ``evidently.legacy.calculations.stattests.registry._get_default_stattest``):

- reference ≤ 1,000 rows: numeric columns with > 5 distinct values Kolmogorov–Smirnov, drift
  when p < 0.05; ≤ 5 values (and categorical columns) chi-square (Z-test for 2 values), p < 0.05;
- reference > 1,000 rows: numeric columns with > 5 distinct values the Wasserstein distance
  normed by the reference's standard deviation, drift when ≥ 0.1; others Jensen–Shannon
  distance, drift when ≥ 0.1.

The data set drifts when the share of drifted columns is ≥ 0.5 (``DataDriftPreset``'s
``drift_share``). Evidently is imported lazily, inside ``run_drift``: importing this module
costs nothing (the project's rule: nothing happens at import time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

DRIFT_SHARE = 0.5  # Evidently's DataDriftPreset default: the data set drifts from this share on
_VALUE_DRIFT = re.compile(r"ValueDrift\(column=(?P<column>.+?),method=(?P<method>.+?),"
                          r"threshold=(?P<threshold>[^)]+)\)")
_P_VALUE = "p_value"  # Evidently's methods named "... p_value": drift when value < threshold


@dataclass(frozen=True)
class ColumnDrift:
    """One column's test: ``method`` as Evidently names it (e.g. ``"K-S p_value"``,
    ``"Wasserstein distance (normed)"``), ``value`` the p-value or the distance, ``threshold``,
    and whether it drifted (p-value < threshold, distance ≥ threshold)."""

    column: str
    method: str
    value: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftResult:
    """A report's figures: ``columns`` one per column tested (in the frame's order),
    ``drifted_count`` and ``share`` (drifted / tested, 0–1) as Evidently counts them."""

    columns: list[ColumnDrift] = field(default_factory=list)
    drifted_count: int = 0
    share: float = 0.0

    @property
    def drifted(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def column(self, name: str) -> ColumnDrift | None:
        return next((c for c in self.columns if c.column == name), None)


def _evidently():
    """Import Evidently, first giving pandas the one name it lacks.

    Evidently 0.7.23 imports ``infer_dtype_from_object`` from ``pandas.core.dtypes.common``,
    which pandas 3 removed (``import evidently`` fails with our pandas 3.1). The shim puts back
    an equivalent (the dtype's scalar type) only when missing, only here, right before the
    import. Remove it when Evidently ships pandas-3.1 support.
    """
    import pandas.core.dtypes.common as _pdc

    if not hasattr(_pdc, "infer_dtype_from_object"):
        _pdc.infer_dtype_from_object = lambda d: pd.api.types.pandas_dtype(d).type
    import evidently
    from evidently import presets

    return evidently, presets


def run_drift(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str],
              categorical: list[str], html: Path | None = None) -> DriftResult:
    """Evidently's ``DataDriftPreset`` of ``current`` against ``reference`` (rows × the given
    columns; other columns are ignored), the report saved as HTML to ``html`` when given.

    ValueError when a frame is empty or lacks a column. Columns without a value on one side
    are left out (Evidently cannot test them).
    """
    columns = [*numeric, *categorical]
    for name, frame in (("reference", reference), ("current", current)):
        if frame.empty:
            raise ValueError(f"the {name} frame has no rows")
        missing = [c for c in columns if c not in frame]
        if missing:
            raise ValueError(f"the {name} frame lacks column(s) {', '.join(missing)}")
    usable = [c for c in columns if reference[c].notna().any() and current[c].notna().any()]
    numeric = [c for c in numeric if c in usable]
    categorical = [c for c in categorical if c in usable]
    evidently, presets = _evidently()

    def prepared(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[[*numeric, *categorical]].copy()
        for c in numeric:  # rounded: float noise (a cohort mean subtracted, 1e-17) leaves a range
            # too small for Evidently's histogram bins ("Too many bins for data range")
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64").round(9)
        for c in categorical:
            out[c] = out[c].astype("object").where(out[c].notna(), None).astype(str)
        return out.reset_index(drop=True)

    definition = evidently.DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    report = evidently.Report([presets.DataDriftPreset()], include_tests=True)
    snapshot = report.run(
        current_data=evidently.Dataset.from_pandas(prepared(current), data_definition=definition),
        reference_data=evidently.Dataset.from_pandas(prepared(reference), data_definition=definition))
    if html is not None:
        Path(html).parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html))
    return read_snapshot(snapshot.dict())


def read_snapshot(snapshot: dict) -> DriftResult:
    """A ``Snapshot.dict()`` of a ``DataDriftPreset`` report as a ``DriftResult``."""
    columns, count, share = [], 0, 0.0
    for metric in snapshot.get("metrics", []):
        name = str(metric.get("metric_name") or metric.get("metric_id") or "")
        value = metric.get("value")
        found = _VALUE_DRIFT.match(name)
        if found:
            threshold, method = float(found["threshold"]), found["method"]
            value = float(value)
            drifted = value < threshold if _P_VALUE in method.lower().replace("-", "_") \
                else value >= threshold
            columns.append(ColumnDrift(found["column"], method, value, threshold, drifted))
        elif name.startswith("DriftedColumnsCount") and isinstance(value, dict):
            count, share = int(value.get("count", 0)), float(value.get("share", 0.0))
    return DriftResult(columns, count, share)
