"""Clickstream for the synthetic population, vectorised (10M events in seconds).

Activity is generated per enrolment × course day: whether the learner is active, how many
actions, in which sessions, on which objects. Intensity falls over the days before a planned
dropout and stops after it; weekly quizzes are scored from ability and motivation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

TYPES = np.array(["video", "page", "problem", "forum", "other"])
TYPE_P = np.array([0.36, 0.3, 0.2, 0.07, 0.07])
OBJECTS_PER_WEEK = 6  # per event type
DECAY_DAYS = 10.0


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
    week = day // 7
    quiz_day = (day % 7 == 6) & (week >= -(-e["late_days"].to_numpy()[owner] // 7)) & (week < end // 7)
    p_quiz = np.where(quiz_day, _p_submit(m[owner], certified[owner]) * decay, 0.0)
    log_none = np.zeros(len(e))
    np.add.at(log_none, owner, np.log1p(-np.minimum(p_act, 1 - 1e-12)) + np.log1p(-p_quiz * (1 - 1e-12)))
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


def quiz_events(rng: np.random.Generator, e: pd.DataFrame) -> dict[str, np.ndarray]:
    """A quiz at the end of each course week, submitted while the learner is still engaged."""
    m, a = e["motivation"].to_numpy(), e["ability"].to_numpy()
    weeks_end = _segment_end(e) // 7
    owner, week = _segments(-(-e["late_days"].to_numpy() // 7), weeks_end.astype(int))
    day = week * 7 + 6
    certified, dropped, until = _state(e, owner, day)
    p_submit = _p_submit(m[owner], certified)
    submit = rng.random(len(owner)) < p_submit * _decay(until, dropped, day)
    owner, week, day, certified = owner[submit], week[submit], day[submit], certified[submit]
    score = 52 + 10 * a[owner] + 5 * m[owner] + 10 * certified
    score = np.clip(np.round(score + rng.normal(0, 12, len(owner))), 0, 100)
    offset = rng.uniform(9, 23, len(owner)) * 3600
    return {
        "owner": owner,
        "seconds": _anchor_seconds(e)[owner] + day * 86400 + offset.astype("int64"),
        "kind": np.full(len(owner), len(TYPES)),  # index len(TYPES) = assessment
        "object": _object_codes(e, owner, week, np.full(len(owner), len(TYPES)), np.zeros_like(owner)),
        "value": score,
    }


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
    labels = [f"{course_ids[c]}-w{w + 1:02d}-{names[t]}{i + 1}"
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
