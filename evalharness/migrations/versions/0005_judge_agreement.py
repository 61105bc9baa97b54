"""Judge-vs-human agreement stored by ``calibrate`` (evalharness/ratings/agreement.py).

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "judge_agreement",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("judge", sa.String(512), nullable=False),
        sa.Column("rubric", sa.String(128), nullable=False),
        sa.Column("criterion", sa.String(128), nullable=False),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("statistic", sa.String(32), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("ci_low", sa.Float, nullable=True),
        sa.Column("ci_high", sa.Float, nullable=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index(
        "ix_judge_agreement_lookup", "judge_agreement", ["judge", "rubric", "criterion"]
    )


def downgrade() -> None:
    op.drop_table("judge_agreement")
