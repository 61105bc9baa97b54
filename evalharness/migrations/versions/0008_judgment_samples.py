"""Judgments by sample: (run_id, task, idx).

Calibration and ``calibrate`` find the judgments of the rated samples of a run, and the Samples
page those of the samples it shows, by (run_id, task, idx). Through ``ix_judgments_lookup``
(run_id, task, rubric, judge) that scanned every judgment of the task for each sample: 3.1 s
for 300 rated samples of a judged 100,000-sample run, 1 ms with this index.

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME = "ix_judgments_sample"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("judgments"):
        return  # a store from before migrations: created after them, from today's model
    if NAME not in {ix["name"] for ix in inspector.get_indexes("judgments")}:
        op.create_index(NAME, "judgments", ["run_id", "task", "idx"])  # else the baseline made it


def downgrade() -> None:
    op.drop_index(NAME, "judgments")
