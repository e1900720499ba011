"""The feature store: feature rows per (feature spec, as-of day), computed from the canonical
tables on first request by ``build_features`` and kept as Parquet (and in memory) after that.
Recomputed when a table in the data folder is newer than the stored file."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pandas as pd

from features.build import FeatureSpec, build_features
from features.constructs import ConstructMap
from features.engine import connect
from features.files import write_table
from features.tables import Tables, read_tables


def spec_key(spec: FeatureSpec) -> str:
    return hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


class FeatureStore:
    def __init__(self, data_dir: Path, store_dir: Path, cmap: ConstructMap, backend: str = "duckdb"):
        self.data_dir, self.store_dir, self.cmap, self.backend = data_dir, store_dir, cmap, backend
        self._tables: Tables | None = None
        self._courses: set[str] | None = None
        self._frames: dict[tuple[str, int], pd.DataFrame] = {}
        self._lock = threading.Lock()

    @property
    def tables(self) -> Tables:
        """The validated canonical tables (read once; an InputError says what is wrong)."""
        if self._tables is None:
            self._tables = read_tables(self.data_dir, connect(self.backend), self.cmap)
        return self._tables

    def courses(self) -> set[str]:
        if self._courses is None:
            frame = self.tables.enrolments.select("course_id").distinct().to_pyarrow()
            self._courses = set(frame.column("course_id").to_pylist())
        return self._courses

    def features(self, spec: FeatureSpec, day: int) -> pd.DataFrame:
        """All enrolments' feature rows at ``day``, indexed by (course_id, run_id, learner_id)."""
        key = (spec_key(spec), int(day))
        with self._lock:
            if key not in self._frames:
                self._frames[key] = self._load_or_build(spec, int(day), key[0])
            return self._frames[key]

    def _load_or_build(self, spec: FeatureSpec, day: int, key: str) -> pd.DataFrame:
        path = self.store_dir / f"features-{key}-day{day}.parquet"
        if path.exists() and path.stat().st_mtime >= self._data_mtime():
            frame = pd.read_parquet(path)
        else:
            frame = build_features(self.tables, [day], spec)
            write_table(frame, path)
        frame.index = pd.MultiIndex.from_frame(frame[["course_id", "run_id", "learner_id"]],
                                               names=["course", "run", "learner"])
        return frame.sort_index()

    def _data_mtime(self) -> float:
        return max((p.stat().st_mtime for p in self.data_dir.rglob("*") if p.is_file()), default=0)
