"""The answers listening itself gives: a polite notice that a mail was too large, and (when
switched on) a short receipt listing what was understood.

Only to a known, active contact, never to automatic mail, in the sender's thread; the notice
at most once per person and day, receipts at most RECEIPTS_PER_DAY (the outbox's dedupe key).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.app import App
from bot.compose import Composer
from bot.outbox import enqueue
from db.models import Contact, InboundMessage, Request
from parsers import parse_message

log = logging.getLogger("intake.listening")


def _mb(size: int) -> str:
    return f"{max(1, round(size / 1048576))} MB"


def queue_oversized_notices(app: App, inbound_ids: Sequence[int]) -> int:
    composer = Composer(app)
    limit = app.settings.inbound.max_message_mb * 1024 * 1024
    queued = 0
    for inbound_id in inbound_ids:
        with app.sessions.begin() as session:
            row = session.get(InboundMessage, inbound_id)
            if row is None:
                continue
            headers = parse_message(row.raw)  # only the headers are stored
            if headers.automatic or headers.kind in ("auto_reply", "bounce"):
                continue
            sender = (headers.from_address or "").lower()
            contact = session.query(Contact).filter(Contact.email == sender).one_or_none()
            if contact is None or not contact.active or contact.bounced_at is not None:
                continue
            row.contact_id = contact.id
            request = None
            tag = headers.subject_tag
            if tag is not None:
                request = session.query(Request).filter(Request.tag == tag.code).one_or_none()
            subject_tag = ""
            if request is not None and request.department_id == contact.department_id:
                from parsers.tags import format_tag

                subject_tag = format_tag(request.round.month, request.tag)
            rendered = composer.render("oversized", {
                **composer.contact_context(salutation=contact.salutation, name=contact.name,
                                           department=contact.department.name,
                                           subject_tag=subject_tag),
                "original_subject": headers.subject or "",
                "size_label": _mb(row.size), "limit_label": _mb(limit),
            })
            now = app.now()
            message_id = composer.message_id("big", str(row.id))
            raw = composer.build(rendered, to_address=contact.email, to_name=contact.name,
                                 message_id=message_id, now=now, suppress_oof=True,
                                 in_reply_to=headers.message_id)
            # one note per person and day, however many large mails arrive (a mail storm
            # or a client resending must not make the bot send a storm back)
            day = now.astimezone(app.tz).date().isoformat()
            if enqueue(session, kind="notice", dedupe_key=f"oversized:{contact.id}:{day}",
                       message_id=message_id, to_address=contact.email,
                       subject=rendered.subject, raw=raw, now=now, contact_id=contact.id,
                       request_id=request.id if request else None) is not None:
                queued += 1
                log.info("mail %s from %s was too large (%s); %s was asked to send it again "
                         "smaller", row.id, contact.email, _mb(row.size), contact.email)
    return queued


#: receipts one person gets per day at most: a colleague who sends a correction is thanked
#: again, a storm of replies (or a program that answers everything) gets no storm back
RECEIPTS_PER_DAY = 3


def queue_receipts(app: App, inbound_ids: Sequence[int]) -> int:
    """A thank-you per accepted reply, listing the topics understood; never to automatic mail,
    once per received mail, in its thread, at most RECEIPTS_PER_DAY per person and day."""
    from sqlalchemy import func, select

    from db.models import OutboxMessage, Topic

    composer = Composer(app)
    queued = 0
    for inbound_id in inbound_ids:
        with app.sessions.begin() as session:
            row = session.get(InboundMessage, inbound_id)
            if row is None or row.automatic or row.contact_id is None:
                continue
            contact = session.get(Contact, row.contact_id)
            if contact is None or not contact.active or contact.bounced_at is not None:
                continue
            now = app.now()
            # the day's receipts are numbered in their dedupe keys, so two workers at once
            # cannot both take the last one
            day = f"receipt:{contact.id}:{now.astimezone(app.tz).date().isoformat()}:"
            given = session.scalar(select(func.count(OutboxMessage.id)).where(
                OutboxMessage.dedupe_key.startswith(day, autoescape=True))) or 0
            if given >= RECEIPTS_PER_DAY:
                log.info("mail %s from %s: no receipt (%d sent to this address today "
                         "already)", row.id, contact.email, given)
                continue
            topics = list(session.scalars(select(Topic).where(
                Topic.inbound_id == row.id, Topic.status != "withdrawn")
                .order_by(Topic.position)))
            request = session.get(Request, row.request_id) if row.request_id else None
            tag = ""
            if request is not None:
                from parsers.tags import format_tag

                tag = format_tag(request.round.month, request.tag)
            rendered = composer.render("receipt", {
                **composer.contact_context(salutation=contact.salutation, name=contact.name,
                                           department=contact.department.name,
                                           subject_tag=tag),
                "topics": [{"what": t.what or "", "when_text": t.when_text or ""}
                           for t in topics],
            })
            message_id = composer.message_id("thx", str(row.id))
            raw = composer.build(rendered, to_address=contact.email, to_name=contact.name,
                                 message_id=message_id, now=now, suppress_oof=True,
                                 in_reply_to=row.message_id)
            if enqueue(session, kind="receipt", dedupe_key=f"{day}{given + 1}",
                       message_id=message_id, to_address=contact.email,
                       subject=rendered.subject, raw=raw, now=now, contact_id=contact.id,
                       request_id=request.id if request else None) is not None:
                queued += 1
    return queued
