"""Bias probes of judges stored by ``evalharness bias`` (evalharness/judges/probes.py).

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "judge_bias",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("judge", sa.String(512), nullable=False),
        sa.Column("rubric", sa.String(128), nullable=False),
        sa.Column("criterion", sa.String(128), nullable=False),
        sa.Column("probe", sa.String(32), nullable=False),
        sa.Column("statistic", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("ci_low", sa.Float, nullable=True),
        sa.Column("ci_high", sa.Float, nullable=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("task", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_judge_bias_lookup", "judge_bias", ["judge", "rubric"])


def downgrade() -> None:
    op.drop_table("judge_bias")
