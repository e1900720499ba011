"""The holdout: each at-risk learner's draw into or out of a course's holdout, recorded once.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# frozen copies of the models' types as of this revision (a migration never imports the models)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "holdout",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("course_id", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("learner_id", sa.String(200), nullable=False),
        sa.Column("held_out", sa.Boolean(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=False), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("as_of_day", sa.Integer(), nullable=True),
        sa.Column("risk", sa.Float(), nullable=True),
        sa.Column("risk_band", sa.String(200), nullable=True),
        sa.Column("suggested", sa.String(500), nullable=True),
        sa.UniqueConstraint("course_id", "run_id", "learner_id", name="uq_holdout_learner"),
    )


def downgrade() -> None:
    op.drop_table("holdout")
