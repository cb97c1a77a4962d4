"""The poller: connect, fetch and process, wait for news, and never die of a network error.

Continuous mode waits with IDLE where the server offers it (re-issued before the server's
30-minute limit) and polls every `poll_seconds` otherwise. A dropped connection, a restarted
server or imapclient's AbortError ("unterminated line") is logged in one line and followed
by a reconnect with exponential backoff (1 s doubling to 5 min). A database that is away
is logged in one line too, and waited for the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ConnectionProblem, database_problem
from bot.imap import Mailbox
from bot.listening.fetch import FetchSettings, PassReport, poll_once
from bot.listening.process import ListenSettings
from bot.memory import large_buffers_back_to_the_system

log = logging.getLogger("intake.listening")

MAX_BACKOFF = 300.0


@dataclass
class Poller:
    open_mailbox: Callable[[], Mailbox]
    sessions: sessionmaker[Session]
    fetch: FetchSettings
    listen: ListenSettings
    now: Callable[[], datetime]
    poll_seconds: float = 60.0
    #: called after each pass (the oversized notices, follow-ups and the health stamp)
    after_pass: Callable[[PassReport], None] | None = None

    def __post_init__(self) -> None:
        large_buffers_back_to_the_system()

    def once(self) -> PassReport:
        mailbox = self.open_mailbox()
        try:
            return self._pass(mailbox)
        finally:
            mailbox.close()

    def _pass(self, mailbox: Mailbox) -> PassReport:
        report = poll_once(mailbox, self.sessions, self.fetch, self.listen, self.now)
        if report.stored or report.oversized or report.processing.failed:
            p = report.processing
            log.info("mailbox: %d new mail(s) stored, %d processed (%s)%s", report.stored,
                     p.processed, ", ".join(f"{n} {s}" for s, n in sorted(p.by_status.items()))
                     or "-", f", {p.failed} failed" if p.failed else "")
        if self.after_pass is not None:
            self.after_pass(report)
        return report

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set: pass, wait for news, pass again; reconnect on any drop."""
        delay = 1.0
        mailbox: Mailbox | None = None
        while not stop.is_set():
            try:
                if mailbox is None:
                    mailbox = self.open_mailbox()
                    if delay > 1.0:
                        log.info("mailbox: connected again")
                self._pass(mailbox)
                # only a whole pass ends a run of failures (a mailbox that connects while
                # the database is away must not start the waiting over)
                delay = 1.0
                mailbox.wait(self.poll_seconds, stop.is_set)
            except ConnectionProblem as exc:
                log.warning("mailbox: %s; trying again in %.0f s", exc, delay)
                if mailbox is not None:
                    mailbox.close()
                    mailbox = None
                stop.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF)
            except Exception as exc:
                problem = database_problem(exc)
                if problem is not None:
                    # the database is away, not the mailbox: one line, its connection stays
                    log.warning("mailbox: database not reachable (%s); trying again in %.0f s",
                                problem, delay)
                else:
                    # a bug: keep the poller alive, say so with the traceback, back off
                    log.exception("mailbox: pass failed; trying again in %.0f s", delay)
                    if mailbox is not None:
                        mailbox.close()
                        mailbox = None
                stop.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF)
        if mailbox is not None:
            mailbox.close()
