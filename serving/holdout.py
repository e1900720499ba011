"""The opt-in holdout: a share of a course's at-risk learners whose suggested action is withheld
for a set number of days, so ``mooc-risk impact`` can compare like with like (issue 15).

Off unless a course team turns it on: ``HoldoutConfig`` per course (``share`` of the listed
at-risk learners in (0, 1), ``days`` ≥ 1, an optional ``salt``), read from the ``holdout:``
section of a YAML file (``load_configs``; ``serving/impact.yaml`` is the template, empty = off
everywhere).

The draw is reproducible and independent of any random state: a learner is held out when
``u < share``, with ``u`` the first 8 bytes of SHA-256(salt NUL course NUL run NUL learner) read
as an unsigned integer over 2**64 (uniform on [0, 1)). The salt defaults to the course id; a
secret salt keeps the draw unpredictable to the team. Once recorded in the journal
(``Journal.record_holdout``, insert-only) a learner's draw never changes: drawing again — also
after the share or the salt changed — returns the recorded one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from mooc_risk.errors import InputError
from mooc_risk.serving.journal.journal import HoldoutIn, HoldoutRow, Journal, _utcnow

AT_RISK_BANDS = ("medium", "high")


class HoldoutConfig(BaseModel):
    """One course's holdout: ``share`` of at-risk learners held out, for ``days`` days."""

    share: float = Field(gt=0, lt=1)
    days: int = Field(ge=1, le=365)
    salt: str | None = None


def load_configs(path: Path | None) -> dict[str, HoldoutConfig]:
    """course id → ``HoldoutConfig`` from the ``holdout:`` mapping of a YAML file; {} (off
    everywhere) for None, a missing file or an empty section. InputError naming the course
    and field for a bad entry."""
    if path is None or not Path(path).exists():
        return {}
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from None
    section = data.get("holdout") or {} if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise InputError(f"{path}: 'holdout' must map course ids to {{share, days}}")
    out = {}
    for course, entry in section.items():
        try:
            out[str(course)] = HoldoutConfig.model_validate(entry)
        except ValidationError as exc:
            problem = exc.errors()[0]
            raise InputError(f"{path}: holdout {course}: {'.'.join(map(str, problem['loc']))}: "
                             f"{problem['msg']}") from None
    return out


def draw_unit(salt: str, course_id: str, run_id: str, learner_id: str) -> float:
    """The learner's uniform number in [0, 1) (see the module doc)."""
    digest = hashlib.sha256("\0".join((salt, course_id, run_id, learner_id)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Listed:
    """An at-risk learner listed for an action: ids and the prediction shown."""

    run_id: str
    learner_id: str
    risk_band: str
    suggested: str | None = None
    as_of_day: int | None = None
    risk: float | None = None


def assign(journal: Journal, course_id: str, listed: Iterable[Listed],
           configs: Mapping[str, HoldoutConfig], now: datetime | None = None,
           eligible: Callable[[Listed], bool] | None = None) -> list[HoldoutRow]:
    """Draw and record the holdout of a course's listed learners who are ``eligible`` (default:
    at risk, band medium or high; the app: any learner with a suggested action, whatever the
    target shown); the recorded draws, one per such learner, in the given order (a learner
    drawn before keeps that draw). [] when the course has no holdout configured (off) —
    nothing is recorded. ``now``: naive UTC (default: the clock); ``until`` = now + the
    configured days."""
    config = configs.get(course_id)
    if config is None:
        return []
    now = now or _utcnow()
    salt = config.salt or course_id
    rows = [HoldoutIn(course_id=course_id, run_id=x.run_id, learner_id=x.learner_id,
                      held_out=draw_unit(salt, course_id, x.run_id, x.learner_id) < config.share,
                      until=now + timedelta(days=config.days), share=config.share,
                      as_of_day=x.as_of_day, risk=x.risk, risk_band=x.risk_band, suggested=x.suggested)
            for x in listed if (eligible(x) if eligible else x.risk_band in AT_RISK_BANDS)]
    return journal.record_holdout(rows)


def assign_scored(journal: Journal, course_id: str, rows, configs: Mapping[str, HoldoutConfig],
                  now: datetime, no_action: str) -> list[HoldoutRow]:
    """``assign`` on a course's scored rows (a DataFrame with ``run_id``, ``learner_id``,
    ``risk_band``, ``intervention``, ``as_of_day``, ``risk``; one row per learner), as the app
    and the nightly refresh draw: the eligible are the learners whose suggested action is not
    ``no_action`` — the one action chosen over all targets, so the draw does not depend on the
    target a row was scored for."""
    listed = [Listed(r.run_id, r.learner_id, r.risk_band, r.intervention, int(r.as_of_day), float(r.risk))
              for r in rows.itertuples()]
    return assign(journal, course_id, listed, configs, now, eligible=lambda x: x.suggested != no_action)


def held_out_learners(journal: Journal, course_id: str, now: datetime | None = None,
                      run_id: str | None = None) -> list[HoldoutRow]:
    """For the app: the course's learners held out now (``until`` after ``now``, naive UTC,
    default the clock), soonest end first; each row has the learner's ids, ``until`` and the
    ``suggested`` action being withheld."""
    now = now or _utcnow()
    rows = [r for r in journal.holdout(course_id, run_id=run_id) if r.held_out and r.until > now]
    return sorted(rows, key=lambda r: (r.until, r.run_id, r.learner_id))


def withheld(journal: Journal, course_id: str, run_id: str,
             now: datetime | None = None) -> dict[str, datetime]:
    """learner id → until, for a run's learners whose suggested action is withheld now."""
    return {r.learner_id: r.until for r in held_out_learners(journal, course_id, now, run_id)}
