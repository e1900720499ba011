"""The nightly job (``mooc-risk refresh``; the command is ``serving.refresh_command``): for one
date, idempotently,

1. append the new platform logs to the data folder (the ``import --append`` engine:
   ``features.sources.logs.convert_logs`` into a staged copy of the folder that replaces it
   only when the import succeeds; events seen before are not added twice);
2. pin the data version (``serving.data_versions.pin``: a content-hashed copy of the tables);
3. materialize into the feature store the features of every running run at the date
   (``serving.store.FeatureStore.materialize_days``): a scheduled run at its course day on the
   date (0 before it starts, never beyond its last day), a self-paced run at each of the
   models' trained as-of days some learner of it has reached; the days not stored yet are
   built in one ``build_features`` call per feature spec (one pass over the events), each
   day stored in its own file;
4. score every learner on the list of each running run (``features.population``) with both
   targets that have a ``@champion`` — the same code as ``mooc-risk predict``
   (``serving.batch.score_population``): risk, top-3 reasons, one action per learner;
5. write the date's partition of the predictions history (``serving.history``) and the
   result, ``HISTORY/_runs/YYYY-MM-DD.json``: counts, durations per step, warnings, the data
   version and the model versions.

"As of the date" is 00:00 UTC of the date: the features see the events before it (a job at
02:15 that has just appended yesterday's log sees all of yesterday), and running the job again
for the same date — later that night, or a week later — gives the same predictions (same data
and models: the same bytes). In a self-paced run each learner is scored at the latest trained
as-of day they have reached by then (one row per learner and target a night).

Memory. Both DuckDB steps get a memory limit, by default ``DEFAULT_MEMORY_SHARE`` (40 %) of
the machine's memory (its cgroup limit when lower), at least 512 MB; the steps run one after
the other, and the rest is left to Python and pandas (the feature frames, scoring):

- the log import (``Logs.memory_limit``, ``--import-memory``): rebuilding enrolments and
  outcomes from all events needed more than a fixed 512 MB at 10^8 events;
- the feature engine (``feature_memory``, ``--feature-memory``): DuckDB's ``memory_limit``
  with a spill folder (``temp_directory``) in ``STORE/.spill/<pid>.<random>``, removed when
  the job ends (and, for a job that was killed, by the next one), so DuckDB spills to disk
  instead of growing.

When DuckDB cannot stay within a limit it raises ``duckdb.OutOfMemoryException``; the job
raises ``OutOfMemory`` naming the step, the limit and the option that raises it — a failure of
resources (exit 1, worth a retry with more memory), not bad input.

Every file is written to a temporary name and renamed (the data folder, the pinned version, the
feature files, the partition, the result), so a job killed at any point leaves the previous
state; one job runs at a time per history folder (``HISTORY/.refresh.lock``, an ``flock``
the system releases when the process dies), and it removes the temporary files of a job that
was killed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from mooc_risk.days import as_of_moment, course_day
from mooc_risk.errors import InputError, ResourceError
from mooc_risk.features.build import FeatureSpec
from mooc_risk.features.canonical.schemas import KEYS
from mooc_risk.features.population import in_population, run_calendar, running_runs
from mooc_risk.files import write_text
from mooc_risk.memory import default_memory
from mooc_risk.models.targets import Target
from mooc_risk.serving import history
from mooc_risk.serving.batch import score_population
from mooc_risk.serving.data_versions import DataVersion, pin
from mooc_risk.serving.scoring import TargetScorer, no_champion
from mooc_risk.serving.store import FeatureStore, remove_stale_spill, spec_key, spill_folder
from mooc_risk.settings import Backend

RUNS_FOLDER = "_runs"  # the results, next to the partitions (never read as one: "_" prefix)
LOCK_FILE = ".refresh.lock"
TOP_K = 3


class RefreshBusy(RuntimeError):
    """Another refresh holds the history folder's lock."""


class OutOfMemory(ResourceError):
    """A DuckDB step ran out of memory under its limit: a failure of resources, not bad input.
    ``step`` what ran out (``"the log import"``, ``"building features"``), ``limit`` the
    DuckDB size, ``option`` the command-line option that raises it."""

    def __init__(self, step: str, limit: str, option: str):
        self.step, self.limit, self.option = step, limit, option
        super().__init__(f"{step} hit its DuckDB memory limit ({limit}); raise it with "
                         f"{option} SIZE, or run where there is more memory")


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised while handling or from, a DuckDB out-of-memory error
    (the importers turn DuckDB errors into InputError ``from None``: the original stays in
    ``__context__``)."""
    import duckdb

    seen: set[int] = set()
    todo = [exc]
    while todo:
        error = todo.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, duckdb.OutOfMemoryException):
            return True
        todo += [error.__cause__, error.__context__]
    return False


@contextmanager
def _memory_limited(step: str, limit: str, option: str) -> Iterator[None]:
    """Turn a DuckDB out-of-memory error (however wrapped) into ``OutOfMemory``."""
    try:
        yield
    except OutOfMemory:
        raise
    except Exception as exc:
        if out_of_memory(exc):
            raise OutOfMemory(step, limit, option) from exc
        raise


@dataclass(frozen=True)
class Logs:
    """New platform logs to append first: ``source`` edx, xapi, caliper or moodle; ``paths``
    files or folders; ``secret`` the HMAC key of learner ids (``IdentitySettings``);
    ``memory_limit`` DuckDB's memory limit for the import (a size such as ``"2GB"``; None:
    ``default_memory()``, 40 % of the machine's memory, as for ``import`` — 512 MB is enough
    for streaming the logs, but rebuilding enrolments and outcomes from 10^8 events of 10^6
    enrolments needs more)."""

    source: str
    paths: list[Path]
    secret: bytes = field(repr=False)
    memory_limit: str | None = None  # DuckDB's limit for the import (None: default_memory())


@dataclass(frozen=True)
class RunDays:
    """A running run and the days it is scored at: one for a scheduled run, the reached
    trained days for a self-paced one (each learner at the latest they reached)."""

    course_id: str
    run_id: str
    self_paced: bool
    days: tuple[int, ...]


class _NothingNew(Exception):
    """Raised inside the staged import to leave the data folder as it was."""


def _nothing_new(problems) -> bool:
    """Whether an ``--append`` import changes nothing in the folder: no new event, no voiding
    statement (it may remove an event) and no file read for something else than events (a
    Moodle course export may change run dates). Re-appending the same logs is then a no-op, so
    the data version — and the night's predictions — stay the same."""
    from mooc_risk.features.sources.log_problems import VOIDING

    return (sum(f.imported for f in problems.files) == 0
            and not any(f.no_events or VOIDING in f.skipped for f in problems.files))


def result_path(history_dir: Path, day: date) -> Path:
    return Path(history_dir) / RUNS_FOLDER / f"{day:%Y-%m-%d}.json"


class NightlyRefresh:
    """One night's refresh. Use as a context manager (it holds the history's lock), then
    ``prepare`` (append, pin, plan) and ``run`` (materialize, score, write); ``steps`` is
    ``run``'s number of ``on_step`` calls once prepared.

    ``scorers``: the ``@champion`` scorers to score with (``scoring.load_scorers``); ``warn``
    receives each warning as it happens (they are also in the result); ``draw_holdout(frame,
    moment)`` (optional) draws the courses' holdouts on the night's scored rows and returns
    how many learners are held out (``serving.holdout``; ``refresh`` passes it when a holdout
    file is set up); ``feature_memory``
    DuckDB's memory limit for building features (a size such as ``"4GB"``; None:
    ``default_memory()``), with a spill folder of this job's in ``STORE/.spill``.

    ``prepare`` and ``run`` raise ``OutOfMemory`` when a DuckDB step cannot stay within its
    limit, InputError for bad input, RefreshBusy (entering) when another job holds the lock.
    """

    def __init__(self, data_dir: Path, day: date, scorers: dict[Target, TargetScorer], *,
                 store_dir: Path, history_dir: Path, backend: Backend = Backend.DUCKDB,
                 logs: Logs | None = None, feature_memory: str | None = None,
                 warn: Callable[[str], None] = lambda _text: None,
                 draw_holdout: Callable[[pd.DataFrame, datetime], int] | None = None):
        if not scorers:
            raise InputError(no_champion({}))
        self.data_dir, self.day, self.scorers = Path(data_dir), day, dict(scorers)
        self.store_dir, self.history_dir = Path(store_dir), Path(history_dir)
        self.backend, self._warn = backend, warn
        if logs is not None and logs.memory_limit is None:
            logs = replace(logs, memory_limit=default_memory())
        self.logs = logs
        self.feature_memory = feature_memory or default_memory()
        self.spill_dir: Path | None = None
        self.moment = as_of_moment(day)
        self.draw_holdout, self.held_out = draw_holdout, None
        self.seconds: dict[str, float] = {}
        self.warnings: list[str] = []
        self.events_appended: int | None = None
        self.version: DataVersion | None = None
        self.store: FeatureStore | None = None
        self.runs: list[RunDays] = []
        self.materialized: list[dict] = []
        self._lock: int | None = None
        self._started = time.perf_counter()

    # --- the lock ---------------------------------------------------------------------
    def __enter__(self) -> NightlyRefresh:
        self.history_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.history_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RefreshBusy(f"another refresh (pid {holder}) is running on {self.history_dir}; "
                              "try again when it has finished") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock = fd
        for leftover in history.remove_leftovers(self.history_dir):
            self.warn(f"removed {leftover.name}, left by a refresh that was stopped")
        remove_stale_spill(self.store_dir)
        return self

    def __exit__(self, *exc) -> None:
        if self.spill_dir is not None:
            shutil.rmtree(self.spill_dir, ignore_errors=True)
            self.spill_dir = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)
            self._lock = None

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        self._warn(text)

    def _features_limited(self):
        return _memory_limited("building features", self.feature_memory, "--feature-memory")

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)

    # --- prepare: append, pin, plan -----------------------------------------------------
    @property
    def prepare_steps(self) -> int:
        return 3 if self.logs else 2

    def prepare(self, on_step: Callable[[str], None] = lambda _label: None) -> None:
        """Append the logs (if any), pin the data version and find the running runs and their
        days. InputError for bad logs or data, or a date before any run has started."""
        if self._lock is None:
            raise RuntimeError("use NightlyRefresh as a context manager (it holds the lock)")
        if self.logs is not None:
            with self._timed("append_logs"), _memory_limited("the log import", self.logs.memory_limit,
                                                             "--import-memory"):
                self.events_appended = self._append_logs(self.logs)
            on_step(f"{self.events_appended:,} events appended")
        with self._timed("pin"):
            self.version = pin(self.data_dir, self.store_dir)
            self.spill_dir = self.spill_dir or spill_folder(self.store_dir)
            self.store = FeatureStore(self.version, self.store_dir, self.backend,
                                      memory_limit=self.feature_memory, spill_dir=self.spill_dir)
        on_step(f"data version {self.version.short}")
        with self._timed("plan"), self._features_limited():
            self.runs = self._plan()
        on_step(f"{len(self.runs)} running run(s)")

    def _append_logs(self, logs: Logs) -> int:
        """The ``import --append`` path; the number of new events."""
        from mooc_risk.features.sources.logs import LogImport, convert_logs
        from mooc_risk.features.sources.staging import staged_output

        append_to = self.data_dir if (self.data_dir / "events.parquet").exists() else None
        if append_to is None and self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise InputError(f"{self.data_dir}: --logs appends to a folder written by a log import "
                             "(events.parquet with event names and ids); this one has no events.parquet")
        limit = {"memory_limit": logs.memory_limit} if logs.memory_limit else {}
        job = LogImport(logs.source, list(logs.paths), logs.secret, append_to=append_to, **limit)
        try:
            with staged_output(self.data_dir, validate=False) as stage:  # as `import` does
                _counts, problems = convert_logs(job, stage, lambda _label: None)
                if append_to is not None and _nothing_new(problems):
                    raise _NothingNew(problems)  # the staged copy is dropped, DATA kept as it was
        except _NothingNew as stop:
            read = sum(f.read for f in stop.args[0].files)
            self.warn(f"logs: nothing new ({read:,} records, all already in {self.data_dir}); "
                      "the data folder is left as it was")
            return 0
        if problems.counts:
            self.warn(f"logs: {problems.summary()} (per file and line: "
                      f"{self.data_dir / 'import_problems.csv'})")
        return sum(f.imported for f in problems.files)

    def _instrument(self):
        return next(iter(self.scorers.values())).bundle.spec.constructs

    def trained_days(self) -> list[int]:
        """The as-of days the loaded models were trained at (their union)."""
        return sorted({int(d) for s in self.scorers.values() for d in s.bundle.metadata.as_of_days})

    def _plan(self) -> list[RunDays]:
        calendar = run_calendar(self.store.tables(self._instrument()))
        if calendar.empty:
            raise InputError(f"{self.data_dir}: no enrolments, nothing to score")
        runs = running_runs(calendar, self.moment)
        if not runs:
            first = calendar["start"].min()
            raise InputError(f"--date {self.day}: no run in {self.data_dir} has started by then "
                             f"(the first starts on {first:%Y-%m-%d}); nothing to score")
        waiting = sorted(set(calendar.index.get_level_values("course_id")) - set(runs))
        if waiting:
            self.warn(f"no run has started by {self.day} in course(s) {', '.join(waiting)}: not scored")
        trained = self.trained_days()
        planned = []
        for course_id, run_id in sorted(runs.items()):
            run = calendar.loc[(course_id, run_id)]
            start = pd.Timestamp(run["start"]).to_pydatetime()
            if pd.isna(run["end"]):  # each learner has their own day 0: the trained days reached
                days = tuple(d for d in trained if course_day(start, self.moment) >= d)
                planned.append(RunDays(course_id, run_id, True, days))
            else:
                length = (pd.Timestamp(run["end"]) - pd.Timestamp(run["start"])).days
                day = min(max(course_day(start, self.moment), 0), max(length, 0))
                planned.append(RunDays(course_id, run_id, False, (day,)))
        return planned

    # --- run: materialize, score, write -------------------------------------------------
    def specs(self) -> dict[str, FeatureSpec]:
        """The distinct feature specs of the models, by store key."""
        return {spec_key(s.bundle.spec): s.bundle.spec for s in self.scorers.values()}

    def days(self) -> list[int]:
        return sorted({d for r in self.runs for d in r.days})

    @property
    def steps(self) -> int:
        return len(self.specs()) * len(self.days()) + 2 * len(self.scorers) + 1

    def run(self, on_step: Callable[[str], None] = lambda _label: None) -> dict:
        """Materialize, score and write the date's partition and result; the result."""
        if self.store is None:
            raise RuntimeError("prepare() first")
        with self._timed("materialize"), self._features_limited():
            for key, spec in self.specs().items():
                start = time.perf_counter()
                computed = set(self.store.materialize_days(spec, self.days()))
                seconds = round(time.perf_counter() - start, 3)  # the one call's, shared
                for day in self.days():
                    self.materialized.append({"spec": key, "day": day, "computed": day in computed,
                                              "seconds": seconds if day in computed else 0.0})
                    on_step(f"features of day {day} {'computed' if day in computed else 'found'}")
        with self._timed("score"), self._features_limited():
            frame = self.score(on_step)
        with self._timed("write"):
            partition = history.write_day(self.history_dir, self.day, frame)
        on_step("history written")
        if self.draw_holdout is not None:  # the courses' opt-in holdouts, drawn on tonight's list
            with self._timed("holdout"):
                self.held_out = self.draw_holdout(frame, self.moment)
        self.seconds["total"] = round(time.perf_counter() - self._started, 3)
        result = self._result(frame, partition)
        write_text(result_path(self.history_dir, self.day), json.dumps(result, indent=1) + "\n")
        self._prune_features()
        return result

    def score(self, on_step: Callable[[str], None] = lambda _label: None) -> pd.DataFrame:
        """Every listed learner of the running runs scored by each target (``score_population``,
        as ``predict``), with the data version."""
        scorers = [self.scorers[t] for t in Target if t in self.scorers]
        if not self.days():  # self-paced runs whose learners reached no trained day yet
            self.warn(f"no learner has reached a trained as-of day ({self.trained_days()}) by "
                      f"{self.day}: nothing scored")
            for _ in range(2 * len(scorers)):
                on_step("nothing to score")
            return pd.DataFrame(columns=history.SCHEMA.names)

        def population(scorer: TargetScorer) -> pd.DataFrame:
            features = self.population(scorer.bundle.spec)
            on_step(f"{scorer.target}: {len(features):,} learners")
            return features

        frame = score_population(scorers, population, top_k=TOP_K, on_step=on_step)
        return frame.assign(data_version=self.version.version)

    def population(self, spec: FeatureSpec) -> pd.DataFrame:
        """The feature rows of the learners on the list of each running run: a scheduled run's
        rows at its day, a self-paced run's at the latest trained day each learner reached."""
        tables = self.store.tables(spec.constructs)
        parts = []
        for day in self.days():
            wanted = {(r.course_id, r.run_id) for r in self.runs if day in r.days}
            features = self.store.features(spec, day)
            pairs = pd.MultiIndex.from_arrays([features["course_id"], features["run_id"]])
            parts.append(features[pairs.isin(list(wanted))])
        features = pd.concat(parts)
        if any(r.self_paced and len(r.days) > 1 for r in self.runs):
            # each learner's latest day reached by the moment, then the list's rule at that day
            # (one who unenrolled since an earlier day is not listed at an earlier day instead)
            features = features[in_population(features, replace(tables, outcomes=None), self.moment)]
            latest = features.groupby(list(KEYS), observed=True)["as_of_day"].transform("max")
            features = features[features["as_of_day"] == latest]
        return features[in_population(features, tables, self.moment)]

    def _result(self, frame: pd.DataFrame, partition: Path) -> dict:
        scored = frame.groupby("target").size()
        models = {t.value: {"model": s.bundle.name, "version": s.bundle.version}
                  for t, s in self.scorers.items()}
        return {
            "date": f"{self.day:%Y-%m-%d}",
            "as_of": self.moment.isoformat() + "Z",
            "status": "ok",
            "data": str(self.data_dir.resolve()),
            "data_version": self.version.version,
            "models": models,
            "counts": {
                "events_appended": self.events_appended,
                "runs": len(self.runs),
                "learners_scored": {t: int(scored.get(t, 0)) for t in models},
                "days_materialized": len(self.materialized),
                "days_computed": sum(m["computed"] for m in self.materialized),
                "rows_written": len(frame),
                "held_out": self.held_out,  # learners in a holdout drawn tonight or before
            },
            "runs": [{"course_id": r.course_id, "run_id": r.run_id,
                      "kind": "self-paced" if r.self_paced else "scheduled", "days": list(r.days)}
                     for r in self.runs],
            "materialized": self.materialized,
            "seconds": self.seconds,
            "warnings": self.warnings,
            "partition": str(partition),
            "store": str(self.store_dir),
            "memory_limits": {"import": self.logs.memory_limit if self.logs else None,
                              "features": self.feature_memory},
            "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        }

    def _prune_features(self) -> None:
        """Remove stored features of data versions the store no longer keeps (``pin`` keeps the
        last few): a new version every night would otherwise fill the disk."""
        root, pinned = self.store_dir / "features", self.store_dir / "data"
        if not root.is_dir():
            return
        for folder in root.iterdir():
            if folder.is_dir() and not folder.name.startswith(".") and not (pinned / folder.name).is_dir():
                shutil.rmtree(folder, ignore_errors=True)


def refresh(data_dir: Path, day: date, scorers: dict[Target, TargetScorer], *, store_dir: Path,
            history_dir: Path, backend: Backend = Backend.DUCKDB, logs: Logs | None = None,
            feature_memory: str | None = None,
            on_step: Callable[[str], None] = lambda _label: None,
            warn: Callable[[str], None] = lambda _text: None) -> dict:
    """The whole job in one call (benchmarks, tests, schedulers in Python); the result."""
    with NightlyRefresh(data_dir, day, scorers, store_dir=store_dir, history_dir=history_dir,
                        backend=backend, logs=logs, feature_memory=feature_memory, warn=warn) as job:
        job.prepare(on_step)
        return job.run(on_step)
