"""What the service serves — each target's ``@champion`` and one data version — and how it
follows changes without a restart, keeping the last known good of each part.

``Follower.poll`` (called every ``MOOC_RISK_POLL_SECONDS`` by the service's background
thread) asks the registry where each ``@champion`` points and looks at the data folder's
fingerprint. A new champion version (or the alias moved back) is loaded; a changed data folder
is pinned and validated (``serving.data_versions``). Whatever fails — the registry unreachable
or corrupt, an alias pointing at a missing or corrupt artifact, a data version that fails
validation — leaves the part that was served in place and is listed in ``problems`` (shown on
``/readyz`` and logged once), and is tried again at the next poll. Each target loads on its
own: one broken model never takes the other down.

A ``Served`` is immutable: a request works on the one it started with, while a poll builds
the next.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from mooc_risk.errors import InputError
from mooc_risk.features.population import run_calendar
from mooc_risk.memory import default_memory
from mooc_risk.models.bundle import BundleError, ModelBundle
from mooc_risk.models.registry import CHAMPION
from mooc_risk.models.targets import Target
from mooc_risk.serving.data_versions import fingerprint, pin
from mooc_risk.serving.reasons import load_catalogue
from mooc_risk.serving.scoring import TargetScorer
from mooc_risk.serving.store import FeatureStore, remove_stale_spill, spill_folder
from mooc_risk.settings import EngineSettings, PathSettings, ServiceSettings, TrackingSettings

log = logging.getLogger(__name__)


class NotReady(Exception):
    """The answer needs computing (tables, features, scores) and the caller asked not to wait:
    ask again where waiting is fine (the service: off its event loop)."""


class RegistryUnavailable(RuntimeError):
    """The model registry cannot be read (unreachable, missing, corrupt)."""


@dataclass(frozen=True)
class Served:
    """The models and the data version a request is answered from."""

    scorers: dict[Target, TargetScorer]
    store: FeatureStore | None
    _cache: dict = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def calendar(self) -> pd.DataFrame:
        """The data version's runs with their start and end (``run_calendar``), read once."""
        with self._lock:
            if "calendar" not in self._cache:
                cmap = next(iter(self.scorers.values())).bundle.spec.constructs
                self._cache["calendar"] = run_calendar(self.store.tables(cmap))
            return self._cache["calendar"]

    def run_dates(self) -> dict[tuple[str, str], tuple[datetime, datetime | None]]:
        """``calendar`` as a dict for the request path: (course, run) → (start, end; None for a
        self-paced run), naive UTC; built once (a pandas lookup costs ~70 µs a request)."""
        with self._lock:
            found = self._cache.get("run_dates")
        if found is None:
            found = {key: (row.start.to_pydatetime(), None if pd.isna(row.end) else row.end.to_pydatetime())
                     for key, row in zip(self.calendar().index, self.calendar().itertuples(), strict=True)}
            with self._lock:
                self._cache["run_dates"] = found
        return found

    def lookups_ready(self) -> bool:
        """Whether the runs' dates and the courses are in memory, so that answering from an
        already scored day reads no table."""
        with self._lock:
            dates = "run_dates" in self._cache
        return dates and self.store is not None and self.store.courses_known

    def versions(self) -> dict[str, str]:
        return {str(t): str(s.bundle.version) for t, s in self.scorers.items()}


def champion_version(tracking: TrackingSettings, name: str) -> str | None:
    """The version ``name@champion`` points at; None when there is none. RegistryUnavailable
    when the registry cannot be read — a local SQLite registry that does not exist is not
    created here."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = tracking.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise RegistryUnavailable(f"the model registry {uri.removeprefix('sqlite:///')} does not exist")
    try:
        found = MlflowClient(tracking_uri=uri).get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower():
            return None
        raise RegistryUnavailable(f"the model registry cannot be read: {_first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt database, a network error: each driver its own
        raise RegistryUnavailable(f"the model registry cannot be read: {type(exc).__name__}: "
                                  f"{_first_line(exc)}") from None
    return str(found.version)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", exc)).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


@dataclass
class Follower:
    tracking: TrackingSettings
    paths: PathSettings
    service: ServiceSettings
    engine: EngineSettings
    problems: dict[str, str] = field(default_factory=dict)
    _spill_dir: Path | None = field(default=None, repr=False)

    def load(self) -> Served:
        """The first ``Served``: whatever can be loaded now (problems recorded, never raised)."""
        return self.poll(Served({}, None))

    def poll(self, current: Served) -> Served:
        """The next ``Served``: ``current`` with each part that changed and loads replaced."""
        scorers = self._models(current.scorers)
        store = self._data(current.store, scorers or current.scorers)
        if scorers == current.scorers and store is current.store:
            return current
        return replace(current, scorers=scorers, store=store, _cache={}, _lock=threading.Lock())

    # --- models -------------------------------------------------------------------------
    def _models(self, current: dict[Target, TargetScorer]) -> dict[Target, TargetScorer]:
        out = dict(current)
        for target in Target:
            name = target.registered_name
            try:
                version = champion_version(self.tracking, name)
            except RegistryUnavailable as exc:
                self._problem("registry", str(exc))
                return out
            self._solved("registry")
            loaded = current.get(target)
            if version is None:
                if loaded is None:
                    self._problem(str(target), f"no {name}@champion; train one with `mooc-risk train`")
                else:
                    self._problem(str(target), f"{name}@champion was removed; still serving version "
                                               f"{loaded.bundle.version}")
                continue
            if loaded is not None and str(loaded.bundle.version) == version:
                self._solved(str(target))
                continue
            try:
                import mlflow

                mlflow.set_tracking_uri(self.tracking.tracking_uri)  # models:/ URIs resolve here
                bundle = ModelBundle.load(f"models:/{name}/{version}", version=version)
                out[target] = TargetScorer.build(bundle, load_catalogue())
            except Exception as exc:  # noqa: BLE001 - BundleError, or anything a broken artifact raises
                exc = exc if isinstance(exc, BundleError | OSError) else f"{type(exc).__name__}: {exc}"
                kept = f"; still serving version {loaded.bundle.version}" if loaded else ""
                self._problem(str(target), f"{name} version {version} cannot be loaded: {exc}{kept}")
                continue
            log.info("serving %s version %s", name, version)
            self._solved(str(target))
        return out

    # --- data ---------------------------------------------------------------------------
    def _spill(self) -> Path:
        """This process's spill folder for the feature engine (made once; ``STORE/.spill``)."""
        if self._spill_dir is None or not self._spill_dir.is_dir():
            remove_stale_spill(self.paths.store_dir)
            self._spill_dir = spill_folder(self.paths.store_dir)
        return self._spill_dir

    def _data(self, current: FeatureStore | None, scorers: dict) -> FeatureStore | None:
        data_dir = self.service.data_dir
        if data_dir is None or not scorers:
            return current
        try:
            if current is not None and fingerprint(data_dir) == current.data.fingerprint:
                return current
            store = FeatureStore(pin(data_dir, self.paths.store_dir), self.paths.store_dir,
                                 self.engine.backend,
                                 memory_limit=self.engine.feature_memory or default_memory(),
                                 spill_dir=self._spill())
            if current is not None and store.version == current.version:
                return current
            for scorer in scorers.values():  # validate now, not in a learner's request
                store.courses(scorer.bundle.spec.constructs)
        except (InputError, OSError) as exc:
            kept = f"; still serving data version {current.data.short}" if current else ""
            self._problem("data", f"the data folder cannot be served: {exc}{kept}")
            return current
        log.info("serving data version %s", store.data.short)
        self._solved("data")
        return store

    def _problem(self, part: str, why: str) -> None:
        if self.problems.get(part) != why:
            log.warning("%s: %s", part, why)
        self.problems[part] = why

    def _solved(self, part: str) -> None:
        if self.problems.pop(part, None) is not None:
            log.info("%s: back to normal", part)
