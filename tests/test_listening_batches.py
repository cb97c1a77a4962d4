"""Listening in batches: the parser's helper processes give what parsing here gives, a pass
with many mails (helpers, fetching and storing ahead) and two such passes at once store,
process and move each mail once, and a mail that fails is set aside alone while the rest
of its batch is processed."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from bot.listening import topics
from bot.listening.parsing import POOL_MIN, Parsing, ParsingPool, parsing_for
from bot.listening.process import DbDirectory, bounced_ids
from db import migrate
from db.engine import make_engine
from db.models import Contact, Department, InboundMessage, OutboxMessage, Topic
from parsers import ParseOptions, parse_message
from tests.mailstack import MailStack
from tests.test_listening_faults import (
    PROCESSED,
    append,
    assert_each_mail_once,
    assert_two_passes_at_once,
    folder_ids,
    intake,
    load,
    reply,
    write_site,
)
from tests.test_listening_faults import db_url as url_of

FIXTURES = Path(__file__).parent / "fixtures" / "parse"
DAY = date(2027, 1, 6)


def fixture_mails() -> list[tuple[int, bytes]]:
    return [(n, path.read_bytes()) for n, path in enumerate(sorted(FIXTURES.glob("*.eml")), 1)]


def test_parser_helpers_give_what_parsing_here_gives() -> None:
    mails = fixture_mails()
    assert len(mails) > 200  # bounces, auto-replies, attachments, every client and charset
    options = ParseOptions(max_attachment_bytes=200_000)
    here = Parsing(options, "mx.musterhausen.test").submit(mails, DAY)()
    pool = ParsingPool(options, "mx.musterhausen.test", 2)
    try:
        assert pool.helpers == 2
        batches = [pool.submit(mails[i:i + 25], DAY) for i in range(0, len(mails), 25)]
        there = {k: v for results in batches for k, v in results().items()}
    finally:
        pool.close()
    assert there.keys() == here.keys() == {n for n, _ in mails}
    assert [n for n in here if there[n] != here[n]] == []
    assert any(p.result.attachments and any(p.digests) for p in here.values())
    assert {p.result.kind for p in here.values()} >= {"topics", "bounce", "auto_reply"}


def test_a_helper_that_dies_costs_its_results_only() -> None:
    mails = fixture_mails()[:60]
    pool = ParsingPool(ParseOptions(), "", 2)
    try:
        first = pool.submit(mails[:10], DAY)()
        assert len(first) == 10
        for proc in pool._procs:  # the kernel's out-of-memory killer, say
            os.kill(proc.pid, signal.SIGKILL)
        later = pool.submit(mails[10:], DAY)()  # answered, not waited for forever
        assert pool.helpers == 0
        assert len(later) < 50  # what the helpers did not give is parsed by the processing
        assert pool.submit(mails[10:20], DAY)().keys() == {n for n, _ in mails[10:20]}
    finally:
        pool.close()


def test_a_pass_parses_in_helpers_from_so_many_mails_on() -> None:
    options = ParseOptions()
    assert parsing_for(POOL_MIN - 1, options, "").helpers == 0
    many = parsing_for(POOL_MIN, options, "")
    try:
        assert many.helpers == min(4, os.cpu_count() or 1)
    finally:
        many.close()


@pytest.fixture
def site(tmp_path: Path, clean_mailboxes: MailStack, db_url: str) -> Path:
    return write_site(tmp_path / "site", clean_mailboxes, db_url)


@pytest.fixture
def pg_site(tmp_path: Path, clean_mailboxes: MailStack, pg_url: str) -> Path:
    return write_site(tmp_path / "site", clean_mailboxes, pg_url)


def test_a_pass_with_many_mails_stores_processes_and_moves_each_once(
        site: Path, clean_mailboxes: MailStack) -> None:
    """More than one fetched batch and enough mail for the helpers: the next batch is
    fetched and stored while this one is processed, and parsed ahead of it."""
    count = POOL_MIN + 60
    append(clean_mailboxes, [reply("many", n) for n in range(count)])
    inserts: list[str] = []

    def topic_inserts(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        if sql.startswith("INSERT INTO topics"):
            inserts.append(sql)

    event.listen(Engine, "before_cursor_execute", topic_inserts)
    try:
        result = intake(site, "poll", "--once")
    finally:
        event.remove(Engine, "before_cursor_execute", topic_inserts)
    assert result.exit_code == 0, result.output
    # PostgreSQL: the ids were drawn ahead, nothing comes back (see db.ids)
    postgresql = url_of(site).startswith("postgresql")
    assert inserts and all(("RETURNING" in sql) is not postgresql for sql in inserts)
    assert_each_mail_once(site, clean_mailboxes,
                          [f"<many-{n}@musterhausen.test>" for n in range(count)])
    rows = load(site, InboundMessage)
    assert Counter(row.attempts for row in rows) == {1: count}
    assert all(row.parsed["file"] == f"inbound:{row.id}" for row in rows)
    assert {t.where for t in load(site, Topic)} == {"Rathaus, Ratssaal"}


def test_two_large_passes_at_once_store_process_and_move_each_mail_once(
        pg_site: Path, clean_mailboxes: MailStack, tmp_path: Path) -> None:
    count = 2 * POOL_MIN
    assert_two_passes_at_once(pg_site, clean_mailboxes, tmp_path, "pairs", count, timeout=300)
    assert Counter(row.attempts for row in load(pg_site, InboundMessage)) == {1: count}


def test_a_mail_that_fails_is_set_aside_alone_and_its_batch_is_processed(
        site: Path, clean_mailboxes: MailStack, monkeypatch: pytest.MonkeyPatch) -> None:
    count = 30
    append(clean_mailboxes, [reply("batch", n) for n in range(count)])
    store_topics = topics.store_topics

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        if args[2].topics[0].what == "Thema batch Nummer 7":
            raise RuntimeError("simuliert")
        return store_topics(*args, **kwargs)

    monkeypatch.setattr(topics, "store_topics", failing)
    result = intake(site, "poll", "--once")
    assert result.exit_code == 0, result.output
    rows = load(site, InboundMessage)
    assert Counter(row.status for row in rows) == {"processed": count - 1, "failed": 1}
    (failed,) = [row for row in rows if row.status == "failed"]
    assert failed.message_id == "<batch-7@musterhausen.test>"
    assert failed.error == "RuntimeError: simuliert"
    assert Counter(row.attempts for row in rows) == {1: count}
    assert sorted(t.what for t in load(site, Topic)) == sorted(
        f"Thema batch Nummer {n}" for n in range(count) if n != 7)
    assert folder_ids(clean_mailboxes, "Intake/Failed") == ["<batch-7@musterhausen.test>"]
    assert len(folder_ids(clean_mailboxes, PROCESSED)) == count - 1

    monkeypatch.setattr(topics, "store_topics", store_topics)  # fixed
    result = intake(site, "inbound", "replay", "--failed")
    assert result.exit_code == 0, result.output
    assert "1 processed" in result.stdout
    assert Counter(row.status for row in load(site, InboundMessage)) == {"processed": count}
    assert len(load(site, Topic)) == count


def test_large_buffers_go_back_to_the_system_where_glibc_allows() -> None:
    """A pass over thousands of mails with photos kept growing with glibc's dynamic mmap
    threshold (218 MB at 10,000 mails; 187 MB with it fixed): a poller fixes it."""
    import ctypes.util

    from bot.memory import large_buffers_back_to_the_system

    expected = ctypes.util.find_library("c") is not None  # glibc on Debian, as in CI
    assert large_buffers_back_to_the_system() is expected
    assert large_buffers_back_to_the_system() is expected  # once is enough, twice harmless



def test_the_collector_skips_what_existed_while_passes_and_rounds_run() -> None:
    """A full garbage collection over the program's start-up objects held every thread
    for about 60 ms; while a pass or a round runs (the daemon: both at once, in two
    threads) what existed when the first began is frozen, and handed back once the last
    one ends."""
    import gc

    from bot.memory import collector_skips_what_exists

    def collectable(thing: object) -> bool:
        return any(candidate is thing for candidate in gc.get_objects())

    before = ["made before"]
    assert gc.get_freeze_count() == 0 and collectable(before)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def round_in_the_scheduler() -> None:
        with collector_skips_what_exists():
            first_in.set()
            second_in.wait(10)
            seen["before, both under way"] = collectable(before)
        first_out.set()

    thread = threading.Thread(target=round_in_the_scheduler)
    thread.start()
    first_in.wait(10)
    assert gc.get_freeze_count() > 10_000  # the modules, classes and mappings
    during = ["made while the round runs"]
    with collector_skips_what_exists():  # the pass: nothing more is frozen
        second_in.set()
        first_out.wait(10)
        seen["during, the pass alone"] = collectable(during)
        seen["before, the pass alone"] = collectable(before)
    thread.join()
    assert seen == {"before, both under way": False, "during, the pass alone": True,
                    "before, the pass alone": False}
    assert gc.get_freeze_count() == 0 and collectable(before)  # all handed back


def test_a_bounce_is_traced_to_the_mail_that_bounced_else_to_its_recipient(
        db_url: str) -> None:
    """The latest of the bot's mails a bounce names, its contact (or, for a mail without
    one, the contact of its address), else the contact of a recipient the bounce names;
    prefetched for a batch or looked up one by one, the answer is the same."""
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    now = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    with Session(engine) as session:
        bau = Department(name="Bauamt", created_at=now)
        kita = Department(name="Kita", created_at=now)
        session.add_all([bau, kita])
        session.flush()
        erika = Contact(department_id=bau.id, email="erika@musterhausen.de",
                        created_at=now, updated_at=now)
        max_ = Contact(department_id=kita.id, email="max@musterhausen.de",
                       created_at=now, updated_at=now)
        session.add_all([erika, max_])
        session.flush()
        for n, contact_id, to in ((1, erika.id, "erika@musterhausen.de"),
                                  (2, erika.id, "erika@musterhausen.de"),
                                  (3, None, "Max@Musterhausen.de")):
            session.add(OutboxMessage(kind="request", dedupe_key=f"k{n}",
                                      message_id=f"<out{n}@bot>", to_address=to, subject="x",
                                      raw=b"", next_attempt_at=now, created_at=now,
                                      contact_id=contact_id))
        session.commit()
        ids = {c.email: c.id for c in (erika, max_)}

    def bounce(returned: str, recipient: str) -> bytes:
        return (f"From: MAILER-DAEMON@musterhausen.de\r\nTo: bot@musterhausen.de\r\n"
                f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b{returned}>\r\n"
                f"Content-Type: multipart/report; report-type=delivery-status; "
                f"boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nNicht zustellbar."
                f"\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; "
                f"mx\r\n\r\nFinal-Recipient: rfc822; {recipient}\r\nAction: failed\r\n"
                f"Status: 5.1.1\r\n\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
                f"To: {recipient}\r\nMessage-ID: {returned}\r\n\r\n--B--\r\n").encode()

    cases = [  # returned Message-ID, recipient -> contact, outbox row
        ("<out2@bot>", "erika@musterhausen.de", "erika@musterhausen.de", "<out2@bot>"),
        ("<out3@bot>", "max@musterhausen.de", "max@musterhausen.de", "<out3@bot>"),
        ("<elsewhere@x>", "MAX@musterhausen.de", "max@musterhausen.de", None),
        ("<elsewhere@x>", "fremd@example.org", None, None),
    ]
    results = [parse_message(bounce(returned, to)) for returned, to, _, _ in cases]
    assert {r.kind for r in results} == {"bounce"}
    for prefetch in (False, True):
        with Session(engine) as session:
            directory = DbDirectory(session)
            if prefetch:
                directory.prefetch(results)
            for result, (_, _, contact, outbox) in zip(results, cases, strict=True):
                found, mail = directory.bounced(bounced_ids(result), result.bounced_recipients)
                assert (found.id if found else None) == (ids[contact] if contact else None)
                assert (mail.message_id if mail else None) == outbox
    engine.dispose()
