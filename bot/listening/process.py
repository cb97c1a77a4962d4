"""Processing stored mail: each row in its own unit of work, parse -> match -> act.

A failure rolls that one mail back and marks it failed with the reason; the bytes stay for
`intake inbound replay`. Processing the same row again (a replay) gives the same outcome:
topics are unique per mail and position, absences per mail, and nothing here sends mail.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import database_problem, one_line
from bot.listening import automatic, followups, topics
from bot.listening.match import Directory, KnownContact, KnownRequest, Match, match
from db.inbound import claim_next
from db.models import (
    Contact,
    Department,
    FollowUp,
    InboundMessage,
    OutboxMessage,
    Request,
    RequestRound,
)
from parsers import ParseOptions, ParseResult, parse_message
from parsers.authres import verdict

log = logging.getLogger("intake.listening")

#: row status per parser kind for an accepted mail
_STATUS = {"topics": "processed", "no_topics": "processed", "auto_reply": "auto_reply",
           "bounce": "bounce", "unrecognized": "unrecognized"}


@dataclass(frozen=True)
class ListenSettings:
    options: ParseOptions
    #: the municipality's own server's authserv-id in Authentication-Results; "" = no check
    authserv_id: str = ""


@dataclass
class ProcessReport:
    processed: int = 0
    topics: int = 0
    failed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    #: mails whose reply (not an answer to a question) gave topics or "keine Themen"
    answered: list[int] = field(default_factory=list)

    def count(self, status: str) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1


class DbDirectory(Directory):
    def __init__(self, session: Session) -> None:
        self.session = session

    def contact(self, email: str) -> KnownContact | None:
        row = self.session.execute(
            select(Contact, Department).join(Department, Contact.department_id == Department.id)
            .where(Contact.email == email)).first()
        if row is None:
            return None
        contact, department = row
        return KnownContact(contact.id, contact.email, department.id, department.name,
                            contact.active and department.active)

    def _known(self, request: Request, outbox: OutboxMessage | None = None) -> KnownRequest:
        department = self.session.get(Department, request.department_id)
        return KnownRequest(request.id, request.department_id,
                            department.name if department else "?", request.tag,
                            outbox.id if outbox else None, outbox.kind if outbox else None)

    def request_by_message_ids(self, message_ids: Sequence[str]) -> KnownRequest | None:
        rows = {o.message_id: o for o in self.session.scalars(
            select(OutboxMessage).where(OutboxMessage.message_id.in_(list(message_ids)),
                                        OutboxMessage.request_id.is_not(None)))}
        for message_id in message_ids:  # the nearest ancestor first
            outbox = rows.get(message_id)
            if outbox is not None and outbox.request_id is not None:
                request = self.session.get(Request, outbox.request_id)
                if request is not None:
                    return self._known(request, outbox)
        # a request's own Message-ID (its outbox row may have been purged)
        request = self.session.scalar(select(Request).where(
            Request.message_id.in_(list(message_ids))).limit(1))
        return self._known(request) if request is not None else None

    def request_by_tag(self, code: str) -> KnownRequest | None:
        request = self.session.scalar(select(Request).where(Request.tag == code))
        return self._known(request) if request is not None else None

    def open_request(self, department_id: int) -> KnownRequest | None:
        request = self.session.scalar(
            select(Request).join(RequestRound).where(Request.department_id == department_id)
            .order_by(RequestRound.month.desc(), Request.id.desc()).limit(1))
        return self._known(request) if request is not None else None


def thread_ids(result: ParseResult) -> list[str]:
    """In-Reply-To first, then References from the newest to the oldest."""
    ids: list[str] = []
    for value in (result.in_reply_to, *reversed(result.references)):
        if value and value not in ids:
            ids.append(value)
    return ids


def _authors(raw: bytes) -> list[str]:
    """Every address the mail's From fields name (RFC 5322 allows several authors)."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    head = BytesHeaderParser(policy=compat32).parsebytes(raw[:256 * 1024] if end < 0
                                                         else raw[:min(end, 256 * 1024)])
    values = [one_line(value) for value in head.get_all("From") or []]
    return [address for _name, address in getaddresses(values) if "@" in address]


def _keep_parsed(row: InboundMessage, result: ParseResult) -> None:
    row.kind = result.kind
    row.automatic = result.automatic or result.kind in ("auto_reply", "bounce")
    row.parsed = json.loads(json.dumps(result.to_json_dict(f"inbound:{row.id}"),
                                       ensure_ascii=False))


#: lines of the bot's own mail at least this long tell that a reply repeats it (shorter ones,
#: a label or a greeting, a colleague's own answer may share with it)
_LONG_LINE = 40


def _own_words(session: Session, result: ParseResult, options: ParseOptions
               ) -> tuple[str, ...]:
    """The prose of the bot's own mail in this reply's thread, when the reply's own text
    repeats it unquoted (two thirds of its long lines or more): what a ticket system or an
    auto-responder sends back. Split at the mail's fill-in blocks, so a block someone filled
    in is never cut with it. Empty when the reply repeats none of the bot's mails."""
    ids = thread_ids(result)
    said = " ".join(result.reply_text.split())
    if not ids or not said:
        return ()
    for raw in session.scalars(select(OutboxMessage.raw).where(
            OutboxMessage.message_id.in_(ids))):
        body = email.message_from_bytes(raw, policy=email.policy.default)
        part = body.get_body(("plain",)) if isinstance(body, EmailMessage) else None
        text = part.get_content() if isinstance(part, EmailMessage) else ""
        lines = [" ".join(line.split()) for line in str(text).splitlines()]
        long = [line for line in lines if len(line) >= _LONG_LINE]
        if len(long) < 2 or 3 * sum(line in said for line in long) < 2 * len(long):
            continue
        pieces: list[list[str]] = [[]]
        inside = False
        for line in lines:
            if line == options.block_start:
                inside = True
            elif line == options.block_end:
                inside = False
                pieces.append([])
            elif not inside and line:
                pieces[-1].append(line)
        return tuple("\n".join(piece) for piece in pieces if piece)
    return ()


def process_one(session: Session, row: InboundMessage, settings: ListenSettings,
                now: datetime) -> str:
    """Parse, match and act on one stored mail; returns its new status. Never commits."""
    options = replace(settings.options, fallback_today=now.date())
    result = parse_message(row.raw, options)
    _keep_parsed(row, result)
    row.from_address = (result.from_address or "")[:320] or None
    row.subject = result.subject[:2000] if result.subject else None
    row.error = None

    if result.kind == "bounce":
        return _bounce(session, row, result, now)

    auth = verdict(row.raw, settings.authserv_id)
    tag = result.subject_tag
    found = match(sender=result.from_address, thread_ids=thread_ids(result),
                  tag_code=tag.code if tag else None, auth_failures=auth.failed,
                  directory=DbDirectory(session), authors=_authors(row.raw))
    row.matched_by = found.matched_by
    row.contact_id = found.contact.id if found.contact else None
    row.request_id = found.request.id if found.request else None

    if result.kind == "auto_reply":
        if found.contact is not None and found.accepted and result.absent_until is not None:
            contact = session.get(Contact, found.contact.id)
            assert contact is not None
            automatic.record_absence(session, contact, row, result.absent_until, now)
        return "auto_reply"
    if not found.accepted:
        row.error = found.quarantine
        log.warning("mail %s from %s set aside: %s", row.id, result.from_address or "?",
                    found.quarantine)
        return "quarantined"
    ours = _own_words(session, result, options)
    if ours:
        # Our own sentences are never the colleague's words: parse again without them. A
        # block someone filled in stays (the prose around it is cut, not the block).
        result = parse_message(row.raw, replace(
            options, known_signatures=(*options.known_signatures, *ours)))
        _keep_parsed(row, result)
        if result.kind != "topics":
            row.automatic = True
            row.error = ("wiederholt unsere eigene Mail, ohne etwas einzutragen (vermutlich "
                         "ein Ticketsystem oder eine automatische Antwort); nichts übernommen, "
                         "nicht beantwortet")
            log.info("mail %s from %s repeats the bot's own mail; set aside, not answered",
                     row.id, result.from_address or "?")
            return "unrecognized"
    asked = _asked_in_thread(session, thread_ids(result), found)
    if asked:
        return _followup_answer(session, row, found, asked, settings, now)
    return _accepted(session, row, result, found, now)


def _asked_in_thread(session: Session, ids: Sequence[str], found: Match) -> list[FollowUp]:
    """The follow-up questions this mail answers: those of the nearest follow-up mail in
    its thread, about topics of the sender's own department."""
    if not ids or found.contact is None:
        return []
    mails = {o.message_id: o for o in session.scalars(select(OutboxMessage).where(
        OutboxMessage.message_id.in_(list(ids)), OutboxMessage.kind == "followup"))}
    for message_id in ids:
        outbox = mails.get(message_id)
        if outbox is None:
            continue
        questions = list(session.scalars(select(FollowUp).where(
            FollowUp.outbox_id == outbox.id).order_by(FollowUp.id)))
        return [q for q in questions
                if q.topic.department_id == found.contact.department_id]
    return []


def _followup_answer(session: Session, row: InboundMessage, found: Match,
                     questions: list[FollowUp], settings: ListenSettings,
                     now: datetime) -> str:
    """Merge an answer to a follow-up into the topics it asked about.

    Parsed with the asked fields (the contract's --asked), so "Im Bürgerhaus." answers a
    lone "Wo?"; blocks are assigned by `followups.assign`. An answered field fills the
    topic; a field that was not asked but comes with a new value is a correction. Every
    change is kept in the topic's history."""
    fields = tuple(dict.fromkeys(f for q in questions for f in q.fields))
    options = replace(settings.options, fallback_today=now.date(), asked=fields)
    result = parse_message(row.raw, options)
    row.kind = result.kind
    row.parsed = json.loads(json.dumps(result.to_json_dict(f"inbound:{row.id}"),
                                       ensure_ascii=False))
    row.matched_by = "followup"
    for question in questions:
        question.answered_at = question.answered_at or now
    if result.kind != "topics":
        return _STATUS[result.kind]
    asked = [followups.Asked(q.topic_id, tuple(q.fields), q.topic.what) for q in questions]
    answers = []
    for parsed in result.topics:
        values = topics.field_values(parsed)
        filled = frozenset(f for f, cols in values.items()
                           if any(v is not None for v in cols.values()))
        answers.append((parsed.what, filled))
    by_id = {q.topic_id: q.topic for q in questions}
    required = settings.options.required
    for index, topic_id in followups.assign(answers, asked):
        topic = by_id[topic_id]
        asked_fields = next(a.fields for a in asked if a.topic_id == topic_id)
        values = topics.field_values(result.topics[index])
        given = {f: v for f, v in values.items()
                 if any(x is not None for x in v.values())
                 and (f in asked_fields or f != "what")}
        topics.update_fields(session, topic, given, inbound_id=row.id, now=now)
        topic.missing = [f for f in required if topics.snapshot(topic, f) is None]
        topic.status = topics.status_of(topic.missing)
        if not topic.missing:
            log.info("topic T-%s is complete now", topic.id)
    return "processed"


def _accepted(session: Session, row: InboundMessage, result: ParseResult, found: Match,
              now: datetime) -> str:
    assert found.contact is not None
    request = session.get(Request, found.request.id) if found.request else None
    if result.kind == "topics":
        stored = topics.store_topics(session, row, result,
                                     department_id=found.contact.department_id,
                                     contact_id=found.contact.id,
                                     request_id=request.id if request else None, now=now)
        topics.store_attachments(session, row, result, stored, now)
        if request is not None:
            request.status = "answered"
            request.answered_at = request.answered_at or now
    elif result.kind == "no_topics" and request is not None:
        if request.status != "answered":  # topics sent earlier in the round still count
            request.status = "no_topics"
        request.answered_at = request.answered_at or now
    return _STATUS[result.kind]


def _bounce(session: Session, row: InboundMessage, result: ParseResult, now: datetime) -> str:
    returned = [i for i in (result.returned_message_id, *thread_ids(result)) if i]
    contact, outbox = automatic.bounced_contact(session, returned_ids=returned,
                                                recipients=result.bounced_recipients)
    row.matched_by = "thread" if outbox is not None else "sender" if contact else "none"
    if contact is None:
        row.error = "Unzustellbar-Meldung, die zu keiner Mail des Bots passt"
        return "bounce"
    row.contact_id = contact.id
    row.request_id = outbox.request_id if outbox else None
    if result.bounce_permanent:
        reason = one_line(result.reply_text)[:300] or "unzustellbar"
        automatic.mark_bounced(contact, reason, now)
        row.error = f"{contact.email} ist unzustellbar"
    else:
        row.error = f"vorübergehend nicht zustellbar an {contact.email}"
    return "bounce"


def process_pending(sessions: sessionmaker[Session], settings: ListenSettings,
                    now: Callable[[], datetime], *, statuses: Sequence[str] = ("new",),
                    only_ids: Sequence[int] | None = None,
                    limit: int | None = None) -> ProcessReport:
    """Process waiting rows, one transaction each, until none is left (or `limit`)."""
    report = ProcessReport()
    last_id = 0
    while limit is None or report.processed + report.failed < limit:
        with sessions() as session:
            session.begin()
            if only_ids is not None:
                remaining = [i for i in only_ids if i > last_id]
                if not remaining:
                    break
                row = session.scalar(select(InboundMessage).where(
                    InboundMessage.id == min(remaining)).with_for_update(skip_locked=True))
                last_id = min(remaining)
                if row is None:
                    session.rollback()
                    continue
            else:
                row = claim_next(session, statuses, after_id=last_id)
                if row is None:
                    break
                last_id = row.id
            row_id = row.id
            try:
                status = process_one(session, row, settings, now())
                row.status = status
                row.processed_at = now()
                row.attempts += 1
                session.commit()
            except Exception as exc:
                session.rollback()
                if database_problem(exc) is not None:
                    # the database went away, not the mail's fault: the row stays new for
                    # the next pass, which the poller tries again (saying so in one line)
                    raise
                log.exception("mail %s could not be processed", row_id)
                _mark_failed(sessions, row_id, exc)
                report.failed += 1
                report.count("failed")
                continue
        report.processed += 1
        report.count(status)
        if status == "processed" and row.kind == "topics":
            report.topics += len(row.parsed["topics"]) if row.parsed else 0
        if status == "processed" and row.matched_by != "followup" and not row.automatic:
            report.answered.append(row_id)
    return report


def _mark_failed(sessions: sessionmaker[Session], row_id: int, exc: BaseException) -> None:
    with sessions.begin() as session:
        row = session.get(InboundMessage, row_id)
        if row is not None:
            row.status = "failed"
            row.attempts += 1
            row.error = f"{type(exc).__name__}: {one_line(exc)}"[:2000]
