"""workers' heartbeats (the outbox tick) for `intake health`

Revision ID: 0004_heartbeats
Revises: 0003
Create Date: 2026-12-02 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_heartbeats"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=50), nullable=False),
        sa.Column("worker", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_heartbeats")),
        sa.UniqueConstraint("job", "worker", name=op.f("uq_heartbeats_job_worker")),
    )


def downgrade() -> None:
    op.drop_table("heartbeats")
