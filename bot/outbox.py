"""The outbox: every outgoing mail is a row first; `deliver_due` sends what is due.

Delivery is at-least-once. A row is claimed by setting status "sending" with a lease (its
`next_attempt_at` moves LEASE into the future) and committed before the SMTP transaction.
After the server accepted the mail the row becomes "sent". If the process dies between the
server's acceptance and that update, the lease runs out and the row is sent again, with
the same bytes and the same Message-ID, so mail clients and the bot's own matching treat
the two copies as one mail. The other order (mark sent, then send) could lose a mail,
which is worse for a bot whose whole job is that nobody is forgotten.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ConnectionProblem, DeliveryError
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


def _claim(sessions: sessionmaker[Session], now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due rows for this process (lease); committed at once."""
    with sessions.begin() as session:
        stmt = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status.in_(("queued", "sending")),
                   OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(session.scalars(stmt))
        if ids:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(status="sending", next_attempt_at=now + LEASE,
                        attempts=OutboxMessage.attempts + 1)
            )
    return ids


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    message_id: str
    to_address: str
    raw: bytes
    attempts: int


def _load(sessions: sessionmaker[Session], ids: list[int]) -> list[_Claimed]:
    with sessions() as session:
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.message_id,
                   OutboxMessage.to_address, OutboxMessage.raw, OutboxMessage.attempts)
            .where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id))
        return [_Claimed(*row) for row in rows]


def _due_exists(sessions: sessionmaker[Session], now: datetime) -> bool:
    with sessions() as session:
        return session.scalar(
            select(OutboxMessage.id)
            .where(OutboxMessage.status.in_(("queued", "sending")),
                   OutboxMessage.next_attempt_at <= now)
            .limit(1)) is not None


def deliver_due(sessions: sessionmaker[Session], transport_factory: Callable[[], Transport],
                sender: str, now: datetime, batch: int = 100) -> DeliveryReport:
    """Send every due row, one SMTP connection per batch, one commit per mail.

    The transport is built before any row is claimed: a configuration problem (a missing
    password) then leaves every row untouched instead of leased.
    """
    report = DeliveryReport()
    if not _due_exists(sessions, now):
        return report
    transport = transport_factory()
    while True:
        ids = _claim(sessions, now, batch)
        if not ids:
            return report
        claimed = _load(sessions, ids)
        try:
            transport.open()
        except ConnectionProblem as exc:
            _release(sessions, ids, now, str(exc))
            report.retrying += len(ids)
            report.connection_error = str(exc)
            log.error("outbox: %s; %d mail(s) stay queued", exc, len(ids))
            return report
        try:
            for position, mail in enumerate(claimed):
                if not _deliver_one(sessions, transport, sender, mail, now, report):
                    # the connection is gone: give the rest back and stop this round
                    rest = [m.id for m in claimed[position + 1:]]
                    _release(sessions, rest, now, report.connection_error or "connection lost")
                    report.retrying += len(rest)
                    return report
        finally:
            transport.close()
        if len(ids) < batch:
            return report


def _set(sessions: sessionmaker[Session], row_id: int, **values: object) -> None:
    with sessions.begin() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values))


def _deliver_one(sessions: sessionmaker[Session], transport: Transport, sender: str,
                 mail: _Claimed, now: datetime, report: DeliveryReport) -> bool:
    try:
        transport.send(sender, [mail.to_address], mail.raw)
    except ConnectionProblem as exc:  # the server went away: not this mail's fault
        _release(sessions, [mail.id], now, str(exc))
        report.retrying += 1
        report.connection_error = str(exc)
        log.error("outbox: %s; mail %s stays queued", exc, mail.message_id)
        return False
    except DeliveryError as exc:
        error = str(exc)[:2000]
        if not exc.transient:
            # next_attempt_at keeps when it failed (`intake outbox` shows it)
            _set(sessions, mail.id, status="failed", next_attempt_at=now, last_error=error)
            report.failed += 1
            log.error("outbox: mail %s to %s failed for good: %s", mail.message_id,
                      mail.to_address, exc)
        elif mail.attempts >= MAX_ATTEMPTS:
            error = f"gave up after {mail.attempts} attempts: {exc}"[:2000]
            _set(sessions, mail.id, status="failed", next_attempt_at=now, last_error=error)
            report.failed += 1
            log.error("outbox: mail %s to %s: %s", mail.message_id, mail.to_address, error)
        else:
            retry_at = now + backoff(mail.attempts)
            _set(sessions, mail.id, status="queued", next_attempt_at=retry_at, last_error=error)
            report.retrying += 1
            log.warning("outbox: mail %s to %s deferred (%s); retry at %s", mail.message_id,
                        mail.to_address, exc, retry_at)
        return True
    _set(sessions, mail.id, status="sent", sent_at=now, last_error=None)
    report.sent += 1
    log.info("outbox: sent %s to %s", mail.kind, mail.to_address)
    return True


def _release(sessions: sessionmaker[Session], ids: list[int], now: datetime, error: str) -> None:
    """Give claimed rows back, queued again with backoff. The claim's attempt is not
    counted: an unreachable server is no fault of the mail, and must not use up the
    attempts a later 4xx answer for this very mail would need."""
    if not ids:
        return
    with sessions.begin() as session:
        for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))):
            row.attempts = max(0, row.attempts - 1)
            row.status = "queued"
            row.next_attempt_at = now + backoff(row.attempts + 1)
            row.last_error = error[:2000]


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
