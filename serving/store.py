"""The feature store: feature rows per (feature spec, as-of day) of one data version
(``serving.data_versions``), kept as Parquet under
``STORE/features/<data version>/<spec key>/day-<d>.parquet``.

``materialize`` computes and writes a day ahead of time; ``materialize_days`` does so for
several days in one ``build_features`` call (one pass over the events instead of one per day:
``mooc-risk refresh`` does, each night); ``features`` reads a materialized day, or computes it
once when it is missing. A day is computed under its own lock: two requests for the same new
day compute it once, and no other day waits for it (``materialize_days`` holds the locks of
the days it computes, taken in day order). The tables are read and validated once per model
instrument, from the pinned copy, so a file replaced in the data folder never reaches a version
already served.

The feature engine's memory: by default DuckDB's own (80 % of RAM, spilling to ``./.tmp``);
``memory_limit`` and ``spill_dir`` set DuckDB's ``memory_limit`` and ``temp_directory`` on the
store's connection(s) (one per instrument), so that DuckDB spills to disk instead of growing
past the limit (the refresh sets both, ``--feature-memory``). The pandas frames
``build_features`` returns are outside that limit. The PySpark backend ignores them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
from cachetools import LRUCache

from mooc_risk.features.build import FEATURES_VERSION, FeatureSpec, build_features
from mooc_risk.features.canonical.engine import connect
from mooc_risk.features.canonical.tables import Tables, read_tables
from mooc_risk.features.constructs import ConstructMap
from mooc_risk.files import process_running, write_table
from mooc_risk.serving.data_versions import DataVersion
from mooc_risk.settings import Backend

IN_MEMORY = 8  # (spec, day) frames kept in memory; older ones are read back from Parquet
SPILL_FOLDER = ".spill"  # in the store: the feature engine's DuckDB temp_directory, per process


def spill_folder(store_dir: Path) -> Path:
    """A new spill folder for this process's feature engine: ``STORE/.spill/<pid>.<random>``
    (``remove_stale_spill`` removes it once the process is gone)."""
    root = Path(store_dir) / SPILL_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}.", dir=root))


def remove_stale_spill(store_dir: Path) -> list[Path]:
    """Remove the spill folders of processes that are no longer running; the folders removed."""
    root = Path(store_dir) / SPILL_FOLDER
    if not root.is_dir():
        return []
    removed = []
    for folder in root.iterdir():
        found = re.fullmatch(r"(\d+)\..+", folder.name)
        if found and folder.is_dir() and not process_running(int(found[1])):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def spec_key(spec: FeatureSpec) -> str:
    """Names stored feature files: the spec and the feature code's version."""
    text = json.dumps({"spec": spec.to_dict(), "code": FEATURES_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class FeatureStore:
    """The features of one pinned data version (``data``) in ``store_dir``."""

    def __init__(self, data: DataVersion, store_dir: Path, backend: Backend = Backend.DUCKDB, *,
                 memory_limit: str | None = None, spill_dir: Path | None = None):
        """``memory_limit``: DuckDB's ``memory_limit`` for building features (a size such as
        ``"4GB"``; None: DuckDB's default); ``spill_dir``: its ``temp_directory``, where it
        spills what does not fit (None: DuckDB's default). Both apply to the DuckDB backend
        only and take effect when the tables are first read."""
        self.data, self.store_dir, self.backend = data, Path(store_dir), backend
        self.memory_limit, self.spill_dir = memory_limit, (Path(spill_dir) if spill_dir else None)
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
                self._tables[key] = read_tables(self.data.folder, self._connect(), cmap)
            return self._tables[key]

    def _connect(self):
        """A connection of the feature engine, with the store's memory limit and spill folder."""
        con = connect(self.backend)
        if self.backend == Backend.DUCKDB:
            if self.memory_limit:
                con.raw_sql(f"SET memory_limit = '{self.memory_limit}'")
            if self.spill_dir:
                con.raw_sql("SET temp_directory = '" + str(self.spill_dir).replace("'", "''") + "'")
        return con

    @property
    def courses_known(self) -> bool:
        """Whether ``courses`` is answered from memory (no table is read)."""
        return self._courses is not None

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

    def materialize_days(self, spec: FeatureSpec, days: Iterable[int]) -> list[int]:
        """Compute and store the features of each of ``days`` (as-of days ≥ 0) not stored yet,
        all in ONE ``build_features`` call, then each day's file written atomically at
        ``path(spec, day)``: the same rows as ``materialize`` day by day, in one pass over the
        events. A day already stored is not rebuilt. Holds the locks of the missing days (in
        day order) while computing. Returns the days it computed (sorted; [] when all were
        stored).

        Raises InputError for bad data (reading the tables), ValueError for a negative day,
        and what the engine raises (e.g. ``duckdb.OutOfMemoryException`` when DuckDB cannot
        stay within ``memory_limit`` even by spilling).
        """
        wanted = sorted({int(d) for d in days})
        if wanted and wanted[0] < 0:
            raise ValueError(f"as-of days must be whole numbers ≥ 0, got {wanted}")
        key = spec_key(spec)
        missing = [d for d in wanted if not self.path(spec, d).exists()]
        if not missing:
            return []
        with ExitStack() as held:
            for day in missing:  # always in day order: two callers never wait on each other
                held.enter_context(self._lock_for((key, day)))
            missing = [d for d in missing if not self.path(spec, d).exists()]  # built meanwhile
            if not missing:
                return []
            built = build_features(self.tables(spec.constructs), missing, spec)
            for day in missing:  # sorted by keys then day: each day's rows stay in key order
                frame = built[built["as_of_day"] == day].reset_index(drop=True)
                write_table(frame, self.path(spec, day))
                with self._guard:
                    self._frames[(key, day)] = _indexed(frame)
        return missing

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
        return _indexed(frame)


def _indexed(frame: pd.DataFrame) -> pd.DataFrame:
    """A stored day's frame as ``features`` returns it: indexed by (course, run, learner)."""
    frame = frame.copy(deep=False)
    frame.index = pd.MultiIndex.from_frame(frame[["course_id", "run_id", "learner_id"]],
                                           names=["course", "run", "learner"])
    return frame.sort_index()
