"""The feature store: feature rows per (feature spec, as-of day) of one data version
(``serving.data_versions``), kept as Parquet under
``STORE/features/<data version>/<spec key>/day-<d>.parquet``.

``materialize`` computes and writes a day ahead of time (``mooc-risk refresh`` does, each
night); ``features`` reads a materialized day, or computes it once when it is missing. A day
is computed under its own lock: two requests for the same new day compute it once, and no
other day waits for it. The tables are read and validated once per model instrument, from the
pinned copy, so a file replaced in the data folder never reaches a version already served.
"""

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
from mooc_risk.serving.data_versions import DataVersion
from mooc_risk.settings import Backend

IN_MEMORY = 8  # (spec, day) frames kept in memory; older ones are read back from Parquet


def spec_key(spec: FeatureSpec) -> str:
    """Names stored feature files: the spec and the feature code's version."""
    text = json.dumps({"spec": spec.to_dict(), "code": FEATURES_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class FeatureStore:
    """The features of one pinned data version (``data``) in ``store_dir``."""

    def __init__(self, data: DataVersion, store_dir: Path, backend: Backend = Backend.DUCKDB):
        self.data, self.store_dir, self.backend = data, Path(store_dir), backend
        self._tables: dict[str, Tables] = {}
        self._courses: set[str] | None = None
        self._frames: LRUCache = LRUCache(IN_MEMORY)
        self._locks: dict[tuple, threading.Lock] = {}
        self._guard = threading.Lock()  # guards the dicts above, never held while computing

    @property
    def version(self) -> str:
        return self.data.version

    def tables(self, cmap: ConstructMap) -> Tables:
        """The validated canonical tables of the pinned copy, surveys read with ``cmap``'s
        items (read once); InputError for bad data."""
        key = cmap.model_dump_json()
        with self._lock_for(("tables", key)):
            if key not in self._tables:
                self._tables[key] = read_tables(self.data.folder, connect(self.backend), cmap)
            return self._tables[key]

    def courses(self, cmap: ConstructMap) -> set[str]:
        if self._courses is None:
            frame = self.tables(cmap).enrolments.select("course_id").distinct().to_pyarrow()
            self._courses = set(frame.column("course_id").to_pylist())
        return self._courses

    def path(self, spec: FeatureSpec, day: int) -> Path:
        """Where the day's features of this data version are stored."""
        return self.store_dir / "features" / self.data.short / spec_key(spec) / f"day-{int(day)}.parquet"

    def materialized(self, spec: FeatureSpec, day: int) -> bool:
        return self.path(spec, day).exists()

    def materialize(self, spec: FeatureSpec, day: int) -> Path:
        """Compute and store the day's features unless they are stored already; the path."""
        self.features(spec, day)
        return self.path(spec, day)

    def features(self, spec: FeatureSpec, day: int) -> pd.DataFrame:
        """All enrolments' feature rows at ``day``, indexed by (course_id, run_id, learner_id):
        read when materialized, else computed once (this day's lock only) and stored."""
        key = (spec_key(spec), int(day))
        with self._guard:
            if key in self._frames:
                return self._frames[key]
        with self._lock_for(key):
            with self._guard:
                if key in self._frames:
                    return self._frames[key]
            frame = self._load_or_build(spec, int(day))
            with self._guard:
                self._frames[key] = frame
            return frame

    def _lock_for(self, key: tuple) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _load_or_build(self, spec: FeatureSpec, day: int) -> pd.DataFrame:
        path = self.path(spec, day)
        if path.exists():
            frame = pd.read_parquet(path)
        else:
            frame = build_features(self.tables(spec.constructs), [day], spec)
            write_table(frame, path)
        frame.index = pd.MultiIndex.from_frame(frame[["course_id", "run_id", "learner_id"]],
                                               names=["course", "run", "learner"])
        return frame.sort_index()
