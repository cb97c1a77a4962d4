"""The outbox: every outgoing mail is a row first; `deliver_due` sends what is due.

Delivery is at-least-once. A row is claimed by setting status "sending" with a lease (its
`next_attempt_at` moves LEASE into the future) and committed before the SMTP transaction.
After the server accepted the mail the row becomes "sent" (results are written in groups,
every RECORD_SECONDS). If the process dies between the server's acceptance and that update,
the lease runs out and the row is sent again, with the same bytes and the same Message-ID,
so mail clients and the bot's own matching treat the two copies as one mail. The other
order (mark sent, then send) could lose a mail, which is worse for a bot whose whole job is
that nobody is forgotten.

Several senders (connections of one process, or workers on one PostgreSQL database) never
claim the same row: claims use `FOR UPDATE SKIP LOCKED` there, and SQLite has one writer.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ConnectionProblem, DeliveryError, UserError, one_line
from db.models import OutboxMessage

#: every line says "intake: ...": the admin knows the program, not its modules
log = logging.getLogger("intake")

LEASE = timedelta(minutes=10)
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)
#: transient failures over about two days, then the row fails for a human to look at
MAX_ATTEMPTS = 15


class Transport(Protocol):
    """What deliver_due needs from SMTP (bot.smtp.SmtpTransport)."""

    def open(self) -> None: ...
    def close(self) -> None: ...
    def send(self, sender: str, recipients: list[str], raw: bytes) -> None: ...


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    connection_error: str | None = None

    def __add__(self, later: DeliveryReport) -> DeliveryReport:
        """Two deliveries as one (a Meanwhile delivery, then the rest); the later
        delivery's retries are the ones still waiting."""
        return DeliveryReport(self.sent + later.sent, later.retrying,
                              self.failed + later.failed,
                              later.connection_error or self.connection_error)


def enqueue(session: Session, *, kind: str, dedupe_key: str, message_id: str, to_address: str,
            subject: str, raw: bytes, now: datetime, request_id: int | None = None,
            contact_id: int | None = None) -> OutboxMessage | None:
    """Insert a row unless one with this dedupe_key exists; None if it did (idempotent).

    Uses a savepoint so that a concurrent insert of the same key does not abort the
    caller's transaction.
    """
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)):
        return None
    row = OutboxMessage(kind=kind, dedupe_key=dedupe_key, message_id=message_id,
                        to_address=to_address, subject=subject, raw=raw, status="queued",
                        attempts=0, next_attempt_at=now, created_at=now, request_id=request_id,
                        contact_id=contact_id)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, ... minutes after the n-th failed attempt, at most 6 hours."""
    delay: timedelta = FIRST_RETRY * (2 ** max(0, attempts - 1))
    return min(delay, MAX_RETRY)


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    message_id: str
    to_address: str
    raw: bytes
    attempts: int


def _claim(sessions: sessionmaker[Session], now: datetime, limit: int) -> list[_Claimed]:
    """Claim up to `limit` due rows for this sender (lease) and load them; one statement,
    committed at once.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` hands each row to exactly one of several
    concurrent senders (threads or processes), without waiting; SQLite's BEGIN IMMEDIATE
    serialises the claims anyway.
    """
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status.in_(("queued", "sending")),
               OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        rows = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(status="sending", next_attempt_at=now + LEASE,
                    attempts=OutboxMessage.attempts + 1)
            .returning(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.message_id,
                       OutboxMessage.to_address, OutboxMessage.raw, OutboxMessage.attempts))
        claimed = [_Claimed(*row) for row in rows]
    return sorted(claimed, key=lambda mail: mail.id)


def _due_count(sessions: sessionmaker[Session], now: datetime, up_to: int) -> int:
    """How many rows are due, counting no further than `up_to`."""
    with sessions() as session:
        due = (select(OutboxMessage.id)
               .where(OutboxMessage.status.in_(("queued", "sending")),
                      OutboxMessage.next_attempt_at <= now)
               .limit(up_to).subquery("due"))
        return int(session.scalar(select(func.count()).select_from(due)) or 0)


#: SMTP connections one sender opens at most, each in its own thread (a server that takes
#: fewer at once gets fewer; Microsoft 365 takes three per mailbox)
CONNECTIONS = 3
#: a further connection pays off from this many due mails on (its login costs a few mails)
MAILS_PER_CONNECTION = 20
#: results are written together for this long: a commit per mail would slow the
#: connections down (by half, measured); a crash then sends at most this long's mail again
RECORD_SECONDS = 0.1
#: rows claimed at a time while several connections share the work
CLAIM_SHARE = 50
#: claimed mails waiting for a connection, per connection, below which more are claimed
#: (about a tenth of a second of sending: a claim is done before they run out)
AHEAD = 10


@dataclass(frozen=True)
class _Outcome:
    """What became of one mail, or of rows given back (`released`), for the recorder."""

    mail: _Claimed | None
    status: str  # sent | failed | retry | released (with backoff) | returned (due at once)
    error: str | None = None
    retry_at: datetime | None = None
    released: tuple[int, ...] = ()


def deliver_due(sessions: sessionmaker[Session], transport_factory: Callable[[], Transport],
                sender: str, now: datetime | Callable[[], datetime], batch: int = 100,
                connections: int = CONNECTIONS, queued: threading.Event | None = None,
                commits: _Commits | None = None) -> DeliveryReport:
    """Send every due row over up to `connections` SMTP connections at once.

    One thread claims rows (with a lease, see the module's docstring) ahead of the
    connections into a buffer in memory; each connection, a thread of its own, takes the
    next mail from it, so no connection waits for the database and they finish together.
    A small outbox needs only one connection, which claims a batch at a time. The first
    connection opens before the others: if it cannot, the server is unreachable; a further
    one refused later only means fewer connections (its mail goes back into the buffer).
    The results are written by this thread, those of RECORD_SECONDS in one commit.

    With `queued` the mail is still being queued: the claims go on until the event is set,
    then take what is left (see `Meanwhile`); an idle claimer looks again at each of
    `commits`, or every POLL_SECONDS. `now` may be a clock.

    The transports are built before any row is claimed: a configuration problem (a missing
    password) then leaves every row untouched instead of leased. A connection problem stops
    every connection; what was claimed and not sent is given back, queued.
    """
    clock = now if callable(now) else (lambda: now)
    report = DeliveryReport()
    if queued is None:
        due = _due_count(sessions, clock(), connections * MAILS_PER_CONNECTION)
        if not due:
            return report
        count = max(1, min(connections, due // MAILS_PER_CONNECTION))
    else:
        count = connections  # a connection is opened only once there is mail for it
    transports = [transport_factory() for _ in range(count)]
    outcomes: queue.SimpleQueue[_Outcome | None] = queue.SimpleQueue()
    buffer = _Buffer()
    stop = _Stop(buffer)
    claimer = _Claimer(sessions, clock, batch if count == 1 else CLAIM_SHARE, AHEAD * count,
                       buffer, stop, queued, commits or _Commits())
    workers = [_Sender(transport, sender, clock, buffer, outcomes, stop,
                       first=n == 0) for n, transport in enumerate(transports)]
    stop.running = len(workers)
    claimer.start()
    for worker in workers:
        worker.start()
    running = len(workers)
    try:
        while running:
            pending = [outcomes.get()]
            # what arrives within RECORD_SECONDS goes into the same commit; waking up for
            # each result would take the interpreter from the connections every time
            stop.all_done.wait(RECORD_SECONDS)
            while True:
                try:
                    pending.append(outcomes.get_nowait())
                except queue.Empty:
                    break
            running -= sum(1 for item in pending if item is None)
            _record(sessions, [item for item in pending if item is not None], clock(), report)
    except BaseException:
        stop.set()
        raise
    finally:
        for worker in workers:
            worker.join()
        stop.set()  # the claimer too, when every connection ended early
        claimer.join()
    crashed = next((exc for exc in (*(w.crashed for w in workers), claimer.crashed)
                    if exc is not None), None)
    left = buffer.drain()  # claimed, never sent: queued again
    if left:
        try:
            _record(sessions, [_Outcome(None, "returned" if stop.reason is None else
                                        "released", stop.reason,
                                        released=tuple(mail.id for mail in left))],
                    clock(), report)
        except Exception:
            if crashed is None:
                raise
            # the database itself failed: their lease brings them back
    if crashed is not None:
        raise crashed
    if report.connection_error is not None:
        # what was not claimed waits as well
        report.retrying += _due_count(sessions, clock(), 10**9)
        log.error("outbox: %s; %d mail(s) stay queued", report.connection_error,
                  report.retrying)
    return report


_count_lock = threading.Lock()


class _Buffer:
    """Claimed mails waiting for a connection, oldest first; `close`d once nothing more
    is coming. A mail taken is in a connection's hands until it says `settled` (sent,
    judged, given back, or put back here)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._mails: deque[_Claimed] = deque()
        self._closed = False
        self._in_hand = 0

    def __len__(self) -> int:
        return len(self._mails)

    def put(self, mails: list[_Claimed], first: bool = False) -> None:
        """Add claimed mails (`first`: a mail a connection could not send, at the front)."""
        with self._changed:
            if first:
                self._mails.extendleft(reversed(mails))
            else:
                self._mails.extend(mails)
            self._changed.notify_all()

    def take(self, stop: threading.Event) -> _Claimed | None:
        """The next mail; None once the buffer is closed and empty and no mail is in a
        connection's hands (one being refused puts its mail back), or `stop` is set."""
        with self._changed:
            self._changed.wait_for(lambda: self._mails or stop.is_set() or (
                self._closed and not self._in_hand))
            if stop.is_set() or not self._mails:
                return None
            self._in_hand += 1
            mail = self._mails.popleft()
            self._changed.notify_all()  # the claimer may be waiting for room
            return mail

    def settled(self) -> None:
        """The mail last taken by the caller is dealt with (or back in the buffer)."""
        with self._changed:
            self._in_hand -= 1
            self._changed.notify_all()

    def wait_for_room(self, below: int, stop: threading.Event) -> None:
        with self._changed:
            self._changed.wait_for(lambda: len(self._mails) < below or stop.is_set())

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def drain(self) -> list[_Claimed]:
        with self._changed:
            left = list(self._mails)
            self._mails.clear()
            return left


class _Stop(threading.Event):
    """Set when one connection found the server unusable: the others stop as well (those
    waiting at `buffer` are woken). `working` is set once any connection is up."""

    reason: str | None = None

    def __init__(self, buffer: _Buffer) -> None:
        super().__init__()
        self.buffer = buffer
        self.working = threading.Event()
        self.running = 0  # connections still at work
        self.all_done = threading.Event()
        self.first_open = threading.Event()  # the first connection opened, or failed to

    def set(self) -> None:
        super().set()
        self.buffer.wake()

    def because(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.set()


#: while mail is still being queued, the claimer looks for new rows at each commit of
#: this process, and this often (for the commits of other processes)
POLL_SECONDS = 0.05


class _Commits:
    """Counts commits (a session's after_commit event, and the end of queuing): an idle
    claimer waits for the next one rather than a whole POLL_SECONDS."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.count = 0

    def __call__(self, *_: object) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def after(self, seen: int, timeout: float) -> int:
        """Wait until the count is no longer `seen` (at most `timeout`); the count."""
        with self._changed:
            self._changed.wait_for(lambda: self.count != seen, timeout)
            return self.count


class _Claimer(threading.Thread):
    """Claims due rows into the buffer while it holds fewer than `ahead`, `share` at a
    time, until nothing is due (and, with `queued`, nothing more is being queued)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime],
                 share: int, ahead: int, buffer: _Buffer, stop: _Stop,
                 queued: threading.Event | None, commits: _Commits) -> None:
        super().__init__(name="intake-outbox-claims", daemon=True)
        self.sessions, self.clock, self.share, self.ahead = sessions, clock, share, ahead
        self.buffer, self.stop, self.queued, self.commits = buffer, stop, queued, commits
        self.crashed: BaseException | None = None

    def run(self) -> None:
        # without `queued` nothing more is coming; with it, one more look once it is set
        last_look = self.queued is None
        try:
            while not self.stop.is_set():
                self.buffer.wait_for_room(self.ahead, self.stop)
                if self.stop.is_set():
                    return
                seen = self.commits.count  # before the claim: a commit meanwhile counts
                claimed = _claim(self.sessions, self.clock(), self.share)
                if claimed:
                    self.buffer.put(claimed)
                    continue
                if last_look or self.queued is None:
                    return
                # wait for new rows by reading: a claim takes SQLite's write lock
                while not (last_look := self.queued.is_set()):
                    seen = self.commits.after(seen, POLL_SECONDS)
                    if self.stop.is_set() or _due_count(self.sessions, self.clock(), 1):
                        break
        except BaseException as exc:  # a database problem: the caller raises it
            self.crashed = exc
            self.stop.set()
        finally:
            self.buffer.close()


class _Sender(threading.Thread):
    """One SMTP connection: take the next claimed mail, send it, until none is left."""

    def __init__(self, transport: Transport, sender: str, clock: Callable[[], datetime],
                 buffer: _Buffer, outcomes: queue.SimpleQueue[_Outcome | None], stop: _Stop,
                 first: bool = True) -> None:
        super().__init__(name="intake-outbox", daemon=True)
        self.transport, self.sender, self.clock = transport, sender, clock
        self.buffer, self.outcomes, self.stop, self.first = buffer, outcomes, stop, first
        self.opened = False
        self.crashed: BaseException | None = None

    def run(self) -> None:
        try:
            if not self.first:
                # the first connection tells whether the server can be reached at all; a
                # further one refused after that only means fewer connections
                self.stop.first_open.wait()
            while not self.stop.is_set():
                mail = self.buffer.take(self.stop)
                if mail is None:
                    return
                try:
                    if not self._deliver(mail):
                        return
                finally:
                    self.buffer.settled()
        except BaseException as exc:  # a bug here: the caller raises it
            self.crashed = exc
            self.stop.set()
        finally:
            if self.first:
                self.stop.first_open.set()  # also when it had nothing to send
            try:
                if self.opened:
                    self.transport.close()
            finally:
                self.outcomes.put(None)  # this connection is done
                with _count_lock:
                    self.stop.running -= 1
                    if self.stop.running == 0:
                        self.stop.all_done.set()

    def _deliver(self, mail: _Claimed) -> bool:
        """Open the connection if need be, send `mail`, report the outcome; False when
        this connection ends (its mail given back, or put back for the others)."""
        if not self.opened:
            try:
                self.transport.open()
            except ConnectionProblem as exc:
                self.stop.first_open.set()
                if self.stop.working.is_set():
                    # the server takes fewer connections at once (Microsoft 365 allows
                    # few): the ones that are up send this mail
                    log.info("outbox: no further connection (%s); sending over the others",
                             exc)
                    self.buffer.put([mail], first=True)
                else:
                    self._give_back(mail, str(exc))
                return False
            self.opened = True
            self.stop.working.set()
            self.stop.first_open.set()
        if self.stop.is_set():  # another connection lost the server
            self._give_back(mail, None)
            return False
        try:
            self.transport.send(self.sender, [mail.to_address], mail.raw)
        except ConnectionProblem as exc:  # the server went away
            self._give_back(mail, str(exc))
            return False
        except DeliveryError as exc:
            self.outcomes.put(_judge(mail, exc, self.clock()))
        else:
            self.outcomes.put(_Outcome(mail, "sent"))
        return True

    def _give_back(self, mail: _Claimed, error: str | None) -> None:
        """A mail taken and not sent goes back to the queue; with `error` every other
        connection stops too (the server is unusable, or gone)."""
        if error is not None:
            self.stop.because(error)
        self.outcomes.put(_Outcome(None, "released", error or self.stop.reason or "not sent",
                                   released=(mail.id,)))


class Meanwhile:
    """Deliver while mail is being queued: `with Meanwhile(...) as early: queue ...`.

    A round commits its requests in chunks; the outbox's connections (in a thread of
    their own) send each chunk as soon as it is committed, while the next one is being
    prepared, instead of waiting for the whole round. `early.report` says what went out.
    It never raises: whatever it could not send stays due, and the regular delivery that
    follows the round sends it or reports the problem in its own words.
    """

    def __init__(self, sessions: sessionmaker[Session],
                 transport_factory: Callable[[], Transport], sender: str,
                 clock: Callable[[], datetime], *, enabled: bool = True,
                 connections: int = CONNECTIONS) -> None:
        self._args = (sessions, transport_factory, sender, clock)
        self._connections = connections
        self._enabled = enabled
        self._queued = threading.Event()
        self._commits = _Commits()
        self._thread: threading.Thread | None = None
        self.report = DeliveryReport()

    def __enter__(self) -> Meanwhile:
        if self._enabled:
            # each chunk the round commits wakes the idle connections at once
            event.listen(self._args[0], "after_commit", self._commits)
            self._thread = threading.Thread(target=self._run, name="intake-outbox-meanwhile",
                                            daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.report = deliver_due(*self._args, connections=self._connections,
                                      queued=self._queued, commits=self._commits)
        except UserError as exc:  # a missing password: the delivery that follows says so
            log.debug("outbox: no delivery during queuing: %s", exc)
        except Exception as exc:
            log.warning("outbox: delivery during queuing stopped (%s: %s); the mail goes out "
                        "with the next delivery", type(exc).__name__, one_line(exc))

    def __exit__(self, *exc_info: object) -> None:
        self._queued.set()
        self._commits()  # the idle connections see it at once
        if self._thread is not None:
            self._thread.join()
            event.remove(self._args[0], "after_commit", self._commits)


def _judge(mail: _Claimed, exc: DeliveryError, now: datetime) -> _Outcome:
    """A refused mail: failed for good (5xx, or deferred too often), or retried later."""
    error = str(exc)[:2000]
    if not exc.transient:
        return _Outcome(mail, "failed", error)
    if mail.attempts >= MAX_ATTEMPTS:
        return _Outcome(mail, "failed", f"gave up after {mail.attempts} attempts: {exc}"[:2000])
    return _Outcome(mail, "retry", error, retry_at=now + backoff(mail.attempts))


def _record(sessions: sessionmaker[Session], outcomes: list[_Outcome], now: datetime,
            report: DeliveryReport) -> None:
    """Write a group of results in one transaction, then log them."""
    if not outcomes:
        return
    sent = [o.mail.id for o in outcomes if o.status == "sent" and o.mail is not None]
    with sessions.begin() as session:
        if sent:
            session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(sent))
                            .values(status="sent", sent_at=now, last_error=None))
        for outcome in outcomes:
            if outcome.status == "failed" and outcome.mail is not None:
                # next_attempt_at keeps when it failed (`intake outbox` shows it)
                session.execute(update(OutboxMessage)
                                .where(OutboxMessage.id == outcome.mail.id)
                                .values(status="failed", next_attempt_at=now,
                                        last_error=outcome.error))
            elif outcome.status == "retry" and outcome.mail is not None:
                session.execute(update(OutboxMessage)
                                .where(OutboxMessage.id == outcome.mail.id)
                                .values(status="queued", next_attempt_at=outcome.retry_at,
                                        last_error=outcome.error))
            elif outcome.status == "released":
                _release(session, outcome.released, now, outcome.error or "not sent")
            elif outcome.status == "returned":
                _release(session, outcome.released, now, None)
    for outcome in outcomes:
        mail = outcome.mail
        if outcome.status == "sent" and mail is not None:
            report.sent += 1
            log.info("outbox: sent %s to %s", mail.kind, mail.to_address)
        elif outcome.status == "failed" and mail is not None:
            report.failed += 1
            log.error("outbox: mail %s to %s failed for good: %s", mail.message_id,
                      mail.to_address, outcome.error)
        elif outcome.status == "retry" and mail is not None:
            report.retrying += 1
            log.warning("outbox: mail %s to %s deferred (%s); retry at %s", mail.message_id,
                        mail.to_address, outcome.error, outcome.retry_at)
        elif outcome.status == "returned":  # due again at once
            report.retrying += len(outcome.released)
        elif outcome.status == "released":
            report.retrying += len(outcome.released)
            if outcome.error is not None:
                # every connection meets the same server problem: deliver_due says it once
                report.connection_error = report.connection_error or outcome.error


def _release(session: Session, ids: tuple[int, ...], now: datetime, error: str | None) -> None:
    """Give claimed rows back, queued again: with backoff after `error`, due at once
    without (for the connections still sending). The claim's attempt is not counted: an
    unreachable server is no fault of the mail, and must not use up the attempts a later
    4xx answer for this very mail would need."""
    if not ids:
        return
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))):
        row.attempts = max(0, row.attempts - 1)
        row.status = "queued"
        if error is not None:
            row.next_attempt_at = now + backoff(row.attempts + 1)
            row.last_error = error[:2000]
        else:
            row.next_attempt_at = now


def retry_failed(session: Session, now: datetime) -> int:
    """Requeue every failed row (after the admin fixed the cause)."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "failed")
        .values(status="queued", next_attempt_at=now, attempts=0)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def summary(session: Session) -> dict[str, int]:
    rows = session.execute(select(OutboxMessage.status, func.count()).group_by(
        OutboxMessage.status))
    return {status: count for status, count in rows}


def listing(session: Session, limit: int = 50) -> list[OutboxMessage]:
    """Failed and waiting mail first, then the most recently sent."""
    pending = list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.status != "sent")
        .order_by(OutboxMessage.status, OutboxMessage.next_attempt_at).limit(limit)))
    sent = list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == "sent")
        .order_by(OutboxMessage.sent_at.desc()).limit(max(0, limit - len(pending)))))
    return pending + sent


def listing_lines(rows: list[OutboxMessage], tz: ZoneInfo) -> list[str]:
    """`intake outbox`: one format for every row (local time with zone, attempts n/max),
    the last error indented below a row that has one."""
    lines = [f"{'STATUS':8} {'TIME':21} {'KIND':9} {'TRIES':>5}  TO  SUBJECT"]
    for row in rows:
        when = row.sent_at if row.status == "sent" else row.next_attempt_at
        stamp = when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if when else "-"
        lines.append(f"{row.status:8} {stamp:21} {row.kind:9} "
                     f"{f'{row.attempts}/{MAX_ATTEMPTS}':>5}  {row.to_address}  {row.subject}")
        if row.status != "sent" and row.last_error:
            lines.append(f"{'':8} last error: {row.last_error}")
    return lines
