"""Per run and task totals: samples, failed, tokens, cost, mean latency (evalharness/usage.py).

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_usage",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("task", sa.String(128), nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=True),
        sa.Column("latency_s", sa.Float, nullable=True),
        sa.UniqueConstraint("run_id", "task"),
    )
    op.create_index("ix_task_usage_run_id", "task_usage", ["run_id"])


def downgrade() -> None:
    op.drop_table("task_usage")
