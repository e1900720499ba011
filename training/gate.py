"""The promotion gate: a candidate becomes @champion only if it is not worse than the current
champion on the same test rows; otherwise it becomes @challenger, with the reason."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mooc_risk.training.config import GateConfig


@dataclass(frozen=True)
class Scorecard:
    auc: float
    ece: float
    group_gap: float


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str


def decide(candidate: Scorecard, champion: Scorecard | None, gate: GateConfig) -> GateDecision:
    problems = []
    if not (math.isfinite(candidate.auc) and math.isfinite(candidate.ece)):
        problems.append("the candidate's test AUC or ECE is undefined (a test side with one class?)")
    if candidate.ece > gate.ece_ceiling:
        problems.append(f"ECE {candidate.ece:.4f} is above the ceiling {gate.ece_ceiling}")
    if champion is not None:
        if candidate.auc < champion.auc - gate.auc_tolerance:
            problems.append(f"AUC {candidate.auc:.4f} is below the champion's {champion.auc:.4f} "
                            f"by more than {gate.auc_tolerance}")
        if candidate.group_gap > champion.group_gap + gate.group_gap_tolerance:
            problems.append(f"largest group AUC gap {candidate.group_gap:.4f} exceeds the "
                            f"champion's {champion.group_gap:.4f} by more than "
                            f"{gate.group_gap_tolerance}")
    if problems:
        return GateDecision(False, "; ".join(problems))
    if champion is None:
        return GateDecision(True, f"no champion yet; ECE {candidate.ece:.4f} within the ceiling")
    return GateDecision(True, f"AUC {candidate.auc:.4f} vs champion {champion.auc:.4f}, "
                              f"ECE {candidate.ece:.4f}, group gap {candidate.group_gap:.4f} "
                              f"vs {champion.group_gap:.4f}")
