"""Asking: the monthly request round and the reminders to those who have not answered.

Idempotent by construction: a round is unique per month, a request unique per round and
contact, an outbox row unique per dedupe key. A second call, a crash and restart, or two
processes at once can therefore never queue a contact two requests for one round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from bot import calendar
from bot.app import App
from bot.compose import Composer
from bot.config import is_example_address
from bot.contacts import ContactEntry
from bot.errors import UserError, one_line
from bot.german import long_date, month_label, short_date
from bot.mailer import new_tag, subject_tag
from bot.memory import collector_skips_what_exists
from bot.outbox import enqueue
from db.contacts import (
    MassDeactivation,
    SyncSummary,
    active_primary_contacts,
    sync_contacts_retrying,
)
from db.inlists import among
from db.models import Absence, Contact, Department, OutboxMessage, Request, RequestRound
from db.session import unit_of_work
from mailtemplates import template_block

#: every line says "intake: ...": the admin knows the program, not its modules
log = logging.getLogger("intake")


class AlreadyQueued(Exception):
    """The request's outbox row exists already (a concurrent run got there first)."""


@dataclass
class PlannedMail:
    department: str
    to_address: str
    subject: str
    text: str
    kind: str = "request"


@dataclass(frozen=True)
class NotAsked:
    """A department the round could not ask, and why (one line)."""

    department: str
    address: str
    reason: str


@dataclass
class RoundResult:
    month: str
    deadline: date | None
    queued: list[PlannedMail] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # departments that had their request
    failed: list[NotAsked] = field(default_factory=list)


#: called after each department of a round with (departments done, departments in all)
Progress = Callable[[int, int], None]


class SyncRefused(UserError):
    """The contacts sync would deactivate more than half of the departments; nothing changed."""


def sync_contacts_checked(app: App, session: Session, entries: Sequence[ContactEntry],
                          now: datetime, confirmed: bool, confirm_hint: str) -> SyncSummary:
    """Sync the contacts file into the session; a sync that would deactivate more than half
    of the active departments is refused (SyncRefused) unless `confirmed`."""
    try:
        return sync_contacts_retrying(session, entries, now, confirmed=confirmed)
    except MassDeactivation as exc:
        shown = ", ".join(exc.names[:5]) + (f" and {len(exc.names) - 5} more"
                                            if len(exc.names) > 5 else "")
        path = app.settings.resolve_path(app.settings.contacts.file)
        raise SyncRefused(f"{path}: this file would deactivate {len(exc.names)} of "
                          f"{exc.active} active departments ({shown}); nothing was changed. "
                          f"Is it the right, complete file? If the change is intended, "
                          f"{confirm_hint}") from None


def check_month(month: str) -> str:
    try:
        calendar.parse_month(month)
    except ValueError:
        raise UserError(f"--month {month!r}: expected YYYY-MM, e.g. 2027-01") from None
    return month


def the_block(app: App) -> str:
    labels = app.settings.labels()
    t = app.settings.templates
    return template_block([(f, labels[f][0]) for f in labels], t.block_start, t.block_end)


def _sample_context(app: App) -> dict[str, object]:
    return {
        "contact_salutation": "Frau Muster", "contact_name": "Erika Muster",
        "department": "Bauamt", **Composer(app).sender_context(),
        "subject_tag": subject_tag("2027-01", "K7Q2"), "month_label": "Januar 2027",
        "deadline": "Montag, 18. Januar 2027", "template_block": the_block(app),
        "original_date": "4. Januar 2027",
    }


def check_templates(app: App) -> str:
    """Render the request and the reminder with sample values: a broken override template
    or a bad label shows up in `intake check`, not in the middle of a round."""
    composer = Composer(app)
    sample = _sample_context(app)
    for name in ("request", "reminder"):
        composer.render(name, sample)
    where = app.settings.templates.directory or "built-in"
    return f"mail templates ({where}): OK"


def _get_or_open_round(session: Session, month: str, now: datetime, deadline: date
                       ) -> RequestRound:
    rnd = session.scalar(select(RequestRound).where(RequestRound.month == month))
    if rnd is not None:
        return rnd
    try:
        with session.begin_nested():
            rnd = RequestRound(month=month, opened_at=now, deadline=deadline)
            session.add(rnd)
    except IntegrityError:  # another process opened it a moment ago
        rnd = session.scalar(select(RequestRound).where(RequestRound.month == month))
        assert rnd is not None
    return rnd


def _unused_tag(taken: set[str]) -> str:
    """A tag no request has yet (`taken`: every tag in use, kept up to date)."""
    for length in (4, 4, 4, 5, 6):
        tag = new_tag(length)
        if tag not in taken:
            taken.add(tag)
            return tag
    raise RuntimeError("no free subject tag")  # 31**6 tags: not reachable in practice


def _contact_context(composer: Composer, contact: Contact, department: str,
                     tag: str) -> dict[str, object]:
    return composer.contact_context(salutation=contact.salutation, name=contact.name,
                                    department=department, subject_tag=tag)


def month_is_over(month: str, now: datetime, tz: ZoneInfo) -> bool:
    return month < calendar.month_of(now, tz)


def any_round(session: Session) -> bool:
    """Whether a round was ever opened (the first one goes out at a regular time)."""
    return session.scalar(select(RequestRound.id).limit(1)) is not None


@collector_skips_what_exists()
def send_requests(app: App, month: str | None = None, only: str | None = None,
                  dry_run: bool = False, *, confirmed: bool = False, force: bool = False,
                  progress: Progress | None = None) -> RoundResult:
    """Open the round and queue one request per active contact (not yet sent ones only).

    The contacts file is synced first, so the round asks exactly who the file names today
    (a sync that would deactivate more than half of the departments needs `confirmed`).
    A month that is over needs `force`. With dry_run the same code runs in a transaction
    that is rolled back at the end: what it shows is exactly what would have been queued.

    One department's problem (its mail cannot be rendered, built or queued) does not stop
    the round: the others are asked, and the result names it in `failed`.
    """
    now = app.now()
    tz, state = app.tz, app.settings.schedule.state
    month = check_month(month) if month else calendar.month_of(now, tz)
    if month_is_over(month, now, tz) and not force:
        raise UserError(f"--month {month}: that month is over, and its requests would ask "
                        f"for a past month; add --force to open its round anyway")
    # The deadline counts from when the month's requests go out: a round opened early (a
    # backfill, --month ahead) still gives the colleagues their full reply time.
    sending = max(now, calendar.request_time_for(month, tz, state, app.settings.schedule
                                                 .request_time))
    deadline = calendar.reply_deadline(sending, tz, state,
                                       app.settings.schedule.reply_working_days)
    entries = app.contacts()
    examples = [e.email for e in entries if e.active and is_example_address(e.email)]
    if examples and not dry_run:
        # the example entries of `intake init` name a real domain: never mail it
        raise UserError(f"{app.settings.resolve_path(app.settings.contacts.file)}: still "
                        f"lists the example town's addresses ({', '.join(examples[:3])}"
                        f"{', ...' if len(examples) > 3 else ''}); replace the example "
                        f"entries with your departments before the first round")
    if only:
        active = sorted(e.department for e in entries if e.active)
        if only.casefold() not in {name.casefold() for name in active}:
            raise UserError(f"--only {only!r}: no active department of that name "
                            f"(active: {', '.join(active)})")
    result = RoundResult(month=month, deadline=None)
    composer = Composer(app)
    block = the_block(app)
    # a broken template fails every department alike: say so once, before anything changes
    composer.render("request", _sample_context(app))

    session = app.sessions()

    def checkpoint() -> None:
        # one transaction per unit of work; a dry run keeps everything in one and rolls back
        if not dry_run:
            session.commit()

    try:
        again = "intake send-requests --dry-run --yes" if dry_run else "intake send-requests --yes"
        sync_contacts_checked(app, session, entries, now, confirmed,
                              f"run `{again}` (or `intake contacts sync --yes` first)")
        checkpoint()
        rnd = _get_or_open_round(session, month, now, deadline)
        result.deadline = rnd.deadline
        checkpoint()
        contacts = active_primary_contacts(session)
        if only:
            contacts = [c for c in contacts if c.department.name.casefold() == only.casefold()]
        # loaded now, in one query (held here: the session keeps only weak references):
        # preparing the mails below then reads nothing, and holds no lock while it renders
        # (SQLite has one writer at a time)
        loaded = list(session.scalars(select(Department)))
        for contact in contacts:
            _ = contact.department.name  # from the identity map, where `loaded` keeps it
        del loaded  # each contact now holds its own department
        taken = set(session.scalars(select(Request.tag)))
        asked = set(session.scalars(select(Request.department_id)
                                    .where(Request.round_id == rnd.id)))
        # A department added after the round opened still gets the full reply time.
        own = calendar.reply_deadline(now, tz, state, app.settings.schedule.reply_working_days)
        mail_deadline = max(rnd.deadline, own) if rnd.deadline else own
        for start, end in _chunks(len(contacts)):
            chunk = contacts[start:end]
            prepared: list[_Prepared] = []
            for contact in chunk:
                department, address = contact.department.name, contact.email
                if contact.department_id in asked:
                    result.already.append(department)
                    continue
                try:
                    prepared.append(_prepare_request(composer, block, rnd, contact, now,
                                                     mail_deadline, taken))
                except Exception as exc:
                    log.debug("request to %s (%s) not queued", department, address,
                              exc_info=True)
                    reason = str(exc) if isinstance(exc, UserError) else (
                        f"{type(exc).__name__}: {one_line(exc)}")
                    result.failed.append(NotAsked(department, address, one_line(reason)))
            if _insert_chunk(session, rnd, prepared, now):
                result.queued.extend(p.planned for p in prepared)
                checkpoint()
            else:
                # a concurrent run queued some of them first: one by one, as each allows
                for item in prepared:
                    _queue_one(app, session, composer, block, rnd, item.contact, now, taken,
                               result, dry_run, checkpoint)
            if progress is not None:
                for position in range(start + 1, start + len(chunk) + 1):
                    progress(position, len(contacts))
    finally:
        session.rollback()
        session.close()
    return result


#: departments prepared, inserted and committed together (one transaction per chunk; on
#: PostgreSQL each of its half a dozen statements waits for the server, which is slow to
#: answer while the mail servers keep the cores busy: 100 at a time took longer)
CHUNK = 250
#: the first chunk is small: the outbox's connections start sending while the rest of
#: the round is prepared, and the server is idle until that first commit
FIRST_CHUNK = 10


def _chunks(count: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each chunk of a round of `count` departments."""
    start, size = 0, FIRST_CHUNK
    while start < count:
        yield start, min(start + size, count)
        start, size = start + size, CHUNK


@dataclass
class _Prepared:
    """One department's request, rendered and built, not yet in the database."""

    contact: Contact
    tag: str
    message_id: str
    subject: str
    raw: bytes
    planned: PlannedMail


def _prepare_request(composer: Composer, block: str, rnd: RequestRound, contact: Contact,
                     now: datetime, deadline: date, taken: set[str]) -> _Prepared:
    tag = _unused_tag(taken)
    department = contact.department.name
    message_id = composer.message_id("req", f"{rnd.month}-{tag}")
    rendered = composer.render("request", {
        **_contact_context(composer, contact, department, subject_tag(rnd.month, tag)),
        "month_label": month_label(rnd.month),
        "deadline": long_date(deadline),
        "template_block": block,
    })
    raw = composer.build(rendered, to_address=contact.email, to_name=contact.name,
                         message_id=message_id, now=now)
    return _Prepared(contact, tag, message_id, rendered.subject, raw,
                     PlannedMail(department, contact.email, rendered.subject, rendered.text))


def _insert_chunk(session: Session, rnd: RequestRound, prepared: list[_Prepared],
                  now: datetime) -> bool:
    """Insert the requests and their outbox rows of a chunk in one savepoint, a batch of
    statements per table rather than a round trip per row. False when a unique key was
    taken (a concurrent run, or a tag picked twice): nothing of the chunk is inserted then."""
    if not prepared:
        return True
    try:
        with session.begin_nested():
            # a statement per row, of one text (on PostgreSQL pipelined, and prepared once):
            # a multi-row INSERT has a text of its own per chunk length and hundreds of
            # parameters, which psycopg converts anew each time instead of from its cache
            session.execute(insert(Request), [
                {"round_id": rnd.id, "contact_id": p.contact.id,
                 "department_id": p.contact.department_id, "tag": p.tag,
                 "message_id": p.message_id, "status": "queued", "created_at": now,
                 "reminders_sent": 0} for p in prepared])
            ids = {message_id: request_id for message_id, request_id in session.execute(
                select(Request.message_id, Request.id).where(
                    among(session, Request.message_id, [p.message_id for p in prepared])))}
            session.execute(insert(OutboxMessage), [
                {"kind": "request", "dedupe_key": f"request:{rnd.month}:{p.contact.id}",
                 "message_id": p.message_id, "to_address": p.contact.email,
                 "subject": p.subject, "raw": p.raw, "status": "queued", "attempts": 0,
                 "next_attempt_at": now, "created_at": now, "request_id": ids[p.message_id],
                 "contact_id": p.contact.id}
                for p in prepared])
    except IntegrityError:
        return False
    return True


def _queue_one(app: App, session: Session, composer: Composer, block: str, rnd: RequestRound,
               contact: Contact, now: datetime, taken: set[str], result: RoundResult,
               dry_run: bool, checkpoint: Callable[[], None]) -> None:
    """One department in a savepoint of its own; its failure undoes its own rows only."""
    department, address = contact.department.name, contact.email
    try:
        with session.begin_nested():
            planned = _queue_request(app, session, composer, block, rnd, contact, now, taken)
        checkpoint()
    except (IntegrityError, AlreadyQueued):  # a concurrent run queued it first
        if not dry_run:
            session.rollback()
        result.already.append(department)
    except (OperationalError, InterfaceError):
        raise  # the database itself: no other department would fare better
    except Exception as exc:
        if not dry_run:
            session.rollback()
        log.debug("request to %s (%s) not queued", department, address, exc_info=True)
        reason = str(exc) if isinstance(exc, UserError) else (
            f"{type(exc).__name__}: {one_line(exc)}")
        result.failed.append(NotAsked(department, address, one_line(reason)))
    else:
        if planned is None:
            result.already.append(department)
        else:
            result.queued.append(planned)


def next_round_note(app: App, result: RoundResult) -> str | None:
    """A note when the next month's round starts before this round's reply deadline (a
    round opened on the last days of a month): the admin may have meant that month."""
    if result.deadline is None:
        return None
    s = app.settings.schedule
    after = max(app.now(), calendar.request_time_for(result.month, app.tz, s.state,
                                                     s.request_time))
    following = calendar.next_request_time(after, app.tz, s.state, s.request_time)
    if calendar.local_date(following, app.tz) > result.deadline:
        return None
    month = calendar.month_of(following, app.tz)
    return (f"note: the round for {month} starts on "
            f"{following.astimezone(app.tz):%Y-%m-%d %H:%M %Z}, before this round's reply "
            f"deadline; `intake send-requests --month {month}` would ask for that month now")


def _queue_request(app: App, session: Session, composer: Composer, block: str,
                   rnd: RequestRound, contact: Contact, now: datetime,
                   taken: set[str]) -> PlannedMail | None:
    # One request per department and round: a department whose contact changed mid-month
    # is not asked twice (the database guarantees one per contact and round on top).
    exists = session.scalar(select(Request.id).where(
        Request.round_id == rnd.id, Request.department_id == contact.department_id))
    if exists is not None:
        return None
    tag = _unused_tag(taken)
    department = contact.department.name
    message_id = composer.message_id("req", f"{rnd.month}-{tag}")
    # A department added after the round opened still gets the full reply time.
    s = app.settings.schedule
    own = calendar.reply_deadline(now, app.tz, s.state, s.reply_working_days)
    deadline = max(rnd.deadline, own) if rnd.deadline else own
    rendered = composer.render("request", {
        **_contact_context(composer, contact, department, subject_tag(rnd.month, tag)),
        "month_label": month_label(rnd.month),
        "deadline": long_date(deadline),
        "template_block": block,
    })
    request = Request(round_id=rnd.id, contact_id=contact.id,
                      department_id=contact.department_id, tag=tag, message_id=message_id,
                      status="queued", created_at=now, reminders_sent=0)
    session.add(request)
    session.flush()
    raw = composer.build(rendered, to_address=contact.email, to_name=contact.name,
                         message_id=message_id, now=now)
    row = enqueue(session, kind="request", dedupe_key=f"request:{rnd.month}:{contact.id}",
                  message_id=message_id, to_address=contact.email, subject=rendered.subject,
                  raw=raw, now=now, request_id=request.id, contact_id=contact.id)
    if row is None:  # the mail was queued by a concurrent run: undo this request, too
        raise AlreadyQueued(contact.email)
    return PlannedMail(department, contact.email, rendered.subject, rendered.text)


def mark_sent_requests(session: Session) -> int:
    """Requests whose mail went out become 'sent' (with the outbox's sending time); one
    statement, however many went out (a round's thousand, after its delivery)."""
    mail = (OutboxMessage.message_id == Request.message_id, OutboxMessage.status == "sent")
    sent_at = select(OutboxMessage.sent_at).where(*mail).scalar_subquery()
    result = session.execute(update(Request)
                             .where(Request.status == "queued", select(OutboxMessage.id)
                                    .where(*mail).exists())
                             .values(status="sent", sent_at=sent_at))
    return int(result.rowcount)  # type: ignore[attr-defined]


def queue_reminders(app: App, dry_run: bool = False) -> list[PlannedMail]:
    """A reminder, in the same thread, to each contact who has not answered in time.

    At most `schedule.reminders` per request, the first `reminder_after_working_days`
    working days after the request, never after the reply deadline, never to an inactive
    contact, and only on working days.
    """
    s = app.settings.schedule
    now = app.now()
    planned: list[PlannedMail] = []
    if s.reminders == 0 or not calendar.may_send_now(now, app.tz, s.state):
        return planned
    composer = Composer(app)
    block = the_block(app)
    today = calendar.local_date(now, app.tz)
    away = select(Absence.contact_id).where(Absence.until >= today)
    with unit_of_work(app.sessions, dry_run=dry_run) as session:
        mark_sent_requests(session)
        # nobody who is away (an out-of-office said until when) or whose address bounces
        stmt = (select(Request).join(Contact).join(Department)
                .where(Request.status == "sent", Request.reminders_sent < s.reminders,
                       Contact.active.is_(True), Department.active.is_(True),
                       Contact.bounced_at.is_(None), Contact.id.not_in(away))
                .order_by(Request.id))
        for request in session.scalars(stmt):
            assert request.sent_at is not None
            nth = request.reminders_sent + 1
            if not calendar.reminder_due(request.sent_at, now, app.tz, s.state,
                                         s.reminder_after_working_days, s.request_time, nth):
                continue
            deadline = request.round.deadline
            if deadline and calendar.local_date(now, app.tz) > deadline:
                continue
            contact = request.contact
            rnd = request.round
            rendered = composer.render("reminder", {
                **_contact_context(composer, contact, contact.department.name,
                                   subject_tag(rnd.month, request.tag)),
                "month_label": month_label(rnd.month),
                "deadline": long_date(deadline) if deadline else "",
                "template_block": block,
                "original_date": short_date(calendar.local_date(request.sent_at, app.tz)),
            })
            message_id = composer.message_id("rem", f"{rnd.month}-{request.tag}")
            raw = composer.build(rendered, to_address=contact.email, to_name=contact.name,
                                 message_id=message_id, now=now, suppress_oof=True,
                                 in_reply_to=request.message_id)
            row = enqueue(session, kind="reminder", dedupe_key=f"reminder:{request.id}:{nth}",
                          message_id=message_id, to_address=contact.email,
                          subject=rendered.subject, raw=raw, now=now, request_id=request.id,
                          contact_id=contact.id)
            if row is not None:
                request.reminders_sent = nth
                request.last_reminder_at = now
                planned.append(PlannedMail(contact.department.name, contact.email,
                                           rendered.subject, rendered.text, kind="reminder"))
    return planned

