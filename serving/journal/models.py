"""The journal's tables, as SQLAlchemy 2 declarative models: ``interventions`` (what a course
team did about a learner), ``feedback`` (was a prediction useful) and ``holdout`` (an at-risk
learner's draw into or out of a course's holdout, recorded once, never changed). Alembic's migrations
(``migrations/versions``) create them; these models are what the code reads and writes, and a
test checks that the two agree.

Lengths (characters) are the limits ``Journal`` checks before writing, so PostgreSQL never
truncates or refuses a row that SQLite would take. ``recorded_at`` is naive UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID_CHARS = 200  # course, run and learner ids, key ids, model names and versions, done_by
TEXT_CHARS = 200  # short optional labels: target, risk band
ACTION_CHARS = 500  # an action's text (the one done and the one suggested)
NOTE_CHARS = 2000
REASON_CHARS = 500

# BIGINT on PostgreSQL; INTEGER on SQLite, where only that type is the rowid (autoincrement)
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Intervention(Base):
    """One thing a course team did about one learner, with the prediction shown at the time."""

    __tablename__ = "interventions"
    __table_args__ = (Index("ix_interventions_learner", "course_id", "run_id", "learner_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    course_id: Mapped[str] = mapped_column(String(ID_CHARS))
    run_id: Mapped[str] = mapped_column(String(ID_CHARS))
    learner_id: Mapped[str] = mapped_column(String(ID_CHARS))
    action: Mapped[str] = mapped_column(String(ACTION_CHARS))
    done_by: Mapped[str] = mapped_column(String(ID_CHARS))
    note: Mapped[str] = mapped_column(String(NOTE_CHARS))
    as_of_day: Mapped[int | None] = mapped_column(Integer)
    target: Mapped[str | None] = mapped_column(String(TEXT_CHARS))
    model_name: Mapped[str | None] = mapped_column(String(ID_CHARS))
    model_version: Mapped[str | None] = mapped_column(String(ID_CHARS))
    risk: Mapped[float | None] = mapped_column(Float)
    risk_band: Mapped[str | None] = mapped_column(String(TEXT_CHARS))
    suggested: Mapped[str | None] = mapped_column(String(ACTION_CHARS))
    key_id: Mapped[str | None] = mapped_column(String(ID_CHARS))


class Feedback(Base):
    """A course team's word on one prediction for one learner: useful or not, and why."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_learner", "course_id", "run_id", "learner_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    course_id: Mapped[str] = mapped_column(String(ID_CHARS))
    run_id: Mapped[str] = mapped_column(String(ID_CHARS))
    learner_id: Mapped[str] = mapped_column(String(ID_CHARS))
    useful: Mapped[bool]
    reason: Mapped[str] = mapped_column(String(REASON_CHARS))
    target: Mapped[str | None] = mapped_column(String(TEXT_CHARS))
    as_of_day: Mapped[int | None] = mapped_column(Integer)
    model_name: Mapped[str | None] = mapped_column(String(ID_CHARS))
    model_version: Mapped[str | None] = mapped_column(String(ID_CHARS))
    risk: Mapped[float | None] = mapped_column(Float)
    risk_band: Mapped[str | None] = mapped_column(String(TEXT_CHARS))
    key_id: Mapped[str | None] = mapped_column(String(ID_CHARS))


class Holdout(Base):
    """One at-risk learner's holdout draw (``serving.holdout``): ``held_out`` (the suggested
    action withheld) until ``until`` (naive UTC), with the ``share`` it was drawn at. One row
    per learner of a run, never updated."""

    __tablename__ = "holdout"
    __table_args__ = (UniqueConstraint("course_id", "run_id", "learner_id", name="uq_holdout_learner"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    course_id: Mapped[str] = mapped_column(String(ID_CHARS))
    run_id: Mapped[str] = mapped_column(String(ID_CHARS))
    learner_id: Mapped[str] = mapped_column(String(ID_CHARS))
    held_out: Mapped[bool]
    until: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    share: Mapped[float] = mapped_column(Float)
    as_of_day: Mapped[int | None] = mapped_column(Integer)
    risk: Mapped[float | None] = mapped_column(Float)
    risk_band: Mapped[str | None] = mapped_column(String(TEXT_CHARS))
    suggested: Mapped[str | None] = mapped_column(String(ACTION_CHARS))
