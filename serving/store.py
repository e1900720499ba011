"""The feature store: feature rows per (feature spec, as-of day), computed from the canonical
tables on first request by ``build_features`` and kept as Parquet after that (a stored file is
recomputed when a table in the data folder is newer). The tables are read and validated once,
with each model's own survey instrument; the most recent days stay in memory."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pandas as pd
from cachetools import LRUCache

from mooc_risk.features.build import FEATURES_VERSION, FeatureSpec, build_features
from mooc_risk.features.canonical.engine import connect
from mooc_risk.features.canonical.tables import Tables, read_tables
from mooc_risk.features.constructs import ConstructMap
from mooc_risk.files import write_table
from mooc_risk.settings import Backend

IN_MEMORY = 8  # (spec, day) frames kept in memory; older ones are read back from Parquet


def spec_key(spec: FeatureSpec) -> str:
    """Names stored feature files: the spec and the feature code's version."""
    text = json.dumps({"spec": spec.to_dict(), "code": FEATURES_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class FeatureStore:
    def __init__(self, data_dir: Path, store_dir: Path, backend: Backend = Backend.DUCKDB):
        self.data_dir, self.store_dir, self.backend = data_dir, store_dir, backend
        self._tables: dict[str, Tables] = {}
        self._courses: set[str] | None = None
        self._frames: LRUCache = LRUCache(IN_MEMORY)
        self._lock = threading.Lock()

    def tables(self, cmap: ConstructMap) -> Tables:
        """The validated canonical tables, surveys read with ``cmap``'s items (read once)."""
        key = cmap.model_dump_json()
        if key not in self._tables:
            self._tables[key] = read_tables(self.data_dir, connect(self.backend), cmap)
        return self._tables[key]

    def courses(self, cmap: ConstructMap) -> set[str]:
        if self._courses is None:
            frame = self.tables(cmap).enrolments.select("course_id").distinct().to_pyarrow()
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
            frame = build_features(self.tables(spec.constructs), [day], spec)
            write_table(frame, path)
        frame.index = pd.MultiIndex.from_frame(frame[["course_id", "run_id", "learner_id"]],
                                               names=["course", "run", "learner"])
        return frame.sort_index()

    def _data_mtime(self) -> float:
        return max((p.stat().st_mtime for p in self.data_dir.rglob("*") if p.is_file()), default=0)
