"""Listening under faults, on the real Dovecot + Postfix stack: a poller killed with SIGKILL
between storing and moving, two pollers on one mailbox, Dovecot restarted under an IDLE-ing
poller, the IDLE path end to end, and replays. The pollers are real `intake poll`
processes; nothing in the production code is patched or hooked."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, func, select, text, update

from bot.app import App
from bot.cli import cli
from bot.config import ImapSettings
from bot.imap import Mailbox, PasswordLogin
from bot.listening.process import BATCH
from db.models import InboundMessage, OutboxMessage, Topic, TopicChange
from tests.mailstack import MailStack

REPO = Path(__file__).resolve().parents[1]
BOT = "bot@musterhausen.test"
CONTACTS = """\
contacts:
  - department: Bauamt
    email: contact1@musterhausen.test
  - department: Stadtbibliothek
    email: contact2@musterhausen.test
  - department: Kita Sonnenschein
    email: contact3@musterhausen.test
"""
SENDERS = ["contact1@musterhausen.test", "contact2@musterhausen.test",
           "contact3@musterhausen.test"]
NOW = "2027-01-06T10:00:00+01:00"
ENV = {"TEST_IMAP_PW": "secret"}
PROCESSED = "Intake/Processed"


def write_site(path: Path, stack: MailStack, url: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "contacts.yaml").write_text(CONTACTS, encoding="utf-8")
    (path / "intake.toml").write_text(f"""
[database]
url = "{url}"
[mail]
from_address = "{BOT}"
from_name = "Social-Media-Team"
organisation = "Stadt Musterhausen"
[smtp]
host = "127.0.0.1"
port = {stack.smtp_port}
security = "none"
username = ""
[imap]
host = "127.0.0.1"
port = {stack.imaps_port}
security = "ssl"
username = "{BOT}"
password_env = "TEST_IMAP_PW"
ca_file = "{stack.cafile}"
[officer]
email = "officer@musterhausen.test"
name = "Julia Beispiel"
[schedule]
state = "NW"
# far beyond every timeout below: what arrives in time came through IDLE, not a poll
poll_seconds = 600
""", encoding="utf-8")
    assert intake(path, "db", "upgrade").exit_code == 0
    assert intake(path, "contacts", "sync").exit_code == 0
    return path


@pytest.fixture
def site(tmp_path: Path, clean_mailboxes: MailStack, db_url: str) -> Path:
    return write_site(tmp_path / "site", clean_mailboxes, db_url)


@pytest.fixture
def pg_site(tmp_path: Path, clean_mailboxes: MailStack, pg_url: str) -> Path:
    return write_site(tmp_path / "site", clean_mailboxes, pg_url)


def intake(site: Path, *args: str) -> Result:
    full = ["--config", str(site / "intake.toml"), "--now", NOW, *args]
    return CliRunner().invoke(cli, full, env=ENV, catch_exceptions=False)


def db_url(site: Path) -> str:
    for line in (site / "intake.toml").read_text(encoding="utf-8").splitlines():
        if line.startswith("url = "):
            return line.split('"')[1]
    raise AssertionError("no database url in the test config")


@pytest.fixture
def observer(site: Path) -> Iterator[Engine]:
    """A plain engine of the test's own, to watch the pollers' database from outside."""
    engine = create_engine(db_url(site))
    yield engine
    engine.dispose()


def reply(tag: str, n: int) -> bytes:
    """A colleague's reply with one topic, unique by `tag` and `n`."""
    sender = SENDERS[n % len(SENDERS)]
    return f"""\
From: Kollegin {n} <{sender}>
To: Social-Media-Team <{BOT}>
Subject: AW: Ihre Themen im Februar 2027
Date: Tue, 5 Jan 2027 09:{n % 60:02d}:00 +0100
Message-ID: <{tag}-{n}@musterhausen.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Guten Tag,

--- Thema ---
Was: Thema {tag} Nummer {n}
Wann: 12.03.2027, 10 Uhr
Wo: Rathaus, Ratssaal
Wer: Bürgermeisterin Weber
Wie viele: ca. 40
Zitat:
Bilder:
--- Ende ---

Viele Grüße
Kollegin {n}
""".replace("\n", "\r\n").encode("utf-8")


def append(stack: MailStack, mails: list[bytes]) -> None:
    """Put mail straight into the bot's INBOX (IMAP APPEND): fast, and every mail is there
    before a poller starts."""
    client = stack.imap(BOT)
    try:
        for raw in mails:
            client.append("INBOX", raw)
    finally:
        client.logout()


def folder_ids(stack: MailStack, folder: str) -> list[str]:
    """The Message-IDs in a folder of the bot's mailbox (one entry per message)."""
    client = stack.imap(BOT)
    try:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        if not uids:
            return []
        data = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        out = []
        for item in data.values():
            header = bytes(item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]).decode()
            out.append(header.split(":", 1)[1].strip())
        return out
    finally:
        client.logout()


def counts(engine: Engine) -> tuple[int, int]:
    """(rows stored, rows processed) as another process sees them right now."""
    with engine.connect() as conn:
        stored, done = conn.execute(text(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status <> 'new' THEN 1 ELSE 0 END), 0) "
            "FROM inbound")).one()
    return int(stored), int(done)


def poller(site: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """`intake poll` as its own process, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(site / "intake.toml"), "--now", NOW,
             "poll", *args],
            cwd=REPO, env={**os.environ, **ENV}, stdout=out, stderr=subprocess.STDOUT)


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               proc: subprocess.Popen[bytes] | None = None, log: Path | None = None,
               interval: float = 0.05, stack: MailStack | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            output = log.read_text(errors="replace") if log else ""
            raise AssertionError(f"the poller exited ({proc.returncode}) while waiting for "
                                 f"{what}:\n{output}")
        if time.monotonic() > deadline:
            output = log.read_text(errors="replace") if log else ""
            where = "" if stack is None else (
                f"\nINBOX: {folder_ids(stack, 'INBOX')}\n{PROCESSED}: "
                f"{folder_ids(stack, PROCESSED)}\n{stack.log_tail(15)}")
            raise AssertionError(f"no {what} after {timeout} s:\n{output[-3000:]}{where}")
        time.sleep(interval)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def load(site: Path, model: type) -> list[Any]:
    app = App(config_path=site / "intake.toml", config_explicit=True)
    try:
        with app.sessions() as session:
            return list(session.scalars(select(model).order_by(model.id)))  # type: ignore[attr-defined]
    finally:
        app.close()


def assert_each_mail_once(site: Path, stack: MailStack, expected: list[str]) -> None:
    """Every expected mail stored once with its one topic, moved once, INBOX empty."""
    inbound = load(site, InboundMessage)
    ids = [row.message_id for row in inbound]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(expected)
    assert Counter(row.status for row in inbound) == {"processed": len(expected)}
    topics = load(site, Topic)
    assert sorted(Counter(t.inbound_id for t in topics).values()) == [1] * len(expected)
    whats = [t.what for t in topics]
    assert len(whats) == len(set(whats)) == len(expected)
    assert folder_ids(stack, "INBOX") == []
    assert sorted(folder_ids(stack, PROCESSED)) == sorted(expected)


# --- 1. kill -9 between storing and moving -------------------------------------------------

#: three transactions' worth: kills land between them and within them
MAILS_PER_ROUND = 2 * BATCH + 50


def test_a_poller_killed_after_storing_loses_and_doubles_nothing(
        site: Path, clean_mailboxes: MailStack, observer: Engine, tmp_path: Path) -> None:
    """SIGKILL at seeded moments after the batch commit and before the move; the next
    `poll --once` finishes the job. Rounds add up in the same database and mailbox."""
    rng = random.Random(20270106)
    # how many rows must be processed before the kill: none (right after the batch commit),
    # and two seeded points while the rows are being processed, all before the move
    moments = [0, rng.randrange(1, BATCH), rng.randrange(BATCH + 1, 2 * BATCH)]
    expected: list[str] = []
    log = tmp_path / "poll.log"
    for round_no, moment in enumerate(moments):
        tag = f"kill{round_no}"
        append(clean_mailboxes, [reply(tag, n) for n in range(MAILS_PER_ROUND)])
        before = len(expected)
        expected += [f"<{tag}-{n}@musterhausen.test>" for n in range(MAILS_PER_ROUND)]

        proc = poller(site, log=log)
        try:
            def stored_and_processing(moment: int = moment, before: int = before) -> bool:
                stored, done = counts(observer)
                return stored > before and done - before >= moment
            wait_until(stored_and_processing, 60, f"stored rows (round {round_no})", proc, log,
                       interval=0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            stop(proc)

        # killed before the move: the mail of this round still waits in INBOX (some of it
        # stored: the mail is fetched and stored a hundred at a time)
        stored, done = counts(observer)
        assert before < stored <= len(expected)
        assert done < len(expected)
        assert len(folder_ids(clean_mailboxes, "INBOX")) == MAILS_PER_ROUND

        finish = poller(site, "--once", log=log)
        assert finish.wait(timeout=120) == 0, log.read_text(errors="replace")
        assert_each_mail_once(site, clean_mailboxes, expected)
    assert "Traceback" not in log.read_text(errors="replace")


# --- 2. two pollers at once ----------------------------------------------------------------

def test_two_pollers_on_one_mailbox_store_and_move_each_mail_once(
        pg_site: Path, clean_mailboxes: MailStack, tmp_path: Path) -> None:
    """Both list and fetch the same mails; the database's constraints keep one row each, the
    row locks one processing each, and the folder lock one MOVE each (two MOVEs of the same
    mail at once leave two copies in Dovecot; a MOVE of mail the other one moved first is
    refused with EXPUNGEISSUED)."""
    assert_two_passes_at_once(pg_site, clean_mailboxes, tmp_path, "pair", 80, timeout=180)


def assert_two_passes_at_once(site: Path, stack: MailStack, tmp_path: Path, name: str, mails: int,
                       timeout: float) -> None:
    """`mails` replies in INBOX, two `intake poll --once` started together: both end
    cleanly, and every mail is stored, processed and moved once."""
    append(stack, [reply(name, n) for n in range(mails)])
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    procs = [poller(site, "--once", log=log) for log in logs]
    try:
        codes = [proc.wait(timeout=timeout) for proc in procs]
    finally:
        for proc in procs:
            stop(proc)
    output = "\n".join(log.read_text(errors="replace") for log in logs)
    assert codes == [0, 0], output
    assert "Traceback" not in output
    assert_each_mail_once(site, stack, [f"<{name}-{n}@musterhausen.test>" for n in range(mails)])


# --- 3. Dovecot restarted under IDLE ---------------------------------------------------------

def send(stack: MailStack, raw: bytes, sender: str) -> None:
    stack.send(raw, sender, [BOT])


def topic_whats(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {str(w) for w in conn.scalars(select(Topic.what))}


def test_the_idle_poller_survives_a_dovecot_restart(
        site: Path, clean_mailboxes: MailStack, observer: Engine, tmp_path: Path) -> None:
    log = tmp_path / "poll.log"
    proc = poller(site, log=log)
    try:
        first = reply("restart", 1)
        send(clean_mailboxes, first, SENDERS[1])
        wait_until(lambda: "Thema restart Nummer 1" in topic_whats(observer), 60,
                   "topic of the first mail", proc, log)
        # the poller is back in IDLE once the pass has moved the mail
        wait_until(lambda: folder_ids(clean_mailboxes, "INBOX") == [], 30,
                   "empty INBOX", proc, log)

        clean_mailboxes.stop_dovecot()
        clean_mailboxes.start_dovecot()
        send(clean_mailboxes, reply("restart", 2), SENDERS[2])
        wait_until(lambda: "Thema restart Nummer 2" in topic_whats(observer), 90,
                   "topic of the mail sent after the restart", proc, log,
                   stack=clean_mailboxes)
        assert proc.poll() is None

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        stop(proc)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output
    drops = [line for line in output.splitlines() if "trying again" in line]
    assert drops, output
    # each drop is one line that names the server, not a stack trace
    assert all(f"IMAP 127.0.0.1:{clean_mailboxes.imaps_port}" in line for line in drops)
    assert "mailbox: connected again" in output
    assert sorted(folder_ids(clean_mailboxes, PROCESSED)) == [
        "<restart-1@musterhausen.test>", "<restart-2@musterhausen.test>"]


# --- 4. IDLE: a reply sent over SMTP becomes a topic --------------------------------------

def test_a_reply_arrives_through_idle_without_a_new_poll(
        site: Path, clean_mailboxes: MailStack, observer: Engine, tmp_path: Path) -> None:
    log = tmp_path / "poll.log"
    proc = poller(site, log=log)
    try:
        # the first pass has begun (it writes the mailbox state row first) ...
        def first_pass() -> bool:
            with observer.connect() as conn:
                return bool(conn.scalar(text("SELECT COUNT(*) FROM mailbox_state "
                                             "WHERE last_poll_at IS NOT NULL")))
        wait_until(first_pass, 60, "first pass", proc, log)
        # ... and, on an empty mailbox, ended well within this pause: the mail then arrives
        # while the poller idles, which is what this test is about (mail that arrives during
        # a pass is the next test's case)
        time.sleep(2)
        send(clean_mailboxes, reply("idle", 7), SENDERS[0])
        wait_until(lambda: "Thema idle Nummer 7" in topic_whats(observer), 20,
                   "topic of the reply", proc, log, stack=clean_mailboxes)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        stop(proc)
    assert "Traceback" not in log.read_text(errors="replace")


def giving_up(seconds: float) -> Callable[[], bool]:
    """A `stop` for Mailbox.wait: True once `seconds` have passed."""
    end = time.monotonic() + seconds
    return lambda: time.monotonic() > end


def test_mail_announced_during_the_pass_is_not_left_for_the_next_poll(
        clean_mailboxes: MailStack) -> None:
    """A mail that arrives while the pass lists the folder is announced (EXISTS) in the reply
    to that very command, not in the listing, and one that arrives between the pass and IDLE
    is not announced at all; IDLE reports neither. The wait must still end at once, so that
    the next pass takes them."""
    settings = ImapSettings(host="127.0.0.1", port=clean_mailboxes.imaps_port, security="ssl",
                            username=BOT, password_env="TEST_IMAP_PW",
                            ca_file=str(clean_mailboxes.cafile))
    mailbox = Mailbox.open(settings, PasswordLogin("secret"))
    try:
        mailbox.select("INBOX")
        assert mailbox.uids() == []
        append(clean_mailboxes, [reply("race", 1)])
        assert mailbox.uids() == []  # the listing ran on the folder as it was
        # IDLE is re-issued after its time (it would find the mail then): give up long before
        assert mailbox.wait(600, giving_up(15)) is True
        assert len(mailbox.uids()) == 1
        # delivered after the listing and before IDLE: Dovecot's IDLE never reports it
        before = len(list(clean_mailboxes.maildir(BOT).glob("*/*")))
        clean_mailboxes.send(reply("race", 2), SENDERS[0], [BOT])
        deadline = time.monotonic() + 10
        while len(list(clean_mailboxes.maildir(BOT).glob("*/*"))) == before:
            assert time.monotonic() < deadline, "Postfix did not deliver"
            time.sleep(0.01)
        assert mailbox.wait(600, giving_up(15)) is True
        assert len(mailbox.uids()) == 2
    finally:
        mailbox.close()


def test_imaplib_formats_its_debug_lines_only_when_they_are_logged(
        clean_mailboxes: MailStack, caplog: pytest.LogCaptureFixture) -> None:
    """imaplib would format every response (each fetched mail's repr) for a debug log that
    nobody reads; with the imapclient.imaplib logger at DEBUG it still tells everything."""
    settings = ImapSettings(host="127.0.0.1", port=clean_mailboxes.imaps_port, security="ssl",
                            username=BOT, password_env="TEST_IMAP_PW",
                            ca_file=str(clean_mailboxes.cafile))
    append(clean_mailboxes, [reply("debug", 1)])
    for level, debug in ((logging.INFO, 0), (logging.DEBUG, 5)):
        caplog.clear()
        with caplog.at_level(level, logger="imapclient.imaplib"):
            mailbox = Mailbox.open(settings, PasswordLogin("secret"))
            try:
                assert mailbox.client._imap.debug == debug
                mailbox.select("INBOX")
                assert len(mailbox.uids()) == 1
            finally:
                mailbox.close()
        said = [r.getMessage() for r in caplog.records if r.name == "imapclient.imaplib"]
        assert bool(said) == (level == logging.DEBUG), said[:3]
        assert not any("secret" in line for line in said)


# --- 5. replay ------------------------------------------------------------------------------

def test_replay_updates_topics_in_place_and_twice_is_once(
        site: Path, clean_mailboxes: MailStack, observer: Engine) -> None:
    append(clean_mailboxes, [reply("replay", n) for n in range(3)])
    result = intake(site, "poll", "--once")
    assert result.exit_code == 0, result.output
    topics_before = {t.id: t.inbound_id for t in load(site, Topic)}
    assert len(topics_before) == 3
    inbound = load(site, InboundMessage)
    target = inbound[1]

    # the row failed (as after a bug); someone also edited its topic meanwhile
    with observer.begin() as conn:
        conn.execute(update(InboundMessage).where(InboundMessage.id == target.id)
                     .values(status="failed", error="RuntimeError: simulated"))
        conn.execute(update(Topic).where(Topic.inbound_id == target.id)
                     .values(what="von Hand geändert", where=None))
    listed = intake(site, "inbound", "list", "--status", "failed")
    assert "RuntimeError: simulated" in listed.stdout

    result = intake(site, "inbound", "replay", "--failed")
    assert result.exit_code == 0, result.output
    assert "1 processed" in result.stdout
    after = load(site, Topic)
    assert {t.id: t.inbound_id for t in after} == topics_before  # same rows, none added
    replayed = next(t for t in after if t.inbound_id == target.id)
    assert replayed.what == "Thema replay Nummer 1"
    assert replayed.where == "Rathaus, Ratssaal"
    assert replayed.status != "withdrawn"
    rows = {r.id: r for r in load(site, InboundMessage)}
    assert rows[target.id].status == "processed" and rows[target.id].error is None
    changes = load(site, TopicChange)
    assert sorted(c.field for c in changes) == ["what", "where"]
    assert {c.topic_id for c in changes} == {replayed.id}

    # a replay by ID, twice: nothing changes any more
    for _ in range(2):
        result = intake(site, "inbound", "replay", str(target.id))
        assert result.exit_code == 0, result.output
        assert "1 processed" in result.stdout
    assert {t.id: t.inbound_id for t in load(site, Topic)} == topics_before
    assert len(load(site, TopicChange)) == len(changes)
    assert Counter(r.status for r in load(site, InboundMessage)) == {"processed": 3}
    # nothing was sent to anybody by the replays
    assert load(site, OutboxMessage) == []
    with observer.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Topic)) == 3
