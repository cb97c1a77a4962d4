"""Queries for received mail. They take a Session and never commit (the caller owns the
transaction, one per message)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only

from db.models import InboundMessage, MailboxState

#: Message-IDs longer than this are not believed (the column's limit; RFC 5322 lines: 998)
MAX_MESSAGE_ID = 998


def stored_uids(session: Session, folder: str, uidvalidity: int,
                uids: Sequence[int]) -> dict[int, InboundMessage]:
    """The rows already stored for these UIDs of this folder generation: their id, UID and
    status only, not their bytes (a folder may hold thousands of mails after an outage)."""
    if not uids:
        return {}
    rows = session.scalars(select(InboundMessage).options(
        load_only(InboundMessage.id, InboundMessage.uid, InboundMessage.status)).where(
        InboundMessage.folder == folder, InboundMessage.uidvalidity == uidvalidity,
        InboundMessage.uid.in_(list(uids))))
    return {row.uid: row for row in rows if row.uid is not None}


def store_raw(session: Session, *, raw: bytes, message_id: str | None, folder: str,
              uidvalidity: int | None, uid: int | None, size: int, now: datetime,
              status: str = "new", error: str | None = None,
              from_address: str | None = None, subject: str | None = None
              ) -> InboundMessage | None:
    """Insert one received mail unless it is there already (same Message-ID, or same folder,
    UIDVALIDITY and UID); None for a duplicate. A savepoint keeps a concurrent poller's
    insert of the same mail from aborting the caller's transaction.

    A mail without a Message-ID is known by the hash of its bytes instead, so it is still
    stored exactly once however often it is fetched.
    """
    digest = hashlib.sha256(raw).hexdigest()
    key = message_id if message_id and len(message_id) <= MAX_MESSAGE_ID else None
    if key is None:
        key = f"<sha256.{digest}@intake.invalid>"
    if session.scalar(select(InboundMessage.id).where(InboundMessage.message_id == key)):
        return None
    row = InboundMessage(message_id=key, folder=folder, uidvalidity=uidvalidity, uid=uid,
                         sha256=digest, raw=raw, size=size, received_at=now, status=status,
                         error=error, from_address=from_address, subject=subject,
                         automatic=False, attempts=0)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def claim_next(session: Session, statuses: Sequence[str] = ("new",),
               after_id: int = 0) -> InboundMessage | None:
    """The oldest row waiting to be processed, locked for this transaction.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` lets several workers drain the queue without
    taking the same mail; SQLite's BEGIN IMMEDIATE serialises writers anyway.
    """
    stmt = (select(InboundMessage)
            .where(InboundMessage.status.in_(list(statuses)), InboundMessage.id > after_id)
            .order_by(InboundMessage.id).limit(1)
            .with_for_update(skip_locked=True))
    return session.scalar(stmt)


def mailbox_state(session: Session, folder: str) -> MailboxState:
    state = session.scalar(select(MailboxState).where(MailboxState.folder == folder))
    if state is None:
        state = MailboxState(folder=folder)
        try:
            with session.begin_nested():
                session.add(state)
        except IntegrityError:
            state = session.scalar(select(MailboxState).where(MailboxState.folder == folder))
            assert state is not None
    return state
