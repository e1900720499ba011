"""How a reason reads: a group of the reason catalogue (``reasons.yaml``) worded with the
learner's value, in its unit, and — when it says something — what learners with the good
outcome looked like at the same as-of day.

Rules every sentence keeps (a property test checks them over generated values): units
everywhere (days, hours a week, the credential's currency when the data has one, "of 5" for a
survey scale); no negative day counts ("enrolled 3 days after the start", not "-3 days
before"); no "nan" or "None"; no comparison of a value with itself; and, for a group with a
``worse`` direction, a reason only when the learner's value is on the worse side of the
reference (``shows``).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel

Unit = Literal["days", "count", "share", "scale", "hours_week", "money", "flag"]


class GroupSpec(BaseModel):
    """One reason: which features' contributions it sums and how it is worded."""

    category: str  # engagement, assessment, motivation, prior knowledge, context
    features: list[str]  # model columns (glob patterns) whose contributions it sums
    primary: str  # the column whose value the sentence shows
    unit: Unit = "flag"
    noun: str | None = None  # for unit count: "action" → "3 actions"
    text: str  # "{value}": the learner's value in its unit; "{good}": the good outcome
    text_negative: str | None = None  # for a negative value, worded with its absolute value
    compare: str | None = None  # "{reference}": the good learners' median, in the same unit
    worse: Literal["higher", "lower"] | None = None  # which side of the reference is risky
    missing: str | None = None  # the sentence when the learner's value is empty
    values: dict[str, str] = {}  # unit flag: the value's words ("1.0": "planned")


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def in_unit(spec: GroupSpec, value: float, scale_max: float = 5, currency: str | None = None) -> str:
    """``value`` written in the group's unit (never negative: callers word the sign)."""
    v = abs(float(value))
    if spec.unit == "days":
        if v < 1:
            return "less than a day"
        n = round(v)
        return "1 day" if n == 1 else f"{n} days"
    if spec.unit == "count":
        n = round(v)
        noun = spec.noun or "time"
        return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
    if spec.unit == "share":
        return f"{v:.0%}"
    if spec.unit == "scale":
        return f"{v:.1f} of {scale_max:g}"
    if spec.unit == "hours_week":
        return f"{v:.1f} h a week".replace(".0 h", " h")
    if spec.unit == "money":
        amount = f"{v:,.2f}".removesuffix(".00")
        return f"{amount} {currency}" if currency else f"{amount} (currency not recorded)"
    return spec.values.get(str(float(value)), f"{value:g}")


def rounded(spec: GroupSpec, value: np.ndarray | float) -> np.ndarray:
    """Values at the precision their words show (so "2 days" equals "2 days")."""
    v = np.asarray(value, dtype="float64")
    if spec.unit == "days":
        return np.where(np.abs(v) < 1, 0.0, np.round(v))
    if spec.unit == "count":
        return np.round(v)
    return np.round(v, 2 if spec.unit in ("share", "money") else 1)


def shows(spec: GroupSpec, values: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Per value, whether the group may be a reason: always, unless it has a ``worse``
    direction, a reference, and the value is not on the worse side of it (shape (n,))."""
    v = rounded(spec, np.asarray(values, dtype="float64"))
    r = rounded(spec, np.asarray(references, dtype="float64"))
    if spec.worse is None:
        return np.ones(v.shape, dtype=bool)
    worse = v > r if spec.worse == "higher" else v < r
    return worse | np.isnan(v) | np.isnan(r)


def sentence(spec: GroupSpec, value, reference: float | None, good: str,
             scale_max: float = 5, currency: str | None = None) -> str:
    """The reason's words for one learner (see the module's rules)."""
    if is_missing(value):
        return spec.missing or f"{spec.primary.replace('_', ' ')} not recorded"
    text = spec.text_negative if (spec.text_negative and float(value) < 0) else spec.text
    words = text.format(value=in_unit(spec, value, scale_max, currency), good=good)
    if spec.compare and reference is not None and not math.isnan(reference):
        if rounded(spec, value) != rounded(spec, reference):  # never "2 days; … within 2 days"
            words += "; " + spec.compare.format(
                reference=in_unit(spec, reference, scale_max, currency), good=good)
    return words
