"""Small canonical data sets the tests build (no real data in the repo)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mooc_risk.files import write_table


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def tiny_frames() -> dict[str, pd.DataFrame]:
    """Two scheduled learners (a, b) in run R1 and one self-paced learner (c) in run R2."""
    enrolments = pd.DataFrame(
        {
            "learner_id": ["a", "b", "c"],
            "course_id": ["C1", "C1", "C1"],
            "run_id": ["R1", "R1", "R2"],
            "platform": ["edx", "edx", "campus"],
            "enrolled_at": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-03-01"]),
            "course_start": pd.to_datetime(["2024-01-02", "2024-01-02", "2024-02-01"]),
            "course_end": pd.to_datetime(["2024-02-02", "2024-02-02", None]),
            "credential_type": ["verified_certificate"] * 2 + ["free_certificate"],
            "credential_cost": [49.0, 49.0, 0.0],
            "paid_by": ["self", "employer", "institution"],
        }
    )
    events = pd.DataFrame(
        {
            "learner_id": ["a", "a", "a", "b", "c", "c"],
            "course_id": ["C1"] * 6,
            "run_id": ["R1", "R1", "R1", "R1", "R2", "R2"],
            "ts": pd.to_datetime(
                ["2024-01-02 10:00", "2024-01-02 10:20", "2024-01-05 09:00",
                 "2024-01-04 00:00", "2024-03-01 12:00", "2024-03-09 00:00"]
            ),
            "event_type": ["video", "page", "assessment", "video", "forum", "video"],
            "object_id": ["v1", "p1", "quiz1", "v1", "f1", "v9"],
            "value": [None, None, 80.0, None, 2.0, None],
        }
    )
    surveys = pd.DataFrame(
        {
            "learner_id": ["a", "c"],
            "course_id": ["C1", "C1"],
            "run_id": ["R1", "R2"],
            "gender": ["female", None],
            "hours_per_week_planned": [4.0, 2.5],
            "intends_credential": [True, False],
            # self_efficacy is q11..q16 with q14 reverse-keyed
            "q11": [4, 2], "q12": [5, None], "q13": [3, None],
            "q14": [2, None], "q15": [None, None], "q16": [4, None],
        }
    )
    outcomes = pd.DataFrame(
        {
            "learner_id": ["a", "b", "c"],
            "course_id": ["C1"] * 3,
            "run_id": ["R1", "R1", "R2"],
            "certified": [True, False, False],
            "dropped_out": [False, True, True],
        }
    )
    return {"enrolments": enrolments, "events": events, "surveys": surveys, "outcomes": outcomes}


def write_folder(folder: Path, frames: dict[str, pd.DataFrame], fmt: str = "parquet") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            write_table(frame, folder / f"{name}.{fmt}")
    return folder
