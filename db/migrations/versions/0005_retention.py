"""retention: when a mail's raw bytes were deleted (`intake purge`)

Revision ID: 0005_retention
Revises: 0004_heartbeats
Create Date: 2026-12-03 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_retention"
down_revision: str | None = "0004_heartbeats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("inbound", "outbox"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), not a batch that copies the table:
    # dropping the old `inbound` would break the foreign keys of the rows that refer to it
    for table in ("inbound", "outbox"):
        op.drop_column(table, "purged_at")
