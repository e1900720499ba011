"""A course team acting on at-risk learners, with a known (planted) effect, so ``mooc-risk
impact`` can be checked against the truth (issue 15).

At course day ``as_of_day`` (from the run's start; a self-paced learner's enrolment) the team
lists its at-risk learners: a pre-treatment risk proxy, ``1 - completion_propensity`` (the
planned chance of earning the credential, ``population.plan_outcomes``), banded low / medium /
high at ``medium_at`` / ``high_at``; a learner is listed (eligible) when the band is medium or
high, they have enrolled by that day and the run has not ended. Each listed learner gets one
suggested action, drawn at random from the plan's actions.

- **randomised** (default): a share ``holdout_share`` of the listed learners, drawn at random,
  is withheld (``holdout.parquet``); the team does the suggested action for all others.
- **confounded** (``confounded=True``, the observational path): no holdout; the team acts on a
  listed learner with chance ``sigmoid(confounding * z)``, z the learner's standardised logit
  risk among the listed, so the riskiest are treated most.

The planted effect (``Effect``, by action and band, probability points):

- **completion**: the learner's own completion draw is compared with ``propensity + complete``
  (capped at 1) instead of ``propensity``; a learner who now completes no longer drops out and
  stays active to the end of the run (events from ``as_of_day`` on follow the treated plan,
  ``events._state``), so every completer has activity.
- **re-engagement** (any event in course days ``as_of_day`` .. ``as_of_day + 6``): on top of
  the completion plan's own activity, a treated learner comes back on a random day of that
  window with the chance that lifts their expected 7-day re-engagement by ``reengage`` (from
  the exact window probabilities, ``events.window_activity_probability``, given the learner's
  own drawn plan), capped at 1 — and never below what completing alone adds.

Every treated learner's expected outcomes with and without the action go to
``planted_effects.parquet``: their mean over a group is the true effect there. Draws come
from their own generator (seed, 15), so the rest of the data set's random stream is the
generator's own; without a plan nothing here runs and the data are byte-identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mooc_risk.features.synthetic.events import window_activity_probability
from mooc_risk.features.synthetic.population import sigmoid

BANDS = ("low", "medium", "high")
DONE_BY = "synthetic course team"
NEVER = 10**6  # treated_day of an untreated learner: every day is "before"


@dataclass(frozen=True)
class Effect:
    """An action's effect on one band, in probability points (0.1 = +10 points), each in
    [0, 1]: on re-engagement within 7 days and on completion (certified)."""

    reengage: float = 0.0
    complete: float = 0.0


DEFAULT_ACTIONS = ("send a re-engagement message with a link to where they left off",
                   "send a personal check-in and a link to this week's material")


@dataclass(frozen=True)
class InterventionPlan:
    """What the simulated course team does (see the module doc). ``effects``: action → band
    (medium, high) → ``Effect``; an action or band not given has no effect."""

    effects: Mapping[str, Mapping[str, Effect]] = field(
        default_factory=lambda: {a: {} for a in DEFAULT_ACTIONS})
    as_of_day: int = 14
    holdout_share: float = 0.3
    holdout_days: int = 14
    confounded: bool = False
    confounding: float = 1.5
    medium_at: float = 0.8
    high_at: float = 0.95

    @classmethod
    def uniform(cls, reengage: float = 0.0, complete: float = 0.0,
                actions: tuple[str, ...] = DEFAULT_ACTIONS, **options) -> InterventionPlan:
        """The same effect for every action and band."""
        effect = Effect(reengage, complete)
        return cls(effects={a: {"medium": effect, "high": effect} for a in actions}, **options)

    def check(self) -> None:
        """ValueError naming what is out of range."""
        if not self.effects:
            raise ValueError("an intervention plan needs at least one action")
        for action, by_band in self.effects.items():
            for band, effect in by_band.items():
                if band not in BANDS:
                    raise ValueError(f"{action!r}: unknown risk band {band!r} (low, medium, high)")
                for name in ("reengage", "complete"):
                    if not 0 <= getattr(effect, name) <= 1:
                        raise ValueError(f"{action!r}, {band}: {name} effect must be in [0, 1]")
        if self.as_of_day < 0 or self.holdout_days < 1:
            raise ValueError("as_of_day must be ≥ 0 and holdout_days ≥ 1")
        if not 0 <= self.holdout_share < 1:
            raise ValueError("holdout_share must be in [0, 1)")
        if not 0 < self.medium_at < self.high_at < 1:
            raise ValueError("risk band cut-offs must satisfy 0 < medium_at < high_at < 1")

    def effect(self, action: str, band: str) -> Effect:
        return self.effects.get(action, {}).get(band, Effect())


@dataclass(frozen=True)
class Planted:
    """The simulated log: ``interventions`` (journal columns), ``holdout`` (listed learners of
    the randomised mode with ``held_out``; empty when confounded), ``at_risk`` (every listed
    learner) and ``effects`` (expected outcomes of the listed, with and without the action)."""

    interventions: pd.DataFrame
    holdout: pd.DataFrame
    at_risk: pd.DataFrame
    effects: pd.DataFrame


def plant(rng: np.random.Generator, e: pd.DataFrame, plan: InterventionPlan) -> Planted:
    """Choose, treat and change ``e`` in place (adds ``pre_*``, ``treated_day``,
    ``return_day``; changes ``certified``, ``dropped_out``, ``active_until`` of treated
    learners whose completion the action changes); the tables to write."""
    plan.check()
    n, d = len(e), plan.as_of_day
    risk = 1.0 - e["completion_propensity"].to_numpy()
    band = np.asarray(BANDS, dtype=object)[np.digitize(risk, [plan.medium_at, plan.high_at])]
    listed = (band != "low") & (e["late_days"].to_numpy() <= d) & (d < e["length_days"].to_numpy())
    actions = list(plan.effects)
    action = np.asarray(actions, dtype=object)[rng.integers(0, len(actions), n)]
    if plan.confounded:
        logit = np.log(risk / (1 - risk))
        z = (logit - logit[listed].mean()) / max(logit[listed].std(), 1e-9)
        treated = listed & (rng.random(n) < sigmoid(plan.confounding * z))
        held_out = np.zeros(n, bool)
    else:
        held_out = listed & (rng.random(n) < plan.holdout_share)
        treated = listed & ~held_out
    effects = [plan.effect(a, b) for a, b in zip(action, band, strict=True)]
    d_complete = np.where(treated, [x.complete for x in effects], 0.0)
    d_reengage = np.where(treated, [x.reengage for x in effects], 0.0)

    for column in ("certified", "dropped_out", "active_until"):
        e[f"pre_{column}"] = e[column].to_numpy()
    e["treated_day"] = np.where(treated, d, NEVER)
    p0_complete = e["completion_propensity"].to_numpy()
    p1_complete = np.minimum(p0_complete + d_complete, 1.0)
    completes = treated & (e["completion_draw"].to_numpy() < p1_complete)
    e["certified"] = e["certified"].to_numpy() | completes
    e["dropped_out"] = e["dropped_out"].to_numpy() & ~completes
    e["active_until"] = np.where(completes, e["length_days"], e["active_until"])

    first = np.full(n, d)
    b0 = window_activity_probability(e, first, first + 7, treated=False)
    b1 = window_activity_probability(e, first, first + 7, treated=True)
    b0_14 = window_activity_probability(e, first, first + 14, treated=False)
    b1_14 = window_activity_probability(e, first, first + 14, treated=True)
    want = np.minimum(b0 + d_reengage, 1.0)
    q = np.clip((want - b1) / np.maximum(1 - b1, 1e-12), 0.0, 1.0)
    returns = treated & (rng.random(n) < q)
    day = np.minimum(d + rng.integers(0, 7, n), e["length_days"].to_numpy() - 1)
    e["return_day"] = pd.Series(np.where(returns, day, np.nan), index=e.index)

    anchor = pd.to_datetime(e["enrolled_at"].where(e["self_paced"], e["course_start"]))
    at = (anchor + pd.Timedelta(days=d)).dt.floor("s")
    base = pd.DataFrame({"course_id": e["course_id"], "run_id": e["run_id"],
                         "learner_id": e["learner_id"], "as_of_day": d, "risk": risk,
                         "risk_band": band, "suggested": action})
    interventions = base.assign(action=action, recorded_at=at, done_by=DONE_BY)[treated]
    interventions = interventions[["course_id", "run_id", "learner_id", "action", "recorded_at",
                                   "as_of_day", "risk", "risk_band", "suggested", "done_by"]]
    at_risk = base.assign(listed_at=at)[listed]
    holdout = pd.DataFrame() if plan.confounded else base.assign(
        held_out=held_out, assigned_at=at, until=at + pd.Timedelta(days=plan.holdout_days))[listed]
    truth = base.assign(treated=treated, p0_reengage_7d=b0,
                        p1_reengage_7d=np.where(treated, 1 - (1 - b1) * (1 - q), b0),
                        p0_reengage_14d=b0_14,
                        p1_reengage_14d=np.where(treated, 1 - (1 - b1_14) * (1 - q), b0_14),
                        p0_complete=p0_complete, p1_complete=p1_complete)[listed]
    return Planted(*(t.reset_index(drop=True) for t in (interventions, holdout, at_risk, truth)))

