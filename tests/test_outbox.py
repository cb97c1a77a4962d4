"""The outbox against the real Postfix: leases, crash recovery, one connection per batch."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.config import SmtpSettings
from bot.outbox import LEASE, _claim, deliver_due, enqueue
from bot.smtp import SmtpTransport
from db import migrate
from db.engine import make_engine, session_factory
from db.models import OutboxMessage
from tests.mailstack import MailStack

NOW = datetime(2027, 1, 4, 7, 0, tzinfo=UTC)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(db_url)
    migrate.upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def raw_mail(n: int, to: str) -> bytes:
    return (f"From: bot@musterhausen.test\r\nTo: {to}\r\nSubject: Test {n}\r\n"
            f"Message-ID: <m{n}@musterhausen.test>\r\n\r\nHallo {n}\r\n").encode()


def queue(sessions: sessionmaker[Session], count: int, to: str) -> None:
    with sessions.begin() as s:
        for n in range(count):
            assert enqueue(s, kind="request", dedupe_key=f"k{n}", message_id=f"<m{n}@x>",
                           to_address=to, subject=f"Test {n}", raw=raw_mail(n, to), now=NOW)
        # the same key again is a no-op, not an error
        assert enqueue(s, kind="request", dedupe_key="k0", message_id="<other@x>", to_address=to,
                       subject="dup", raw=b"x", now=NOW) is None


class CountingTransport(SmtpTransport):
    """The real transport, counting connections (one per batch is the point)."""

    opened = 0

    def open(self) -> None:
        CountingTransport.opened += 1
        super().open()


def transport(stack: MailStack) -> SmtpTransport:
    settings = SmtpSettings(host="127.0.0.1", port=stack.smtp_port, security="none",
                            username=None)
    return CountingTransport(settings, None)


def test_a_batch_uses_one_connection_and_sends_each_mail_once(
        sessions: sessionmaker[Session], clean_mailboxes: MailStack) -> None:
    queue(sessions, 5, "contact4@musterhausen.test")
    CountingTransport.opened = 0
    report = deliver_due(sessions, lambda: transport(clean_mailboxes), "bot@musterhausen.test",
                         NOW)
    assert (report.sent, report.retrying, report.failed) == (5, 0, 0)
    assert CountingTransport.opened == 1
    again = deliver_due(sessions, lambda: transport(clean_mailboxes), "bot@musterhausen.test",
                        NOW)
    assert again.sent == 0
    clean_mailboxes.wait_queue_empty()
    assert len(clean_mailboxes.wait_for_messages("contact4@musterhausen.test", count=5)) == 5


def test_a_crash_after_claiming_loses_nothing(sessions: sessionmaker[Session],
                                              clean_mailboxes: MailStack) -> None:
    queue(sessions, 2, "contact5@musterhausen.test")
    claimed = _claim(sessions, NOW, 100)  # ... and the process dies here
    assert len(claimed) == 2
    stack = clean_mailboxes
    # while the lease runs, a second sender leaves the rows alone
    assert deliver_due(sessions, lambda: transport(stack), "bot@x", NOW).sent == 0
    report = deliver_due(sessions, lambda: transport(stack), "bot@x", NOW + LEASE)
    assert report.sent == 2
    assert len(stack.wait_for_messages("contact5@musterhausen.test", count=2)) == 2


def test_a_crash_between_acceptance_and_update_resends_the_same_message_id(
        sessions: sessionmaker[Session], clean_mailboxes: MailStack) -> None:
    """At-least-once: the duplicate carries the same Message-ID, so it is recognisable."""
    queue(sessions, 1, "contact6@musterhausen.test")
    (claimed,) = _claim(sessions, NOW, 100)
    row_id = claimed.id
    with sessions() as s:
        row = s.get(OutboxMessage, row_id)
        assert row is not None
        raw = row.raw
    with transport(clean_mailboxes) as t:  # the server accepts ... and the process dies
        t.send("bot@x", ["contact6@musterhausen.test"], raw)
    report = deliver_due(sessions, lambda: transport(clean_mailboxes), "bot@x", NOW + LEASE)
    assert report.sent == 1
    copies = clean_mailboxes.wait_for_messages("contact6@musterhausen.test", count=2)
    ids = {email.message_from_bytes(c, policy=policy.default)["Message-ID"] for c in copies}
    assert ids == {"<m0@musterhausen.test>"}
    with sessions() as s:
        assert s.scalars(select(OutboxMessage.status)).all() == ["sent"]
