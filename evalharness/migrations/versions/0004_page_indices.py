"""Indices for the pages at scale: failed samples of a run's task, runs by date.

The Samples page's "failed only" filter and the report's failed list read a partial index
(rows with an error only); the Leaderboard orders runs by ``created_at``. Filters on
(run_id, task, idx) already use the unique constraint of ``samples``.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FAILED = sa.text("error IS NOT NULL")


def _has(table: str, name: str) -> bool:
    """The baseline builds ``samples``/``runs`` from today's models, indices included."""
    return name in {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes(table)}


def upgrade() -> None:
    if not _has("samples", "ix_samples_failed"):
        op.create_index(
            "ix_samples_failed",
            "samples",
            ["run_id", "task", "idx"],
            sqlite_where=FAILED,
            postgresql_where=FAILED,
        )
    if not _has("runs", "ix_runs_created_at"):
        op.create_index("ix_runs_created_at", "runs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_samples_failed", "samples")
    op.drop_index("ix_runs_created_at", "runs")
