"""Courses, runs, learners and enrolments with latent motivation and ability.

The latent traits drive everything the pipeline can see (survey answers, intent, planned hours,
clickstream) and the outcomes, so the features carry real but noisy signal. Completion targets
follow the enrolment study: about 15% where the certificate is free and institutionally backed,
about 7% where it is paid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FREE_COMPLETION = 0.15
PAID_COMPLETION = 0.07
PLATFORMS = ("campus", "edx", "coursera", "futurelearn")  # campus: free, institution-backed
EPOCH = pd.Timestamp("2024-01-08")  # a Monday; runs start on Mondays after it
RUN_SPACING_DAYS = 112
SELF_PACED_OPEN_DAYS = 90


@dataclass(frozen=True)
class Population:
    runs: pd.DataFrame  # course_id, run_id, platform, course_start, course_end, length_days, ...
    enrolments: pd.DataFrame  # canonical columns + latent traits and outcome plan


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_runs(rng: np.random.Generator, courses: int, runs_per_course: int) -> pd.DataFrame:
    rows = []
    for c in range(courses):
        self_paced = c % 4 == 3
        weeks = int(rng.integers(6, 11))
        cost = float(rng.choice([49.0, 99.0, 149.0]))
        for r in range(runs_per_course):
            start = EPOCH + pd.Timedelta(days=7 * c + RUN_SPACING_DAYS * r)
            platform = PLATFORMS[(c + r) % len(PLATFORMS)]
            rows.append(
                {
                    "course_id": f"C{c + 1:03d}",
                    "run_id": f"{start:%Y-%m}",
                    "platform": platform,
                    "course_start": start,
                    "course_end": pd.NaT if self_paced else start + pd.Timedelta(weeks=weeks),
                    "length_days": 7 * weeks,
                    "self_paced": self_paced,
                    "free": platform == "campus",
                    "cost": 0.0 if platform == "campus" else cost,
                }
            )
    return pd.DataFrame(rows)


def make_enrolments(rng: np.random.Generator, runs: pd.DataFrame, learners: int) -> pd.DataFrame:
    """Each learner enrols in one run, some (15%) in a second run of another course."""
    courses_n = runs["course_id"].nunique()
    second = rng.random(learners) < (0.15 if courses_n > 1 else 0.0)
    learner = np.concatenate([np.arange(learners), np.flatnonzero(second)])
    n = len(learner)
    run_idx = rng.integers(0, len(runs), n)
    # a second enrolment goes to a different course
    dup = np.arange(n) >= learners
    per_course = len(runs) // courses_n
    first_run = run_idx[learner[dup]] if dup.any() else run_idx[:0]
    shift = rng.integers(1, max(courses_n, 2), dup.sum()) * per_course
    run_idx[dup] = (first_run + shift) % len(runs)
    run = runs.iloc[run_idx].reset_index(drop=True)
    motivation = rng.normal(0, 1, learners)[learner] + rng.normal(0, 0.3, n)
    ability = 0.3 * motivation + rng.normal(0, 0.95, n)
    start = run["course_start"]
    offset_days = np.where(
        run["self_paced"],
        rng.uniform(0, SELF_PACED_OPEN_DAYS, n),
        rng.triangular(-35, -7, 14, n),
    )
    enrolled_at = start + pd.to_timedelta(np.round(offset_days * 86400), unit="s")
    return pd.DataFrame(
        {
            "learner_id": [f"L{i + 1:07d}" for i in learner],
            "course_id": run["course_id"],
            "run_id": run["run_id"],
            "platform": run["platform"],
            "enrolled_at": enrolled_at,
            "course_start": start,
            "course_end": run["course_end"],
            "length_days": run["length_days"],
            "self_paced": run["self_paced"],
            "late_days": np.where(run["self_paced"], 0, np.maximum(offset_days, 0)).astype(int),
            "free": run["free"],
            "credential_cost": run["cost"],
            "motivation": motivation,
            "ability": ability,
        }
    )


def add_context(rng: np.random.Generator, e: pd.DataFrame) -> pd.DataFrame:
    """Credential, payer, intent, planned hours and demographics."""
    n = len(e)
    m, a = e["motivation"].to_numpy(), e["ability"].to_numpy()
    e["credential_type"] = np.where(e["free"], "free_certificate", "verified_certificate")
    payer = rng.choice(["self", "employer", "scholarship"], n, p=[0.7, 0.2, 0.1])
    e["paid_by"] = np.where(e["free"], "institution", payer)
    e["intends_credential"] = rng.random(n) < sigmoid(np.where(e["free"], 0.3, -0.6) + 0.9 * m)
    e["hours_per_week_planned"] = np.round(
        np.clip(rng.lognormal(np.log(3.0) + 0.25 * m, 0.5), 0.5, 20.0), 1
    )
    e["gender"] = rng.choice(["female", "male", "other"], n, p=[0.47, 0.5, 0.03])
    e["age_band"] = rng.choice(["<25", "25-34", "35-54", "55+"], n, p=[0.25, 0.35, 0.3, 0.1])
    edu_levels = np.array(["secondary", "bachelor", "master", "doctorate"])
    edu_score = a + rng.normal(0, 1, n)
    e["education_level"] = edu_levels[np.digitize(edu_score, [-0.8, 0.6, 1.8])]
    e["employment"] = rng.choice(["employed", "student", "unemployed", "retired"], n,
                                 p=[0.55, 0.25, 0.12, 0.08])
    e["country"] = rng.choice(["GB", "US", "IN", "ES", "NG", "BR", "DE", "CN", "MX", "FR"], n)
    e["disability"] = np.where(rng.random(n) < 0.08, "Y", "N")
    e["prior_attempts"] = rng.choice([0, 1, 2], n, p=[0.8, 0.15, 0.05])
    return e


def plan_outcomes(rng: np.random.Generator, e: pd.DataFrame) -> pd.DataFrame:
    """Who earns the credential, who drops out and when (course day), calibrated to targets."""
    m, a = e["motivation"].to_numpy(), e["ability"].to_numpy()
    score = (
        1.1 * m + 0.6 * a + 0.7 * e["intends_credential"] + 0.08 * (e["hours_per_week_planned"] - 3)
        + 0.4 * (e["paid_by"] == "employer") - 0.3 * e["prior_attempts"]
        - 0.02 * e["late_days"]
    ).to_numpy()
    base = np.where(e["free"], _intercept(score[e["free"]], FREE_COMPLETION), 0.0)
    base = np.where(~e["free"], _intercept(score[~e["free"]], PAID_COMPLETION), base)
    propensity = sigmoid(base + score)
    draw = rng.random(len(e))
    certified = draw < propensity
    finished_uncertified = ~certified & (rng.random(len(e)) < 0.08 * sigmoid(score))
    dropped = ~certified & ~finished_uncertified
    length = e["length_days"].to_numpy()
    # low motivation drops earlier; about a quarter of droppers never really start
    frac = rng.beta(1.2 + np.clip(m + 1, 0, 3), 2.5)
    no_show = dropped & (rng.random(len(e)) < 0.25 * sigmoid(-m))
    drop_day = np.where(no_show, 0, np.floor(frac * length)).astype(int)
    # kept (not written out) so a planted intervention effect can re-use the same draw
    e["completion_propensity"] = propensity
    e["completion_draw"] = draw
    e["certified"] = certified
    e["dropped_out"] = dropped
    e["active_until"] = np.where(dropped, drop_day, length)
    return e


def _intercept(score: np.ndarray, target: float) -> float:
    """The intercept b with mean(sigmoid(b + score)) = target (bisection)."""
    if score.size == 0:
        return 0.0
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sigmoid(mid + score).mean() < target else (lo, mid)
    return (lo + hi) / 2


def make_population(rng: np.random.Generator, learners: int, courses: int, runs: int) -> Population:
    run_table = make_runs(rng, courses, runs)
    enrolments = make_enrolments(rng, run_table, learners)
    enrolments = plan_outcomes(rng, add_context(rng, enrolments))
    return Population(run_table, enrolments)
