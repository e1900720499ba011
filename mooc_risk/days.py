"""Course days: the as-of day is a whole number of days since a learner's anchor (the run's
start, or the enrolment for a self-paced run); a row at day d sees events before anchor + d days.
"""

from __future__ import annotations

import math
from datetime import date, datetime

DAY_SECONDS = 86_400


def parse_days(text: str) -> list[int]:
    """``'14,0,7'`` → ``[0, 7, 14]`` (sorted, duplicates dropped). ValueError, quoting the text,
    for anything that is not one or more whole days ≥ 0 separated by commas."""
    try:
        days = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"expected whole days separated by commas, got {text!r}") from None
    if not days or min(days) < 0:
        raise ValueError(f"expected one or more days ≥ 0, got {text!r}")
    return sorted(set(days))


def course_day(start: datetime, now: datetime) -> int:
    """The as-of day of ``now`` in a run that started at ``start`` (0 before the start)."""
    return max(0, math.floor((now - start).total_seconds() / DAY_SECONDS))


def as_of_moment(day: date) -> datetime:
    """The moment a date is scored as of: 00:00 UTC of ``day`` (naive UTC), as the nightly
    ``refresh`` scores a night and ``monitor`` checks one."""
    return datetime(day.year, day.month, day.day)
