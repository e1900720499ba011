"""Who is on a list at as-of day d — one rule for training, evaluation, serving and batch, using
only what is knowable at d.

A learner counts at day d when enrolled by the day's cutoff (``build_features`` has a row only
then) and not unenrolled before it: an unregistration date or an unenrolment event before the
cutoff, which the canonical outcomes table carries as ``dropped_at``. Last activity never removes
anyone — a learner who went quiet is still enrolled, and the list says so (``activity_status``).

Lists default to each course's running run (``running_runs``), and never hold a day that has
not come yet (``in_population(..., today)``).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from mooc_risk.days import DAY_SECONDS
from mooc_risk.features.canonical.schemas import KEYS
from mooc_risk.features.canonical.tables import Tables
from mooc_risk.features.clickstream import anchors

ACTIVE_DAYS = 7  # active = some activity in the last 7 days before the cutoff


def still_enrolled(frame: pd.DataFrame) -> pd.Series:
    """For rows with ``cutoff_s`` (epoch seconds) and, where known, ``dropped_at`` (when the
    learner unenrolled): False for those who unenrolled before the cutoff."""
    if "dropped_at" not in frame:
        return pd.Series(True, index=frame.index)
    left = pd.to_datetime(frame["dropped_at"])
    left_s = left.astype("datetime64[s]").astype("int64").where(left.notna())
    return ~(left_s < frame["cutoff_s"]).fillna(False).astype(bool)


def in_population(features: pd.DataFrame, tables: Tables, today: datetime | None = None) -> np.ndarray:
    """A boolean mask over ``build_features`` rows (``learner_id, course_id, run_id,
    as_of_day``): True for the rows whose learner was still enrolled at the row's cutoff and,
    given ``today`` (naive UTC), whose cutoff has come — a day not reached yet has no row."""
    keep = np.ones(len(features), dtype=bool)
    left = None
    if tables.outcomes is not None and "dropped_at" in tables.outcomes.columns:
        o = tables.outcomes
        left = o.filter(o.dropped_at.notnull()).select(*KEYS, "dropped_at").to_pyarrow().to_pandas()
    if (left is None or left.empty) and today is None:
        return keep
    timing = anchors(tables.enrolments).select(*KEYS, "anchor_s").to_pyarrow().to_pandas()
    rows = features[[*KEYS, "as_of_day"]].merge(timing, on=list(KEYS), how="left")
    if left is not None and not left.empty:
        rows = rows.merge(left, on=list(KEYS), how="left")
    rows["cutoff_s"] = rows["anchor_s"] + rows["as_of_day"].astype("int64") * DAY_SECONDS
    keep &= still_enrolled(rows).to_numpy()
    if today is not None:
        keep &= (rows["cutoff_s"] <= pd.Timestamp(today).timestamp()).to_numpy()
    return keep


def run_calendar(tables: Tables) -> pd.DataFrame:
    """One row per course run (index ``course_id, run_id``): ``start`` — its ``course_start``,
    or the first enrolment for a self-paced run — and ``end`` (empty for a self-paced run)."""
    e = tables.enrolments.select("course_id", "run_id", "course_start", "course_end", "enrolled_at")
    e = e.to_pyarrow().to_pandas()
    e["start"] = e["course_start"].fillna(e["enrolled_at"])
    return e.groupby(["course_id", "run_id"]).agg(start=("start", "min"), end=("course_end", "max"))


def running_runs(calendar: pd.DataFrame, today: datetime) -> dict[str, str]:
    """Each course's running run as of ``today`` (naive UTC), from its ``run_calendar``: the
    latest-starting run that has started and not ended (a self-paced run never ends), else —
    the course is between runs — the one that started last. Courses whose runs all start
    later have none."""
    now = pd.Timestamp(today)
    runs = calendar.reset_index()
    runs = runs[runs["start"] <= now]
    runs["open"] = runs["end"].isna() | (runs["end"] > now)
    chosen = runs.sort_values(["open", "start", "run_id"]).groupby("course_id").tail(1)
    return dict(zip(chosen["course_id"], chosen["run_id"], strict=True))


def inactive_days(features: pd.DataFrame) -> pd.Series:
    """Whole days since the last activity before the cutoff (empty: never started), for filtering
    a list; ``activity_status`` words the same."""
    quiet = np.floor(features["days_since_last_activity"].to_numpy(dtype="float64"))
    started = features["events_total"].to_numpy(dtype="float64") > 0
    return pd.Series(np.where(started, quiet, np.nan), index=features.index).astype("Int64")


def activity_status(features: pd.DataFrame) -> np.ndarray:
    """Per feature row, ``inactive_days`` in words: ``never started`` (no activity before the
    cutoff), ``inactive for N days`` (nothing in the last ``ACTIVE_DAYS`` days), or ``active``."""
    days = inactive_days(features)
    quiet = days.fillna(0).to_numpy(dtype="int64")
    inactive = np.char.add(np.char.add("inactive for ", quiet.astype(str)), " days")
    return np.where(days.isna().to_numpy(), "never started",
                    np.where(quiet >= ACTIVE_DAYS, inactive, "active")).astype(object)
