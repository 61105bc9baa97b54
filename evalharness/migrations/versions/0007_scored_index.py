"""On SQLite, a covering index of the samples that finished: pairing two runs reads it alone.

Comparing two runs joins their samples on (task, idx) and reads each pair's input row and
statistics. From the table, that touches every wide row (prompt, output, result); from this
partial index (``error IS NULL``, with ``input`` and ``stats``), only the narrow entries.

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from evalharness.store import SCORED, SCORED_INDEX, SCORED_KEY

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return  # PostgreSQL: an entry may not exceed 2,704 bytes, and input rows do
    if SCORED_INDEX in {ix["name"] for ix in sa.inspect(bind).get_indexes("samples")}:
        return  # a new store: the baseline built it from today's model
    op.create_index(SCORED_INDEX, "samples", list(SCORED_KEY), sqlite_where=SCORED)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index(SCORED_INDEX, "samples")
