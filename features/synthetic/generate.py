"""``generate``: write a synthetic data set in the canonical layout; with an
``InterventionPlan``, also a simulated course team's interventions with a planted effect
(``interventions.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mooc_risk.features.constructs import ConstructMap
from mooc_risk.features.synthetic.events import calendar, make_events
from mooc_risk.features.synthetic.interventions import InterventionPlan, plant
from mooc_risk.features.synthetic.population import make_population
from mooc_risk.features.synthetic.surveys import make_surveys
from mooc_risk.files import write_table

UNENROL_SHARE = 0.4  # of dropouts, who also unenrol (the rest just stop coming)
UNENROL_AFTER_DAYS = 10  # at most this long after their last day of activity


def unenrolments(rng: np.random.Generator, e: pd.DataFrame) -> pd.Series:
    """When dropouts who unenrol do so (NaT for everyone else): up to ``UNENROL_AFTER_DAYS``
    days after the course day they stopped, counted from their anchor. Drawn after everything
    else, so the rest of a seed's data does not change."""
    anchor = pd.to_datetime(e["enrolled_at"].where(e["self_paced"], e["course_start"]))
    unenrol = e["dropped_out"].to_numpy() & (rng.random(len(e)) < UNENROL_SHARE)
    after = rng.uniform(0, UNENROL_AFTER_DAYS, len(e)) + e["active_until"].to_numpy()
    when = anchor + pd.to_timedelta(np.round(after * 86400), unit="s")
    return when.where(unenrol).dt.floor("s")


ENROLMENT_COLUMNS = ["learner_id", "course_id", "run_id", "platform", "enrolled_at",
                     "course_start", "course_end", "credential_type", "credential_cost",
                     "credential_currency", "paid_by"]


def generate(
    out: Path,
    learners: int,
    courses: int,
    seed: int,
    cmap: ConstructMap,
    runs: int = 3,
    fmt: str = "parquet",
    on_step: Callable[[str], None] | None = None,
    interventions: InterventionPlan | None = None,
) -> dict[str, int]:
    """Write enrolments, surveys, events, outcomes and the scheduled runs' calendar
    (``assessments``: weekly quizzes and a final, ``events.calendar``) to ``out``; return row
    counts.

    With ``interventions`` (default: none, and the tables are byte-identical to a run without
    the option for the same seed), a course team acts at the plan's as-of day with the planted
    effect, and ``out`` also gets ``interventions`` (the journal's columns: course_id, run_id,
    learner_id, action, recorded_at naive UTC, as_of_day, risk, risk_band, suggested, done_by),
    ``holdout`` (randomised mode: every listed learner with ``held_out``, ``assigned_at``,
    ``until``), ``at_risk`` (the listed learners, ``listed_at``) and ``planted_effects`` (each
    listed learner's expected outcomes without (p0_*) and with (p1_*) the action: the truth).
    ValueError for sizes below 1 or a plan out of range."""
    if learners < 1 or courses < 1 or runs < 1:
        raise ValueError("learners, courses and runs must be at least 1")
    step = on_step or (lambda _label: None)
    rng = np.random.default_rng(seed)
    population = make_population(rng, learners, courses, runs)
    e = population.enrolments
    surveys = make_surveys(rng, e, cmap)
    e["credential_currency"] = np.where(e["credential_cost"] > 0, "USD", None)
    step("population")
    planted = None if interventions is None else plant(np.random.default_rng([seed, 15]), e,
                                                       interventions)
    events, last_seen = make_events(rng, e)
    step("events")
    outcomes = e[["learner_id", "course_id", "run_id", "certified", "dropped_out"]].copy()
    outcomes["last_active_at"] = pd.to_datetime(last_seen)
    outcomes["dropped_at"] = unenrolments(rng, e)
    tables = {
        "enrolments": e[ENROLMENT_COLUMNS],
        "surveys": surveys,
        "events": events,
        "outcomes": outcomes,
        "assessments": calendar(population.runs),
    }
    if planted is not None:
        tables.update(interventions=planted.interventions, at_risk=planted.at_risk,
                      planted_effects=planted.effects)
        if not planted.holdout.empty:
            tables["holdout"] = planted.holdout
    for name, table in tables.items():
        write_table(table, Path(out) / f"{name}.{fmt}")
    step("written")
    return {name: len(table) for name, table in tables.items()}
