"""The batch scorer (``mooc-risk predict``): the learners of one course's run, or of every
course's running run, as of a day — the day's population only (``features.population``) —
scored with reasons by the same ``build_features`` and ``TargetScorer`` the service uses.
Riskiest first within each target; the caller writes the frame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import ibis
import pandas as pd
from ibis.backends import BaseBackend

from mooc_risk.errors import InputError
from mooc_risk.features.build import build_features
from mooc_risk.features.canonical.tables import Tables, read_tables
from mooc_risk.features.constructs import ConstructMap
from mooc_risk.features.population import in_population, run_calendar, running_runs
from mooc_risk.serving.interventions import suggest
from mooc_risk.serving.scoring import TargetScorer, riskiest_first


def batch_predictions(data: Path, con: BaseBackend, scorers: list[TargetScorer], as_of_day: int,
                      today: datetime, course: str | None = None, run: str | None = None,
                      top_k: int = 3,
                      on_step: Callable[[str], None] = lambda _label: None,
                      warn: Callable[[str], None] = lambda _text: None) -> pd.DataFrame:
    """One row per enrolment × target: keys, ``status``, ``target``, probability, risk, band,
    intervention, model and version, and with ``top_k`` > 0 the top-k reasons
    (``reason_<n>_*``; values as text so one column holds numbers and categories).

    ``course``: one course id, else every course; ``run``: that course's run, else each
    course's running run by ``today`` (courses with none are named through ``warn``). The
    intervention is chosen over the targets scored together. Raises InputError for bad data,
    an unknown course or run, or no run started by ``today``.
    """
    read: dict[str, Tables] = {}

    def tables_for(cmap: ConstructMap) -> Tables:  # surveys are read with the model's instrument
        key = cmap.model_dump_json()
        if key not in read:
            tables = read_tables(data, con, cmap)
            if course is not None:
                tables = one_course(tables, course)
            runs = {course: run} if run is not None else running_runs(run_calendar(tables), today)
            if not runs:
                raise InputError(f"no run has started by {today:%Y-%m-%d}; choose one with --run")
            if not read:  # say once which courses have no run to list
                e = tables.enrolments.select("course_id").distinct().to_pyarrow()
                waiting = sorted(set(e.column("course_id").to_pylist()) - set(runs))
                if waiting:
                    warn(f"no run has started by {today:%Y-%m-%d} in course(s) "
                         f"{', '.join(waiting)}: not listed")
            read[key] = only_runs(tables, runs)
        return read[key]

    tables_for(scorers[0].bundle.spec.constructs)
    on_step("input validated")

    def population(scorer: TargetScorer) -> pd.DataFrame:
        tables = tables_for(scorer.bundle.spec.constructs)
        features = build_features(tables, [as_of_day], scorer.bundle.spec)
        features = features[in_population(features, tables, today)]
        on_step(f"{scorer.target}: {len(features):,} feature rows")
        return features

    return score_population(scorers, population, top_k, on_step)


def score_population(scorers: list[TargetScorer], population: Callable[[TargetScorer], pd.DataFrame],
                     top_k: int = 3,
                     on_step: Callable[[str], None] = lambda _label: None) -> pd.DataFrame:
    """Each scorer's listed feature rows (``population(scorer)``: rows already filtered by
    ``in_population``) scored with reasons, with one action per learner and day over the
    targets scored together; riskiest first within each target, in the order of ``scorers``.
    The columns are ``batch_predictions``'s. Shared by ``batch_predictions`` and
    ``serving.refresh``."""
    scored = {}
    for scorer in scorers:
        features = population(scorer)
        scored[scorer.target] = scorer.score(features, top_k=top_k)
        on_step(f"{scorer.target}: scored")
    # one action per learner over the targets scored together
    scored = suggest(scorers[0].catalogue.interventions, scored)
    parts = [riskiest_first(frame, target).assign(target=target.value)
             for target, frame in scored.items()]
    frame = pd.concat(parts, ignore_index=True)
    if top_k == 0:  # computed for the action, not asked for
        frame = frame.drop(columns=[c for c in frame.columns if c.startswith("reason_")]
                           + ["base_value", "raw_score", "rest"])
    for column in [c for c in frame.columns if c.startswith("reason_") and c.endswith("_value")]:
        frame[column] = frame[column].map(lambda v: None if pd.isna(v) else str(v))
    return frame


def only_runs(tables: Tables, runs: dict[str, str]) -> Tables:
    """The tables restricted to the given course → run pairs; InputError for an unknown run."""
    pairs = ibis.memtable({"course_id": list(runs), "run_id": list(runs.values())})

    def kept(table: ibis.Table) -> ibis.Table:
        # an inner join with the (unique) pairs, not a semi join: with DuckDB 1.5.6 a semi join
        # under build_features' window functions gave rows the wrong enrolment ids once the
        # plan used them twice (several as-of days): events of one course counted in another
        return table.join(pairs, ["course_id", "run_id"]).select(*table.columns)

    e = kept(tables.enrolments)
    if e.count().to_pandas() == 0:
        shown = ", ".join(f"{c} {r}" for c, r in runs.items())
        raise InputError(f"no enrolment in run(s) {shown} (not in the enrolments table)")
    keep = {name: getattr(tables, name) for name in ("events", "surveys", "outcomes", "assessments")}
    return replace(tables, enrolments=e, **{n: kept(t) for n, t in keep.items() if t is not None})


def one_course(tables: Tables, course: str) -> Tables:
    """The tables restricted to one course; InputError when no enrolment has it."""
    e = tables.enrolments
    if e.filter(e.course_id == course).count().to_pandas() == 0:
        raise InputError(f"unknown course {course!r} (not in the enrolments table)")
    keep = {name: getattr(tables, name)
            for name in ("enrolments", "events", "surveys", "outcomes", "assessments")}
    return replace(tables, **{n: t.filter(t.course_id == course) for n, t in keep.items()
                              if t is not None})
