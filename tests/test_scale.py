"""Several workers and several town halls on one real PostgreSQL, with the real mail stack:
four worker processes drain one outbox and one inbound queue (nothing twice, nothing
skipped), one scheduler leader at a time with a takeover when it is killed, and two town
halls in two schemas of one database that never see each other's data."""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from bot.app import App
from bot.leader import LOCK_CLASS, LeaderOnly, Leadership
from bot.listening.process import BATCH
from bot.outbox import enqueue
from db.inbound import store_raw
from db.models import Contact, InboundMessage, OutboxMessage, Request, Topic
from tests.mailstack import MailStack
from tests.test_asking import MONDAY, intake, make_site

REPO = Path(__file__).resolve().parents[1]
DOMAIN = "musterhausen.test"
NOW = datetime(2027, 1, 4, 7, 0, tzinfo=UTC)

#: a worker process: waits at the gate (so that all four start at once), does its part,
#: prints what it did as JSON
WORKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from bot.app import App
    config, gate, part = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    app = App(config_path=Path(config), config_explicit=True,
              now_override="2027-01-05T10:00:00+01:00")
    if part == "outbox":
        from bot.usecases import deliver_outbox as work
    else:
        from bot.listening.process import process_pending
        from bot.listening.service import listen_settings
        def work(app):
            return process_pending(app.sessions, listen_settings(app), app.now)
    app.engine.connect().close()  # connected before the gate, like a running worker
    while not gate.exists():
        time.sleep(0.002)
    report = work(app)
    print(json.dumps({k: v for k, v in vars(report).items() if isinstance(v, int)}))
""")


def run_workers(site: Path, part: str, count: int = 4) -> list[dict[str, int]]:
    gate = site / f"gate-{part}"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(site / "intake.toml"),
                               str(gate), part], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for _ in range(count)]
    time.sleep(1.0)  # let them import and connect
    gate.touch()
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * count, outputs
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


def contacts_yaml(count: int) -> str:
    """`count` departments; contactN+K lands in contactN's mailbox (recipient delimiter)."""
    return "contacts:\n" + "".join(
        f"  - department: Abteilung {k:03d}\n    email: {address(k)}\n" for k in range(count))


def address(k: int) -> str:
    return f"contact{k % 20 + 1}+{k}@{DOMAIN}"


def app_of(site: Path, now: str | None = None) -> App:
    return App(config_path=site / "intake.toml", config_explicit=True, now_override=now)


# --- four workers, one outbox and one inbound queue ----------------------------------------

def test_four_workers_drain_one_outbox_and_send_each_mail_exactly_once(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str) -> None:
    site = make_site(tmp_path, clean_mailboxes, pg_url)
    total = 600
    app = app_of(site)
    with app.sessions.begin() as session:
        for k in range(total):
            raw = (f"From: bot@{DOMAIN}\r\nTo: {address(k)}\r\nSubject: Nr. {k}\r\n"
                   f"Message-ID: <scale-{k}@{DOMAIN}>\r\n\r\nHallo {k}\r\n").encode()
            enqueue(session, kind="request", dedupe_key=f"scale:{k}",
                    message_id=f"<scale-{k}@{DOMAIN}>", to_address=address(k),
                    subject=f"Nr. {k}", raw=raw, now=NOW)

    reports = run_workers(site, "outbox")

    assert sum(r["sent"] for r in reports) == total, reports
    assert all(r["retrying"] == r["failed"] == 0 for r in reports), reports
    assert sum(1 for r in reports if r["sent"]) >= 2, reports  # they did share the work
    with app.sessions() as session:
        rows = session.execute(select(OutboxMessage.status, OutboxMessage.attempts)).all()
    app.close()
    # each row was claimed once: a second claim would have counted a second attempt
    assert Counter(rows) == {("sent", 1): total}
    clean_mailboxes.wait_queue_empty(timeout=120)
    received: list[str] = []
    for n in range(1, 21):
        expected = sum(1 for k in range(total) if k % 20 + 1 == n)
        mails = clean_mailboxes.wait_for_messages(f"contact{n}@{DOMAIN}", count=expected,
                                                  timeout=60)
        assert len(mails) == expected
        received += [str(email.message_from_bytes(m, policy=policy.default)["Message-ID"])
                     for m in mails]
    assert sorted(received) == sorted(f"<scale-{k}@{DOMAIN}>" for k in range(total))


def reply(message_id: str, subject: str, sender: str, n: int) -> bytes:
    return (f"From: {sender}\r\nTo: bot@{DOMAIN}\r\nSubject: AW: {subject}\r\n"
            f"Date: Tue, 5 Jan 2027 09:12:44 +0000\r\nMessage-ID: <reply-{n}@example.org>\r\n"
            f"In-Reply-To: {message_id}\r\nReferences: {message_id}\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Guten Tag,\r\n\r\nWas: Thema Nummer {n}\r\nWann: {n % 28 + 1}.03.2027\r\n"
            f"Wo: Rathaus, Saal {n}\r\nWer: Amt {n}\r\nWie viele: {n + 10}\r\n\r\n"
            f"Viele Grüße\r\n").encode()


def test_four_workers_drain_one_inbound_queue_and_process_each_mail_exactly_once(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str) -> None:
    # two replies each: four transactions' worth (a worker claims up to two ahead)
    departments = 2 * BATCH
    site = make_site(tmp_path, clean_mailboxes, pg_url, contacts_yaml(departments))
    assert intake(site, "send-requests", now=MONDAY).exit_code == 0
    app = app_of(site)
    with app.sessions.begin() as session:
        requests = session.execute(
            select(Request.message_id, OutboxMessage.subject, Contact.email)
            .join(OutboxMessage, OutboxMessage.request_id == Request.id)
            .join(Contact, Contact.id == Request.contact_id)).all()
        assert len(requests) == departments
        # two replies to each request: the workers also meet on the same request rows
        for n, (message_id, subject, sender) in enumerate([*requests, *requests], 1):
            raw = reply(message_id, subject, sender, n)
            assert store_raw(session, raw=raw, message_id=f"<reply-{n}@example.org>",
                             folder="INBOX", uidvalidity=1, uid=n, size=len(raw),
                             now=NOW) is not None
    total = 2 * departments

    reports = run_workers(site, "inbound")

    assert sum(r["processed"] for r in reports) == total, reports
    assert sum(r["failed"] for r in reports) == 0, reports
    assert sum(1 for r in reports if r["processed"]) >= 2, reports
    with app.sessions() as session:
        rows = session.execute(select(InboundMessage.status, InboundMessage.attempts)).all()
        assert Counter(rows) == {("processed", 1): total}
        per_mail = Counter(session.scalars(select(Topic.inbound_id)))
        assert len(per_mail) == total and set(per_mail.values()) == {1}
        assert set(session.scalars(select(Topic.what))) == {
            f"Thema Nummer {n}" for n in range(1, total + 1)}
        assert set(session.scalars(select(Request.status))) == {"answered"}
    app.close()


# --- one leader ----------------------------------------------------------------------------

def lock_holders(pg_admin: Engine, url: str) -> list[int]:
    """The sessions holding the scheduler's lock of the schema `url` names."""
    schema = str(make_url(url).query["options"]).partition("search_path=")[2]
    with pg_admin.connect() as conn:
        return list(conn.scalars(text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = (:cls)::int4::oid AND objid = "
            "(SELECT oid FROM pg_namespace WHERE nspname = :schema)"),
            {"cls": LOCK_CLASS, "schema": schema}))


def lock_holders_after_exit(pg_admin: Engine, url: str, timeout: float = 10.0) -> list[int]:
    """The lock's holders once closed or terminated sessions are gone: a backend frees its
    locks as it exits, a moment after the client has closed the connection."""
    deadline = time.monotonic() + timeout
    while (holders := lock_holders(pg_admin, url)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return holders


def test_exactly_one_leader_and_a_takeover_when_its_connection_is_gone(
        pg_url: str, pg_admin: Engine) -> None:
    engine = create_engine(pg_url)
    contenders = [Leadership(engine) for _ in range(3)]
    ran: list[int] = []

    def job_of(n: int) -> LeaderOnly:
        return LeaderOnly(lambda: ran.append(n), contenders[n])

    jobs = [job_of(n) for n in range(len(contenders))]
    try:
        assert [c.try_acquire() for c in contenders] == [True, False, False]
        assert [c.try_acquire() for c in contenders] == [True, False, False]
        for job in jobs:
            job()
        assert ran == [0]  # the scheduler's jobs run on the leader only
        (pid,) = lock_holders(pg_admin, pg_url)
        # the leader's session ends (a crash, a cut connection): the lock goes with it
        with pg_admin.connect() as conn:
            assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert lock_holders_after_exit(pg_admin, pg_url) == []
        for job in jobs:
            job()
        assert ran == [0]  # nobody leads until a follower takes over
        assert not contenders[0].held  # the old leader noticed and stepped down
        assert [c.try_acquire() for c in contenders[1:]] == [True, False]
        for job in jobs:
            job()
        assert ran == [0, 1]
    finally:
        for c in contenders:
            c.release()
        engine.dispose()
    assert lock_holders_after_exit(pg_admin, pg_url) == []


def wait_for_line(log: Path, text_: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(encoding="utf-8") if log.exists() else ""
        if text_ in content:
            return content
        time.sleep(0.2)
    raise AssertionError(f"{text_!r} not in {log} after {timeout} s:\n"
                         f"{log.read_text(encoding='utf-8') if log.exists() else ''}")


def test_the_leader_killed_another_worker_takes_over(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str, pg_admin: Engine) -> None:
    site = make_site(tmp_path, clean_mailboxes, pg_url)
    env = {**os.environ, "TEST_IMAP_PW": "secret", "INTAKE_CONFIG": str(site / "intake.toml")}

    def worker(name: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=REPO,
                                env={**env, "INTAKE_LOGGING__FILE": str(site / f"{name}.log")},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)

    first = worker("first")
    second: subprocess.Popen[str] | None = None
    try:
        wait_for_line(site / "first.log", "scheduler: this worker leads (")
        second = worker("second")
        wait_for_line(site / "second.log", "scheduler: another worker leads;")
        wait_for_line(site / "second.log", "reading the mailbox")
        assert len(lock_holders(pg_admin, pg_url)) == 1
        first.kill()  # SIGKILL: no chance to let go of anything
        first.wait(timeout=30)
        # a generous bound: the follower looks every 10 s
        log = wait_for_line(site / "second.log",
                            "scheduler: this worker leads now (the previous leader stopped)")
        assert "Traceback" not in log
        assert len(lock_holders(pg_admin, pg_url)) == 1
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
        wait_for_line(site / "second.log", "stopped")
        assert lock_holders_after_exit(pg_admin, pg_url) == []
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


# --- two town halls, two schemas -----------------------------------------------------------

@pytest.fixture
def second_schema_url(pg_admin: Engine) -> Iterator[str]:
    """The URL of a schema that does not exist yet (`intake db upgrade` creates it)."""
    schema = f"intake_test_{uuid.uuid4().hex[:12]}_b"
    url = make_url(pg_admin.url).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with pg_admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def test_two_town_halls_in_two_schemas_never_see_each_others_data(
        tmp_path: Path, clean_mailboxes: MailStack, pg_url: str,
        second_schema_url: str) -> None:
    stack = clean_mailboxes
    stack.add_user(f"themen-b@{DOMAIN}")
    # contact1 works for both town halls (a district's shared service)
    (tmp_path / "a").mkdir()
    a = make_site(tmp_path / "a", stack, pg_url, "contacts:\n" + "".join(
        f"  - department: Amt A{n}\n    email: contact{n}@{DOMAIN}\n" for n in (1, 2, 3)))
    b_contacts = "contacts:\n" + "".join(
        f"  - department: Amt B{n}\n    email: contact{n}@{DOMAIN}\n" for n in (1, 4, 5))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "contacts.yaml").write_text(b_contacts, encoding="utf-8")
    (tmp_path / "b" / "intake.toml").write_text(
        (a / "intake.toml").read_text(encoding="utf-8")
        .replace(pg_url, second_schema_url).replace(f"bot@{DOMAIN}", f"themen-b@{DOMAIN}"),
        encoding="utf-8")
    b = tmp_path / "b"
    result = intake(b, "db", "upgrade")  # creates its schema, then migrates it
    assert result.exit_code == 0, result.output
    assert "PostgreSQL schema intake_test_" in result.stdout
    assert "schema upgraded from empty to " in result.stdout
    assert intake(b, "db", "upgrade").stdout.count("schema already at") == 1

    for site in (a, b):
        result = intake(site, "send-requests", now=MONDAY)
        assert result.exit_code == 0, result.output
        assert "3 request(s) queued" in result.stdout
    stack.wait_queue_empty()
    # contact1 got one request from each town hall; contact4 one from B
    requests = {}
    for raw in stack.wait_for_messages(f"contact1@{DOMAIN}", count=2) + \
            stack.wait_for_messages(f"contact4@{DOMAIN}"):
        msg = email.message_from_bytes(raw, policy=policy.default)
        requests[(str(msg["To"]).split("<")[-1].strip(">"), str(msg["From"]).split("<")[-1]
                  .strip(">"))] = (str(msg["Message-ID"]), str(msg["Subject"]))
    replies = [(f"contact1@{DOMAIN}", f"bot@{DOMAIN}", 1), (f"contact1@{DOMAIN}",
               f"themen-b@{DOMAIN}", 2), (f"contact4@{DOMAIN}", f"themen-b@{DOMAIN}", 3)]
    for sender, town, n in replies:
        message_id, subject = requests[(sender, town)]
        raw = reply(message_id, subject, sender, n).replace(f"To: bot@{DOMAIN}".encode(),
                                                            f"To: {town}".encode())
        stack.send(raw, sender, [town])
    stack.wait_for_messages(f"bot@{DOMAIN}", count=1)
    stack.wait_for_messages(f"themen-b@{DOMAIN}", count=2)
    for site in (a, b):
        result = intake(site, "poll", "--once", now="2027-01-05T10:00:00+01:00",
                        env={"TEST_IMAP_PW": "secret"})
        assert result.exit_code == 0, result.output

    seen: dict[str, dict[str, Any]] = {}
    for name, site in (("a", a), ("b", b)):
        app = app_of(site)
        with app.sessions() as session:
            seen[name] = {
                "departments": sorted(session.scalars(
                    select(Contact.email).where(Contact.role == "primary"))),
                "outbox": sorted(session.scalars(select(OutboxMessage.to_address))),
                "inbound": sorted(session.scalars(select(InboundMessage.message_id))),
                "topics": sorted(session.scalars(select(Topic.what))),
                "answered": session.scalar(select(func.count()).select_from(Request)
                                           .where(Request.status == "answered")),
            }
        app.close()
    assert seen["a"] == {
        "departments": [f"contact{n}@{DOMAIN}" for n in (1, 2, 3)],
        "outbox": [f"contact{n}@{DOMAIN}" for n in (1, 2, 3)],
        "inbound": ["<reply-1@example.org>"], "topics": ["Thema Nummer 1"], "answered": 1}
    assert seen["b"] == {
        "departments": [f"contact{n}@{DOMAIN}" for n in (1, 4, 5)],
        "outbox": [f"contact{n}@{DOMAIN}" for n in (1, 4, 5)],
        "inbound": ["<reply-2@example.org>", "<reply-3@example.org>"],
        "topics": ["Thema Nummer 2", "Thema Nummer 3"], "answered": 2}
    # and each has its own scheduler leader
    engines = [create_engine(url) for url in (pg_url, second_schema_url)]
    leaders = [Leadership(engine) for engine in engines]
    try:
        assert [leader.try_acquire() for leader in leaders] == [True, True]
    finally:
        for leader, engine in zip(leaders, engines, strict=True):
            leader.release()
            engine.dispose()
