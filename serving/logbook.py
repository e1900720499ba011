"""Recording what course teams did and what they thought of a prediction, next to what the
service showed them at the time (risk, band, model version, suggested action), so that the
effect of interventions can be measured later. The web app and the HTTP API both record here;
the rows are kept by ``mooc_risk.serving.journal``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from cachetools import TTLCache

from mooc_risk.errors import InputError
from mooc_risk.serving.app import NotFound, RiskApp
from mooc_risk.serving.follow import NotReady
from mooc_risk.serving.holdout import withheld
from mooc_risk.serving.journal.journal import (
    FeedbackIn,
    FeedbackRow,
    InterventionIn,
    InterventionRow,
    Journal,
)
from mooc_risk.serving.schemas import ScoreResponse

OTHER = "other (described in the note)"


WITHHELD_SECONDS = 30  # how long the API reuses a run's holdout draws before reading them again


def withheld_text(until) -> str:
    """What the API shows instead of a held-out learner's suggested action."""
    return f"withheld: in the course's holdout until {until:%Y-%m-%d}"


@dataclass
class Logbook:
    risk: RiskApp
    journal: Journal
    _withheld: TTLCache = field(default_factory=lambda: TTLCache(4096, WITHHELD_SECONDS), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def withheld(self, course_id: str, run_id: str, *, wait: bool = True) -> dict[str, datetime]:
        """learner id → until, for a run's learners in the holdout now (``serving.holdout``),
        read from the journal at most every ``WITHHELD_SECONDS`` per run. ``wait=False``:
        NotReady instead of reading the journal."""
        key = (course_id, run_id, self.risk.today().date())
        with self._lock:
            found = self._withheld.get(key)
        if found is None:
            if not wait:
                raise NotReady("the holdout is not read yet")
            found = withheld(self.journal, course_id, run_id, self.risk.today())
            with self._lock:
                self._withheld[key] = found
        return found

    def forget_withheld(self, course_id: str, run_id: str) -> None:
        """Read the run's holdout from the journal again at its next use (new draws)."""
        with self._lock:
            for key in [k for k in self._withheld if k[:2] == (course_id, run_id)]:
                self._withheld.pop(key, None)

    def withhold_scores(self, course_id: str, run_id: str, response: ScoreResponse, *,
                        wait: bool = True) -> ScoreResponse:
        """``response`` with each held-out learner's suggested action replaced by
        ``withheld_text`` (the API must not prompt an action the holdout withholds)."""
        held = self.withheld(course_id, run_id, wait=wait)
        for learner in response.predictions:
            if learner.learner_id in held:
                for score in learner.scores.values():
                    score.intervention = withheld_text(held[learner.learner_id])
        return response

    def withhold_rows(self, course_id: str, run_id: str, rows: pd.DataFrame) -> pd.DataFrame:
        """A page of ``flat_rows`` with held-out learners' ``intervention`` replaced."""
        held = self.withheld(course_id, run_id)
        if not held or rows.empty:
            return rows
        shown = rows["learner_id"].map(lambda lid: withheld_text(held[lid]) if lid in held else None)
        return rows.assign(intervention=shown.fillna(rows["intervention"]))

    def actions(self) -> list[str]:
        """The actions a team can record: every action of the intervention table
        (``interventions.yaml``) but "no action", then ``OTHER``."""
        table = self.risk._catalogue()
        found = [table.states.never_started, table.states.inactive, *table.groups.values(),
                 *table.categories.values(), table.default]
        return [*dict.fromkeys(found), OTHER]

    def shown(self, course_id: str, run_id: str | None, learner_ids: list[str], target: str,
              day: int | None) -> tuple[str, int, dict[str, dict]]:
        """(run, day, learner id → the scored row the service shows for them). NotFound for a
        learner not listed in the run at that day, naming the first such id."""
        self.risk._check_course(course_id)
        if str(target) not in self.risk.scorers:
            raise InputError(f"target: one of {', '.join(self.risk.scorers)}")
        run = run_id or self.risk.running_run(course_id)
        day = self.risk.current_day(course_id, run) if day is None else day
        rows = self.risk.run_rows(course_id, run, target, day).set_index("learner_id", drop=False)
        missing = [lid for lid in learner_ids if lid not in rows.index]
        if missing:
            raise NotFound(f"learner {missing[0]!r} is not listed in run {run!r} of course "
                           f"{course_id!r} at day {day}" + (f" (and {len(missing) - 1} more)"
                                                             if len(missing) > 1 else ""))
        return run, day, {lid: rows.loc[lid].to_dict() for lid in dict.fromkeys(learner_ids)}

    def record_interventions(self, course_id: str, learner_ids: list[str], action: str, done_by: str,
                             note: str = "", *, run_id: str | None = None, target: str = "dropout",
                             day: int | None = None, key_id: str | None = None) -> list[InterventionRow]:
        """Record one intervention per learner, all or none. InputError for an action outside
        ``actions()``, ``OTHER`` without a note, or a learner in the course's holdout now
        (``serving.holdout``: acting on them would spoil the comparison); NotFound as
        ``shown``."""
        self.risk._check_course(course_id)  # an unknown course is a 404 before anything else
        action, note = action.strip(), note.strip()
        if action not in self.actions():
            raise InputError(f"action: {action[:80]!r} is not one of the actions: "
                             + "; ".join(self.actions()))
        if action == OTHER and not note:
            raise InputError("note: say what was done when the action is 'other'")
        run, day, shown = self.shown(course_id, run_id, learner_ids, target, day)
        held = withheld(self.journal, course_id, run, self.risk.today())
        blocked = [lid for lid in shown if lid in held]
        if blocked:
            raise InputError(
                f"learner {blocked[0]!r} is in the course's holdout until {held[blocked[0]]:%Y-%m-%d}"
                + (f" (and {len(blocked) - 1} more)" if len(blocked) > 1 else "")
                + ": their suggested action is withheld so that its effect can be measured; "
                "nothing was recorded")
        return self.journal.record_interventions([
            InterventionIn(course_id=course_id, run_id=run, learner_id=lid, action=action,
                           done_by=done_by, note=note, as_of_day=day, target=str(target),
                           model_name=row["model"], model_version=str(row["model_version"]),
                           risk=float(row["risk"]), risk_band=row["risk_band"],
                           suggested=row["intervention"], key_id=key_id)
            for lid, row in shown.items()])

    def record_feedback(self, course_id: str, learner_id: str, useful: bool, reason: str = "", *,
                        run_id: str | None = None, target: str = "dropout", day: int | None = None,
                        key_id: str | None = None) -> FeedbackRow:
        """Record whether a prediction was useful; NotFound as ``shown``."""
        run, day, shown = self.shown(course_id, run_id, [learner_id], target, day)
        row = shown[learner_id]
        return self.journal.record_feedback(FeedbackIn(
            course_id=course_id, run_id=run, learner_id=learner_id, useful=useful,
            reason=reason.strip(), target=str(target), as_of_day=day, model_name=row["model"],
            model_version=str(row["model_version"]), risk=float(row["risk"]),
            risk_band=row["risk_band"], key_id=key_id))

    def last(self, course_id: str, run_id: str) -> pd.DataFrame:
        """The newest intervention per learner of a run: index learner_id, columns
        ``last_action``, ``last_at``, ``last_by``."""
        latest = self.journal.last_interventions(course_id, run_id)
        return pd.DataFrame(
            [{"learner_id": lid, "last_action": r.action, "last_at": r.recorded_at, "last_by": r.done_by}
             for lid, r in latest.items()],
            columns=["learner_id", "last_action", "last_at", "last_by"]).set_index("learner_id")
