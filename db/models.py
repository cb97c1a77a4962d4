"""The domain's tables (SQLAlchemy 2.0 typed models), identical on SQLite and PostgreSQL.

Durable state lives here so that a restart or a missed scheduler tick can neither lose nor
duplicate work: uniqueness is enforced by constraints, not by hoping the code runs once.

Nothing is ever deleted: a contact removed from the contacts file is deactivated, a failed
inbound mail keeps its bytes, a failed outbound mail keeps its text and the server's answer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from db.types import UTCDateTime

# Stable constraint names: Alembic migrations (and SQLite batch mode) need them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]

    contacts: Mapped[list[Contact]] = relationship(back_populates="department")


class Contact(Base):
    """A person mailing for a department: its primary contact or one of the deputies.

    Requests go to the primary contact; replies from any active address of the department
    count. `email` is stored lower-cased and is unique across all departments.
    """

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="primary")  # primary | deputy
    name: Mapped[str | None] = mapped_column(String(200))
    salutation: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deactivated_at: Mapped[datetime | None]
    #: set when mail to this address bounced for good; reminders and follow-ups stop
    bounced_at: Mapped[datetime | None]
    bounce_reason: Mapped[str | None] = mapped_column(Text)

    department: Mapped[Department] = relationship(back_populates="contacts")


class RequestRound(Base):
    """One month's request round; opened once (unique month)."""

    __tablename__ = "request_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)  # YYYY-MM
    opened_at: Mapped[datetime]
    deadline: Mapped[date | None] = mapped_column(Date)

    requests: Mapped[list[Request]] = relationship(back_populates="round")


class Request(Base):
    """The request one contact gets in one round; at most one per round and contact."""

    __tablename__ = "requests"
    __table_args__ = (UniqueConstraint("round_id", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("request_rounds.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    #: the short tag in the subject ("#K7Q2"), so replies match when clients drop headers
    tag: Mapped[str] = mapped_column(String(16), unique=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    # queued | sent | answered | no_topics
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminder_at: Mapped[datetime | None]

    round: Mapped[RequestRound] = relationship(back_populates="requests")
    contact: Mapped[Contact] = relationship()


class OutboxMessage(Base):
    """Every mail the bot sends is a row first; a sender delivers due rows.

    `raw` holds the complete RFC 5322 bytes with a stable Message-ID, so a retry after a crash
    sends the very same mail (at-least-once delivery; recipients' clients de-duplicate by
    Message-ID). `dedupe_key` makes queuing idempotent ("request:<round>:<contact>").
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # request|reminder|followup|receipt|digest
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    # queued | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    #: when `intake purge` deleted the bytes of this sent mail (the row stays: its
    #: Message-ID still matches replies)
    purged_at: Mapped[datetime | None]


class InboundMessage(Base):
    """A received mail, stored raw before anything else looks at it.

    Unique by Message-ID and by (folder, UIDVALIDITY, UID), so fetching twice stores once.
    A processing failure sets status "failed" with the reason; the bytes stay for a replay.
    """

    __tablename__ = "inbound"
    __table_args__ = (UniqueConstraint("folder", "uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str | None] = mapped_column(String(998), unique=True)
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int | None] = mapped_column(Integer)
    uid: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    # new | processed | quarantined | unrecognized | auto_reply | bounce | oversized | failed
    kind: Mapped[str | None] = mapped_column(String(20))  # the parser's kind
    #: why the mail was set aside (quarantine, oversized) or what processing failed with
    error: Mapped[str | None] = mapped_column(Text)
    #: automatic mail (RFC 3834 and friends): never answered, whatever its kind
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    #: how the mail was matched: thread | tag | sender | none
    matched_by: Mapped[str | None] = mapped_column(String(20))
    #: the parse result as `intake parse` prints it, for `intake inbound show`
    parsed: Mapped[dict[str, Any] | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]
    from_address: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), index=True)
    #: when `intake purge` deleted the bytes and the parse result (the row stays: it keeps
    #: the mail from being stored again and says who answered when)
    purged_at: Mapped[datetime | None]
    #: the bytes, in a table of their own (see InboundRaw); loaded when first read
    content: Mapped[InboundRaw] = relationship(cascade="all, delete-orphan",
                                               passive_deletes=True)
    #: the mail's bytes as received (`row.raw`, also as a constructor argument)
    raw: AssociationProxy[bytes] = association_proxy(
        "content", "raw", creator=lambda raw: InboundRaw(raw=raw))


class InboundRaw(Base):
    """A received mail's bytes, apart from its row.

    The row changes as the mail is processed (status, parse result) and is read by every
    look-up; the bytes are written once. SQLite rewrites a whole record, overflow pages
    and all, when any of its columns changes, and walks a large value's overflow chain to
    reach the columns stored after it: a megabyte photo in the row made each status update
    and each look-up of a sender's earlier replies cost a megabyte of I/O."""

    __tablename__ = "inbound_raw"

    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound.id", ondelete="CASCADE"),
                                            primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class MailboxState(Base):
    """What the poller knows about one IMAP folder: for health checks and UIDVALIDITY changes.

    Deduplication does not depend on it (the inbound table's constraints do that), so losing
    this row loses nothing.
    """

    __tablename__ = "mailbox_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    folder: Mapped[str] = mapped_column(String(255), unique=True)
    uidvalidity: Mapped[int | None] = mapped_column(Integer)
    last_uid: Mapped[int | None] = mapped_column(Integer)
    last_poll_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class Absence(Base):
    """An out-of-office: no reminders or follow-ups to this address until `until` (inclusive)."""

    __tablename__ = "absences"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound.id"), unique=True)
    until: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime]


class Blob(Base):
    """An attachment's content, once per content (the same photo sent twice is one row).

    The bytes stay in the received mail they came in (`inbound_id`, `data` NULL) until that
    mail's bytes are purged, and are copied here first (see `bot.blobs`)."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: the mail whose bytes hold the content while `data` is NULL
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound.id"), index=True)
    created_at: Mapped[datetime]


class Topic(Base):
    """A topic a department reported; one inbound mail may carry several (position)."""

    __tablename__ = "topics"
    __table_args__ = (UniqueConstraint("inbound_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="incomplete")
    # complete | incomplete | withdrawn
    what: Mapped[str | None] = mapped_column(Text)
    when_text: Mapped[str | None] = mapped_column(Text)
    when_start: Mapped[date | None] = mapped_column(Date, index=True)
    when_end: Mapped[date | None] = mapped_column(Date)
    when_time: Mapped[str | None] = mapped_column(String(5))
    where: Mapped[str | None] = mapped_column(Text)
    who: Mapped[str | None] = mapped_column(Text)
    how_many_text: Mapped[str | None] = mapped_column(Text)
    how_many_min: Mapped[int | None] = mapped_column(Integer)
    how_many_max: Mapped[int | None] = mapped_column(Integer)
    quote: Mapped[str | None] = mapped_column(Text)
    missing: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    #: the follow-up budget is spent (or asking makes no sense any more): the officer
    #: sees the topic as incomplete and no further question goes out
    escalated_at: Mapped[datetime | None]

    attachments: Mapped[list[Attachment]] = relationship(back_populates="topic")
    followups: Mapped[list[FollowUp]] = relationship(back_populates="topic")


class Attachment(Base):
    """A file that came with a reply; size-limited, name sanitised by the parser."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound.id"), index=True)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    #: the content's key in `blobs`; None when the file was over the size limit
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # unused since blobs; kept for 0001
    created_at: Mapped[datetime]

    topic: Mapped[Topic | None] = relationship(back_populates="attachments")


class TopicChange(Base):
    """One field of a topic changed by a later mail (a follow-up answer, a correction)."""

    __tablename__ = "topic_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id"), index=True)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound.id"), index=True)
    field: Mapped[str] = mapped_column(String(20))
    old_value: Mapped[dict[str, Any] | None]
    new_value: Mapped[dict[str, Any] | None]
    changed_at: Mapped[datetime]


class Digest(Base):
    """The officer's digest of one ISO week: unique per week, so a rerun or a crash after
    queuing never sends a second one."""

    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[str] = mapped_column(String(8), unique=True)  # "2027-W03"
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    created_at: Mapped[datetime]
    #: what the digest showed, for the next one's "new since the last digest"
    covered_until: Mapped[datetime]
    topic_count: Mapped[int] = mapped_column(Integer, default=0)


class FollowUp(Base):
    """One question asked back about one topic; several share one bundled outbox mail."""

    __tablename__ = "followups"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), index=True)
    fields: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]

    topic: Mapped[Topic] = relationship(back_populates="followups")


class Heartbeat(Base):
    """When a worker last finished a job (its outbox tick): `intake health` reads it, and a
    container whose worker stopped ticking is reported unhealthy. One row per job and worker
    (the host name, which is the container's own in Docker)."""

    __tablename__ = "heartbeats"
    __table_args__ = (UniqueConstraint("job", "worker"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(50))
    worker: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]
