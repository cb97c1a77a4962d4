"""Fetching: every new mail in the folder is stored raw and committed before anything else.

One pass: select the folder -> list its messages -> skip those already stored (a crash
between storing and moving leaves them there) -> check sizes (an oversized mail is recorded
with its headers only, never fetched whole) -> fetch in batches bounded by count and bytes
with BODY.PEEK[] -> store each batch, commit -> process its mails -> move each message by
its outcome (processed folder, or the failed folder for what needs a human).

With many mails the steps overlap: a thread fetches and stores the next batch while this
one is processed, and helper processes parse a batch ahead (`bot.listening.parsing`). The
order that matters holds for every mail: its row is committed before it is processed, and
it is moved only after its processing committed. So a `kill -9` anywhere loses nothing:
the next pass finds the message still in the folder and its row already stored (processed
or not).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import one_line
from bot.imap import Mailbox
from bot.listening.parsing import parsing_for
from bot.listening.process import ListenSettings, Processor, ProcessReport, process_pending
from bot.memory import collector_skips_what_exists
from db.inbound import RawMail, mailbox_state, store_raw, store_raws, stored_uids
from db.models import MailboxState
from parsers.fields import header_fields

log = logging.getLogger("intake.listening")

#: statuses that send the message on the server to the failed folder (a human looks)
FOR_A_HUMAN = ("failed", "oversized")


@dataclass(frozen=True)
class FetchSettings:
    folder: str = "INBOX"
    processed_folder: str = "Intake/Processed"
    failed_folder: str = "Intake/Failed"
    max_message_bytes: int = 25 * 1024 * 1024
    batch_count: int = 100
    #: with helper processes, two batches are in memory at once (one parsed ahead)
    batch_bytes: int = 24 * 1024 * 1024


@dataclass
class PassReport:
    stored: int = 0
    duplicates: int = 0
    oversized: int = 0
    moved: int = 0
    processing: ProcessReport = field(default_factory=ProcessReport)
    oversized_rows: list[int] = field(default_factory=list)


def _headers(raw: bytes) -> tuple[str | None, str | None, str | None]:
    """Message-ID, From and Subject, read cheaply (the parser runs later, per row)."""
    fields = header_fields(raw, _STORED_FIELDS)
    # not cut to the column's length: store_raw knows an overlong one by the mail's hash
    # instead (cut, two different mails with the same beginning would count as one)
    message_id, sender, subject = (one_line(fields[name][0]) if fields[name] else ""
                                   for name in _STORED_FIELDS)
    return message_id or None, sender[:320] or None, subject[:2000] or None


#: the fields a row keeps from the moment it is stored (the first of each)
_STORED_FIELDS = ("message-id", "from", "subject")


def batches(sizes: dict[int, int], count: int, limit: int) -> list[list[int]]:
    """UIDs in order, grouped so that no batch exceeds `count` messages or `limit` bytes
    (a single larger message gets a batch of its own)."""
    out: list[list[int]] = []
    current: list[int] = []
    total = 0
    for uid in sorted(sizes):
        size = sizes[uid]
        if current and (len(current) >= count or total + size > limit):
            out.append(current)
            current, total = [], 0
        current.append(uid)
        total += size
    if current:
        out.append(current)
    return out


def poll_once(mailbox: Mailbox, sessions: sessionmaker[Session], fetch: FetchSettings,
              listen: ListenSettings, now: Callable[[], datetime]) -> PassReport:
    with collector_skips_what_exists():
        return _pass(mailbox, sessions, fetch, listen, now)


def _pass(mailbox: Mailbox, sessions: sessionmaker[Session], fetch: FetchSettings,
          listen: ListenSettings, now: Callable[[], datetime]) -> PassReport:
    report = PassReport()
    info = mailbox.select(fetch.folder)
    _remember(sessions, fetch.folder, info.uidvalidity, now())
    uids = mailbox.uids()
    with sessions() as session:
        known = {uid: row.id for uid, row in
                 stored_uids(session, fetch.folder, info.uidvalidity, uids).items()}
    fresh = [uid for uid in uids if uid not in known]
    sizes = mailbox.sizes(fresh)
    small = {uid: size for uid, size in sizes.items() if size <= fetch.max_message_bytes}
    duplicates: set[int] = set()

    for uid in sorted(set(sizes) - set(small)):
        header = mailbox.fetch_header(uid)
        row_id = _store(sessions, header, fetch.folder, info.uidvalidity, uid, sizes[uid],
                        now(), status="oversized",
                        error=f"zu groß ({sizes[uid] / 1048576:.1f} MB, erlaubt "
                              f"{fetch.max_message_bytes / 1048576:.0f} MB)")
        if row_id is None:
            duplicates.add(uid)
        else:
            known[uid] = row_id
            report.oversized += 1
            report.oversized_rows.append(row_id)

    parsing = parsing_for(len(small), listen.options, listen.authserv_id)
    try:
        # with helpers, a fetched batch is parsed while the one before it is processed
        processor = Processor(sessions, listen, now, parsing,
                              ahead=fetch.batch_count if parsing.helpers else 0)
        try:
            for stored in _fetched_and_stored(
                    mailbox, sessions, batches(small, fetch.batch_count, fetch.batch_bytes),
                    fetch.folder, info.uidvalidity, now, duplicates,
                    ahead=parsing.helpers > 0):
                report.stored += len(stored)
                processor.add([(row_id, raw) for _uid, row_id, raw in stored])
            processor.finish()
        except BaseException:
            processor.abandon()
            raise
        report.duplicates = len(duplicates)
        # rows left waiting: by a pass that died, or stored by another poller
        report.processing = processor.report.merged(process_pending(
            sessions, listen, now, parsing=parsing if parsing.helpers else None))
    finally:
        parsing.close()

    report.moved = _move_done(mailbox, sessions, fetch, info.uidvalidity, uids, duplicates)
    return report


def _fetched_and_stored(mailbox: Mailbox, sessions: sessionmaker[Session],
                        wanted: list[list[int]], folder: str, uidvalidity: int,
                        now: Callable[[], datetime], duplicates: set[int], *, ahead: bool
                        ) -> Iterator[list[tuple[int, int, bytes]]]:
    """Each batch fetched, stored and committed: its new rows as (uid, row id, bytes).

    `ahead`: a thread of its own fetches and stores the next batch while the caller
    processes this one (most of either is waiting: for the IMAP server, for the database).
    It stays one batch ahead at most, and the connection is its own until it is done or
    the caller stops early."""
    if not ahead or len(wanted) < 2:
        for batch in wanted:
            yield _store_batch(sessions, batch, mailbox.fetch(batch), folder, uidvalidity,
                               now(), duplicates)
        return
    handed: queue.Queue[list[tuple[int, int, bytes]] | BaseException | None] = queue.Queue(1)
    stop = threading.Event()

    def work() -> None:
        try:
            for batch in wanted:
                if stop.is_set():
                    return
                handed.put(_store_batch(sessions, batch, mailbox.fetch(batch), folder,
                                        uidvalidity, now(), duplicates))
                handed.join()  # taken: on to the next one
        except BaseException as exc:  # raised in the caller's thread
            handed.put(exc)
            return
        handed.put(None)

    worker = threading.Thread(target=work, name="imap-fetch-store", daemon=True)
    worker.start()
    try:
        while True:
            got = handed.get()
            handed.task_done()
            if got is None:
                return
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()
        while worker.is_alive():  # let it finish the batch in hand; nobody processes it
            try:
                handed.get(timeout=0.1)
                handed.task_done()
            except queue.Empty:
                pass
        worker.join()


def _store_batch(sessions: sessionmaker[Session], batch: list[int], raws: dict[int, bytes],
                 folder: str, uidvalidity: int, now: datetime,
                 duplicates: set[int]) -> list[tuple[int, int, bytes]]:
    """Store a fetched batch and commit: (uid, row id, bytes) of each mail stored now; the
    UIDs of mail stored before go to `duplicates`."""
    mails: list[RawMail] = []
    for uid in batch:
        raw = raws.get(uid)
        if raw is None:  # expunged meanwhile (another client, a second poller)
            continue
        message_id, sender, subject = _headers(raw)
        mails.append(RawMail(raw, message_id, uid, sender, subject))
    with sessions() as session:
        session.begin()
        ids = store_raws(session, mails, folder=folder, uidvalidity=uidvalidity, now=now)
        session.commit()
    out: list[tuple[int, int, bytes]] = []
    for mail, row_id in zip(mails, ids, strict=True):
        assert mail.uid is not None
        if row_id is None:
            duplicates.add(mail.uid)
        else:
            out.append((mail.uid, row_id, mail.raw))
    return out


def _store(sessions: sessionmaker[Session], raw: bytes, folder: str, uidvalidity: int,
           uid: int, size: int, now: datetime, *, status: str, error: str) -> int | None:
    message_id, sender, subject = _headers(raw)
    with sessions.begin() as session:
        row = store_raw(session, raw=raw, message_id=message_id, folder=folder,
                        uidvalidity=uidvalidity, uid=uid, size=size, now=now, status=status,
                        error=error, from_address=sender, subject=subject)
        if row is None:
            return None
        session.flush()
        return row.id


def _move_done(mailbox: Mailbox, sessions: sessionmaker[Session], fetch: FetchSettings,
               uidvalidity: int, uids: list[int], duplicates: set[int]) -> int:
    """Move every message whose row is finished; rows still waiting stay (next pass).

    The folder's state row stays locked until the moves are done: Dovecot's MOVE copies
    before it expunges, so two pollers moving the same mail at once leave two copies. A mail
    another poller stored under this very UID is not a duplicate: its row says when it is
    finished.
    """
    with sessions.begin() as session:
        session.execute(select(MailboxState.id).where(MailboxState.folder == fetch.folder)
                        .with_for_update())
        rows = stored_uids(session, fetch.folder, uidvalidity, uids)
        done = {uid: row.status for uid, row in rows.items() if row.status != "new"}
        to_processed = sorted({uid for uid, status in done.items()
                               if status not in FOR_A_HUMAN} | (duplicates - rows.keys()))
        to_failed = sorted(uid for uid, status in done.items() if status in FOR_A_HUMAN)
        moved = 0
        if to_processed:
            mailbox.move(to_processed, mailbox.ensure_folder(fetch.processed_folder))
            moved += len(to_processed)
        if to_failed:
            mailbox.move(to_failed, mailbox.ensure_folder(fetch.failed_folder))
            moved += len(to_failed)
    return moved


def _remember(sessions: sessionmaker[Session], folder: str, uidvalidity: int,
              now: datetime) -> None:
    with sessions.begin() as session:
        state = mailbox_state(session, folder)
        if state.uidvalidity is not None and state.uidvalidity != uidvalidity:
            # The server renumbered the folder: stored rows keep their old UIDs, and the
            # Message-ID (or the bytes' hash) keeps every mail from being stored twice.
            log.warning("IMAP folder %s was renumbered (UIDVALIDITY %s -> %s); mail already "
                        "stored is recognised by its Message-ID", folder, state.uidvalidity,
                        uidvalidity)
        state.uidvalidity = uidvalidity
        state.last_poll_at = now
        state.last_error = None
