"""Baseline: the tables of evalharness 0.1.0 (commit 7a8d3b7), as ``create_all`` made them.

Revision ID: 0001
"""

from __future__ import annotations

from alembic import op

from evalharness.store import Base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = (
    "runs",
    "samples",
    "aggregates",
    "annotators",
    "rated_items",
    "human_ratings",
    "judgments",
)


def upgrade() -> None:
    tables = [Base.metadata.tables[name] for name in TABLES]
    Base.metadata.create_all(op.get_bind(), tables=tables, checkfirst=True)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not removed")
