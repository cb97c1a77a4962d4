"""Faults and abuse on the real Dovecot + Postfix stack and both databases: a seeded,
shortened run of each part of benchmarks/chaos.py (crashes, servers going away, hostile
mail, loops, strangers, injection) with the promise as assertions: nothing lost, nothing
doubled, no loops, no stranger gets in. Then one test per bug the suite found."""

from __future__ import annotations

import contextlib
import logging
import random
import re
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from benchmarks.chaos import (
    HOSTILE_CONTACTS,
    NOW,
    PEAK_RSS_BOUND_MB,
    REPLIERS,
    Automatic,
    Site,
    TcpProxy,
    asked,
    crash_daemon,
    crash_outbox,
    crash_poller,
    hostile,
    inbound_progress,
    injection,
    loops,
    mail_contacts,
    open_round,
    servers_away,
    storm_mail,
    strangers,
    via_proxy,
    write_site,
)
from bot.app import App
from bot.listening.notices import RECEIPTS_PER_DAY
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


# --- the suite, shortened ----------------------------------------------------------------------
# Sizes: 30 replies and 30 mails with 3 kills per process, 20 hostile mails (each heavy kind
# once, the oversized one 7 MB), 10 automatic mails, three rounds of a bot echoing everything
# and a storm of 40; `python -m benchmarks.chaos` runs the full sizes.

SEED = 20270106


def rng(part: str) -> random.Random:
    return random.Random(f"{SEED}:{part}")


def test_kill_9_of_the_poller_loses_and_doubles_nothing(
        tmp_path: Path, clean_mailboxes: MailStack, sqlite_url: str) -> None:
    site = plain_site(tmp_path, clean_mailboxes, sqlite_url)
    figures = crash_poller(site, 30, 3, rng("poll"), tmp_path)
    site.close()
    assert figures.faults == 3
    assert (figures.lost, figures.doubled, figures.crashes) == (0, 0, 0), figures.detail
    assert figures.detail["inbox_left"] == 0 and figures.detail["topics"] == 30


def test_kill_9_of_the_outbox_sends_every_mail_and_none_twice_under_new_ids(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str) -> None:
    site = write_site(tmp_path / "site", clean_mailboxes, pg_url, mail_contacts(30))
    figures = crash_outbox(site, 3, rng("outbox"), tmp_path)
    site.close()
    assert figures.faults == 3 and figures.tried == 30
    assert (figures.lost, figures.doubled, figures.crashes) == (0, 0, 0), figures.detail
    assert figures.detail["outbox_statuses"] == {"sent": 30}
    # a resend (same Message-ID, killed between acceptance and commit) is allowed: counted


def test_kill_9_of_the_daemon_loses_and_doubles_nothing(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str) -> None:
    site = write_site(tmp_path / "site", clean_mailboxes, pg_url,
                      REPLIER_CONTACTS + mail_contacts(27))
    figures = crash_daemon(site, 30, 3, rng("daemon"), tmp_path)
    site.close()
    assert figures.faults == 3
    assert (figures.lost, figures.doubled, figures.crashes) == (0, 0, 0), figures.detail


def test_dovecot_postfix_and_postgresql_going_away_under_load(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str) -> None:
    """PostgreSQL is the machine's shared server and stays up: the bot reaches it through a
    proxy of the test, which is taken away and brought back."""
    proxy = TcpProxy(("127.0.0.1", make_url(pg_url).port or 5432))
    proxy.start()
    try:
        site = write_site(tmp_path / "site", clean_mailboxes, via_proxy(pg_url, proxy.port),
                          REPLIER_CONTACTS + mail_contacts(27), observe_url=pg_url)
        figures = servers_away(site, proxy, 30, outage=1.0, settle=0.0, work=tmp_path)
        site.close()
    finally:
        proxy.stop()
    detail = figures.detail
    assert figures.faults == 3
    assert detail["alive"] and detail["exit_code"] == 0
    assert (figures.lost, figures.doubled, figures.crashes) == (0, 0, 0), detail
    for server in ("postfix", "dovecot", "postgresql"):
        assert detail[f"log_{server}"], (server, detail["problems"])


def test_hostile_mail_crashes_nothing_and_each_mail_is_stored_or_set_aside_with_a_reason(
        tmp_path: Path, clean_mailboxes: MailStack, sqlite_url: str) -> None:
    site = plain_site(tmp_path, clean_mailboxes, sqlite_url,
                      extra='[inbound]\nmax_message_mb = 6\nauthserv_id = "mx.musterhausen.test"\n')
    open_round(site, NOW)
    figures = hostile(site, 20, 6, rng("hostile"), tmp_path, oversized_mb=7)
    site.close()
    detail = figures.detail
    assert figures.crashes == 0, detail["failed"]
    assert figures.lost == 0
    assert detail["silent"] == [] and detail["unlisted"] == []
    assert set(detail["kinds"]) >= {"oversized", "line_5mb", "nested_10000", "siblings_10000",
                                    "html_bomb", "zip_as_eml", "nul_bytes"}
    assert detail["statuses"].get("oversized") == 1
    assert max(detail["oversized_bytes"]) < 64 * 1024  # its headers only
    assert figures.peak_rss_mb is not None and figures.peak_rss_mb < PEAK_RSS_BOUND_MB


def test_automatic_mail_is_never_answered_and_a_storm_gets_no_more_than_the_caps(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str) -> None:
    contacts = [*REPLIER_CONTACTS,
                {"department": "Ordnungsamt", "email": "contact4@musterhausen.test"},
                {"department": "Standesamt", "email": "contact5@musterhausen.test"},
                {"department": "Kulturamt", "email": "contact6@musterhausen.test"}]
    site = write_site(tmp_path / "site", clean_mailboxes, pg_url, contacts,
                      extra="[inbound]\nmax_message_mb = 1\n[schedule]\nreceipts = true\n")
    figures = loops(site, 10, 40, rng("loops"), tmp_path, days=8, rounds=3)
    site.close()
    detail = figures.detail
    assert figures.crashes == 0 and figures.lost == 0
    assert detail["answers"] == [], detail["auto_statuses"]
    assert all(n <= 1 for n in detail["reminders"].values())
    assert set(detail["to_echo"]) <= {"request", "reminder"}, detail["to_echo"]
    per_day = detail["per_day"]
    assert all(n <= 1 for key, n in per_day.items() if key.endswith("notice"))
    assert all(n <= RECEIPTS_PER_DAY for key, n in per_day.items() if key.endswith("receipt"))
    followups = [kind for kind, _at in detail["to_storm"] if kind == "followup"]
    assert len(followups) <= 2  # [schedule] max_followups, all topics bundled per mail


def test_strangers_and_spoofs_make_no_topic_and_are_shown_to_the_officer(
        tmp_path: Path, clean_mailboxes: MailStack, sqlite_url: str) -> None:
    site = plain_site(tmp_path, clean_mailboxes, sqlite_url,
                      extra='[inbound]\nauthserv_id = "mx.musterhausen.test"\n')
    figures = strangers(site, 1, rng("strangers"))
    site.close()
    detail = figures.detail
    assert detail["topics"] == [] and detail["answers"] == 0
    assert {kind: set(statuses) for kind, statuses in detail["by_kind"].items()} == {
        kind: {"quarantined"} for kind in detail["by_kind"]}
    assert len(detail["by_kind"]) == 6
    assert sorted(detail["in_list"]) == sorted(detail["rows"])
    assert len(detail["in_digest"]) + detail["more"] == len(detail["rows"])
    assert all(detail["reasons"].values())


def test_injection_gets_through_nowhere(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str) -> None:
    site = write_site(tmp_path / "site", clean_mailboxes, pg_url, HOSTILE_CONTACTS,
                      extra="[inbound]\nmax_message_mb = 1\n[mail]\nmax_attachment_mb = 1\n")
    figures = injection(site, tmp_path)
    site.close()
    detail = figures.detail
    assert detail["got_through"] == 0, {k: v for k, v in detail["problems"].items() if v}
    assert all(detail["reached"].values()), detail["reached"]
    assert detail["kinds"].keys() >= {"request", "followup", "notice", "digest"}


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
def test_a_database_connection_dropped_during_a_mail_leaves_it_waiting_not_failed(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str) -> None:
    """The session of the bot is terminated on the server while a mail is processed (an
    admin, a failover, a restart): the mail was marked failed on the next connection and
    waited for someone to replay it. It is the database's fault, not the mail's."""
    from bot.listening.poller import Poller
    from bot.listening.service import build_poller

    name = f"chaos-{uuid.uuid4().hex[:10]}"
    url = make_url(pg_url).update_query_dict({"application_name": name}).render_as_string(
        hide_password=False)
    site = write_site(tmp_path / "site", clean_mailboxes, url, REPLIER_CONTACTS,
                      observe_url=pg_url)
    append(clean_mailboxes, [reply("dropped", n) for n in range(3)])
    app = site.app(NOW)
    killed: list[int] = []

    def now() -> datetime:
        # once the mails are stored, the next looks at the clock are inside a mail's
        # transaction: end the bot's sessions on the server there, twice (a pass that
        # processes mails in batches tries a failed batch's mails one by one)
        if len(killed) < 2 and site.scalar("SELECT COUNT(*) FROM inbound") == 3:
            killed.append(int(site.scalar(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name", name=name)))
        return NOW

    built = build_poller(app)
    poller = Poller(built.open_mailbox, app.sessions, built.fetch, built.listen, now)
    with contextlib.suppress(Exception):  # the pass may end with the database's error
        poller.once()
    assert killed and killed[0] >= 1
    assert "failed" not in {row.status for row in site.rows(InboundMessage)}
    report = built.once()
    assert report.processing.failed == 0
    assert [row.status for row in site.rows(InboundMessage)] == ["processed"] * 3
    assert len(site.rows(Topic)) == 3
    app.close()
    site.close()


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


def test_inbound_list_says_how_many_were_set_aside_beyond_what_it_shows(
        tmp_path: Path, sqlite_url: str) -> None:
    """It showed the newest 200 and said "200 mail(s)" however many more waited; and it
    loaded each listed mail's bytes (a list of large failed mails took gigabytes)."""
    from click.testing import CliRunner

    from bot.cli import cli
    from db.inbound import store_raw

    config = tmp_path / "intake.toml"
    config.write_text(f'[database]\nurl = "{sqlite_url}"\n[mail]\nfrom_address = "b@x.de"\n'
                      f'from_name = "B"\norganisation = "O"\n[smtp]\nhost = "127.0.0.1"\n'
                      f'[imap]\nhost = "127.0.0.1"\nusername = "b@x.de"\n'
                      f'[officer]\nemail = "o@x.de"\nname = "O"\n', encoding="utf-8")
    assert CliRunner().invoke(cli, ["--config", str(config), "db", "upgrade"]).exit_code == 0
    app = App(config_path=config, config_explicit=True)
    with app.sessions.begin() as session:
        for n in range(205):
            store_raw(session, raw=b"From: fremd@example.org\r\n\r\n" + b"x" * n,
                      message_id=f"<m{n}@example.org>", folder="INBOX", uidvalidity=1, uid=n,
                      size=30 + n, now=NOW, status="quarantined", error="kein Kontakt",
                      from_address="fremd@example.org", subject=f"Nummer {n}")
    app.close()
    result = CliRunner().invoke(cli, ["--config", str(config), "inbound", "list"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("200 of 205 mail(s) shown")
    assert "Nummer 204" in result.output and "Nummer 4\n" not in result.output


def test_the_outbox_says_once_that_the_mail_server_is_away(
        tmp_path: Path, clean_mailboxes: MailStack, sqlite_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """Each SMTP connection said it on its own: three lines per delivery run, a dozen in
    the daemon's first second with Postfix down. The server here takes connections and
    never greets (each connection gives up after its time-out)."""
    import socket

    from bot.usecases import deliver_outbox

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    site = write_site(tmp_path / "site", clean_mailboxes, sqlite_url, mail_contacts(60),
                      extra=f"[smtp]\nport = {silent.getsockname()[1]}\ntimeout = 2\n")
    open_round(site, NOW)
    app = site.app(NOW)
    _listen(caplog)
    try:
        report = deliver_outbox(app)
    finally:
        silent.close()
        app.close()
        site.close()
    assert (report.sent, report.retrying) == (0, 60)
    lines = [r.getMessage() for r in _warnings(caplog)]
    assert len(lines) == 1, lines
    assert lines[0].endswith("; 60 mail(s) stay queued")


def test_a_follow_up_about_many_topics_fits_its_columns(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str) -> None:
    """The bundled question's dedupe key and Message-ID named every topic: with some sixty
    incomplete topics of one person they outgrew their 255 characters, PostgreSQL refused
    the row and `intake followups` (the daemon's job too) failed for everybody."""
    site = write_site(tmp_path / "site", clean_mailboxes, pg_url, REPLIER_CONTACTS)
    site.cli("send-requests", now=NOW - timedelta(days=2))
    request = next(r for r in asked(site) if r.address == REPLIERS[0][1])
    append(clean_mailboxes, [storm_mail(n, request.address, request, 0, "reply")
                             for n in range(60)])
    site.cli("poll", "--once", now=NOW)
    assert len(site.rows(Topic)) == 60
    result = site.cli("followups", now=NOW + timedelta(days=2), check=False)
    assert result.exit_code == 0, result.output
    (question,) = [m for m in site.rows(OutboxMessage) if m.kind == "followup"]
    assert len(question.dedupe_key) <= 255 and len(question.message_id) <= 255
    assert question.to_address == request.address
    # asked again two quiet days later: a new key, still within the column
    site.cli("followups", now=NOW + timedelta(days=6))
    keys = [m.dedupe_key for m in site.rows(OutboxMessage) if m.kind == "followup"]
    assert len(keys) == 2 and len(set(keys)) == 2
    site.close()
