"""Automatic mail: bounces mark an address as failing, out-of-office replies pause mail.

Neither is ever answered. A bounce is trusted only when it points at a mail the bot sent
(the returned Message-ID or the thread) or names a known contact's address; the officer
sees every bounce in `intake inbound list --status bounced`.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Absence, Contact, InboundMessage

log = logging.getLogger("intake.listening")


def mark_bounced(contact: Contact, reason: str, now: datetime) -> bool:
    """Mark the address failing; True when it was not marked before."""
    first = contact.bounced_at is None
    contact.bounced_at = contact.bounced_at or now
    contact.bounce_reason = reason[:1000]
    if first:
        log.warning("mail to %s bounced (%s); reminders and follow-ups to it stop",
                    contact.email, reason[:200])
    return first


def record_absence(session: Session, contact: Contact, inbound: InboundMessage,
                   until: date, now: datetime, *, recorded: bool | None = None) -> None:
    """Pause reminders and follow-ups to this address until `until` (inclusive).

    `recorded`: whether this mail's absence is stored already, when the caller looked it up
    (a batch of mails does, for all at once); the row is then added without a savepoint, and
    a concurrent duplicate fails the caller's transaction instead."""
    absence = Absence(contact_id=contact.id, inbound_id=inbound.id, until=until, created_at=now)
    if recorded is not None:
        if recorded:
            return
        session.add(absence)
    else:
        if session.scalar(select(Absence.id).where(Absence.inbound_id == inbound.id)):
            return
        try:
            with session.begin_nested():
                session.add(absence)
        except IntegrityError:
            return
    log.info("%s is away until %s; no reminders or follow-ups to it before then",
             contact.email, until.isoformat())


def absent_until(session: Session, contact_id: int, today: date) -> date | None:
    """The last day of the longest absence of this contact that is not over yet."""
    return session.scalar(select(Absence.until).where(
        Absence.contact_id == contact_id, Absence.until >= today)
        .order_by(Absence.until.desc()).limit(1))
