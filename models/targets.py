"""The targets mooc-risk predicts, defined once: the outcome column each is trained on, which way
its risk points, its registered model name and how its good outcome reads in a reason.

Dropout risk is P(dropped out); certification risk is 1 − P(certified), so that for both a
higher risk means a learner who needs help.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

MODEL_PREFIX = "mooc-risk-"


@dataclass(frozen=True)
class _Definition:
    label: str  # boolean column of the outcomes table
    risk_of: Literal["label", "not_label"]  # risk = P(label) or 1 − P(label)
    good_outcome: str  # "most learners who {good_outcome} …" in reasons


class Target(StrEnum):
    DROPOUT = "dropout"
    CERTIFICATION = "certification"

    @property
    def label(self) -> str:
        return _DEFINITIONS[self].label

    @property
    def risk_of(self) -> Literal["label", "not_label"]:
        return _DEFINITIONS[self].risk_of

    @property
    def good_outcome(self) -> str:
        return _DEFINITIONS[self].good_outcome

    @property
    def registered_name(self) -> str:
        """The model's name in the registry, e.g. ``mooc-risk-dropout``."""
        return MODEL_PREFIX + self.value


_DEFINITIONS = {
    Target.DROPOUT: _Definition("dropped_out", "label", "finish"),
    Target.CERTIFICATION: _Definition("certified", "not_label", "earn the credential"),
}
LABELS = tuple(t.label for t in Target)
