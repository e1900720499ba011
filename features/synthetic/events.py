"""Clickstream for the synthetic population, vectorised (10M events in seconds).

Activity is generated per enrolment × course day: whether the learner is active, how many
actions, in which sessions, on which objects. Intensity falls over the days before a planned
dropout and stops after it; weekly quizzes are scored from ability and motivation.

Scheduled runs follow their calendar (``calendar``): a quiz due at the end of each course week
and a final in the last week. A submission comes in the last days before the due date, or late
(up to ``LATE_P.size - 1`` days after it, never after the run's end or the learner's dropout
day); learners drifting away (the dropout decay) submit late or miss it more often.
Self-paced runs have no calendar: a week's quiz is submitted on its last day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

TYPES = np.array(["video", "page", "problem", "forum", "other"])
TYPE_P = np.array([0.36, 0.3, 0.2, 0.07, 0.07])
OBJECTS_PER_WEEK = 6  # per event type
DECAY_DAYS = 10.0
# when a scheduled run's submission comes, in days: on time, j days before the due day
# (due_at is 00:00 of day D, so on time is up to day D - 1); late, j days after it (day D + j)
EARLY_P = np.array([0.6, 0.25, 0.15])
LATE_P = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
QUIZ_SHARE = 60.0  # of the weights (percent): the weekly quizzes share it, the final has the rest


def _segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, value) for every integer in [start_i, end_i) of every owner i."""
    lengths = np.maximum(ends - starts, 0)
    owner = np.repeat(np.arange(len(starts)), lengths)
    first = np.cumsum(lengths) - lengths
    value = np.arange(lengths.sum()) - np.repeat(first, lengths) + np.repeat(starts, lengths)
    return owner, value


def _anchor_seconds(e: pd.DataFrame) -> np.ndarray:
    anchor = e["enrolled_at"].where(e["self_paced"], e["course_start"])
    return anchor.to_numpy("datetime64[s]").astype("int64")


def _state(e: pd.DataFrame, owner: np.ndarray, day: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(certified, dropped_out, active_until) of each (owner, course day) row. Without a planted
    intervention (no ``treated_day`` column) the enrolment's own; with one, the untreated plan
    (``pre_*`` columns) before the intervention's day and the treated plan from it on."""
    post = (e["certified"].to_numpy()[owner], e["dropped_out"].to_numpy()[owner],
            e["active_until"].to_numpy()[owner])
    if "treated_day" not in e:
        return post
    before = day < e["treated_day"].to_numpy()[owner]
    pre = (e["pre_certified"].to_numpy()[owner], e["pre_dropped_out"].to_numpy()[owner],
           e["pre_active_until"].to_numpy()[owner])
    return tuple(np.where(before, a, b) for a, b in zip(pre, post, strict=True))  # type: ignore[return-value]


def _segment_end(e: pd.DataFrame) -> np.ndarray:
    """The course day after an enrolment's last possible active day (over both plans and a
    planted return day, when there are some)."""
    end = np.where(e["dropped_out"], e["active_until"], e["length_days"]).astype(int)
    if "treated_day" in e:
        pre = np.where(e["pre_dropped_out"], e["pre_active_until"], e["length_days"]).astype(int)
        end = np.maximum(end, pre)
    if "return_day" in e:
        end = np.maximum(end, e["return_day"].fillna(-1).to_numpy().astype(int) + 1)
    return end


def _decay(until: np.ndarray, dropped: np.ndarray, day: np.ndarray) -> np.ndarray:
    """1 while engaged; falls over the days before a dropout; 0 from the dropout day."""
    fading = np.exp(-np.maximum(day - (until - DECAY_DAYS), 0) / 4.0)
    return np.where(dropped, fading * (day < until), 1.0)


def _p_active(m: np.ndarray, certified: np.ndarray) -> np.ndarray:
    """Chance of any activity on a course day, before the dropout decay."""
    return 1 / (1 + np.exp(-(-0.7 + 0.8 * m + 0.3 * certified)))


def _p_submit(m: np.ndarray, certified: np.ndarray) -> np.ndarray:
    """Chance of submitting a week's quiz, before the dropout decay."""
    return np.where(certified, 0.95, 1 / (1 + np.exp(-(0.2 + m))))


def window_activity_probability(e: pd.DataFrame, first: np.ndarray, last: np.ndarray,
                                treated: bool) -> np.ndarray:
    """Each enrolment's chance of at least one event (activity or quiz) on course days
    ``first`` .. ``last - 1`` (arrays, one per row of ``e``), under its untreated plan
    (``pre_*`` columns; ``treated=False``) or its treated one, by the same rules as
    ``activity_events`` and ``quiz_events`` (a planted return day not counted). Shape (len(e),)."""
    cols = ("pre_certified", "pre_dropped_out", "pre_active_until") if not treated else (
        "certified", "dropped_out", "active_until")
    certified, dropped, until = (e[c].to_numpy() for c in cols)
    m = e["motivation"].to_numpy()
    owner, day = _segments(first.astype(int), last.astype(int))
    end = np.where(dropped, until, e["length_days"].to_numpy())[owner]
    started = day >= e["late_days"].to_numpy()[owner]
    decay = _decay(until[owner], dropped[owner], day)
    p_act = np.where(started & (day < end), _p_active(m[owner], certified[owner]) * decay, 0.0)
    log_none = np.zeros(len(e))
    np.add.at(log_none, owner, np.log1p(-np.minimum(p_act, 1 - 1e-12)))
    q_owner, week = _quiz_weeks(e)
    q_day = week * 7 + 6
    if treated and "treated_day" in e:  # a quiz's plan is the one of its due day's eve
        q_certified, q_dropped, q_until = _state(e, q_owner, q_day)
    else:
        q_certified, q_dropped, q_until = (x[q_owner] for x in (certified, dropped, until))
    engaged = _decay(q_until, q_dropped, q_day)
    p_submit = _p_submit(m[q_owner], q_certified) * engaged
    days, p_days = _submission_days(e, q_owner, week, engaged, m[q_owner], q_dropped, q_until)
    inside = (days >= first[q_owner, None]) & (days < last[q_owner, None])
    p_quiz = p_submit * (p_days * inside).sum(axis=1)
    np.add.at(log_none, q_owner, np.log1p(-p_quiz * (1 - 1e-12)))
    return 1.0 - np.exp(log_none)


def activity_events(rng: np.random.Generator, e: pd.DataFrame) -> dict[str, np.ndarray]:
    m = e["motivation"].to_numpy()
    start = e["late_days"].to_numpy()
    owner, day = _segments(start, _segment_end(e))
    certified, dropped, until = _state(e, owner, day)
    decay = _decay(until, dropped, day)
    p_active = _p_active(m[owner], certified)
    active = rng.random(len(owner)) < p_active * decay
    if "return_day" in e:  # a planted return: active that day whatever the draw
        active |= day == e["return_day"].fillna(-1).to_numpy().astype(int)[owner]
    owner, day, decay = owner[active], day[active], decay[active]
    lam = 9.0 * np.exp(0.25 * m[owner]) * (0.4 + 0.6 * decay)
    per_day = 1 + rng.poisson(lam)
    session_hours = rng.uniform(7, 22.5, (len(owner), 2))
    ev_owner = np.repeat(owner, per_day)
    ev_day = np.repeat(day, per_day)
    which = (rng.random(len(ev_owner)) < 0.3).astype(int)
    cell = np.repeat(np.arange(len(owner)), per_day)
    hour = session_hours[cell, which]
    offset = hour * 3600 + rng.uniform(0, 45 * 60, len(ev_owner))
    kind = rng.choice(len(TYPES), len(ev_owner), p=TYPE_P)
    week = ev_day // 7 - (rng.random(len(ev_owner)) < 0.2)  # some review of earlier weeks
    return {
        "owner": ev_owner,
        "seconds": _anchor_seconds(e)[ev_owner] + ev_day * 86400 + offset.astype("int64"),
        "kind": kind,
        "object": _object_codes(e, ev_owner, week, kind, rng.integers(0, OBJECTS_PER_WEEK, len(kind))),
        "value": np.full(len(ev_owner), np.nan),
    }


def _quiz_weeks(e: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(owner, course week) of every quiz a learner can take: from the first week that starts
    after they enrolled to the last week they may be active in."""
    weeks_end = _segment_end(e) // 7
    return _segments(-(-e["late_days"].to_numpy() // 7), weeks_end.astype(int))


def _submission_days(e: pd.DataFrame, owner: np.ndarray, week: np.ndarray, engaged: np.ndarray,
                     m: np.ndarray, dropped: np.ndarray, until: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The course days a submission of each (owner, week) quiz may come on, and their chances
    given that it is submitted (a row may sum to less than 1: a late day after the run's end,
    or on or after a dropout's last day, is a missed quiz). Shape (rows, EARLY_P.size +
    LATE_P.size). A scheduled run's quiz is due at 00:00 of day D = 7·(week + 1): on time on
    day D - 1 - j (``EARLY_P``), late on day D + j (``LATE_P``) with a chance that grows as the
    learner drifts away (``engaged``: the dropout decay on the due day's eve, 1 = engaged) and
    falls with motivation. A self-paced run's quiz comes on the week's last day."""
    due = 7 * (week + 1)
    days = np.concatenate([due[:, None] - 1 - np.arange(EARLY_P.size),
                           due[:, None] + np.arange(LATE_P.size)], axis=1)
    p_late = 1 / (1 + np.exp(-(-2.2 - 0.6 * m + 3.0 * (1 - engaged))))
    p = np.concatenate([(1 - p_late)[:, None] * EARLY_P, p_late[:, None] * LATE_P], axis=1)
    self_paced = e["self_paced"].to_numpy()[owner]
    p[self_paced] = 0.0
    p[self_paced, 0] = 1.0
    open_until = np.where(dropped, np.minimum(until, e["length_days"].to_numpy()[owner]),
                          e["length_days"].to_numpy()[owner])
    return days, np.where(days < open_until[:, None], p, 0.0)


def quiz_events(rng: np.random.Generator, e: pd.DataFrame) -> dict[str, np.ndarray]:
    """A quiz at the end of each course week (the final in a scheduled run's last week),
    submitted while the learner is still engaged: on time, late (more often as they drift
    away) or not at all (``_submission_days``)."""
    m, a = e["motivation"].to_numpy(), e["ability"].to_numpy()
    owner, week = _quiz_weeks(e)
    eve = week * 7 + 6
    certified, dropped, until = _state(e, owner, eve)
    engaged = _decay(until, dropped, eve)
    p_submit = _p_submit(m[owner], certified)
    submit = rng.random(len(owner)) < p_submit * engaged
    days, p_days = _submission_days(e, owner, week, engaged, m[owner], dropped, until)
    cumulative = np.cumsum(p_days, axis=1)
    slot = (rng.random(len(owner))[:, None] * cumulative[:, -1:] >= cumulative).sum(axis=1)
    slot = np.minimum(slot, days.shape[1] - 1)
    # a draw past the row's total is a missed quiz (a late day the course or learner never had)
    timely = rng.random(len(owner)) < cumulative[:, -1]
    day = days[np.arange(len(owner)), slot]
    submit &= timely
    owner, week, day, certified = owner[submit], week[submit], day[submit], certified[submit]
    score = 52 + 10 * a[owner] + 5 * m[owner] + 10 * certified
    score = np.clip(np.round(score + rng.normal(0, 12, len(owner))), 0, 100)
    offset = rng.uniform(9, 23, len(owner)) * 3600
    weeks = (e["length_days"].to_numpy() // 7)[owner]
    final = (week == weeks - 1) & ~e["self_paced"].to_numpy()[owner]
    return {
        "owner": owner,
        "seconds": _anchor_seconds(e)[owner] + day * 86400 + offset.astype("int64"),
        "kind": np.full(len(owner), len(TYPES)),  # index len(TYPES) = assessment
        "object": _object_codes(e, owner, week, np.full(len(owner), len(TYPES)), final.astype(int)),
        "value": score,
    }


def calendar(runs: pd.DataFrame) -> pd.DataFrame:
    """The canonical ``assessments`` table of the scheduled runs (``population.make_runs``; a
    self-paced run has none): a quiz due at the end of each course week (00:00 of the next
    week's first day), sharing ``QUIZ_SHARE`` percent of the weight, and the final due at the
    run's end with the rest; ids as the submissions' ``object_id`` (``C001-w03-quiz1``,
    ``C001-w08-final``)."""
    rows = []
    for run in runs[~runs["self_paced"]].itertuples(index=False):
        weeks = run.length_days // 7
        quiz = round(QUIZ_SHARE / (weeks - 1), 2)
        for w in range(weeks):
            last = w == weeks - 1
            rows.append({"course_id": run.course_id, "run_id": run.run_id,
                         "assessment_id": f"{run.course_id}-w{w + 1:02d}-{'final' if last else 'quiz1'}",
                         "kind": "exam" if last else "quiz",
                         "due_at": run.course_start + pd.Timedelta(days=7 * (w + 1)),
                         "weight": round(100 - quiz * (weeks - 1), 2) if last else quiz})
    columns = ["course_id", "run_id", "assessment_id", "kind", "due_at", "weight"]
    return pd.DataFrame(rows, columns=columns).astype({"due_at": "datetime64[us]", "weight": float})


def _object_codes(e, owner, week, kind, k) -> np.ndarray:
    weeks = (e["length_days"].to_numpy() // 7)[owner]
    week = np.clip(week, 0, weeks - 1)
    course = e["course_code"].to_numpy()[owner]
    return ((course * 64 + week) * (len(TYPES) + 1) + kind) * OBJECTS_PER_WEEK + k


def _object_names(codes: np.ndarray, course_ids: np.ndarray) -> tuple[np.ndarray, list[str]]:
    unique, inverse = np.unique(codes, return_inverse=True)
    k = unique % OBJECTS_PER_WEEK
    kind = unique // OBJECTS_PER_WEEK % (len(TYPES) + 1)
    week = unique // OBJECTS_PER_WEEK // (len(TYPES) + 1) % 64
    course = unique // OBJECTS_PER_WEEK // (len(TYPES) + 1) // 64
    names = [*TYPES, "quiz"]
    labels = [f"{course_ids[c]}-w{w + 1:02d}-final" if t == len(TYPES) and i == 1
              else f"{course_ids[c]}-w{w + 1:02d}-{names[t]}{i + 1}"
              for c, w, t, i in zip(course, week, kind, k, strict=True)]
    return inverse.astype("int32"), labels


def make_events(rng: np.random.Generator, e: pd.DataFrame) -> tuple[pa.Table, np.ndarray]:
    """The canonical events table (time-ordered, dictionary-encoded ids) and each enrolment's
    last event time (NaT for enrolments without events)."""
    codes, course_ids = pd.factorize(e["course_id"])
    e = e.assign(course_code=codes)
    parts = [activity_events(rng, e), quiz_events(rng, e)]
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(cols["seconds"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    owner = cols["owner"].astype("int32")
    obj_idx, obj_names = _object_names(cols["object"], np.asarray(course_ids))
    kinds = pa.array([*TYPES, "assessment"])

    def by_owner(column: str) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(owner, pa.array(e[column].astype(str).tolist()))

    last = np.full(len(e), np.iinfo("int64").min)
    np.maximum.at(last, owner, cols["seconds"])
    last_seen = np.where(last == np.iinfo("int64").min, np.datetime64("NaT"), last.astype("datetime64[s]"))
    return pa.table(
        {
            "learner_id": by_owner("learner_id"),
            "course_id": by_owner("course_id"),
            "run_id": by_owner("run_id"),
            "ts": pa.array(cols["seconds"].astype("datetime64[s]")).cast(pa.timestamp("us")),
            "event_type": pa.DictionaryArray.from_arrays(cols["kind"].astype("int32"), kinds),
            "object_id": pa.DictionaryArray.from_arrays(obj_idx, pa.array(obj_names)),
            "value": pa.array(cols["value"], from_pandas=True),
        }
    ), last_seen
