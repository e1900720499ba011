"""The intervention log and the feedback on predictions.

Revision ID: 0001
Revises:
Create Date: 2025-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# frozen copies of the models' types as of this revision (a migration never imports the models)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _common_head() -> list[sa.Column]:
    return [
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("course_id", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("learner_id", sa.String(200), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "interventions",
        *_common_head(),
        sa.Column("action", sa.String(500), nullable=False),
        sa.Column("done_by", sa.String(200), nullable=False),
        sa.Column("note", sa.String(2000), nullable=False),
        sa.Column("as_of_day", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("model_name", sa.String(200), nullable=True),
        sa.Column("model_version", sa.String(200), nullable=True),
        sa.Column("risk", sa.Float(), nullable=True),
        sa.Column("risk_band", sa.String(200), nullable=True),
        sa.Column("suggested", sa.String(500), nullable=True),
        sa.Column("key_id", sa.String(200), nullable=True),
    )
    op.create_index("ix_interventions_learner", "interventions", ["course_id", "run_id", "learner_id"])
    op.create_table(
        "feedback",
        *_common_head(),
        sa.Column("useful", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("as_of_day", sa.Integer(), nullable=True),
        sa.Column("model_name", sa.String(200), nullable=True),
        sa.Column("model_version", sa.String(200), nullable=True),
        sa.Column("risk", sa.Float(), nullable=True),
        sa.Column("risk_band", sa.String(200), nullable=True),
        sa.Column("key_id", sa.String(200), nullable=True),
    )
    op.create_index("ix_feedback_learner", "feedback", ["course_id", "run_id", "learner_id"])


def downgrade() -> None:
    op.drop_index("ix_feedback_learner", table_name="feedback")
    op.drop_table("feedback")
    op.drop_index("ix_interventions_learner", table_name="interventions")
    op.drop_table("interventions")
