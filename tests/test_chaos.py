"""Faults and abuse on the real Dovecot + Postfix stack and both databases: a seeded,
shortened run of each part of benchmarks/chaos.py (crashes, servers going away, hostile
mail, loops, strangers, injection) with the promise as assertions: nothing lost, nothing
doubled, no loops, no stranger gets in. Then one test per bug the suite found."""

from __future__ import annotations

import logging
import random
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from benchmarks.chaos import (
    NOW,
    REPLIERS,
    Automatic,
    Site,
    TcpProxy,
    asked,
    inbound_progress,
    via_proxy,
    write_site,
)
from db.models import InboundMessage, OutboxMessage, Topic
from tests.mailstack import MailStack
from tests.test_listening_faults import append, reply, wait_until

REPLIER_CONTACTS = [{"department": d, "email": e} for d, e in REPLIERS]


@pytest.fixture(autouse=True)
def imap_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the pollers built in this process (the subprocesses get it from the suite)."""
    monkeypatch.setenv("TEST_IMAP_PW", "secret")


def plain_site(tmp_path: Path, stack: MailStack, url: str, extra: str = "") -> Site:
    return write_site(tmp_path / "site", stack, url, REPLIER_CONTACTS, extra=extra)


# --- what the suite found ------------------------------------------------------------------

def test_mails_whose_long_message_ids_share_a_beginning_are_each_stored(
        tmp_path: Path, clean_mailboxes: MailStack, sqlite_url: str) -> None:
    """A Message-ID longer than a header line may be is not believed (the mail is known by
    its bytes); it was cut to 998 characters first, so two such mails with the same
    beginning counted as one and the second was moved away without being stored."""
    site = plain_site(tmp_path, clean_mailboxes, sqlite_url)
    common = "<" + "x" * 1200
    mails = [(f"From: fremd@example.org\r\nTo: bot@musterhausen.test\r\nSubject: {n}\r\n"
              f"Message-ID: {common}{n}@chaos.test>\r\n\r\nWas: Nummer {n}\r\n").encode()
             for n in (1, 2)]
    append(clean_mailboxes, mails)
    site.cli("poll", "--once", now=NOW)
    rows = site.rows(InboundMessage)
    assert sorted(row.subject for row in rows) == ["1", "2"]
    assert all(row.message_id.startswith("<sha256.") for row in rows)
    site.close()


def test_a_storm_of_replies_gets_at_most_three_receipts_a_day(
        tmp_path: Path, clean_mailboxes: MailStack, sqlite_url: str) -> None:
    """Receipts answer every accepted reply: a storm of replies (or a program that answers
    everything) must not get a storm back."""
    site = plain_site(tmp_path, clean_mailboxes, sqlite_url, extra="[schedule]\nreceipts = true\n")
    site.cli("send-requests", now=NOW - timedelta(days=2))
    append(clean_mailboxes, [reply("receipt", n * 3) for n in range(6)])  # all from contact1
    site.cli("poll", "--once", now=NOW)
    assert len(site.rows(Topic)) == 6
    receipts = [m for m in site.rows(OutboxMessage) if m.kind == "receipt"]
    assert len(receipts) == 3
    # the next day's reply is thanked again
    append(clean_mailboxes, [reply("receipt-next-day", 0)])
    site.cli("poll", "--once", now=NOW + timedelta(days=1))
    assert len([m for m in site.rows(OutboxMessage) if m.kind == "receipt"]) == 4
    site.close()


def test_a_ticket_system_that_echoes_the_request_gets_no_topic_and_no_question(
        tmp_path: Path, clean_mailboxes: MailStack, sqlite_url: str) -> None:
    """A program that answers everything with the whole mail in it (unquoted): our own
    request's text is no topic ("Beispiel" from the officer's name, the deadline as its
    date), so nothing is asked back and the program is not drawn into a loop."""
    site = plain_site(tmp_path, clean_mailboxes, sqlite_url, extra="[schedule]\nreceipts = true\n")
    site.cli("send-requests", now=NOW - timedelta(days=2))
    request = next(r for r in asked(site) if r.address == REPLIERS[1][1])
    append(clean_mailboxes, [Automatic(random.Random(1)).make("second_bot", request)])
    site.cli("poll", "--once", now=NOW)
    (row,) = site.rows(InboundMessage)
    assert row.status == "unrecognized" and row.automatic
    assert "unsere eigene Mail" in row.error
    assert site.rows(Topic) == []
    for day in range(6):
        site.cli("followups", now=NOW + timedelta(days=day))
    # reminders go to whoever has not answered (at most one each); nothing answers the echo
    sent = site.rows(OutboxMessage)
    assert [m.kind for m in sent if m.kind not in ("request", "reminder")] == []
    assert [m.to_address for m in sent if m.kind == "reminder"].count(request.address) <= 1
    listed = site.cli("inbound", "list", "--status", "unrecognized").stdout
    assert f"{row.id}" in listed and "unsere eigene Mail" in listed
    site.close()


def test_an_english_out_of_office_without_auto_headers_is_an_auto_reply() -> None:
    """Its one sentence had become a topic, and the absent colleague was asked back."""
    from parsers import parse_message

    for body in ("I'm currently away on annual leave and will be back on Monday 18 January.",
                 "I am on annual leave until 18 January with no access to email.",
                 "I'm away on holiday and will return on 18 January."):
        raw = (f"From: Kollegin <contact2@musterhausen.test>\r\nTo: bot@musterhausen.test\r\n"
               f"Subject: Re: Ihre Themen [Themen 2027-01 #K7Q2]\r\n"
               f"Date: Mon, 4 Jan 2027 08:01:00 +0100\r\nMessage-ID: <ooo@example.org>\r\n"
               f"In-Reply-To: <req-1@musterhausen.test>\r\n\r\nHello,\r\n\r\n{body}\r\n"
               f"I will reply to your message when I return.\r\n\r\nKind regards\r\n")
        assert parse_message(raw.encode()).kind == "auto_reply", body


def test_a_from_naming_two_addresses_is_quarantined(
        tmp_path: Path, clean_mailboxes: MailStack, sqlite_url: str) -> None:
    """A contact's address first and a stranger's after it: the mail was taken for the
    contact's reply and became a topic."""
    site = plain_site(tmp_path, clean_mailboxes, sqlite_url)
    site.cli("send-requests", now=NOW - timedelta(days=2))
    request = next(r for r in asked(site) if r.address == REPLIERS[0][1])
    froms = [f"{request.address}, evil@example.org", f"evil@example.org, {request.address}"]
    append(clean_mailboxes, [
        (f"From: {sender}\r\nTo: bot@musterhausen.test\r\nSubject: AW: {request.subject}\r\n"
         f"Message-ID: <two-{n}@example.org>\r\nIn-Reply-To: {request.message_id}\r\n"
         f"Date: Tue, 5 Jan 2027 09:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n"
         f"\r\nWas: Fest {n}\r\nWann: 12.03.2027\r\nWo: Rathaus\r\nWer: Team\r\n"
         f"Wie viele: 20\r\n").encode() for n, sender in enumerate(froms)])
    site.cli("poll", "--once", now=NOW)
    rows = site.rows(InboundMessage)
    assert [row.status for row in rows] == ["quarantined", "quarantined"]
    assert all("mehrere Absender" in row.error for row in rows)
    assert site.rows(Topic) == []
    site.close()


# --- the database going away (PostgreSQL behind a proxy of the test, or a killed session) -----

def _listen(caplog: pytest.LogCaptureFixture) -> None:
    """Catch the log again: the command line run in this process set up its own."""
    root = logging.getLogger()
    if caplog.handler not in root.handlers:
        root.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name.startswith("intake") and r.levelno >= logging.WARNING]


def test_the_poller_says_in_one_line_that_the_database_is_away_and_waits_longer_each_time(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """It logged a traceback per attempt, and its wait never grew: reconnecting to the
    mailbox (which was fine) reset it, so an hour's outage meant a traceback a second."""
    from bot.listening.service import build_poller

    proxy = TcpProxy(("127.0.0.1", make_url(pg_url).port or 5432))
    proxy.start()
    site = write_site(tmp_path / "site", clean_mailboxes, via_proxy(pg_url, proxy.port),
                      REPLIER_CONTACTS, observe_url=pg_url)
    app = site.app(NOW)
    stop = threading.Event()
    thread = threading.Thread(target=build_poller(app).run, args=(stop,))
    _listen(caplog)
    thread.start()
    try:
        wait_until(lambda: bool(site.scalar("SELECT COUNT(*) FROM mailbox_state WHERE "
                                            "last_poll_at IS NOT NULL")), 30, "first pass")
        proxy.stop()
        append(clean_mailboxes, [reply("db-away", 0)])  # IDLE wakes the poller up
        wait_until(lambda: len(_warnings(caplog)) >= 3, 30, "three warnings")
        proxy.start()
        wait_until(lambda: inbound_progress(site) == (1, 1), 30, "the mail processed")
    finally:
        stop.set()
        thread.join(timeout=30)
        proxy.stop()
        app.close()
        site.close()
    records = _warnings(caplog)
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records), [
        r.getMessage() for r in records]
    assert all("database" in r.getMessage() for r in records)
    waits = [int(m.group(1)) for r in records
             if (m := re.search(r"trying again in (\d+) s", r.getMessage()))]
    assert waits[:3] == [1, 2, 4]
def test_a_scheduler_job_says_in_one_line_that_the_database_is_away(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    from bot import usecases
    from bot.daemon import UseCaseJob

    proxy = TcpProxy(("127.0.0.1", make_url(pg_url).port or 5432))
    proxy.start()
    site = write_site(tmp_path / "site", clean_mailboxes, via_proxy(pg_url, proxy.port),
                      REPLIER_CONTACTS, observe_url=pg_url)
    app = site.app(NOW)
    _listen(caplog)
    try:
        proxy.stop()
        for function, description in ((usecases.deliver_outbox, "the outbox delivery"),
                                      (usecases.run_weekly_digest, "the weekly digest")):
            UseCaseJob(app, function, description)()
    finally:
        proxy.stop()
        app.close()
        site.close()
    records = _warnings(caplog)
    assert len(records) == 2
    assert all(r.exc_info is None and "database" in r.getMessage() for r in records), [
        r.getMessage() for r in records]


def test_a_contacts_file_with_unicode_line_breaks_in_names_is_refused(tmp_path: Path) -> None:
    """The check refused CR and LF but let NEL (U+0085) and the line and paragraph
    separators through, which many programs also break lines at."""
    from click.testing import CliRunner

    from bot.cli import cli

    path = tmp_path / "contacts.yaml"
    path.write_text('contacts:\n'
                    '  - department: "Kita\\u2028Bcc: evil@example.org"\n'
                    '    email: contact3@musterhausen.test\n'
                    '    name: "Kita\\x85Bcc: evil@example.org"\n'
                    '  - department: Bauamt\n'
                    '    email: contact1@musterhausen.test\n'
                    '    salutation: "Frau\\u2029Muster"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["contacts", "check", str(path)])
    assert result.exit_code == 1, result.output
    problems = [line for line in result.output.splitlines() if line.startswith(f"{path}:")]
    assert [p.split(":")[1] for p in problems] == ["2", "4", "7"], result.output
    assert all("line break" in p for p in problems)
