"""The outbox against the real Postfix: leases, crash recovery, one connection per batch,
several connections at once, delivery while mail is still being queued."""

from __future__ import annotations

import email
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.config import SmtpSettings
from bot.errors import ConnectionProblem
from bot.outbox import LEASE, Meanwhile, _claim, deliver_due, enqueue
from bot.rounds import mark_sent_requests
from bot.smtp import SmtpTransport
from db import migrate
from db.engine import make_engine, session_factory
from db.models import Department, OutboxMessage, Request
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


def queue_many(sessions: sessionmaker[Session], count: int, start: int = 0) -> list[str]:
    """`count` mails to contact1..contact20 (recipient delimiter: contactN+K); their ids."""
    ids = []
    with sessions.begin() as s:
        for n in range(start, start + count):
            to = f"contact{n % 20 + 1}+{n}@musterhausen.test"
            assert enqueue(s, kind="request", dedupe_key=f"k{n}", message_id=f"<m{n}@x>",
                           to_address=to, subject=f"Test {n}", raw=raw_mail(n, to), now=NOW)
            ids.append(f"<m{n}@musterhausen.test>")
    return ids


def received_ids(stack: MailStack, total: int) -> list[str]:
    """Every Message-ID in contact1..contact20's mailboxes once the queue is empty."""
    stack.wait_queue_empty(timeout=60)
    found = []
    for n in range(1, 21):
        expected = sum(1 for k in range(total) if k % 20 + 1 == n)
        for raw in stack.wait_for_messages(f"contact{n}@musterhausen.test", count=expected):
            found.append(str(email.message_from_bytes(raw, policy=policy.default)
                             ["Message-ID"]))
    return found


def test_several_connections_share_the_outbox_each_mail_once(
        sessions: sessionmaker[Session], clean_mailboxes: MailStack) -> None:
    ids = queue_many(sessions, 90)
    CountingTransport.opened = 0
    report = deliver_due(sessions, lambda: transport(clean_mailboxes), "bot@x", NOW,
                         connections=3)
    assert (report.sent, report.retrying, report.failed) == (90, 0, 0)
    assert CountingTransport.opened >= 2  # they shared the work (three were offered)
    with sessions() as s:
        assert set(s.execute(select(OutboxMessage.status, OutboxMessage.attempts))) == {
            ("sent", 1)}
    assert sorted(received_ids(clean_mailboxes, 90)) == sorted(ids)


class RefusesFurtherConnections(SmtpTransport):
    """The real transport, as a server that takes one connection at a time: while one is
    open, another is refused (421)."""

    open_now = 0
    refused = 0
    lock = threading.Lock()

    def open(self) -> None:
        with RefusesFurtherConnections.lock:
            if RefusesFurtherConnections.open_now:
                RefusesFurtherConnections.refused += 1
                raise ConnectionProblem(f"SMTP {self.server}: 421 4.7.0 too many connections")
            RefusesFurtherConnections.open_now += 1
        super().open()

    def close(self) -> None:
        super().close()
        with RefusesFurtherConnections.lock:
            RefusesFurtherConnections.open_now -= 1


def test_a_server_that_takes_fewer_connections_gets_every_mail_over_those(
        sessions: sessionmaker[Session], clean_mailboxes: MailStack) -> None:
    ids = queue_many(sessions, 80)
    RefusesFurtherConnections.open_now = RefusesFurtherConnections.refused = 0
    settings = SmtpSettings(host="127.0.0.1", port=clean_mailboxes.smtp_port,
                            security="none", username=None)
    report = deliver_due(sessions, lambda: RefusesFurtherConnections(settings, None),
                         "bot@x", NOW, connections=3)
    assert (report.sent, report.retrying, report.failed) == (80, 0, 0)
    assert report.connection_error is None
    assert RefusesFurtherConnections.refused == 2  # it was asked for three at once
    with sessions() as s:
        assert set(s.execute(select(OutboxMessage.status, OutboxMessage.attempts))) == {
            ("sent", 1)}
    assert sorted(received_ids(clean_mailboxes, 80)) == sorted(ids)


class StopsPostfix(SmtpTransport):
    """The real transport; the first connection stops the real Postfix after 10 mails,
    while the other connections are sending too."""

    sent = 0
    lock = threading.Lock()

    def __init__(self, settings: SmtpSettings, stack: MailStack) -> None:
        super().__init__(settings, None)
        self.stack = stack

    def send(self, sender: str, recipients: list[str], raw: bytes) -> None:
        with StopsPostfix.lock:
            StopsPostfix.sent += 1
            if StopsPostfix.sent == 10:
                self.stack.stop_postfix()
        super().send(sender, recipients, raw)


def test_the_server_gone_under_several_connections_loses_nothing(
        sessions: sessionmaker[Session], clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    ids = queue_many(sessions, 90)
    StopsPostfix.sent = 0
    settings = SmtpSettings(host="127.0.0.1", port=stack.smtp_port, security="none",
                            username=None)
    try:
        report = deliver_due(sessions, lambda: StopsPostfix(settings, stack), "bot@x", NOW,
                             connections=3)
        assert report.connection_error is not None
        assert report.failed == 0 and report.retrying > 0
        with sessions() as s:
            statuses = Counter(s.scalars(select(OutboxMessage.status)))
        # nothing is left claimed: what was not sent is queued again (claimed and given
        # back, counted as retrying, or never claimed)
        assert statuses == {"sent": report.sent, "queued": 90 - report.sent}
    finally:
        stack.start_postfix()
    later = deliver_due(sessions, lambda: transport(stack), "bot@x", NOW + LEASE,
                        connections=3)
    assert later.sent == 90 - report.sent and later.connection_error is None
    # at least once: a mail the server took as it went down may come twice, never none
    got = received_ids(stack, 90)
    assert set(got) == set(ids)


def test_meanwhile_sends_what_is_queued_while_it_runs(
        sessions: sessionmaker[Session], clean_mailboxes: MailStack) -> None:
    ids: list[str] = []
    with Meanwhile(sessions, lambda: transport(clean_mailboxes), "bot@x",
                   lambda: NOW) as early:
        for chunk in range(5):  # a round's chunks, committed one after the other
            ids += queue_many(sessions, 20, start=chunk * 20)
            time.sleep(0.2)
    assert (early.report.sent, early.report.retrying, early.report.failed) == (100, 0, 0)
    assert deliver_due(sessions, lambda: transport(clean_mailboxes), "bot@x", NOW).sent == 0
    assert sorted(received_ids(clean_mailboxes, 100)) == sorted(ids)


def test_requests_become_sent_with_their_mails_sending_time_and_only_then(
        sessions: sessionmaker[Session]) -> None:
    from tests.test_telling import Seeder

    sent_at = datetime(2027, 1, 4, 8, 15, 30, tzinfo=UTC)
    with sessions.begin() as s:
        seeder = Seeder(s)
        for name in ("Bauamt", "Kulturamt", "Schulamt", "Jugendamt"):
            seeder.department(name, f"{name.lower()}@musterhausen.test")
        rnd = seeder.round("2027-01")
        outbox = {"Bauamt": "sent", "Kulturamt": "failed", "Schulamt": "queued"}
        for name in ("Bauamt", "Kulturamt", "Schulamt", "Jugendamt"):
            request = seeder.request(rnd, name, status="queued")
            request.sent_at = None
            if name in outbox:  # Jugendamt's mail is not in the outbox at all
                s.add(OutboxMessage(
                    kind="request", dedupe_key=f"request:{name}", message_id=request.message_id,
                    to_address=f"{name.lower()}@musterhausen.test", subject="Ihre Themen",
                    raw=b"x", status=outbox[name], attempts=1, next_attempt_at=NOW,
                    created_at=NOW, sent_at=sent_at if outbox[name] == "sent" else None))
        # an older round's request, sent and answered long ago: stays as it is
        seeder.request(seeder.round("2026-12"), "Bauamt", status="answered")
    with sessions.begin() as s:
        assert mark_sent_requests(s) == 1
    with sessions.begin() as s:
        assert mark_sent_requests(s) == 0  # nothing twice
        rows = s.execute(select(Department.name, Request.status, Request.sent_at)
                         .join(Department, Department.id == Request.department_id)
                         .order_by(Request.id)).all()
    states = [(name, status, at == sent_at)
              for name, status, at in rows]
    assert states == [("Bauamt", "sent", True), ("Kulturamt", "queued", False),
                      ("Schulamt", "queued", False), ("Jugendamt", "queued", False),
                      ("Bauamt", "answered", False)]


def test_meanwhile_wakes_its_idle_connections_at_each_commit_and_then_lets_go(
        sessions: sessionmaker[Session], clean_mailboxes: MailStack) -> None:
    from sqlalchemy import event

    with Meanwhile(sessions, lambda: transport(clean_mailboxes), "bot@x",
                   lambda: NOW) as early:
        commits = early._commits
        assert event.contains(sessions, "after_commit", commits)
        before = commits.count
        queue_many(sessions, 3)
        assert commits.count > before
    assert early.report.sent == 3
    assert not event.contains(sessions, "after_commit", commits)  # nothing left behind
    # a wait returns at once when the count moved on, else after its timeout
    assert commits.after(commits.count - 1, 10.0) == commits.count
    assert commits.after(commits.count, 0.01) == commits.count


def test_claimed_mails_wait_in_order_and_what_is_left_is_handed_back() -> None:
    from bot.outbox import _Buffer, _Claimed, _Stop

    def mail(n: int) -> _Claimed:
        return _Claimed(n, "request", f"<m{n}@x>", "a@musterhausen.test", b"x", 1)

    def take(buffer: _Buffer, stop: _Stop) -> _Claimed | None:
        taken = buffer.take(stop)
        if taken is not None:
            buffer.settled()
        return taken

    buffer = _Buffer()
    stop = _Stop(buffer)
    buffer.put([mail(1), mail(2), mail(3)])
    assert take(buffer, stop) == mail(1)
    buffer.put([mail(1)], first=True)  # a connection refused after taking it: next in line
    assert [take(buffer, stop), take(buffer, stop)] == [mail(1), mail(2)]
    buffer.wait_for_room(2, stop)  # one left: room below two, at once
    stop.set()
    assert buffer.take(stop) is None  # stopped: nothing more goes out ...
    assert buffer.drain() == [mail(3)] and len(buffer) == 0  # ... and this goes back

    # closed and empty, but one connection still holds a mail while it opens: the others
    # wait, and send it if that connection is refused and puts it back
    shared = _Buffer()
    shared.put([mail(4)])
    held = shared.take(_Stop(shared))
    shared.close()
    got: list[_Claimed | None] = []
    other = threading.Thread(target=lambda: got.append(take(shared, _Stop(shared))))
    other.start()
    other.join(0.2)
    assert other.is_alive() and got == []  # waiting, not ended
    assert held is not None
    shared.put([held], first=True)  # refused: back for the others
    shared.settled()
    other.join(10)
    assert got == [mail(4)]
    assert take(shared, _Stop(shared)) is None  # closed, empty, nothing in hand: the end


class BreaksOnTheTenth(SmtpTransport):
    """The real transport with a bug: the tenth mail raises something unforeseen."""

    sent = 0
    lock = threading.Lock()

    def send(self, sender: str, recipients: list[str], raw: bytes) -> None:
        with BreaksOnTheTenth.lock:
            BreaksOnTheTenth.sent += 1
            if BreaksOnTheTenth.sent == 10:
                raise RuntimeError("a bug")
        super().send(sender, recipients, raw)


def test_a_bug_while_sending_is_raised_and_what_waited_goes_back_to_the_queue(
        sessions: sessionmaker[Session], clean_mailboxes: MailStack) -> None:
    queue_many(sessions, 90)
    BreaksOnTheTenth.sent = 0
    settings = SmtpSettings(host="127.0.0.1", port=clean_mailboxes.smtp_port,
                            security="none", username=None)
    with pytest.raises(RuntimeError, match="a bug"):
        deliver_due(sessions, lambda: BreaksOnTheTenth(settings, None), "bot@x", NOW,
                    connections=3)
    with sessions() as s:
        statuses = Counter(s.scalars(select(OutboxMessage.status)))
    # only the mail in the broken connection's hands waits for its lease; every other
    # one is sent, or queued again
    assert statuses["sending"] == 1 and sum(statuses.values()) == 90
    assert set(statuses) == {"sent", "queued", "sending"}


class RefusesSlowly(SmtpTransport):
    """The real transport, as a server that takes one connection and refuses a further one
    only after a while (a tarpit, a slow TLS handshake): meanwhile the first connection
    sends everything else."""

    opened = 0
    lock = threading.Lock()

    def open(self) -> None:
        with RefusesSlowly.lock:
            RefusesSlowly.opened += 1
            further = RefusesSlowly.opened > 1
        if further:
            time.sleep(0.5)
            raise ConnectionProblem(f"SMTP {self.server}: 421 4.7.0 too many connections")
        super().open()


def test_the_mail_of_a_connection_refused_late_is_sent_over_the_others(
        sessions: sessionmaker[Session], clean_mailboxes: MailStack) -> None:
    ids = queue_many(sessions, 41)  # two connections' worth
    RefusesSlowly.opened = 0
    settings = SmtpSettings(host="127.0.0.1", port=clean_mailboxes.smtp_port,
                            security="none", username=None)
    report = deliver_due(sessions, lambda: RefusesSlowly(settings, None), "bot@x", NOW,
                         connections=3)
    assert (report.sent, report.retrying, report.failed) == (41, 0, 0)
    with sessions() as s:
        assert set(s.execute(select(OutboxMessage.status, OutboxMessage.attempts))) == {
            ("sent", 1)}
    assert sorted(received_ids(clean_mailboxes, 41)) == sorted(ids)
