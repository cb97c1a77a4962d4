"""SMTP delivery against the real Postfix (which offers PIPELINING) and aiosmtpd (which
does not): the mail arrives byte for byte either way, and a refusal keeps the connection."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpSession
from aiosmtpd.smtp import Envelope

from bot.config import SmtpSettings
from bot.errors import PermanentDeliveryError
from bot.smtp import SmtpTransport
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
    with transport(clean_mailboxes.smtp_port) as smtp:
        assert smtp._smtp is not None and smtp._smtp.has_extn("pipelining")
        smtp.send(SENDER, [to], mail(to))
        smtp.send(SENDER, [to], mail(to, b"Zweite Mail\r\n"))
    arrived = clean_mailboxes.wait_for_messages(to, count=2)
    # Postfix adds a line break to a mail that ends without one, and nothing else (the
    # two may arrive in either order)
    assert sorted(body_of(raw) for raw in arrived) == sorted([BODY + b"\r\n",
                                                              b"Zweite Mail\r\n"])


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


@pytest.fixture
def aiosmtpd_server() -> Iterator[tuple[int, Collect]]:
    handler = Collect()
    with socket.socket() as probe:  # a free port (Controller cannot report one it chose)
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def test_a_server_without_pipelining_gets_the_same_bytes(
        aiosmtpd_server: tuple[int, Collect]) -> None:
    port, handler = aiosmtpd_server
    to = "someone@example.org"
    raw = mail(to)
    with transport(port) as smtp:
        assert smtp._smtp is not None and not smtp._smtp.has_extn("pipelining")
        smtp.send(SENDER, [to], raw)
    assert handler.mails == [(SENDER, [to], raw + b"\r\n")]
