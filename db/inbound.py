"""Queries for received mail. They take a Session and never commit (the caller owns the
transaction: a fetched batch, or a batch of mails processed together)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only, selectinload

from db.inlists import among
from db.models import InboundMessage, InboundRaw, MailboxState

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
    key = _key(message_id, digest)
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


def _key(message_id: str | None, digest: str) -> str:
    """What a mail is known by: its Message-ID, else (none, or longer than the column) the
    hash of its bytes."""
    if message_id and len(message_id) <= MAX_MESSAGE_ID:
        return message_id
    return f"<sha256.{digest}@intake.invalid>"


@dataclass(frozen=True)
class RawMail:
    """One fetched mail, as `store_raws` takes it."""

    raw: bytes
    message_id: str | None
    uid: int | None
    from_address: str | None = None
    subject: str | None = None


def store_raws(session: Session, mails: Sequence[RawMail], *, folder: str,
               uidvalidity: int | None, now: datetime) -> list[int | None]:
    """`store_raw` for a fetched batch: the new rows' ids, None for each duplicate, in the
    order given. One query for the duplicates, one insert for the rest (in a savepoint),
    one query for their ids. When a concurrent poller stored one of them a moment ago, the
    batch falls back to one savepoint per mail.
    """
    digests = [hashlib.sha256(mail.raw).hexdigest() for mail in mails]
    keys = [_key(mail.message_id, digest) for mail, digest in zip(mails, digests, strict=True)]
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        known.update(session.scalars(select(InboundMessage.message_id).where(
            among(session, InboundMessage.message_id, keys[start:start + 500]))))
    new: list[dict[str, object]] = []
    out: list[str | None] = []  # per mail: its key when it is inserted now
    for mail, digest, key in zip(mails, digests, keys, strict=True):
        out.append(None if key in known else key)  # else stored before, or twice here
        if key not in known:
            known.add(key)
            new.append({"message_id": key, "folder": folder, "uidvalidity": uidvalidity,
                        "uid": mail.uid, "sha256": digest,
                        "size": len(mail.raw), "received_at": now, "status": "new",
                        "error": None, "from_address": mail.from_address,
                        "subject": mail.subject, "automatic": False, "attempts": 0})
    if not new:
        return [None] * len(mails)
    ids: dict[str, int] = {}
    try:
        with session.begin_nested():
            session.execute(insert(InboundMessage), new)
            stored = [str(values["message_id"]) for values in new]
            for start in range(0, len(stored), 500):
                ids.update((str(key), row_id) for key, row_id in session.execute(
                    select(InboundMessage.message_id, InboundMessage.id).where(
                        among(session, InboundMessage.message_id,
                                                 stored[start:start + 500]))))
            # a statement per row (psycopg pipelines them): one statement for the whole
            # batch would make the driver hold all its bytes at once, and keep a buffer that
            # large for as long as the connection lives
            session.execute(insert(InboundRaw), [
                {"inbound_id": ids[key], "raw": mail.raw}
                for mail, key in zip(mails, out, strict=True) if key is not None])
    except IntegrityError:
        rows = [store_raw(session, raw=mail.raw, message_id=mail.message_id, folder=folder,
                          uidvalidity=uidvalidity, uid=mail.uid, size=len(mail.raw), now=now,
                          from_address=mail.from_address, subject=mail.subject)
                for mail in mails]
        return [row.id if row is not None else None for row in rows]
    return [ids[key] if key is not None else None for key in out]


def count_waiting(session: Session, statuses: Sequence[str] = ("new",)) -> int:
    return int(session.scalar(select(func.count()).select_from(InboundMessage).where(
        InboundMessage.status.in_(list(statuses)))) or 0)


def claim_batch(session: Session, statuses: Sequence[str] | None = ("new",), *,
                after_id: int = 0, limit: int = 25,
                only_ids: Sequence[int] | None = None) -> list[InboundMessage]:
    """The oldest rows waiting to be processed (after `after_id`; `statuses` None: any
    status; `only_ids`: among these), locked for this transaction.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` lets several workers drain the queue without
    taking the same mail: each claims the next rows nobody holds. SQLite's BEGIN IMMEDIATE
    serialises writers anyway.
    """
    # their bytes too, in one more query (whoever claims a waiting row parses it)
    stmt = select(InboundMessage).options(selectinload(InboundMessage.content)).where(
        InboundMessage.id > after_id)
    if statuses is not None:
        stmt = stmt.where(InboundMessage.status.in_(list(statuses)))
    if only_ids is not None:
        stmt = stmt.where(InboundMessage.id.in_(list(only_ids)))
    return list(session.scalars(stmt.order_by(InboundMessage.id).limit(limit)
                                .with_for_update(skip_locked=True)))


def claim_rows(session: Session, ids: Sequence[int],
               statuses: Sequence[str] | None = ("new",)) -> list[InboundMessage]:
    """These rows, those still in `statuses` (None: any) and held by no other transaction,
    locked for this one, in id order; their bytes are not loaded (the caller has them)."""
    if not ids:
        return []
    stmt = select(InboundMessage).where(among(session, InboundMessage.id, ids))
    if statuses is not None:
        stmt = stmt.where(InboundMessage.status.in_(list(statuses)))
    return list(session.scalars(stmt.order_by(InboundMessage.id)
                                .with_for_update(skip_locked=True)))


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
