"""attachment bytes stay in the received mail until its bytes are purged (blobs.inbound_id)

Revision ID: 0008_files_in_mail
Revises: 0007_raw_apart
Create Date: 2026-12-03 11:30:00.000000

A photo that came with a reply is part of the mail's raw bytes already; storing it decoded a
second time doubled what such a reply writes. A new file's row in `blobs` names the mail
(`inbound_id`) and has no bytes (`data` NULL) until the purge of that mail's bytes copies
them (`bot.blobs`). Rows stored before keep their bytes.

The downgrade copies every such file into `blobs` (the old schema needs the bytes there),
and stops with the file's name if one cannot be found in its mail.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_files_in_mail"
down_revision: str | None = "0007_raw_apart"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.alter_column("data", existing_type=sa.LargeBinary(), nullable=True)
        batch_op.add_column(sa.Column("inbound_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_blobs_inbound_id_inbound"), "inbound",
                                    ["inbound_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_blobs_inbound_id"), ["inbound_id"], unique=False)


def downgrade() -> None:
    from bot.blobs import find_files

    bind = op.get_bind()
    waiting = bind.execute(sa.text(
        "SELECT sha256, inbound_id FROM blobs WHERE data IS NULL ORDER BY inbound_id")).all()
    by_mail: dict[int, set[str]] = {}
    for sha256, inbound_id in waiting:
        by_mail.setdefault(inbound_id, set()).add(sha256)
    for inbound_id, wanted in by_mail.items():
        raw = bind.execute(sa.text("SELECT raw FROM inbound_raw WHERE inbound_id = :id"),
                           {"id": inbound_id}).scalar()
        found = find_files(bytes(raw), wanted) if raw else {}
        lost = wanted - found.keys()
        if lost:
            raise RuntimeError(f"file {min(lost)} is not in received mail {inbound_id} "
                               "any more; the downgrade would lose it")
        for sha256, content in found.items():
            bind.execute(sa.text("UPDATE blobs SET data = :data WHERE sha256 = :sha256"),
                         {"data": content, "sha256": sha256})
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blobs_inbound_id"))
        batch_op.drop_constraint(batch_op.f("fk_blobs_inbound_id_inbound"), type_="foreignkey")
        batch_op.drop_column("inbound_id")
        batch_op.alter_column("data", existing_type=sa.LargeBinary(), nullable=False)
