"""Asking back: turn the follow-up policy's decision into bundled mails, and hand topics
whose budget is spent to the officer. One transaction for the whole decision: the FollowUp
rows and their outbox mail commit together, so a crash never asks twice or loses a question.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import calendar
from bot.app import App
from bot.compose import Composer
from bot.listening.followups import Bounds, Decision, PersonState, TopicState, decide
from bot.outbox import enqueue
from db.models import (
    Absence,
    Contact,
    Department,
    FollowUp,
    InboundMessage,
    OutboxMessage,
    Request,
    Topic,
)
from db.session import unit_of_work
from parsers.tags import format_tag

log = logging.getLogger("intake.followups")


@dataclass
class PlannedQuestion:
    to_address: str
    department: str
    subject: str
    text: str
    topics: list[str]


@dataclass
class AskBackResult:
    queued: list[PlannedQuestion] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)  # (topic, reason)
    escalated: list[tuple[str, str]] = field(default_factory=list)


def bounds(app: App) -> Bounds:
    s = app.settings.schedule
    return Bounds(max_followups=s.max_followups, quiet_working_days=s.quiet_working_days,
                  min_days_before=s.followup_min_days_before, after_hours=s.followup_after_hours)


def load_state(session: Session) -> tuple[list[TopicState], list[PersonState]]:
    counts: dict[int, int] = {
        topic_id: n for topic_id, n in session.execute(
            select(FollowUp.topic_id, func.count(FollowUp.id)).group_by(FollowUp.topic_id))}
    topics = [
        TopicState(id=t.id, contact_id=t.contact_id, what=t.what, missing=tuple(t.missing),
                   start=t.when_start, end=t.when_end, updated_at=t.updated_at,
                   followups_sent=counts.get(t.id, 0), escalated=t.escalated_at is not None)
        for t in session.scalars(select(Topic).where(
            Topic.status == "incomplete", Topic.escalated_at.is_(None),
            Topic.contact_id.is_not(None)))
        if t.contact_id is not None
    ]
    ids = sorted({t.contact_id for t in topics})
    people: list[PersonState] = []
    for contact, department in session.execute(
            select(Contact, Department).join(Department).where(Contact.id.in_(ids))):
        away = session.scalar(select(func.max(Absence.until))
                              .where(Absence.contact_id == contact.id))
        last = session.scalar(select(func.max(OutboxMessage.created_at)).where(
            (OutboxMessage.contact_id == contact.id)
            | (OutboxMessage.to_address == contact.email),
            OutboxMessage.status != "failed"))
        people.append(PersonState(contact_id=contact.id,
                                  active=contact.active and department.active,
                                  bounced=contact.bounced_at is not None, absent_until=away,
                                  last_mail_at=last))
    return topics, people


def _name(topic: Topic) -> str:
    return topic.what or f"Thema T-{topic.id}"


def ask_back(app: App, dry_run: bool = False) -> AskBackResult:
    """Decide and queue what is due now; with dry_run, roll everything back."""
    now = app.now()
    tz, state = app.tz, app.settings.schedule.state
    today = calendar.local_date(now, tz)
    result = AskBackResult()
    labels = app.settings.labels()
    composer = Composer(app)
    with unit_of_work(app.sessions, dry_run=dry_run) as session:
        topics, people = load_state(session)
        decision: Decision = decide(
            topics, people, now=now, today=today, bounds=bounds(app),
            is_working_day=lambda day: calendar.is_working_day(day, state),
            local_date=lambda moment: calendar.local_date(moment, tz))
        for topic_id, reason in decision.escalate.items():
            topic = session.get(Topic, topic_id)
            assert topic is not None
            topic.escalated_at = now
            result.escalated.append((_name(topic), reason))
            log.info("topic T-%s goes to the officer as incomplete: %s", topic_id, reason)
        for topic_id, reason in decision.held.items():
            topic = session.get(Topic, topic_id)
            assert topic is not None
            result.held.append((_name(topic), reason))
        for ask in decision.asks:
            planned = _queue_ask(session, app, composer, labels, ask.contact_id,
                                 [(q.topic_id, q.fields) for q in ask.questions], now)
            if planned is not None:
                result.queued.append(planned)
    return result


def _queue_ask(session: Session, app: App, composer: Composer,
               labels: dict[str, tuple[str, ...]], contact_id: int,
               questions: list[tuple[int, tuple[str, ...]]],
               now: datetime) -> PlannedQuestion | None:
    contact = session.get(Contact, contact_id)
    assert contact is not None
    topics = [session.get(Topic, topic_id) for topic_id, _ in questions]
    first = topics[0]
    assert first is not None
    request = session.get(Request, first.request_id) if first.request_id else None
    source = session.get(InboundMessage, first.inbound_id)
    tag = format_tag(request.round.month, request.tag) if request is not None else ""
    nth = {t.id: 1 + (session.scalar(select(func.count(FollowUp.id))
                                     .where(FollowUp.topic_id == t.id)) or 0)
           for t in topics if t is not None}
    asked = ",".join(f"{tid}.{nth[tid]}" for tid, _ in questions)
    # many topics at once: a hash of the list keeps the key within its column, as unique
    key = "followup:" + (asked if len(asked) <= 200 else
                         "sha256." + hashlib.sha256(asked.encode()).hexdigest())
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
        return None
    rendered = composer.render("followup", {
        **composer.contact_context(salutation=contact.salutation, name=contact.name,
                                   department=contact.department.name, subject_tag=tag),
        "questions": [{"topic_what": (t.what or "") if t else "",
                       "missing_labels": [labels[f][0] for f in fields if f in labels]}
                      for t, (_, fields) in zip(topics, questions, strict=True)],
        "reply_hint": "",
        "block_start": app.settings.templates.block_start,
        "block_end": app.settings.templates.block_end,
    })
    hint = "-".join(str(tid) for tid, _ in questions)
    if len(hint) > 60:  # the Message-ID names the first topic and how many more
        hint = f"{questions[0][0]}-and-{len(questions) - 1}"
    message_id = composer.message_id("ask", hint)
    thread = [m for m in (request.message_id if request else None,
                          source.message_id if source else None) if m]
    raw = composer.build(rendered, to_address=contact.email, to_name=contact.name,
                         message_id=message_id, now=now, suppress_oof=True,
                         in_reply_to=thread[-1] if thread else None, references=thread)
    row = enqueue(session, kind="followup", dedupe_key=key, message_id=message_id,
                  to_address=contact.email, subject=rendered.subject, raw=raw, now=now,
                  request_id=request.id if request else None, contact_id=contact.id)
    if row is None:
        return None
    session.flush()
    for topic_id, fields in questions:
        session.add(FollowUp(topic_id=topic_id, contact_id=contact.id, outbox_id=row.id,
                             fields=list(fields), created_at=now))
    log.info("follow-up to %s about %d topic(s) queued", contact.email, len(questions))
    return PlannedQuestion(contact.email, contact.department.name, rendered.subject,
                           rendered.text, [_name(t) for t in topics if t is not None])
