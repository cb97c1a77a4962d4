"""SMTP delivery against the real Postfix (which offers PIPELINING and CHUNKING) and aiosmtpd (which
does not, unless a test's handler adds it): the mail arrives byte for byte either way, a
refusal keeps the connection, a server closing down ends it."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpSession
from aiosmtpd.smtp import Envelope, Session

from bot.config import SmtpSettings
from bot.errors import ConnectionProblem, PermanentDeliveryError, TransientDeliveryError
from bot.smtp import CHUNK_WITH_COMMANDS, SmtpTransport
from tests.mailstack import MailStack

SENDER = "bot@musterhausen.test"

#: lines that SMTP's dot-stuffing must carry through: a lone dot ends DATA on the wire
BODY = (b"Guten Tag,\r\n.\r\n..\r\n.Punkt am Anfang\r\n. und Leerzeichen\r\n"
        b"Ende ohne Zeilenumbruch.")


def mail(to: str, body: bytes = BODY, tag: str | None = None) -> bytes:
    tag = tag or uuid.uuid4().hex
    return (f"From: {SENDER}\r\nTo: {to}\r\nSubject: Test {tag}\r\n"
            f"Message-ID: <{tag}@musterhausen.test>\r\n\r\n").encode() + body


def transport(port: int) -> SmtpTransport:
    return SmtpTransport(SmtpSettings(host="127.0.0.1", port=port, security="none",
                                      username=None), None)


def body_of(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1]


def test_postfix_gets_the_mail_pipelined_and_whole(clean_mailboxes: MailStack) -> None:
    to = "contact1@musterhausen.test"
    large = b"".join(b"Zeile %d mit etwas Text, damit es viele Bytes werden\r\n" % n
                     for n in range(CHUNK_WITH_COMMANDS // 40)) + b".\r\n.Ende\r\n"
    writes: list[bytes | str] = []
    with transport(clean_mailboxes.smtp_port) as smtp:
        connection = smtp._smtp
        assert connection is not None and connection.has_extn("pipelining")
        assert connection.has_extn("chunking")
        sent = connection.send
        connection.send = lambda data: (writes.append(data), sent(data))[1]  # type: ignore[method-assign]
        smtp.send(SENDER, [to], mail(to))
        smtp.send(SENDER, [to], mail(to, b"Zweite Mail\r\n"))
        smtp.send(SENDER, [to], mail(to, large))
    # one write per small mail, commands and bytes (CHUNKING); the large one waits for
    # MAIL and RCPT to be accepted, then goes as DATA
    verbs = [[line.split(b":")[0].split(b" ")[0] for line in data.split(b"\r\n")[:3]]
             if data.startswith(b"MAIL") else b"(the large mail's content)"
             for data in (w if isinstance(w, bytes) else w.encode() for w in writes)
             if not data.startswith(b"quit")]
    assert verbs == [[b"MAIL", b"RCPT", b"BDAT"], [b"MAIL", b"RCPT", b"BDAT"],
                     [b"MAIL", b"RCPT", b"DATA"], b"(the large mail's content)"]
    arrived = clean_mailboxes.wait_for_messages(to, count=3)
    # Postfix adds a line break to a mail that ends without one, and nothing else; what
    # begins with a dot arrives as it was sent (the mails may arrive in any order)
    assert sorted(body_of(raw) for raw in arrived) == sorted([BODY + b"\r\n",
                                                              b"Zweite Mail\r\n", large])


def test_a_refused_recipient_leaves_the_connection_usable(clean_mailboxes: MailStack) -> None:
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@musterhausen.test"
    to = "contact2@musterhausen.test"
    with transport(clean_mailboxes.smtp_port) as smtp:
        connection = smtp._smtp
        with pytest.raises(PermanentDeliveryError, match=f"recipient refused: {nobody}: 550"):
            smtp.send(SENDER, [nobody], mail(nobody))
        # over the test Postfix's message_size_limit (50 MB): refused at MAIL FROM by its
        # SIZE, before any of it is sent
        with pytest.raises(PermanentDeliveryError, match="^552 ") as refused:
            smtp.send(SENDER, [to], mail(to, b"x" * 76 + b"\r\n") + b"y" * 53_000_000)
        assert refused.value.code == 552
        smtp.send(SENDER, [to], mail(to, tag="after-refusals"))
        assert smtp._smtp is connection  # the same connection all along
    (arrived,) = clean_mailboxes.wait_for_messages(to, count=1)
    assert b"after-refusals" in arrived


class Collect:
    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SmtpSession, session: object,
                          envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes) and envelope.mail_from is not None
        with self.lock:
            self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


class Picky(Collect):
    """Offers PIPELINING (aiosmtpd reads pipelined commands in order, as any server must)
    and answers RCPT for `deferred@...` with 451 and for `closing@...` with 421."""

    async def handle_EHLO(self, server: SmtpSession, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname  # this hook's duty (aiosmtpd's EHLO leaves it)
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(self, server: SmtpSession, session: object, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        if address.startswith("deferred@"):
            return "451 4.3.0 Bitte später noch einmal"
        if address.startswith("closing@"):
            return "421 4.3.2 Dienst wird beendet"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@contextlib.contextmanager
def serving(handler: Collect) -> Iterator[tuple[int, Collect]]:
    with socket.socket() as probe:  # a free port (Controller cannot report one it chose)
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


@pytest.fixture
def aiosmtpd_server() -> Iterator[tuple[int, Collect]]:
    with serving(Collect()) as server:
        yield server


@pytest.fixture
def picky_server() -> Iterator[tuple[int, Collect]]:
    with serving(Picky()) as server:
        yield server


def test_a_deferred_recipient_is_retried_later_and_the_connection_goes_on(
        picky_server: tuple[int, Collect]) -> None:
    port, handler = picky_server
    with transport(port) as smtp:
        assert smtp._smtp is not None and smtp._smtp.has_extn("pipelining")
        with pytest.raises(TransientDeliveryError, match="deferred@example.org: 451 4.3.0"):
            smtp.send(SENDER, ["deferred@example.org"], mail("deferred@example.org"))
        raw = mail("someone@example.org")
        smtp.send(SENDER, ["someone@example.org"], raw)
    # the refused transaction left nothing behind (RSET): one mail, one recipient
    assert handler.mails == [(SENDER, ["someone@example.org"], raw + b"\r\n")]


def test_a_server_closing_down_ends_the_connection(picky_server: tuple[int, Collect]) -> None:
    port, handler = picky_server
    smtp = transport(port)
    smtp.open()
    try:
        with pytest.raises(TransientDeliveryError, match="421 4.3.2"):
            smtp.send(SENDER, ["closing@example.org"], mail("closing@example.org"))
        # closed as smtplib closes it after a 421: the next mail waits for a new connection
        with pytest.raises(ConnectionProblem, match="connection lost"):
            smtp.send(SENDER, ["someone@example.org"], mail("someone@example.org"))
    finally:
        smtp.close()
    assert handler.mails == []


def test_a_server_without_pipelining_gets_the_same_bytes(
        aiosmtpd_server: tuple[int, Collect]) -> None:
    port, handler = aiosmtpd_server
    to = "someone@example.org"
    raw = mail(to)
    with transport(port) as smtp:
        assert smtp._smtp is not None and not smtp._smtp.has_extn("pipelining")
        smtp.send(SENDER, [to], raw)
    assert handler.mails == [(SENDER, [to], raw + b"\r\n")]
