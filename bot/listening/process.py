"""Processing stored mail: parse -> match -> act, a batch of mails per unit of work.

A batch is claimed (on PostgreSQL `FOR UPDATE SKIP LOCKED`: several workers share the queue
and never take the same mail), processed and committed together: one commit and a handful
of look-ups per batch instead of per mail. When a mail fails, its batch is rolled back and
its mails are processed again one transaction each, as they always were: the failing one is
marked failed with the reason (the bytes stay for `intake inbound replay`), the others
commit. A crash loses the processing of one batch at most: its rows are still "new", so the
next pass processes them again. Processing the same row again gives the same outcome:
topics are unique per mail and position, absences per mail, and nothing here sends mail.

The parse results come from `bot.listening.parsing`: computed in-line, or ahead of the
batch in helper processes while this one works on the database.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from email.message import EmailMessage
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import flag_modified

from bot.errors import database_problem, one_line
from bot.listening import automatic, followups, signatures, topics
from bot.listening.match import Directory, KnownContact, KnownRequest, Match, match
from bot.listening.parsing import Parsed, Parsing, Results, parse_stored, parsing_for
from db.ids import draw_ids
from db.inbound import claim_batch, claim_rows, count_waiting
from db.inlists import among
from db.models import (
    Attachment,
    Contact,
    Department,
    FollowUp,
    InboundMessage,
    OutboxMessage,
    Request,
    RequestRound,
    Topic,
)
from parsers import ParseOptions, ParseResult, parse_message

log = logging.getLogger("intake.listening")

#: row status per parser kind for an accepted mail
_STATUS = {"topics": "processed", "no_topics": "processed", "auto_reply": "auto_reply",
           "bounce": "bounce", "unrecognized": "unrecognized"}

#: mails per transaction: what a crash makes the next pass redo, and how long another
#: worker may wait for a row this one holds (a request two replies answer); the look-ups
#: and the commit (on PostgreSQL a wait for the server) are once per batch
BATCH = 100


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

    def merged(self, other: ProcessReport) -> ProcessReport:
        by_status = dict(self.by_status)
        for status, n in other.by_status.items():
            by_status[status] = by_status.get(status, 0) + n
        return ProcessReport(self.processed + other.processed, self.topics + other.topics,
                             self.failed + other.failed, by_status,
                             [*self.answered, *other.answered])


@dataclass(frozen=True)
class _Outbox:
    """The bot's own mail a reply's thread names (its bytes only when needed)."""

    id: int
    message_id: str
    request_id: int | None
    kind: str
    contact_id: int | None
    to_address: str


_Row = TypeVar("_Row", Contact, Department, Request)

#: at most this many values in one IN (...) (SQLite's limit on bound parameters is far)
_IN = 500


def _chunks(values: Iterable[str] | Iterable[int]) -> Iterator[list]:  # type: ignore[type-arg]
    items = sorted(set(values))  # type: ignore[type-var]
    for start in range(0, len(items), _IN):
        yield items[start:start + _IN]


class DbDirectory(Directory):
    """The matcher's look-ups, and the bot's own mails in a thread, for one transaction.

    `prefetch` asks for a whole batch at once (a few queries instead of several per mail);
    what was not prefetched is looked up when asked. What is looked up here does not change
    while mail is processed (contacts, requests and the bot's own mails are written by other
    flows), so an answer holds for the whole transaction.
    """

    def __init__(self, session: Session,
                 own_mails: dict[str, tuple[str, ...] | None] | None = None) -> None:
        self.session = session
        self._contacts: dict[str, KnownContact | None] = {}
        self._outbox: dict[str, _Outbox | None] = {}
        self._by_message_id: dict[str, Request | None] = {}
        self._by_tag: dict[str, Request | None] = {}
        self._open: dict[int, KnownRequest | None] = {}
        # the rows loaded here, held: the session's identity map keeps only weak references,
        # and `session.get` would ask the database again for a row nobody holds
        self._rows: dict[tuple[type, int], object] = {}
        #: message_id -> the lines of the bot's own mail's text (kept across batches: the
        #: bytes of a sent mail never change)
        self.own_mails = own_mails if own_mails is not None else {}
        self._signatures: dict[int, tuple[str, ...]] = {}

    def _hold(self, *rows: Contact | Department | Request) -> None:
        for row in rows:
            self._rows[(type(row), row.id)] = row

    def prefetch(self, results: Iterable[ParseResult], before_id: int | None = None) -> None:
        """Everything a batch's matching looks up, in a few queries; with `before_id` (the
        batch's first row) also the senders' learned signatures."""
        senders: set[str] = set()
        ids: set[str] = set()
        tags: set[str] = set()
        returned: set[str] = set()  # what bounced
        for result in results:
            if result.from_address:
                senders.add(result.from_address.lower())
            ids.update(thread_ids(result))
            if result.returned_message_id:
                ids.add(result.returned_message_id)
            if result.subject_tag is not None:
                tags.add(result.subject_tag.code.upper())
            if result.kind == "bounce":
                returned.update(bounced_ids(result))
                senders.update(a.lower() for a in result.bounced_recipients)
        self._load_thread(ids)
        senders.update(o.to_address.lower() for o in
                       (self._outbox.get(i) for i in returned) if o is not None)
        self._load_contacts(senders)
        self._load_tags(tags)
        self._load_open({c.department_id for c in self._contacts.values() if c is not None})
        if before_id is not None:
            known = [c.id for c in self._contacts.values()
                     if c is not None and c.id not in self._signatures]
            if known:
                self._signatures.update(
                    signatures.known_signatures_of(self.session, known, before_id))

    def _load_contacts(self, emails: Iterable[str]) -> None:
        wanted = [e for e in emails if e not in self._contacts]
        for chunk in _chunks(wanted):
            self._contacts.update(dict.fromkeys(chunk))
            for contact, department in self.session.execute(
                    select(Contact, Department).join(Department,
                                                     Contact.department_id == Department.id)
                    .where(among(self.session, Contact.email, chunk))):
                self._hold(contact, department)
                self._contacts[contact.email] = KnownContact(
                    contact.id, contact.email, department.id, department.name,
                    contact.active and department.active)

    def _load_thread(self, message_ids: Iterable[str]) -> None:
        """The bot's own mails and requests these Message-IDs name."""
        wanted = [i for i in message_ids if i not in self._outbox]
        request_ids: set[int] = set()
        for chunk in _chunks(wanted):
            self._outbox.update(dict.fromkeys(chunk))
            self._by_message_id.update(dict.fromkeys(chunk))
            for row in self.session.execute(
                    select(OutboxMessage.id, OutboxMessage.message_id,
                           OutboxMessage.request_id, OutboxMessage.kind,
                           OutboxMessage.contact_id, OutboxMessage.to_address)
                    .where(among(self.session, OutboxMessage.message_id, chunk))):
                self._outbox[row.message_id] = _Outbox(row.id, row.message_id, row.request_id,
                                                       row.kind, row.contact_id, row.to_address)
                if row.request_id is not None:
                    request_ids.add(row.request_id)
            for request in self.session.scalars(select(Request).where(
                    among(self.session, Request.message_id, chunk))):
                self._hold(request)
                self._by_message_id[request.message_id] = request
        # the requests the outbox rows point at
        for chunk in _chunks(i for i in request_ids if (Request, i) not in self._rows):
            self._hold(*self.session.scalars(
                select(Request).where(among(self.session, Request.id, chunk))))

    def _load_tags(self, codes: Iterable[str]) -> None:
        wanted = [c for c in codes if c not in self._by_tag]
        for chunk in _chunks(wanted):
            self._by_tag.update(dict.fromkeys(chunk))
            for request in self.session.scalars(
                    select(Request).where(among(self.session, Request.tag, chunk))):
                self._hold(request)
                self._by_tag[request.tag] = request

    def _load_open(self, department_ids: Iterable[int]) -> None:
        """Each department's latest request (the latest round's)."""
        wanted = [d for d in department_ids if d not in self._open]
        for chunk in _chunks(wanted):
            self._open.update(dict.fromkeys(chunk))
            latest = (select(Request.id, func.row_number().over(
                partition_by=Request.department_id,
                order_by=(RequestRound.month.desc(), Request.id.desc())).label("n"))
                .join(RequestRound).where(among(self.session, Request.department_id, chunk))
                # named: an anonymous subquery draws its name from os.urandom, each time
                .subquery("latest"))
            for request in self.session.scalars(select(Request).join(
                    latest, latest.c.id == Request.id).where(latest.c.n == 1)):
                self._hold(request)
                self._open[request.department_id] = self._known(request)

    def contact(self, email: str) -> KnownContact | None:
        self._load_contacts([email])
        return self._contacts[email]

    def get(self, model: type[_Row], row_id: int) -> _Row | None:
        """A contact, department or request by id, from what this directory holds."""
        row = self._rows.get((model, row_id))
        if row is None:
            row = self.session.get(model, row_id)
            if row is not None:
                self._hold(row)  # type: ignore[arg-type]
        return row  # type: ignore[return-value]

    def _known(self, request: Request, outbox: _Outbox | None = None) -> KnownRequest:
        department = self.get(Department, request.department_id)
        return KnownRequest(request.id, request.department_id,
                            department.name if department else "?", request.tag,
                            outbox.id if outbox else None, outbox.kind if outbox else None)

    def outbox(self, message_ids: Sequence[str]) -> list[_Outbox]:
        """The bot's own mails among these Message-IDs, in their order."""
        self._load_thread(message_ids)
        return [o for o in (self._outbox[i] for i in message_ids) if o is not None]

    def request_by_message_ids(self, message_ids: Sequence[str]) -> KnownRequest | None:
        for outbox in self.outbox(message_ids):  # the nearest ancestor first
            if outbox.request_id is not None:
                request = self.get(Request, outbox.request_id)
                if request is not None:
                    return self._known(request, outbox)
        # a request's own Message-ID (its outbox row may have been purged)
        for message_id in message_ids:
            found = self._by_message_id[message_id]
            if found is not None:
                return self._known(found)
        return None

    def request_by_tag(self, code: str) -> KnownRequest | None:
        self._load_tags([code])
        request = self._by_tag[code]
        return self._known(request) if request is not None else None

    def open_request(self, department_id: int) -> KnownRequest | None:
        self._load_open([department_id])
        return self._open[department_id]

    def own_mail_lines(self, message_ids: Sequence[str]) -> list[tuple[str, ...]]:
        """The text lines of the bot's own mails among these Message-IDs (in the order of
        their outbox rows), each read once per pass."""
        mails = sorted(self.outbox(message_ids), key=lambda o: o.id)
        unread = [o.message_id for o in mails if o.message_id not in self.own_mails]
        for chunk in _chunks(unread):
            for message_id, raw in self.session.execute(
                    select(OutboxMessage.message_id, OutboxMessage.raw)
                    .where(among(self.session, OutboxMessage.message_id, chunk))):
                self.own_mails[message_id] = _text_lines(raw)
        return [lines for lines in (self.own_mails.get(o.message_id) for o in mails)
                if lines is not None]

    def bounced(self, returned_ids: Sequence[str],
                recipients: Sequence[str]) -> tuple[Contact | None, _Outbox | None]:
        """The contact whose mail bounced, and the bot's mail that bounced when known (the
        latest of those the bounce names), else the contact of a recipient it names."""
        mails = self.outbox(returned_ids)
        if mails:
            latest = max(mails, key=lambda o: o.id)
            if latest.contact_id is not None:
                return self.get(Contact, latest.contact_id), latest
            known = self.contact(latest.to_address.lower())
            return (self.get(Contact, known.id) if known else None), latest
        for address in recipients:
            known = self.contact(address.lower())
            if known is not None:
                return self.get(Contact, known.id), None
        return None, None

    def learned_signatures(self, contact_id: int, before_id: int) -> tuple[str, ...]:
        """The signature a contact's earlier replies share (looked up once per batch: the
        mails of this batch are not processed yet, so they would not count anyway)."""
        if contact_id not in self._signatures:
            self._signatures.update(
                signatures.known_signatures_of(self.session, [contact_id], before_id))
        return self._signatures[contact_id]


def bounced_ids(result: ParseResult) -> list[str]:
    """The Message-IDs a bounce names: the returned mail's, then its thread's."""
    return [i for i in (result.returned_message_id, *thread_ids(result)) if i]


def thread_ids(result: ParseResult) -> list[str]:
    """In-Reply-To first, then References from the newest to the oldest."""
    ids: list[str] = []
    for value in (result.in_reply_to, *reversed(result.references)):
        if value and value not in ids:
            ids.append(value)
    return ids


def _keep_parsed(row: InboundMessage, result: ParseResult,
                 document: dict[str, object] | None = None) -> None:
    row.kind = result.kind
    row.automatic = result.automatic or result.kind in ("auto_reply", "bounce")
    row.parsed = document if document is not None else json.loads(json.dumps(
        result.to_json_dict(f"inbound:{row.id}"), ensure_ascii=False))


#: lines of the bot's own mail at least this long tell that a reply repeats it (shorter ones,
#: a label or a greeting, a colleague's own answer may share with it)
_LONG_LINE = 40


def _text_lines(raw: bytes) -> tuple[str, ...]:
    """The plain text of one of the bot's own mails, line by line, spaces normalised."""
    body = email.message_from_bytes(raw, policy=email.policy.default)
    part = body.get_body(("plain",)) if isinstance(body, EmailMessage) else None
    text = part.get_content() if isinstance(part, EmailMessage) else ""
    return tuple(" ".join(line.split()) for line in str(text).splitlines())


def _own_words(directory: DbDirectory, result: ParseResult, options: ParseOptions
               ) -> tuple[str, ...]:
    """The prose of the bot's own mail in this reply's thread, when the reply's own text
    repeats it unquoted (two thirds of its long lines or more): what a ticket system or an
    auto-responder sends back. Split at the mail's fill-in blocks, so a block someone filled
    in is never cut with it. Empty when the reply repeats none of the bot's mails."""
    ids = thread_ids(result)
    said = " ".join(result.reply_text.split())
    if not ids or not said:
        return ()
    for lines in directory.own_mail_lines(ids):
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
                now: datetime, *, parsed: Parsed | None = None,
                directory: DbDirectory | None = None,
                stored: topics.Stored | None = None) -> str:
    """Parse, match and act on one stored mail; returns its new status. Never commits.

    `parsed`: the mail's parse result when computed ahead (used on the day it was made for
    only; without it, the row's bytes are loaded and parsed here); `directory` and `stored`:
    look-ups prefetched for the whole batch."""
    options = replace(settings.options, fallback_today=now.date())
    if parsed is None or parsed.day != now.date():
        parsed = parse_stored(row.id, row.raw, options, settings.authserv_id)
    result = parsed.result
    _keep_parsed(row, result, parsed.document)
    row.from_address = (result.from_address or "")[:320] or None
    row.subject = result.subject[:2000] if result.subject else None
    row.error = None

    directory = directory or DbDirectory(session)
    if result.kind == "bounce":
        return _bounce(directory, row, result, now)

    tag = result.subject_tag
    found = match(sender=result.from_address, thread_ids=thread_ids(result),
                  tag_code=tag.code if tag else None, auth_failures=parsed.auth_failed,
                  directory=directory, authors=parsed.authors)
    row.matched_by = found.matched_by
    row.contact_id = found.contact.id if found.contact else None
    row.request_id = found.request.id if found.request else None

    if result.kind == "auto_reply":
        if found.contact is not None and found.accepted and result.absent_until is not None:
            contact = directory.get(Contact, found.contact.id)
            assert contact is not None
            if stored is not None:
                automatic.record_absence(session, contact, row, result.absent_until, now,
                                         recorded=row.id in stored.with_absence)
            else:
                automatic.record_absence(session, contact, row, result.absent_until, now)
        return "auto_reply"
    if not found.accepted:
        row.error = found.quarantine
        log.warning("mail %s from %s set aside: %s", row.id, result.from_address or "?",
                    found.quarantine)
        return "quarantined"
    digests: Sequence[str | None] | None = parsed.digests
    learned = tuple(s for s in directory.learned_signatures(found.contact.id, row.id)
                    if signatures.appears_in(s, result.reply_text)) if found.contact else ()
    if learned:
        # How this person signs, learned from their earlier replies: the parser takes it
        # as an option, so the answer to a follow-up is read without it as well.
        options = replace(options, known_signatures=(*options.known_signatures, *learned))
    ours = _own_words(directory, result, options)
    if ours or learned:
        # Our own sentences are never the colleague's words: parse again without them. A
        # block someone filled in stays (the prose around it is cut, not the block).
        result = parse_message(row.raw, replace(
            options, known_signatures=(*options.known_signatures, *ours)))
        _keep_parsed(row, result)
        cut = [s for s in learned if not signatures.appears_in(s, result.reply_text)]
        if cut and row.parsed is not None:
            # kept beside the text: the next mails learn from it as if it were still there
            # (else, once the window holds cut mails, the signature would not be learned)
            row.parsed = {**row.parsed, signatures.CUT_KEY: "\n".join(cut)}
        digests = None
        if ours and result.kind != "topics":
            row.automatic = True
            row.error = ("wiederholt unsere eigene Mail, ohne etwas einzutragen (vermutlich "
                         "ein Ticketsystem oder eine automatische Antwort); nichts übernommen, "
                         "nicht beantwortet")
            log.info("mail %s from %s repeats the bot's own mail; set aside, not answered",
                     row.id, result.from_address or "?")
            return "unrecognized"
    _unmark_bouncing(directory, found, row, result.date)
    asked = _asked_in_thread(session, directory, thread_ids(result), found)
    if asked:
        return _followup_answer(session, row, found, asked,
                                replace(settings, options=replace(
                                    settings.options,
                                    known_signatures=options.known_signatures)), now)
    return _accepted(session, directory, row, result, found, now, digests, stored)


def _unmark_bouncing(directory: DbDirectory, found: Match, row: InboundMessage,
                     written: date | None) -> None:
    """A person whose address was marked as bouncing writes again, on a later day than the
    bounce: the address works again (a full mailbox was emptied, a server fixed), so
    reminders and questions reach it again. A mail of the same day may have been written
    before the bounce, so it proves nothing."""
    contact = directory.get(Contact, found.contact.id) if found.contact else None
    if contact is None or contact.bounced_at is None or row.automatic:
        return
    if (written or row.received_at.date()) <= contact.bounced_at.date():
        return
    log.info("%s wrote again: no longer marked as bouncing (since %s: %s)",
             contact.email, contact.bounced_at.date(), one_line(contact.bounce_reason))
    contact.bounced_at = None
    contact.bounce_reason = None


def _asked_in_thread(session: Session, directory: DbDirectory, ids: Sequence[str],
                     found: Match) -> list[FollowUp]:
    """The follow-up questions this mail answers: those of the nearest follow-up mail in
    its thread, about topics of the sender's own department."""
    if not ids or found.contact is None:
        return []
    for outbox in directory.outbox(ids):
        if outbox.kind != "followup":
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


def _accepted(session: Session, directory: DbDirectory, row: InboundMessage,
              result: ParseResult, found: Match, now: datetime,
              digests: Sequence[str | None] | None = None,
              stored: topics.Stored | None = None) -> str:
    assert found.contact is not None
    request = directory.get(Request, found.request.id) if found.request else None
    if result.kind == "topics":
        kept = topics.store_topics(session, row, result,
                                   department_id=found.contact.department_id,
                                   contact_id=found.contact.id,
                                   request_id=request.id if request else None, now=now,
                                   stored=stored)
        topics.store_attachments(session, row, result, kept, now, digests=digests,
                                 stored=stored)
        if request is not None:
            request.status = "answered"
            request.answered_at = request.answered_at or now
    elif result.kind == "no_topics" and request is not None:
        if request.status != "answered":  # topics sent earlier in the round still count
            request.status = "no_topics"
        request.answered_at = request.answered_at or now
    return _STATUS[result.kind]


def _bounce(directory: DbDirectory, row: InboundMessage, result: ParseResult,
            now: datetime) -> str:
    contact, outbox = directory.bounced(bounced_ids(result), result.bounced_recipients)
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


# --- batches -------------------------------------------------------------------------------

@dataclass
class _Batch:
    ids: list[int]
    #: the parse results (the bytes went to the parser, and are not kept here: a row's
    #: bytes are loaded again only when it must be parsed once more)
    results: Results
    #: PostgreSQL: the transaction that claimed the rows and holds their locks until the
    #: batch is processed (None: the rows are claimed when the batch is processed)
    session: Session | None = None


#: what processing writes into a row (those unchanged too, so that all rows of a batch are
#: written by one multi-row UPDATE, not one per combination of changed columns)
_WRITTEN = ("status", "kind", "error", "automatic", "matched_by", "parsed", "attempts",
            "processed_at", "from_address", "subject", "contact_id", "request_id")


@dataclass(frozen=True)
class _Outcome:
    row_id: int
    status: str
    topics: int = 0
    answered: bool = False


class Processor:
    """Processes stored rows batch by batch, in the order they are added.

    A batch's parse results are asked for before its transaction begins (on SQLite a
    transaction holds the database's write lock), and with helper processes the next
    batch is parsed while this one is processed. `statuses`: only rows still in one of
    these are processed (None: whatever their status, as a replay by ID does).
    """

    def __init__(self, sessions: sessionmaker[Session], settings: ListenSettings,
                 now: Callable[[], datetime], parsing: Parsing,
                 statuses: Sequence[str] | None = ("new",), ahead: int = 0) -> None:
        self.sessions = sessions
        self.settings = settings
        self.now = now
        self.parsing = parsing
        self.statuses = statuses
        #: how many mails may be queued (being parsed) behind the batch processed next
        self.ahead = ahead
        self.report = ProcessReport()
        self._pending: deque[_Batch] = deque()
        self._queued = 0
        self._own_mails: dict[str, tuple[str, ...] | None] = {}

    def add(self, rows: Sequence[tuple[int, bytes]], session: Session | None = None) -> None:
        """Queue stored rows (id, bytes); `session`: the transaction that claimed them."""
        step = len(rows) if session is not None else BATCH
        for start in range(0, len(rows), step or 1):
            chunk = list(rows[start:start + step])
            if not chunk:
                continue
            self._pending.append(_Batch([i for i, _ in chunk],
                                        self.parsing.submit(chunk, self.now().date()),
                                        session))
            self._queued += len(chunk)
        while self._pending and self._queued - len(self._pending[0].ids) >= self.ahead:
            self._next()

    def _next(self) -> None:
        batch = self._pending.popleft()
        self._queued -= len(batch.ids)
        self._process(batch)

    def finish(self) -> ProcessReport:
        while self._pending:
            self._next()
        return self.report

    def abandon(self) -> None:
        """Give up the batches not processed yet (after an error): their rows stay new."""
        while self._pending:
            batch = self._pending.popleft()
            if batch.session is not None:
                batch.session.close()
        self._queued = 0

    def _process(self, batch: _Batch) -> None:
        try:
            results = batch.results()
        except BaseException:
            if batch.session is not None:
                batch.session.close()
            raise
        session = batch.session or self.sessions()
        try:
            if batch.session is None:
                session.begin()
            try:
                outcomes = self._batch(session, batch, results)
                session.commit()
            except Exception as exc:
                session.rollback()
                if database_problem(exc) is not None:
                    raise  # not a mail's fault: the rows stay new for the next pass
                log.debug("a mail of batch %s..%s failed; one by one", batch.ids[0],
                          batch.ids[-1], exc_info=True)
                outcomes = None
        finally:
            session.close()
        if outcomes is None:
            outcomes = [o for o in (self._single(i, batch, results) for i in batch.ids) if o]
        for outcome in outcomes:
            self._count(outcome)

    def _batch(self, session: Session, batch: _Batch,
               results: dict[int, Parsed]) -> list[_Outcome]:
        rows = claim_rows(session, batch.ids, self.statuses)
        directory = DbDirectory(session, self._own_mails)
        directory.prefetch((results[row.id].result for row in rows if row.id in results),
                           before_id=min((row.id for row in rows), default=None))
        stored = topics.Stored(session, [row.id for row in rows],
                               [d for row in rows if row.id in results
                                for d in results[row.id].digests if d])
        outcomes = []
        # Written once, at the commit (a few multi-row statements), not mail by mail before
        # each look-up: what the look-ups read (contacts, requests, the bot's own mails,
        # earlier topics) is not what processing writes, or is read through the session.
        with session.no_autoflush:
            for row in rows:
                outcomes.append(self._run(session, row, results.get(row.id), directory,
                                          stored))
        for kind in (Topic, Attachment):  # the batch's new rows, inserted without RETURNING
            draw_ids(session, [new for new in session.new
                               if type(new) is kind and new.id is None])
        return outcomes

    def _single(self, row_id: int, batch: _Batch,
                results: dict[int, Parsed]) -> _Outcome | None:
        """One mail in its own transaction; a failure marks it failed."""
        with self.sessions() as session:
            session.begin()
            rows = claim_rows(session, [row_id], self.statuses)
            if not rows:  # taken by another worker meanwhile, or finished
                session.rollback()
                return None
            try:
                outcome = self._run(session, rows[0], results.get(row_id))
                session.commit()
                return outcome
            except Exception as exc:
                session.rollback()
                if database_problem(exc) is not None:
                    # the database went away, not the mail's fault: the row stays new for
                    # the next pass, which the poller tries again (saying so in one line)
                    raise
                log.exception("mail %s could not be processed", row_id)
                _mark_failed(self.sessions, row_id, exc)
                return _Outcome(row_id, "failed")

    def _run(self, session: Session, row: InboundMessage, parsed: Parsed | None,
             directory: DbDirectory | None = None,
             stored: topics.Stored | None = None) -> _Outcome:
        status = process_one(session, row, self.settings, self.now(), parsed=parsed,
                             directory=directory or DbDirectory(session, self._own_mails),
                             stored=stored)
        row.status = status
        row.processed_at = self.now()
        row.attempts += 1
        for column in _WRITTEN:  # the same columns for every row: one UPDATE for the batch
            flag_modified(row, column)
        processed = status == "processed"
        count = len(row.parsed["topics"]) if processed and row.kind == "topics" and \
            row.parsed else 0
        return _Outcome(row.id, status, count,
                        processed and row.matched_by != "followup" and not row.automatic)

    def _count(self, outcome: _Outcome) -> None:
        report = self.report
        if outcome.status == "failed":
            report.failed += 1
        else:
            report.processed += 1
            report.topics += outcome.topics
            if outcome.answered:
                report.answered.append(outcome.row_id)
        report.count(outcome.status)


def process_pending(sessions: sessionmaker[Session], settings: ListenSettings,
                    now: Callable[[], datetime], *, statuses: Sequence[str] = ("new",),
                    only_ids: Sequence[int] | None = None, limit: int | None = None,
                    parsing: Parsing | None = None) -> ProcessReport:
    """Process waiting rows, a batch per transaction, until none is left (or `limit`).

    `only_ids`: these rows whatever their status (a replay). `parsing`: where to parse
    (default: helper processes when many rows wait, else in-line)."""
    own = parsing is None
    if parsing is None:
        parsing = parsing_for(_waiting(sessions, statuses, only_ids, limit),
                              settings.options, settings.authserv_id)
    # with helpers, a batch is parsed while the one before it is processed (one: on
    # PostgreSQL each batch waiting holds its transaction and a connection open)
    ahead = BATCH if parsing.helpers else 0
    processor = Processor(sessions, settings, now, parsing,
                          None if only_ids is not None else statuses, ahead)
    try:
        last_id = 0
        taken = 0
        while limit is None or taken < limit:
            size = BATCH if limit is None else min(BATCH, limit - taken)
            session = sessions()
            try:
                session.begin()
                rows = claim_batch(session, None if only_ids is not None else statuses,
                                   after_id=last_id, limit=size,
                                   only_ids=None if only_ids is None else
                                   sorted(i for i in only_ids if i > last_id)[:size])
            except BaseException:
                session.close()
                raise
            if not rows:
                session.close()
                if only_ids is not None and any(i > last_id for i in only_ids):
                    # the next ones are locked by another worker: go past them
                    last_id = min(i for i in only_ids if i > last_id)
                    continue
                break
            last_id = rows[-1].id
            taken += len(rows)
            items = [(row.id, row.raw) for row in rows]
            if _holds_locks(session):
                processor.add(items, session)
            else:  # SQLite: one writer at a time; the rows are claimed again when processed
                session.commit()
                session.close()
                processor.add(items)
        return processor.finish()
    except BaseException:
        processor.abandon()
        raise
    finally:
        if own:
            parsing.close()


def _holds_locks(session: Session) -> bool:
    """Whether a claim's row locks keep other workers off (PostgreSQL's SKIP LOCKED)."""
    return session.get_bind().dialect.name == "postgresql"


def _waiting(sessions: sessionmaker[Session], statuses: Sequence[str],
             only_ids: Sequence[int] | None, limit: int | None) -> int:
    if only_ids is not None:
        count = len(only_ids)
    else:
        with sessions() as session:
            count = count_waiting(session, statuses)
    return count if limit is None else min(count, limit)


def _mark_failed(sessions: sessionmaker[Session], row_id: int, exc: BaseException) -> None:
    with sessions.begin() as session:
        row = session.get(InboundMessage, row_id)
        if row is not None:
            row.status = "failed"
            row.attempts += 1
            row.error = f"{type(exc).__name__}: {one_line(exc)}"[:2000]
