"""Storing the topics of one accepted reply, with their attachments.

Idempotent per mail: a topic is unique by (mail, position), so processing the same stored
mail again (a replay after a fix, a batch redone after a crash) updates those topics instead
of adding new ones, and records every changed field in the topic's history.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.inlists import among
from db.models import Absence, Attachment, Blob, InboundMessage, Topic, TopicChange
from parsers import ParseResult
from parsers import Topic as ParsedTopic

#: the topic columns each contract field is stored in
FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "what": ("what",),
    "when": ("when_text", "when_start", "when_end", "when_time"),
    "where": ("where",),
    "who": ("who",),
    "how_many": ("how_many_text", "how_many_min", "how_many_max"),
    "quote": ("quote",),
}


def field_values(parsed: ParsedTopic) -> dict[str, dict[str, Any]]:
    """The parsed topic as column values per contract field (None values for blanks)."""
    when = parsed.when
    many = parsed.how_many
    return {
        "what": {"what": parsed.what},
        "when": {"when_text": when.text if when else None,
                 "when_start": when.start if when else None,
                 "when_end": when.end if when else None,
                 "when_time": when.time if when else None},
        "where": {"where": parsed.where},
        "who": {"who": parsed.who},
        "how_many": {"how_many_text": many.text if many else None,
                     "how_many_min": many.min if many else None,
                     "how_many_max": many.max if many else None},
        "quote": {"quote": parsed.quote},
    }


def snapshot(topic: Topic, field: str) -> dict[str, Any] | None:
    """One field of a stored topic as JSON-safe values (for the history)."""
    values = {column: getattr(topic, column) for column in FIELD_COLUMNS[field]}
    if all(v is None for v in values.values()):
        return None
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}


def status_of(missing: list[str]) -> str:
    return "incomplete" if missing else "complete"


class Stored:
    """What a batch of mails stored before (a replay, a batch redone after a crash): one
    query each for the whole batch instead of one per mail. Holds the loaded topics (the
    session's identity map alone would let them go). What the batch adds is written with
    the batch, without a savepoint each: should a concurrent worker add the same (a blob),
    the batch fails on it and is processed again mail by mail."""

    def __init__(self, session: Session, inbound_ids: Sequence[int],
                 digests: Sequence[str]) -> None:
        self.topics: dict[int, list[Topic]] = {}
        self.with_attachments: set[int] = set()
        #: the mails with an out-of-office absence recorded
        self.with_absence: set[int] = set()
        self.blobs: set[str] = set()
        ids = sorted(set(inbound_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for topic in session.scalars(
                    select(Topic).where(among(session, Topic.inbound_id, chunk))):
                self.topics.setdefault(topic.inbound_id, []).append(topic)
            self.with_attachments.update(session.scalars(
                select(Attachment.inbound_id).where(among(session, Attachment.inbound_id, chunk))))
            self.with_absence.update(session.scalars(
                select(Absence.inbound_id).where(among(session, Absence.inbound_id, chunk))))
        wanted = sorted(set(digests))
        for start in range(0, len(wanted), 500):
            self.blobs.update(session.scalars(select(Blob.sha256).where(
                among(session, Blob.sha256, wanted[start:start + 500]))))


def store_topics(session: Session, inbound: InboundMessage, result: ParseResult, *,
                 department_id: int, contact_id: int | None, request_id: int | None,
                 now: datetime, stored: Stored | None = None) -> list[Topic]:
    """The mail's topics, new or updated; not flushed (ids come with the next flush)."""
    if stored is not None:
        existing = {t.position: t for t in stored.topics.get(inbound.id, [])}
    else:
        existing = {t.position: t for t in session.scalars(
            select(Topic).where(Topic.inbound_id == inbound.id))}
    kept: list[Topic] = []
    for position, parsed in enumerate(result.topics):
        values = field_values(parsed)
        topic = existing.pop(position, None)
        if topic is None:
            topic = Topic(inbound_id=inbound.id, position=position, department_id=department_id,
                          contact_id=contact_id, request_id=request_id, created_at=now,
                          updated_at=now, missing=list(parsed.missing),
                          status=status_of(list(parsed.missing)))
            for columns in values.values():
                for column, value in columns.items():
                    setattr(topic, column, value)
            session.add(topic)
        else:
            update_fields(session, topic, values, inbound_id=inbound.id, now=now)
            topic.missing = list(parsed.missing)
            topic.status = status_of(topic.missing)
        kept.append(topic)
    for leftover in existing.values():  # a replay found fewer topics than before
        leftover.status = "withdrawn"
        leftover.updated_at = now
    return kept


def update_fields(session: Session, topic: Topic, values: dict[str, dict[str, Any]], *,
                  inbound_id: int | None, now: datetime) -> list[str]:
    """Set the given fields, keeping what they were in the history; the changed fields."""
    changed: list[str] = []
    for field, columns in values.items():
        before = snapshot(topic, field)
        for column, value in columns.items():
            setattr(topic, column, value)
        after = snapshot(topic, field)
        if before != after:
            changed.append(field)
            session.add(TopicChange(topic_id=topic.id, inbound_id=inbound_id, field=field,
                                    old_value=before, new_value=after, changed_at=now))
    if changed:
        topic.updated_at = now
    return changed


def store_attachments(session: Session, inbound: InboundMessage, result: ParseResult,
                      topics: list[Topic], now: datetime, *,
                      digests: Sequence[str | None] | None = None,
                      stored: Stored | None = None) -> int:
    """Each real attachment once per mail, each content once (`blobs`). A file belongs to
    the topic whose `Bilder:` line names it, unnamed files to the first topic. `digests`:
    the attachments' sha256 (None: no bytes kept), when computed already; the result's
    attachments need no bytes then."""
    if not result.attachments:
        return 0
    if stored is not None:
        if inbound.id in stored.with_attachments:
            return 0  # stored by an earlier run of this mail
    elif session.scalar(select(Attachment.id).where(Attachment.inbound_id == inbound.id)):
        return 0
    owner: dict[str, Topic] = {}
    for topic, parsed in zip(topics, result.topics, strict=False):
        for name in parsed.attachments:
            owner.setdefault(name, topic)
    count = 0
    for index, attachment in enumerate(result.attachments):
        digest: str | None = None
        if digests is not None:
            digest = digests[index]
        elif not attachment.truncated and attachment.content:
            digest = hashlib.sha256(attachment.content).hexdigest()
        if digest is not None:
            # no bytes of its own: they are read from the stored mail (bot.blobs)
            _store_blob(session, Blob(sha256=digest, size=attachment.size, data=None,
                                      inbound_id=inbound.id, created_at=now), stored)
        holder = owner.get(attachment.filename) or (topics[0] if topics else None)
        # by relationship: a new topic gets its id when the session flushes, not here
        session.add(Attachment(inbound_id=inbound.id, topic=holder,
                               filename=attachment.filename[:255],
                               content_type=attachment.content_type[:255],
                               size=attachment.size, sha256=digest, data=None, created_at=now))
        count += 1
    return count


def _store_blob(session: Session, blob: Blob, stored: Stored | None = None) -> None:
    if stored is not None:
        # a batch: inserted with the batch; should a concurrent worker store the same file
        # first, the batch fails on it and is processed again mail by mail (below)
        if blob.sha256 not in stored.blobs:
            stored.blobs.add(blob.sha256)
            session.add(blob)
        return
    if session.scalar(select(Blob.sha256).where(Blob.sha256 == blob.sha256)) is not None:
        return
    try:
        with session.begin_nested():
            session.add(blob)
    except IntegrityError:  # a concurrent worker stored the same file a moment ago
        pass
