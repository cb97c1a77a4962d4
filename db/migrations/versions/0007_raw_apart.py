"""inbound mail's bytes in a table of their own (inbound_raw)

Revision ID: 0007_raw_apart
Revises: 0006_fast_compression
Create Date: 2026-12-03 07:30:00.000000

A received mail's row changes as it is processed; its bytes never do. SQLite rewrites a
whole record, a megabyte photo's overflow pages included, whenever one of its columns
changes, and walks that overflow chain to read any column stored after the bytes (status,
the parse result, the contact). With the bytes apart, processing a mail writes them once
and a look-up of earlier replies reads only the small rows. On PostgreSQL a large value
lives out of line (TOAST) anyway; the tables are the same on both for one model.

The copy runs once, inside the upgrade's transaction. On SQLite the old column goes with
ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): a batch that copied `inbound` to a new
table would drop the old one, and the rows of other tables that refer to it with it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.migrations.compression import set_compression

revision: str = "0007_raw_apart"
down_revision: str | None = "0006_fast_compression"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_raw",
        sa.Column("inbound_id", sa.Integer(),
                  sa.ForeignKey("inbound.id", name="fk_inbound_raw_inbound_id_inbound",
                                ondelete="CASCADE")),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("inbound_id", name="pk_inbound_raw"),
    )
    set_compression("inbound_raw", "raw", "lz4")  # as 0006 set it for the column
    op.execute("INSERT INTO inbound_raw (inbound_id, raw) SELECT id, raw FROM inbound")
    op.drop_column("inbound", "raw")


def downgrade() -> None:
    op.add_column("inbound", sa.Column("raw", sa.LargeBinary(), nullable=True))
    op.execute("UPDATE inbound SET raw = (SELECT raw FROM inbound_raw "
               "WHERE inbound_raw.inbound_id = inbound.id)")
    op.execute(sa.text("UPDATE inbound SET raw = :empty WHERE raw IS NULL").bindparams(
        sa.bindparam("empty", b"", type_=sa.LargeBinary())))
    if op.get_bind().dialect.name == "postgresql":
        # SQLite cannot add NOT NULL in place; the column is nullable there after a downgrade
        op.alter_column("inbound", "raw", nullable=False)
    set_compression("inbound", "raw", "lz4")
    op.drop_table("inbound_raw")
