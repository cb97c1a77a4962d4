"""listening: mailbox state, absences, attachment blobs, topic history, bounce marks

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 20:00:35.320878
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
    )
    op.create_table(
        "mailbox_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=255), nullable=False),
        sa.Column("uidvalidity", sa.Integer(), nullable=True),
        sa.Column("last_uid", sa.Integer(), nullable=True),
        sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_state")),
        sa.UniqueConstraint("folder", name=op.f("uq_mailbox_state_folder")),
    )
    op.create_table(
        "absences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_absences_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["inbound_id"], ["inbound.id"], name=op.f("fk_absences_inbound_id_inbound")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_absences")),
        sa.UniqueConstraint("inbound_id", name=op.f("uq_absences_inbound_id")),
    )
    with op.batch_alter_table("absences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_absences_contact_id"), ["contact_id"], unique=False)

    op.create_table(
        "topic_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("old_value", sa.JSON(), nullable=True),
        sa.Column("new_value", sa.JSON(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbound_id"], ["inbound.id"], name=op.f("fk_topic_changes_inbound_id_inbound")
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"], ["topics.id"], name=op.f("fk_topic_changes_topic_id_topics")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_changes")),
    )
    with op.batch_alter_table("topic_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_topic_changes_inbound_id"), ["inbound_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_topic_changes_topic_id"), ["topic_id"], unique=False)

    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attachments_sha256"), ["sha256"], unique=False)

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bounced_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("bounce_reason", sa.Text(), nullable=True))

    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("matched_by", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("parsed", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index(batch_op.f("ix_inbound_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_status"))
        batch_op.drop_column("attempts")
        batch_op.drop_column("parsed")
        batch_op.drop_column("matched_by")
        batch_op.drop_column("automatic")

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("bounce_reason")
        batch_op.drop_column("bounced_at")

    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachments_sha256"))

    with op.batch_alter_table("topic_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_topic_changes_topic_id"))
        batch_op.drop_index(batch_op.f("ix_topic_changes_inbound_id"))

    op.drop_table("topic_changes")
    with op.batch_alter_table("absences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_absences_contact_id"))

    op.drop_table("absences")
    op.drop_table("mailbox_state")
    op.drop_table("blobs")
