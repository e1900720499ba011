"""What the HTTP service does, without HTTP: access checks, feature lookup or computation,
scoring, paging. ``mooc_risk.serving.service`` maps it onto BentoML routes and status codes."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
import pyarrow as pa
from cachetools import LRUCache

from mooc_risk.days import course_day
from mooc_risk.errors import InputError
from mooc_risk.features.population import in_population, running_runs
from mooc_risk.models.targets import Target
from mooc_risk.serving import schemas
from mooc_risk.serving.follow import Follower, NotReady, Served
from mooc_risk.serving.history import empty_history, read_history
from mooc_risk.serving.interventions import suggest
from mooc_risk.serving.keys import KeyRing, Keys
from mooc_risk.serving.raw import score_raw
from mooc_risk.serving.scoring import TargetScorer, riskiest_first
from mooc_risk.serving.store import FeatureStore
from mooc_risk.settings import EngineSettings, PathSettings, ServiceSettings, TrackingSettings

log = logging.getLogger(__name__)
SHOWN_METRICS = ("test_auc", "test_pr_auc", "test_brier", "test_ece", "test_precision_top10",
                 "test_recall_top10", "baseline_test_auc", "test_max_group_auc_gap")


class NotFound(LookupError):
    """An unknown course, run or target (HTTP 404)."""


SCORED_DAYS = 8  # (target, version, day) scored frames kept in memory
DAY_MARGIN = 28  # as-of days accepted past a run's last day


_REQUEST: ContextVar[Served | None] = ContextVar("served_for_request", default=None)


class Unavailable(RuntimeError):
    """Nothing to answer with yet: no model could be loaded (HTTP 503, with the reason)."""


@dataclass
class RiskApp:
    service: ServiceSettings
    follower: Follower
    keyring: Keys
    _current: Served
    _scored: LRUCache = field(default_factory=lambda: LRUCache(SCORED_DAYS))
    _locks: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # guards the caches only

    @classmethod
    def from_settings(cls, tracking: TrackingSettings, paths: PathSettings, service: ServiceSettings,
                      engine: EngineSettings) -> RiskApp:
        """Load what can be loaded now — each target's @champion, the data folder pinned and
        validated (``serving.follow``) — and never raise for a missing or broken part: the
        service starts not ready or degraded, says why on /readyz, and keeps trying."""
        follower = Follower(tracking, paths, service, engine)
        return cls(service, follower, Keys(paths.keys_file), follower.load())

    # --- what is served -----------------------------------------------------------------
    @property
    def served(self) -> Served:
        """The models and data of this request (``pinned``), else the latest."""
        return _REQUEST.get() or self._current

    @contextmanager
    def pinned(self):
        """Answer a request from one ``Served`` from start to end, whatever a poll swaps in."""
        token = _REQUEST.set(self._current)
        try:
            yield self._current
        finally:
            _REQUEST.reset(token)

    def poll(self) -> None:
        """Look for a new champion or data version once (the service's thread calls this)."""
        self._current = self.follower.poll(self._current)

    def readiness(self) -> dict:
        """``/readyz``: ``status`` ready | degraded (serving, with problems) | not ready (no
        model), the model versions and data version served, and the problems."""
        served = self._current
        status = "not ready" if not served.scorers else ("degraded" if self.follower.problems else "ready")
        data = None
        if served.store is not None:
            newest = self._data_until(served)
            data = {"version": served.store.data.short,
                    "newest_event": newest.isoformat() + "Z" if newest else None}
        return {"status": status, "models": served.versions(), "data": data,
                "problems": dict(self.follower.problems)}

    @property
    def scorers(self) -> dict[Target, TargetScorer]:
        scorers = self.served.scorers
        if not scorers:
            raise Unavailable("no model is loaded yet: " + "; ".join(self.follower.problems.values()))
        return scorers

    @property
    def store(self) -> FeatureStore | None:
        return self.served.store

    @property
    def _calendar(self) -> pd.DataFrame:
        return self.served.calendar()

    @property
    def keys(self) -> KeyRing:
        return self.keyring.current()

    def targets(self, requested: list[str] | None) -> list[str]:
        return list(requested) if requested else list(self.scorers)

    # --- shared -----------------------------------------------------------------------
    def scorer(self, target: str) -> TargetScorer:
        if target not in self.scorers:
            raise NotFound(f"no {Target(target).registered_name}@champion is loaded")
        return self.scorers[target]

    def _need_store(self) -> FeatureStore:
        if self.store is None:
            raise NotFound("the service has no data folder; start it with --data DIR")
        return self.store

    def _instrument(self):
        """A loaded model's survey instrument (to read the data folder's surveys with)."""
        return next(iter(self.scorers.values())).bundle.spec.constructs

    def _population(self, scorer: TargetScorer, day: int, today) -> pd.DataFrame:
        """The day's feature rows of the listed population (features.population): enrolled,
        not unenrolled before the cutoff, and the cutoff already come."""
        store = self._need_store()
        features = store.features(scorer.bundle.spec, day)
        return features[in_population(features, store.tables(scorer.bundle.spec.constructs), today)]

    def _catalogue(self):
        """The intervention table (every scorer reads the same catalogue)."""
        return next(iter(self.scorers.values())).catalogue.interventions

    def _check_course(self, course_id: str) -> None:
        if course_id not in self._need_store().courses(self._instrument()):
            raise NotFound(f"unknown course {course_id!r}")

    def scored(self, target: str, day: int, *, wait: bool = True) -> ScoredDay:
        """Every listed enrolment scored (with reasons) at ``day`` by ``target``'s model, with
        one intervention per learner over all loaded targets; computed once per model
        versions, data version and date (under that key's own lock: other days never wait),
        then reused. ``wait=False``: NotReady instead of computing."""
        self.scorer(target)  # NotFound for a target without a model
        served, today = self.served, self.service.today()
        key = self._scored_key(served, day)
        with self._lock:
            found = self._scored.get(key)
            lock = self._locks.setdefault(key, threading.Lock())
        if found is None and not wait:
            raise NotReady(f"day {day} is not scored yet")
        if found is None:
            with lock:
                with self._lock:
                    found = self._scored.get(key)
                if found is None:
                    frames = {t: s.score(self._population(s, day, today), top_k=schemas.MAX_TOP_K)
                              for t, s in served.scorers.items()}
                    frames = suggest(self._catalogue(), frames)
                    found = {t: ScoredDay.of(f) for t, f in frames.items()}
                    with self._lock:
                        self._scored[key] = found
                        self._locks = {k: v for k, v in self._locks.items() if k in self._scored
                                       or v.locked()}
        return found[target]

    def _scored_key(self, served: Served, day: int) -> tuple:
        return (tuple(served.versions().items()), served.store.version if served.store else None,
                day, self.service.today().date())

    # --- POST /score ------------------------------------------------------------------
    def score(self, request: schemas.ScoreRequest, key: str | None, *,
              wait: bool = True) -> schemas.ScoreResponse:
        """``POST /score``. ``wait=False``: answer only from memory — learner ids, on a day
        scored already, with the runs' dates and courses known — else raise NotReady before
        reading any table (the service answers such requests on its event loop, the others in
        a worker thread: BentoML's thread hop halves a sub-millisecond endpoint's throughput,
        bench/results/throughput.md)."""
        if not wait and (request.learners is not None or not self.served.lookups_ready()):
            raise NotReady("needs computing")
        if request.learners is not None:
            return score_raw(self, request, key)
        self.keys.check(key, request.course_id)
        self._check_course(request.course_id)
        day = request.as_of_day if request.as_of_day is not None else self.default_day(request)
        self._check_day_reached(request.course_id, request.run_id, day)
        wanted = list(dict.fromkeys(request.learner_ids))
        found: dict[str, dict[str, dict]] = {}
        for target in self.targets(request.targets):
            scored = self.scored(target, day, wait=wait)
            for learner_id in wanted:
                row = scored.row(request.course_id, request.run_id, learner_id)
                if row is not None:
                    found.setdefault(learner_id, {})[target] = row
        predictions = [self._learner(found[lid], request) for lid in wanted if lid in found]
        return schemas.ScoreResponse(predictions=predictions,
                                     not_found=[lid for lid in wanted if lid not in found])

    def default_day(self, request: schemas.ScoreRequest) -> int:
        """Today's course day of the run (scheduled runs only)."""
        today = self._course_day(request.course_id, request.run_id)
        if today is None:
            raise InputError("as_of_day: required for a self-paced run (each learner has their own day 0)")
        return today

    def _course_day(self, course_id: str, run_id: str) -> int | None:
        """Today's course day of a scheduled run, None for a self-paced one; NotFound for an
        unknown run."""
        dates = self.served.run_dates().get((course_id, run_id))
        if dates is None:
            raise NotFound(f"unknown run {run_id!r} of course {course_id!r}")
        start, end = dates
        return None if end is None else course_day(start, self.service.today())

    def _learner(self, by_target: dict[str, dict], request) -> schemas.LearnerScore:
        first = next(iter(by_target.values()))
        return schemas.LearnerScore(
            learner_id=first["learner_id"], course_id=first["course_id"], run_id=first["run_id"],
            as_of_day=int(first["as_of_day"]), status=first["status"],
            scores={t: target_score(row, request.explain, request.top_k) for t, row in by_target.items()},
        )

    # --- POST /courses/{course_id}/predictions -------------------------------------------
    def course_predictions(self, course_id: str, request: schemas.CoursePredictionsRequest,
                           key: str | None) -> tuple[pd.DataFrame, int, str]:
        """A page of one run's learners, riskiest first: (rows, total, run listed)."""
        self.keys.check(key, course_id)
        self._check_course(course_id)
        run_id = request.run_id or self.running_run(course_id)
        rows = self.run_rows(course_id, run_id, request.target, request.as_of_day)
        start = (request.page - 1) * request.page_size
        page = rows.iloc[start:start + request.page_size].reset_index(drop=True)
        return flat_rows(page, request.explain, request.top_k), len(rows), run_id

    def run_rows(self, course_id: str, run_id: str, target: str, day: int) -> pd.DataFrame:
        """Every listed learner of one run scored at ``day``, riskiest first in the model's
        order (``scoring.riskiest_first``: the order never changes between pages); NotFound /
        InputError as ``_check_day_reached``."""
        self._check_day_reached(course_id, run_id, day)
        frame = self.scored(target, day).frame
        rows = frame[(frame["course_id"] == course_id) & (frame["run_id"] == run_id)]
        return riskiest_first(rows, Target(target))

    def runs_of(self, course_id: str) -> list[str]:
        """The course's runs that have started by today, latest start first."""
        self._check_course(course_id)
        runs = self._calendar.loc[course_id].sort_values("start", ascending=False)
        return [str(r) for r in runs.index[runs["start"] <= pd.Timestamp(self.service.today())]]

    def data_until(self) -> datetime | None:
        """The time of the newest event in the data served, up to today (naive UTC): what the
        lists know about; None without events."""
        return self._data_until(self.served)

    def _data_until(self, served: Served) -> datetime | None:
        today = self.service.today()
        key = ("data_until", today.date())
        if key not in served._cache:
            events = served.store.tables(next(iter(served.scorers.values())).bundle.spec.constructs).events
            served._cache[key] = events.filter(events.ts <= today).ts.max().to_pyarrow().as_py()
        return served._cache[key]

    def current_day(self, course_id: str, run_id: str) -> int:
        """The as-of day a course team sees for a run today: today's course day of a scheduled
        run, kept within the run (0 before it starts, its last day once it has ended); for a
        self-paced run, where each learner has their own day 0, the loaded models' last as-of
        day."""
        today = self._course_day(course_id, run_id)
        if today is None:
            return max(self._trained_days())
        return int(min(max(today, 0), self._run_length(course_id, run_id)))

    def _trained_days(self) -> set[int]:
        """The as-of days the loaded models were trained on."""
        return {d for s in self.scorers.values() for d in s.bundle.metadata.as_of_days}

    def _run_length(self, course_id: str, run_id: str) -> int:
        """A scheduled run's last course day (whole days from its start to its end)."""
        start, end = self.served.run_dates()[(course_id, run_id)]
        return (end - start).days

    def as_of_choices(self, course_id: str, run_id: str) -> list[int]:
        """The as-of days worth showing for a run so far: the models' trained days up to the
        current day, and the current day."""
        day = self.current_day(course_id, run_id)
        return sorted({d for d in self._trained_days() if d <= day} | {day})

    def today(self):
        return self.service.today()

    def risk_history(self, course_id: str, run_id: str, learner_id: str, target: str,
                     day: int) -> list[RiskPoint]:
        """One learner's risk by as-of day up to ``day``, oldest first: for each earlier day the
        risk the nightly ``refresh`` issued (the predictions history, ``serving.history``; the
        latest night that scored that day, never a night after today), and for ``day`` and any
        of ``as_of_choices`` the history lacks, the served model's risk now (one row a day,
        without reasons), so the last point is the risk the list shows."""
        today = self.service.today()
        points: dict[int, RiskPoint] = {}
        try:
            issued = read_history(self.follower.paths.history_dir, course_id=course_id, run_id=run_id,
                                  learner_id=learner_id)
        except (OSError, pa.ArrowException) as exc:  # a foreign or broken file in HISTORY
            log.warning("the predictions history cannot be read (%s): the chart scores every day now",
                        type(exc).__name__)
            issued = empty_history()
        issued = issued[(issued["target"] == target) & (issued["as_of_day"] < day)
                        & (issued["date"] <= today.date())]
        for row in issued.sort_values("date", kind="stable").itertuples():
            points[int(row.as_of_day)] = RiskPoint(int(row.as_of_day), float(row.risk), row.date,
                                                   str(row.model_version))
        missing = [d for d in self.as_of_choices(course_id, run_id) if d <= day and d not in points]
        if missing:
            scorer, store = self.scorer(target), self._need_store()
            tables = store.tables(scorer.bundle.spec.constructs)
            for d in missing:
                features = store.features(scorer.bundle.spec, d)
                key = (course_id, run_id, learner_id)
                if key not in features.index:
                    continue
                row = features.loc[[key]].reset_index(drop=True)
                if not in_population(row, tables, today)[0]:
                    continue
                p = float(scorer.bundle.probability(row)[0])
                points[d] = RiskPoint(d, p if scorer.bundle.risk_of == "label" else 1.0 - p, None,
                                      str(scorer.bundle.version))
        return [points[d] for d in sorted(points)]

    def running_run(self, course_id: str) -> str:
        """The course's running run as of today (``MOOC_RISK_NOW``; features.population)."""
        today = self.service.today()
        runs = running_runs(self._calendar, today)
        if course_id not in runs:
            raise NotFound(f"no run of course {course_id!r} has started by {today:%Y-%m-%d}; "
                           "ask for a run_id")
        return runs[course_id]

    def _check_day_reached(self, course_id: str, run_id: str, day: int) -> None:
        """NotFound for an unknown run; InputError when a scheduled run has not reached ``day``
        (in a self-paced run each learner reaches it on their own date), or when ``day`` is
        past the run's last day (a self-paced run: the models' last as-of day) by more than
        ``DAY_MARGIN`` days — each new day computes features for the whole folder."""
        today = self._course_day(course_id, run_id)
        if today is not None and day > today:
            raise InputError(f"as_of_day: {day} has not come yet for run {run_id!r} of course "
                             f"{course_id!r}, which is at day {today} today "
                             f"({self.service.today():%Y-%m-%d})")
        if today is None:
            last, what = max(self._trained_days()), "the models' last as-of day"
        else:
            last, what = self._run_length(course_id, run_id), "the run's last day"
        if day > last + DAY_MARGIN:
            raise InputError(f"as_of_day: at most {last + DAY_MARGIN} for run {run_id!r} "
                             f"({what}, {last}, plus {DAY_MARGIN})")

    # --- GET /model ---------------------------------------------------------------------
    def models_info(self) -> schemas.ModelsResponse:
        out = []
        for target, scorer in self.scorers.items():
            meta = scorer.bundle.metadata
            out.append(schemas.ModelInfo(
                target=target, name=scorer.bundle.name, version=scorer.bundle.version,
                trained_at=meta.trained_at, horizon_days=meta.as_of_days,
                test_metrics={k: meta.test_metrics[k] for k in SHOWN_METRICS if k in meta.test_metrics},
            ))
        return schemas.ModelsResponse(models=out)


@dataclass(frozen=True)
class RiskPoint:
    """One point of a learner's risk chart: the as-of ``day``, the ``risk`` (0–1), the night
    it was ``issued`` (a predictions-history date; None: scored now by the served model) and
    the ``model_version`` that scored it."""

    day: int
    risk: float
    issued: date | None
    model_version: str


@dataclass(frozen=True)
class ScoredDay:
    """A scored frame with O(1) row lookup by (course, run, learner) for the request path."""

    frame: pd.DataFrame
    positions: dict[tuple[str, str, str], int]
    columns: dict[str, object]  # column name → numpy array

    @classmethod
    def of(cls, frame: pd.DataFrame) -> ScoredDay:
        frame = frame.reset_index(drop=True)
        keys = zip(frame["course_id"], frame["run_id"], frame["learner_id"], strict=True)
        return cls(frame, {k: i for i, k in enumerate(keys)},
                   {c: frame[c].to_numpy() for c in frame.columns})

    def row(self, course_id: str, run_id: str, learner_id: str) -> Mapping | None:
        """One learner's row, read-only, its values read from the columns when asked (a
        request reads about 20 of 60 columns); None when the learner was not scored."""
        position = self.positions.get((course_id, run_id, learner_id))
        if position is None:
            return None
        return _Row(self.columns, position)


class _Row(Mapping):
    __slots__ = ("_columns", "_position")

    def __init__(self, columns: dict[str, object], position: int):
        self._columns, self._position = columns, position

    def __getitem__(self, name: str):
        return self._columns[name][self._position]

    def __contains__(self, name) -> bool:
        return name in self._columns

    def __iter__(self):
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


def _clean(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def target_score(row: dict, explain: bool, top_k: int) -> schemas.TargetScore:
    explanation = None
    if explain and "base_value" in row:
        reasons = []
        skipped = 0.0
        n = 0
        while f"reason_{n + 1}_contribution" in row:
            n += 1
            contribution = row[f"reason_{n}_contribution"]
            if contribution is None or pd.isna(contribution):
                continue
            if n > top_k:
                skipped += float(contribution)
                continue
            reasons.append(schemas.Reason(
                feature=row[f"reason_{n}_feature"], value=_clean(row[f"reason_{n}_value"]),
                contribution=float(contribution), category=row[f"reason_{n}_category"],
                text=row[f"reason_{n}_text"]))
        explanation = schemas.Explanation(base_value=float(row["base_value"]),
                                          raw_score=float(row["raw_score"]), reasons=reasons,
                                          rest=float(row["rest"]) + skipped)
    return schemas.TargetScore(
        probability=float(row["probability"]), risk=float(row["risk"]), risk_band=row["risk_band"],
        risk_low=float(row["risk_low"]), risk_high=float(row["risk_high"]),
        cold_start=bool(row["cold_start"]), intervention=row["intervention"], model=row["model"],
        model_version=str(row["model_version"]),
        explanation=explanation)


def flat_rows(frame: pd.DataFrame, explain: bool, top_k: int) -> pd.DataFrame:
    """A scored frame as dashboard rows: keys, risk, band, intervention, top-k reason texts."""
    columns = ["learner_id", "course_id", "run_id", "as_of_day", "status", "inactive_days",
               "probability", "risk", "risk_band", "risk_low", "risk_high", "cold_start",
               "intervention", "model", "model_version"]
    if explain:
        columns += [c for n in range(1, top_k + 1)
                    for c in (f"reason_{n}_text", f"reason_{n}_category", f"reason_{n}_contribution")
                    if c in frame.columns]
    return frame[columns]
