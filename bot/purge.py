"""Retention: what `intake purge` deletes, and when.

Data protection (DSGVO Art. 5 (1) e, storage limitation) asks that personal data is kept no
longer than the purpose needs. The purpose here is planning posts, so `[retention]` sets
three periods:

- raw mail (`raw_mail_days`): a received mail's bytes and parse result, and the bytes of the
  bot's own sent mails. The row stays as a register (when, from whom, subject, status): it
  keeps the mail from being stored twice, and its Message-ID still matches later replies.
  Mail not yet processed, failed and waiting for a replay, or still waiting to be sent, is
  never touched.
- attachments (`attachments_days`): files that came with replies, counted from their arrival;
  a file's bytes go when no attachment refers to them any more.
- topics (`topics_days`): counted from the event (its last day; without a date, from when it
  arrived), deleted with their history, follow-up questions and files.

Zero keeps a kind forever. One transaction: a purge that fails deletes nothing, and a dry
run is the same transaction rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.blobs import keep_files_of
from bot.config import RetentionSettings
from db.models import (
    Attachment,
    Blob,
    FollowUp,
    InboundMessage,
    InboundRaw,
    OutboxMessage,
    Topic,
    TopicChange,
)

#: received mail that is still being worked on keeps its bytes whatever its age: not yet
#: processed, or failed and waiting for a fix and `intake inbound replay --failed`
_UNFINISHED = ("new", "failed")
#: ids per statement (SQLite allows 32,766 parameters; PostgreSQL more)
_CHUNK = 500


@dataclass
class PurgeReport:
    """What a purge deleted (a dry run: would delete), and the cut-off of each kind."""

    raw_before: datetime | None = None
    attachments_before: datetime | None = None
    topics_before: date | None = None
    inbound: int = 0
    outbox: int = 0
    raw_bytes: int = 0
    attachments: int = 0
    topics: int = 0
    changes: int = 0
    followups: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    #: received mails past retention whose bytes stay: a file they hold was not found again
    raw_kept: int = 0

    @property
    def nothing(self) -> bool:
        return not (self.inbound or self.outbox or self.attachments or self.topics
                    or self.blobs or self.raw_kept)


def purge(session: Session, retention: RetentionSettings, now: datetime) -> PurgeReport:
    """Delete what is past its retention and say what; the caller commits (or, for a dry
    run, rolls back: the same statements, so a dry run counts exactly what a run deletes)."""
    report = PurgeReport()
    if retention.topics_days:
        report.topics_before = now.date() - timedelta(days=retention.topics_days)
        _topics(session, report, now)
    if retention.attachments_days:
        report.attachments_before = now - timedelta(days=retention.attachments_days)
        old = Attachment.created_at < report.attachments_before
        report.attachments += _count(session, Attachment, old)
        session.execute(delete(Attachment).where(old))
    # file contents no attachment refers to any more
    orphan = Blob.sha256.not_in(select(Attachment.sha256).where(Attachment.sha256.is_not(None)))
    count, size = session.execute(
        # bytes freed: a content still in its mail (data NULL) has none of its own
        select(func.count(), func.coalesce(func.sum(func.length(Blob.data)), 0))
        .where(orphan)).one()
    report.blobs, report.blob_bytes = int(count), int(size)
    if count:
        session.execute(delete(Blob).where(orphan))
    if retention.raw_mail_days:
        report.raw_before = now - timedelta(days=retention.raw_mail_days)
        _raw_mail(session, report, now)
    return report


def _topics(session: Session, report: PurgeReport, now: datetime) -> None:
    """The topics whose event (its last day; without a date, their arrival) is before the
    cut-off, with everything that hangs on them."""
    assert report.topics_before is not None
    cut = report.topics_before
    last_day = func.coalesce(Topic.when_end, Topic.when_start)
    arrived_before = datetime.combine(cut, datetime.min.time(), tzinfo=now.tzinfo)
    ids = list(session.scalars(select(Topic.id).where(or_(
        last_day < cut, and_(last_day.is_(None), Topic.created_at < arrived_before)))
        .order_by(Topic.id)))
    report.topics = len(ids)
    for chunk in _chunks(ids):
        report.changes += _count(session, TopicChange, TopicChange.topic_id.in_(chunk))
        report.followups += _count(session, FollowUp, FollowUp.topic_id.in_(chunk))
        report.attachments += _count(session, Attachment, Attachment.topic_id.in_(chunk))
        session.execute(delete(TopicChange).where(TopicChange.topic_id.in_(chunk)))
        session.execute(delete(FollowUp).where(FollowUp.topic_id.in_(chunk)))
        session.execute(delete(Attachment).where(Attachment.topic_id.in_(chunk)))
        session.execute(delete(Topic).where(Topic.id.in_(chunk)))


def _raw_mail(session: Session, report: PurgeReport, now: datetime) -> None:
    before = report.raw_before
    inbound = and_(InboundMessage.received_at < before, InboundMessage.purged_at.is_(None),
                   InboundMessage.status.not_in(_UNFINISHED))
    # The mails are chosen once, and locked (PostgreSQL; SQLite has one writer anyway): a
    # worker that processed one of them again (a replay) between the copying of its files
    # and the deletion of its bytes could leave a file whose bytes were only there.
    ids = list(session.scalars(select(InboundMessage.id).where(inbound)
                               .order_by(InboundMessage.id).with_for_update()))
    inbound_bytes = 0
    for chosen in _chunks(ids):
        # the files whose bytes are only in these mails are copied out first; a mail whose
        # file cannot be found again keeps its bytes (bot.blobs)
        kept = keep_files_of(session, chosen)
        report.raw_kept += len(kept)
        chunk = [i for i in chosen if i not in kept]
        count, size = _count_bytes(session, InboundRaw.raw, InboundRaw.inbound_id.in_(chunk))
        report.inbound += count
        inbound_bytes += size
        session.execute(update(InboundRaw).where(InboundRaw.inbound_id.in_(chunk))
                        .values(raw=b""), execution_options={"synchronize_session": False})
        session.execute(update(InboundMessage).where(InboundMessage.id.in_(chunk)).values(
            parsed=None, purged_at=now), execution_options={"synchronize_session": False})
    # sent mail only: a failed one may still be sent again with `intake outbox --retry-failed`
    outbox = and_(OutboxMessage.status == "sent", OutboxMessage.sent_at < before,
                  OutboxMessage.purged_at.is_(None))
    report.outbox, outbox_bytes = _count_bytes(session, OutboxMessage.raw, outbox)
    report.raw_bytes = inbound_bytes + outbox_bytes
    session.execute(update(OutboxMessage).where(outbox).values(
        raw=b"", purged_at=now), execution_options={"synchronize_session": False})


def _count(session: Session, model: type[object], where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(where)) or 0)


def _count_bytes(session: Session, column: InstrumentedAttribute[bytes],
                 where: ColumnElement[bool]) -> tuple[int, int]:
    count, size = session.execute(select(
        func.count(), func.coalesce(func.sum(func.length(column)), 0)).where(where)).one()
    return int(count), int(size)


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[k:k + _CHUNK] for k in range(0, len(ids), _CHUNK)]
