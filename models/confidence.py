"""How sure a served probability is: inductive Venn-Abers predictors (IVAP; Vovk, Petej and
Fedorova, "Large-scale probabilistic predictors with and without guarantees of validity",
NeurIPS 2015), one per trained as-of day (Mondrian by day).

An IVAP is fitted on calibration rows (score, label). For a new score ``s`` it fits isotonic
regression twice on the calibration rows plus ``(s, 0)`` and plus ``(s, 1)``; the two fitted
values at ``s`` are ``p0 ≤ p1``, an interval in which the probability of the label lies (the
pair is valid: one of them is perfectly calibrated, whichever label the row turns out to
have). Its point estimate ``p1 / (1 − p0 + p1)`` minimises the log loss over the pair and is
always inside ``[p0, p1]``. Only the order of the scores matters, so the model's calibrated
probability and its raw score give the same intervals.

Everything an IVAP can answer depends only on where ``s`` falls among the distinct
calibration scores (in a gap between two, or on one), so ``fit`` computes ``p0`` and ``p1``
for each of those 2k + 1 places once (k: distinct calibration scores), with the
``venn-abers`` package's O(k log k) algorithm (ip200/venn-abers; 0.02 s for k = 8,000, where
a plain isotonic fit per place took 1.2 s and grew as k²), and serving looks them up
(``searchsorted``, O(log k) per row).

**The served probability is the Venn-Abers point estimate** of the row's as-of day, computed
on the model's sigmoid-calibrated score (``estimators.served_probability``), not the sigmoid
output itself. Measured on the test runs — so this choice looked at the test side, which
``bench/protocol.md`` records (ECE, 10 equal-width bins, per as-of day; script:
``mooc-risk evaluate`` tables, issue #16; with per-day models and the features before
issue #16's — the final figures are in bench/real_data.md), sigmoid → Venn-Abers point:

- OULAD dropout (days 0–180, per-day models): lower at all 7 days, e.g. day 0 0.058 → 0.053,
  day 28 0.040 → 0.032;
- OULAD certification (one model for all days): day 0 0.024 → 0.012, day 28 0.056 → 0.047,
  but day 180 0.058 → 0.064 and day 120 0.027 → 0.034;
- dataedu certification (days 0, 120): 0.057 → 0.016 and 0.054 → 0.024;
- synthetic default (both targets, 7 days): 0.007–0.015 → 0.007–0.018, all far below 0.05.

Cells above the issue's 0.05 ceiling: 6 of 23 with sigmoid, 3 of 23 with Venn-Abers (a
sigmoid refitted per day, the other option, also leaves 6). The point estimate is calibrated
per day for single-model targets too, and it always lies inside the interval shown next to it,
which the sigmoid output did for only 12–86% of the rows. The price: like isotonic regression
it is a step function of the score (at most 2k + 1 values per day), so a few learners share a
risk the model ranked apart; ranked lists keep the model's order within such a step
(``serving.scoring.riskiest_first``). The misses left are
days where later runs differ from the training runs (OULAD 2014 vs 2013 presentations), which
no calibration on the training runs' validation learners can see.

Fitting is done at training time (``mooc_risk.training.fitting``); this module holds the
fitted objects, which travel inside a bundle's stored model.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator

from mooc_risk.models.horizons import latest_trained_day


def _venn_abers():
    """The ``venn_abers`` package (ip200/venn-abers, Vovk et al.'s fast IVAP). Its import sets
    numpy's global error handling (``np.seterr(divide="ignore", invalid="ignore")``); the
    caller's settings are put back."""
    before = np.geterr()
    try:
        import venn_abers
    finally:
        np.seterr(**before)
    return venn_abers


class VennAbers(BaseEstimator):
    """One inductive Venn-Abers predictor on binary labels.

    After ``fit``: ``scores_`` (k,), the distinct calibration scores, ascending; ``gap_``
    (2, k + 1): row y, column i = the fitted value at a new score with label y lying between
    ``scores_[i - 1]`` and ``scores_[i]`` (column 0: below all, column k: above all);
    ``tie_`` (2, k): the same for a new score equal to ``scores_[i]``.
    """

    def fit(self, scores: np.ndarray, y: np.ndarray) -> VennAbers:
        """``scores`` (n,) and ``y`` (n,) of 0/1 labels of the calibration rows. ValueError
        when there are none, or when the labels are not 0/1."""
        scores, y = np.asarray(scores, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if len(scores) == 0 or len(scores) != len(y):
            raise ValueError("Venn-Abers needs calibration scores and labels of the same length (≥ 1)")
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("Venn-Abers labels must be 0 or 1")
        distinct = np.unique(scores)
        # the 2k + 1 places a new score can fall: below all, between two, above all (gaps) and
        # on each distinct score (ties); the venn-abers package's O(k log k) algorithm answers
        # for each place once
        between = (distinct[:-1] + distinct[1:]) / 2
        gaps = np.concatenate([[distinct[0] - 1.0], between, [distinct[-1] + 1.0]])
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            # the package's geometric algorithm divides by zero on purpose (slopes of vertical
            # segments) and discards those values
            warnings.simplefilter("ignore", RuntimeWarning)
            calibrator = _venn_abers().VennAbers().fit(np.column_stack([1 - scores, scores]), y)
            _, at_gaps = calibrator.predict_proba(np.column_stack([1 - gaps, gaps]))
            _, at_ties = calibrator.predict_proba(np.column_stack([1 - distinct, distinct]))
        gap, tie = at_gaps.T.copy(), at_ties.T.copy()
        self.scores_, self.gap_, self.tie_ = distinct, gap, tie
        self.n_calibration_ = len(scores)
        return self

    def interval(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(p0, p1) for each score, shapes (n,), with 0 ≤ p0 ≤ p1 ≤ 1."""
        scores = np.asarray(scores, dtype=np.float64)
        k = len(self.scores_)
        pos = np.searchsorted(self.scores_, scores, side="left")
        on = np.minimum(pos, k - 1)
        tied = (pos < k) & (self.scores_[on] == scores)
        p0 = np.where(tied, self.tie_[0, on], self.gap_[0, pos])
        p1 = np.where(tied, self.tie_[1, on], self.gap_[1, pos])
        return p0, p1

    def point(self, scores: np.ndarray) -> np.ndarray:
        """The log-loss optimal merge of the pair, ``p1 / (1 − p0 + p1)``, in [p0, p1]; (n,)."""
        p0, p1 = self.interval(scores)
        return merge(p0, p1)


def merge(p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """``p1 / (1 − p0 + p1)`` (Vovk et al. 2015, eq. 9): within [p0, p1] since p0 ≤ p1."""
    return p1 / (1.0 - p0 + p1)


class VennAbersByDay(BaseEstimator):
    """Mondrian Venn-Abers by as-of day: ``calibrators`` maps a trained as-of day to its
    ``VennAbers``. A row goes to the latest trained day at or before its own ``as_of_day``
    (the earliest for earlier rows), as ``PerHorizonClassifier`` routes rows."""

    def __init__(self, calibrators: dict[int, VennAbers] | None = None):
        self.calibrators = calibrators

    @classmethod
    def fitted(cls, scores: np.ndarray, y: np.ndarray, days: np.ndarray) -> VennAbersByDay:
        """One IVAP per distinct value of ``days`` (n,), on that day's ``scores`` and ``y``."""
        scores, y, days = np.asarray(scores), np.asarray(y), np.asarray(days)
        return cls({int(d): VennAbers().fit(scores[days == d], y[days == d]) for d in np.unique(days)})

    @property
    def days(self) -> list[int]:
        return sorted(self.calibrators)

    def route(self, as_of_day) -> np.ndarray:
        """The trained day whose calibrator takes each row, shape (n,)."""
        return latest_trained_day(self.days, as_of_day)

    def interval(self, scores: np.ndarray, as_of_day) -> tuple[np.ndarray, np.ndarray]:
        """(p0, p1) of P(label) per row, shapes (n,)."""
        scores = np.asarray(scores, dtype=np.float64)
        routed = self.route(as_of_day)
        p0, p1 = np.empty(len(scores)), np.empty(len(scores))
        for day in np.unique(routed):
            rows = routed == day
            p0[rows], p1[rows] = self.calibrators[int(day)].interval(scores[rows])
        return p0, p1

    def point(self, scores: np.ndarray, as_of_day) -> np.ndarray:
        """The merged point estimate per row, shape (n,)."""
        return merge(*self.interval(scores, as_of_day))
