"""The demo's mail servers: an IMAP server (pymap, mailboxes in memory) and an SMTP server
(aiosmtpd) on loopback, both on one asyncio loop in a background thread.

SMTP accepts mail for the demo's own addresses only and hands each mail to IMAP with an
APPEND into the recipient's INBOX, as a delivery agent in front of Dovecot would; the bot
then sees it exactly as it sees mail on a real server (IDLE announces it, MOVE files it
away). Nothing is written to disk, and `stop()` (also on Ctrl-C) closes both listeners and
every open connection, then ends the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from argparse import Namespace
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, cast

from aiosmtpd.smtp import SMTP, Envelope, Session
from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import DictBackend, Identity
from pymap.concurrent import Subsystem
from pymap.imap import IMAPServer
from pymap.user import UserMetadata
from pysasl.hashing import Cleartext

from bot.config import ImapSettings
from bot.errors import ConnectionProblem, UserError, one_line
from bot.imap import append_message

log = logging.getLogger("intake.demo")

HOST = "127.0.0.1"
#: listening addresses that mean "every interface", and where the bot then connects (the
#: IPv6 one listens on IPv6 only: asyncio sets IPV6_V6ONLY)
WILDCARDS = {"0.0.0.0": HOST, "::": "::1"}
#: how long starting may take before the demo gives up (it takes about 0.1 s)
START_TIMEOUT = 10.0


@dataclass(frozen=True)
class Endpoints:
    host: str
    imap_port: int
    smtp_port: int
    password: str


class DemoServers:
    """`with DemoServers(users, password) as servers:` both servers run inside the block.

    Every address in `users` is an IMAP account with `password`, and a local recipient for
    SMTP. Ports are chosen by the system unless given (a port that is taken falls back to
    a free one)."""

    def __init__(self, users: Iterable[str], password: str, imap_port: int = 0,
                 smtp_port: int = 0, listen: str = HOST) -> None:
        self.users = sorted({u.lower() for u in users})
        #: where the servers listen: loopback, or (in a container, --listen 0.0.0.0) every
        #: interface, so that a published port reaches them; the bot connects by loopback
        self.listen = listen
        self.password = password
        self._wanted = (imap_port, smtp_port)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.endpoints: Endpoints | None = None

    # --- the caller's side ------------------------------------------------------------

    def start(self) -> Endpoints:
        self._thread = threading.Thread(target=self._run, name="intake-demo-servers",
                                        daemon=True)  # a safety net only: stop() joins it
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            self.stop()
            raise UserError("demo: the mail servers did not start within "
                            f"{START_TIMEOUT:.0f} s")
        if self._failure is not None:
            self.stop()
            raise UserError(f"demo: the mail servers could not start: "
                            f"{type(self._failure).__name__}: {one_line(self._failure)}")
        assert self.endpoints is not None
        return self.endpoints

    def stop(self) -> None:
        """Close both servers and every connection; idempotent."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> DemoServers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def imap_settings(self, username: str) -> ImapSettings:
        """How a mail client (or the SMTP side's delivery) logs in as `username`."""
        assert self.endpoints is not None
        return ImapSettings(host=self.endpoints.host, port=self.endpoints.imap_port,
                            security="none", username=username, password_env=None,
                            timeout=10)

    # --- the servers' thread ----------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); the thread ends either way
            self._failure = exc
            log.debug("demo servers failed", exc_info=True)
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        imap = await self._start_imap()
        smtp = await self._start_smtp()
        try:
            connect = WILDCARDS.get(self.listen, self.listen)
            self.endpoints = Endpoints(connect, _port(imap), _port(smtp), self.password)
            self._ready.set()
            await self._stopping.wait()
        finally:
            for server in (smtp, imap):
                server.close()
            # asyncio.run cancels what is left: open IMAP sessions (the bot's IDLE) and
            # SMTP sessions, then shuts down the executor that runs the deliveries

    async def _start_imap(self) -> asyncio.Server:
        # pymap's own command line builds its backend from these arguments
        args = Namespace(debug=False, passlib_cfg=None, host=self.listen, port=self._wanted[0],
                         cert=None, key=None, tls=False, proxy_protocol=None,
                         demo_data=False, demo_user=self.users[0],
                         demo_password=self.password)
        # Cleartext: pymap's default hash takes half a second per login, and the demo's
        # password is printed for everyone anyway; asyncio: no extra thread pool to stop
        backend, config = await DictBackend.init(
            args, hash_context=Cleartext(), cpu_subsystem=Subsystem.for_asyncio(),
            invalid_user_sleep=0.0, reject_dnsbl=False)
        config.apply_context()
        for user in self.users[1:]:  # the first is pymap's own demo user, made by init
            await Identity(user, backend.login, None, frozenset()).set(
                UserMetadata(config, user, password=self.password))
        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(
            IMAPServer(backend.login, config))

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await callback(reader, cast(asyncio.StreamWriter, _WholeResponses(writer)))

        return await _listen(lambda port: asyncio.start_server(connected, self.listen, port),
                             self._wanted[0])

    async def _start_smtp(self) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        handler = _Delivery(self)
        return await _listen(lambda port: loop.create_server(
            lambda: SMTP(handler, hostname="mail.demo.test", ident="intake demo SMTP",
                         enable_SMTPUTF8=True), self.listen, port), self._wanted[1])


async def _listen(create: Any, port: int) -> asyncio.Server:
    try:
        server: asyncio.Server = await create(port)
    except OSError:
        if port == 0:
            raise
        server = await create(0)  # the wished-for port is taken: any free one will do
    return server


def _port(server: asyncio.Server) -> int:
    sock: socket.socket = server.sockets[0]
    return int(sock.getsockname()[1])


class _WholeResponses:
    """pymap writes a response in pieces ("* 3 FETCH ", then its items) and each piece
    leaves as its own TCP segment; a mail client that reads a non-blocking socket under
    IDLE, as imapclient's idle_check does, can then lose the rest of a line and drop the
    connection. Dovecot writes each response whole: so does this writer, by handing the
    transport everything written since the last drain at once."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        self._pending += data

    def _flush(self) -> None:
        if self._pending:
            self._writer.write(bytes(self._pending))
            self._pending.clear()

    async def drain(self) -> None:
        self._flush()
        await self._writer.drain()

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


class _Delivery:
    """aiosmtpd handler: local recipients only; each mail is appended to their INBOX."""

    def __init__(self, servers: DemoServers) -> None:
        self.servers = servers

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.lower() not in self.servers.users:
            return f"550 5.1.1 <{address}>: no such mailbox in the demo"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        stamp = format_datetime(datetime.now(UTC))
        loop = asyncio.get_running_loop()
        for rcpt in envelope.rcpt_tos:
            # what a delivery agent adds: the envelope sender and the hop
            trace = (f"Return-Path: <{envelope.mail_from or ''}>\r\n"
                     f"Received: from {session.host_name or 'localhost'} ([{HOST}])\r\n"
                     f"\tby mail.demo.test (intake demo) for <{rcpt}>; {stamp}\r\n")
            raw = trace.encode("utf-8") + content
            try:
                # imapclient blocks: in the executor, so this loop keeps serving IMAP
                await loop.run_in_executor(None, append_message,
                                           self.servers.imap_settings(rcpt.lower()),
                                           self.servers.password, raw)
            except ConnectionProblem as exc:
                log.warning("demo: delivery to %s failed: %s", rcpt, exc)
                return "451 4.3.0 delivery failed, try again later"
        return "250 2.0.0 delivered"
