"""Chaos suite (run by hand): the bot under faults and abuse, on the real Dovecot + Postfix
and both databases, with figures. The promise it checks: nothing lost, nothing doubled, no
loops, no stranger gets in.

    .venv/bin/python -m benchmarks.chaos                          # every part, full size
    .venv/bin/python -m benchmarks.chaos --parts crashes --db postgresql
    .venv/bin/python -m benchmarks.chaos --replies 40 --mails 40 --kills 3 --hostile 30 \\
        --automatic 12 --storm 60                                 # about the test's sizes

Parts (`--parts`, comma-separated; all by default):

- crashes: `kill -9` of `intake poll`, `intake outbox` and `intake run` at seeded points
  (`--kills` each) while they work through `--replies` replies and `--mails` outgoing
  mails, restarted after each kill. Counts lost inbound mails, doubled topics, unsent and
  doubly sent mails; a resend with the same Message-ID (killed between the server's
  acceptance and the commit) is the documented at-least-once case, counted apart. After a
  kill the next run's clock (`--now`) is 11 minutes later, so the sending lease has run out.
- servers: `intake run` (real clock) under load while Dovecot, Postfix and PostgreSQL go
  away and come back. PostgreSQL is the machine's shared server, never stopped: the bot
  reaches it through a TCP proxy of this module (a forwarding thread on a free loopback
  port), and "stopping PostgreSQL" closes the proxy's listener and every connection through
  it. Work left waiting by design afterwards (a sending lease of 10 minutes, a retry in a
  minute) is finished by one `intake outbox` with its clock past them.
- hostile: `--hostile` generated malformed and hostile mails (broken MIME, wrong charsets,
  NUL bytes, 5 MB single lines, 10,000 nested and 10,000 sibling parts, an HTML bomb,
  RFC 2047 garbage, a zip renamed .eml, a 100 MB attachment over `[inbound] max_message_mb`)
  APPENDed to the mailbox, then `intake poll`: crashes, what became of each mail, the
  poller's peak RSS (VmHWM) and the slowest mail.
- loops: `--automatic` automatic mails (out-of-office in German and English with and without
  RFC 3834 headers, Exchange's, vacation replies quoting the whole request, mailing-list
  bounces, a second bot that answers everything) and a storm of `--storm` mails from one
  address over SMTP, then ten days of follow-ups: answers sent, and mails per address.
- strangers: spoofed From with failing Authentication-Results, strangers using a valid tag
  or thread, a contact answering another department's request, a forwarded request answered
  by someone else, a From with two addresses: topics made from them, quarantined, shown.
- injection: header injection through contact names, subjects and topic text; HTML and
  script in every field that reaches the digest, the exports and the intranet page; path
  tricks in attachment names: what got through.

Each part runs in a fresh site (configuration, contacts, database) on one mail stack started
for the run (root; see tests/mailstack.py). tests/test_chaos.py runs a seeded, shortened
version of every part with assertions; this prints the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import email
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, ClassVar

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import Engine, create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import selectinload  # noqa: E402

from bot.app import App  # noqa: E402
from db.models import (  # noqa: E402
    Attachment,
    InboundMessage,
    OutboxMessage,
    Request,
    Topic,
)
from tests.mailstack import MailStack  # noqa: E402
from tests.test_listening_faults import append, folder_ids, reply, wait_until  # noqa: E402

BOT = "bot@musterhausen.test"
OFFICER = "officer@musterhausen.test"
DOMAIN = "musterhausen.test"
PASSWORD = "secret"
ENV = {"TEST_IMAP_PW": PASSWORD}
#: a Wednesday in the round of January 2027 (asked on Monday the 4th)
NOW = datetime.fromisoformat("2027-01-06T10:00:00+01:00")
MONTH = "2027-01"
PROCESSED = "Intake/Processed"
FAILED = "Intake/Failed"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: the three repliers of tests.test_listening_faults.reply (one department each)
REPLIERS = [("Bauamt", "contact1@musterhausen.test"),
            ("Stadtbibliothek", "contact2@musterhausen.test"),
            ("Kita Sonnenschein", "contact3@musterhausen.test")]
#: a lease runs 10 minutes: a restart this much later finds the killed run's rows due again
AFTER_LEASE = timedelta(minutes=11)


def stamp(moment: datetime) -> str:
    return moment.isoformat()


# --- figures -------------------------------------------------------------------------------

@dataclass
class Figures:
    """One line of the table: what was held, what was done to it, what became of it."""

    part: str
    db: str
    load: str = ""
    faults: int = 0
    tried: int = 0
    lost: int = 0
    doubled: int = 0
    #: the same mail (same Message-ID) sent again after a kill between acceptance and commit
    resent: int = 0
    crashes: int = 0
    peak_rss_mb: float | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    #: details the tests assert on (counts by status, offending values, ...)
    detail: dict[str, Any] = field(default_factory=dict)

    def note(self, text: str) -> None:
        self.notes.append(text)


def table(rows: Sequence[Figures]) -> str:
    head = ["part", "db", "load held", "faults", "mails tried", "lost", "doubled",
            "resent (same ID)", "crashes", "peak RSS", "s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for f in rows:
        rss = f"{f.peak_rss_mb:.0f} MB" if f.peak_rss_mb is not None else "-"
        cells = [f.part, f.db, f.load, str(f.faults), str(f.tried), str(f.lost),
                 str(f.doubled), str(f.resent), str(f.crashes), rss, f"{f.seconds:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- a site: configuration, contacts, database ------------------------------------------------

def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass
class Site:
    """One bot installation in a directory: intake.toml, contacts.yaml, its database."""

    root: Path
    stack: MailStack
    #: the URL the bot uses (through the proxy in the servers part)
    url: str
    #: the URL the suite watches the database with (never through the proxy)
    observe_url: str
    _engine: Engine | None = None

    @property
    def config(self) -> Path:
        return self.root / "intake.toml"

    @property
    def db(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.observe_url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def app(self, now: datetime | None = None) -> App:
        return App(config_path=self.config, config_explicit=True,
                   now_override=stamp(now) if now else None)

    def env(self) -> dict[str, str]:
        # an INTAKE_* variable of the caller's shell must not change the bot under test
        base = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
        return {**base, **ENV}

    def command(self, *args: str, now: datetime | None = None) -> list[str]:
        full = [sys.executable, "-m", "bot", "--config", str(self.config)]
        if now is not None:
            full += ["--now", stamp(now)]
        return full + list(args)

    def run(self, *args: str, now: datetime | None = None, timeout: float = 300,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """`intake ARGS` in a process of its own, waited for."""
        done = subprocess.run(self.command(*args, now=now), cwd=REPO, env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"intake {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done

    def cli(self, *args: str, now: datetime | None = None, check: bool = True) -> Any:
        """`intake ARGS` in this process (quick; for set-up and for looking)."""
        from click.testing import CliRunner

        from bot.cli import cli

        full = ["--config", str(self.config)] + (["--now", stamp(now)] if now else [])
        result = CliRunner().invoke(cli, full + list(args), env=ENV, catch_exceptions=False)
        if check and result.exit_code != 0:
            raise AssertionError(f"intake {' '.join(args)} exited {result.exit_code}:\n"
                                 f"{result.output[-4000:]}")
        return result

    def spawn(self, *args: str, log: Path, now: datetime | None = None
              ) -> subprocess.Popen[bytes]:
        """`intake ARGS` started in the background, its output appended to `log`."""
        with log.open("ab") as out:
            return subprocess.Popen(self.command(*args, now=now), cwd=REPO, env=self.env(),
                                    stdout=out, stderr=subprocess.STDOUT)

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine().connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, model: type) -> list[Any]:
        app = self.app()
        query = select(model).order_by(model.id)  # type: ignore[attr-defined]
        if model is InboundMessage:  # with their bytes, read after the session is gone
            query = query.options(selectinload(InboundMessage.content))
        try:
            with app.sessions() as session:
                return list(session.scalars(query))
        finally:
            app.close()


def write_site(root: Path, stack: MailStack, url: str, contacts: Sequence[dict[str, Any]],
               *, observe_url: str | None = None, extra: str = "",
               contacts_text: str | None = None) -> Site:
    """A site whose bot reads bot@ over IMAPS and sends over plain SMTP; `contacts` are
    written as YAML (or `contacts_text` as is), the schema created, the contacts synced."""
    root.mkdir(parents=True, exist_ok=True)
    if contacts_text is None:
        lines = ["contacts:"]
        for entry in contacts:
            lines.append(f"  - department: {_quoted(entry['department'])}")
            for key in ("email", "name", "salutation"):
                if entry.get(key) is not None:
                    lines.append(f"    {key}: {_quoted(entry[key])}")
        contacts_text = "\n".join(lines) + "\n"
    (root / "contacts.yaml").write_text(contacts_text, encoding="utf-8")
    sections = _merge_toml(f"""
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
timeout = 20
[imap]
host = "127.0.0.1"
port = {stack.imaps_port}
security = "ssl"
username = "{BOT}"
password_env = "TEST_IMAP_PW"
ca_file = "{stack.cafile}"
timeout = 20
[officer]
email = "{OFFICER}"
name = "Julia Beispiel"
[schedule]
state = "NW"
poll_seconds = 600
""", extra)
    (root / "intake.toml").write_text(sections, encoding="utf-8")
    site = Site(root, stack, url, observe_url or url)
    site.cli("db", "upgrade")
    site.cli("contacts", "sync")
    return site


def _merge_toml(base: str, extra: str) -> str:
    """`extra`'s keys added to (or replacing) those of the same section in `base`."""
    sections: dict[str, list[str]] = {}
    order: list[str] = []
    for chunk in (base, extra):
        current = ""
        for line in chunk.strip().splitlines():
            if line.startswith("["):
                current = line.strip()
                if current not in sections:
                    sections[current] = []
                    order.append(current)
                continue
            if not line.strip():
                continue
            key = line.split("=", 1)[0].strip()
            lines = sections.setdefault(current, [])
            lines[:] = [old for old in lines if old.split("=", 1)[0].strip() != key]
            lines.append(line)
    return "\n".join(f"{name}\n" + "\n".join(sections[name]) for name in order) + "\n"


def mail_contacts(count: int) -> list[dict[str, Any]]:
    """`count` departments whose contacts all have a mailbox on the stack: plus-addresses
    of contact4..contact20 (Postfix and Dovecot drop the +detail on delivery)."""
    return [{"department": f"Abteilung {n:04d}",
             "email": f"contact{4 + n % 17}+a{n}@{DOMAIN}"} for n in range(count)]


def open_round(site: Site, now: datetime, month: str | None = MONTH) -> int:
    """Queue the round's requests through the production code, without sending them."""
    from bot.rounds import send_requests

    app = site.app(now)
    try:
        result = send_requests(app, month, force=True)
    finally:
        app.close()
    assert not result.failed, result.failed
    return len(result.queued)


# --- databases -----------------------------------------------------------------------------

@contextlib.contextmanager
def pg_schema(admin_url: str = PG_DEFAULT) -> Iterator[str]:
    """A URL whose search_path is a brand-new schema on the shared server, dropped after."""
    schema = f"intake_chaos_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def via_proxy(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


class TcpProxy:
    """A loopback TCP forwarder that can go away and come back on the same port.

    `stop()` closes the listener and every connection through it (the bot sees its
    database connections drop and new ones refused, as if the server went down);
    `start()` listens again.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True,
                                  name="chaos-proxy")
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = [t for t in self._threads if t.is_alive()]

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True,
                                 name="chaos-pump").start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


# --- mailboxes and processes -------------------------------------------------------------------

def maildir_files(stack: MailStack, address: str) -> set[Path]:
    root = stack.maildir(address)
    return {p for sub in ("new", "cur") if (root / sub).is_dir() for p in (root / sub).iterdir()}


def mailbox_users(stack: MailStack) -> list[str]:
    return sorted(a for a in stack.users if a != BOT)


def snapshot(stack: MailStack) -> set[Path]:
    """Every delivered file in every mailbox but the bot's (to count only what comes after)."""
    return {p for user in mailbox_users(stack) for p in maildir_files(stack, user)}


def delivered_since(stack: MailStack, before: set[Path]) -> list[tuple[str, str, str]]:
    """(Message-ID, To, Subject) of every mail delivered since `before`."""
    out = []
    parser = BytesHeaderParser(policy=policy.compat32)
    for user in mailbox_users(stack):
        for path in maildir_files(stack, user) - before:
            with path.open("rb") as handle:
                head = parser.parse(handle, headersonly=True)
            out.append((str(head.get("Message-ID", "")).strip(), str(head.get("To", "")),
                        str(head.get("Subject", ""))))
    return out


def flush_postfix(stack: MailStack, timeout: float = 60) -> None:
    """Deliver what Postfix deferred (a mailbox server that was down), and wait."""
    postqueue = shutil.which("postqueue") or "/usr/sbin/postqueue"
    subprocess.run([postqueue, "-c", str(stack.postfix_dir), "-f"], check=False,
                   capture_output=True, timeout=60)
    stack.wait_queue_empty(timeout=timeout)


def inbox_size(stack: MailStack) -> int:
    """Messages in the bot's INBOX now (a count only: safe while a poller moves them)."""
    client = stack.imap(BOT)
    try:
        client.select_folder("INBOX", readonly=True)
        return len(client.search(["NOT", "DELETED"]))
    finally:
        client.logout()


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of a running process: its peak resident set so far."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def kill9(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def terminate(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGTERM and wait for the exit status (SIGKILL if it does not stop in time)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return -9


def tracebacks(log: Path) -> int:
    return log.read_text(errors="replace").count("Traceback") if log.exists() else 0


def inbound_progress(site: Site) -> tuple[int, int]:
    """(rows stored, rows no longer new)."""
    with site.engine().connect() as conn:
        stored, done = conn.execute(text(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status <> 'new' THEN 1 ELSE 0 END), 0) "
            "FROM inbound")).one()
    return int(stored), int(done)


def sent_count(site: Site) -> int:
    return int(site.scalar("SELECT COUNT(*) FROM outbox WHERE status = 'sent'") or 0)


def kill_at(proc: subprocess.Popen[bytes], progress: Callable[[], int], threshold: int,
            rng: random.Random, log: Path, timeout: float = 300) -> str:
    """SIGKILL `proc` once `progress()` reaches `threshold`; when it already had at the start,
    after a seeded delay (a kill during start-up). Returns where it hit."""
    if progress() >= threshold:
        time.sleep(rng.uniform(0.1, 1.5))
        kill9(proc)
        return "start-up"
    deadline = time.monotonic() + timeout
    while progress() < threshold:
        if proc.poll() is not None:
            return "exited before"
        if time.monotonic() > deadline:
            kill9(proc)
            raise AssertionError(f"progress {progress()} never reached {threshold}:\n"
                                 f"{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.003)
    kill9(proc)
    return f"at {threshold}"


def kill_points(rng: random.Random, span: int, kills: int) -> list[int]:
    """`kills` seeded thresholds in [0, span), sorted (fewer when the span is small)."""
    return sorted(rng.sample(range(span), min(kills, span)))


# --- part 1: crashes ---------------------------------------------------------------------------

def inbound_outcome(site: Site, expected: Sequence[str], figures: Figures) -> None:
    """Lost: an expected mail without a processed row, or not in the processed folder once.
    Doubled: a second row or topic for one mail, a topic text twice."""
    inbound = site.rows(InboundMessage)
    by_id = Counter(row.message_id for row in inbound)
    statuses = {row.message_id: row.status for row in inbound}
    moved = Counter(folder_ids(site.stack, PROCESSED))
    waiting = folder_ids(site.stack, "INBOX")
    lost = [m for m in expected if statuses.get(m) != "processed" or moved[m] < 1]
    topics = site.rows(Topic)
    whats = Counter(t.what for t in topics)
    doubled_rows = sum(n - 1 for n in by_id.values() if n > 1)
    doubled_topics = sum(n - 1 for n in whats.values() if n > 1)
    doubled_moves = sum(n - 1 for n in moved.values() if n > 1)
    figures.tried += len(expected)
    figures.lost += len(lost)
    figures.doubled += doubled_rows + doubled_topics + doubled_moves
    figures.detail.setdefault("lost_inbound", []).extend(lost)
    figures.detail["topics"] = len(topics)
    figures.detail["inbox_left"] = len(waiting)
    figures.detail["doubled_topics"] = doubled_topics
    figures.detail["doubled_rows"] = doubled_rows
    figures.detail["doubled_moves"] = doubled_moves


def outbound_outcome(site: Site, before: set[Path], figures: Figures,
                     kinds: Sequence[str] = ("request",)) -> None:
    """Unsent: a row of the outbox not delivered (or not marked sent). Resent: delivered
    twice with the same Message-ID (at-least-once). Doubled: two different mails for one
    purpose (one recipient with two requests of the round, two digests)."""
    site.stack.wait_queue_empty(timeout=120)
    mails = [m for m in site.rows(OutboxMessage) if m.kind in kinds]
    delivered = delivered_since(site.stack, before)
    by_id = Counter(mid for mid, _to, _subject in delivered)
    ours = {m.message_id for m in mails}
    unsent = [m.message_id for m in mails if by_id[m.message_id] == 0 or m.status != "sent"]
    resent = sum(by_id[m] - 1 for m in ours if by_id[m] > 1)
    per_purpose = Counter((m.kind, m.to_address.lower()) for m in mails
                          if m.kind in ("request", "digest"))
    doubled = sum(n - 1 for n in per_purpose.values() if n > 1)
    figures.tried += len(mails)
    figures.lost += len(unsent)
    figures.resent += resent
    figures.doubled += doubled
    figures.detail.setdefault("unsent", []).extend(unsent)
    figures.detail["outbox_statuses"] = dict(Counter(m.status for m in mails))


def crash_poller(site: Site, replies: int, kills: int, rng: random.Random,
                 work: Path) -> Figures:
    """`intake poll` (continuous) killed at seeded points of its progress (rows stored +
    rows processed), restarted each time; `intake poll --once` finishes."""
    figures = Figures("crash: poller", site.db, f"{replies} replies")
    started = time.monotonic()
    tag = f"kill{rng.randrange(10**6)}"
    append(site.stack, [reply(tag, n) for n in range(replies)])
    expected = [f"<{tag}-{n}@musterhausen.test>" for n in range(replies)]
    log = work / "crash-poll.log"
    hits = []
    for point in kill_points(rng, 2 * replies, kills):
        proc = site.spawn("poll", log=log, now=NOW)
        hits.append(kill_at(proc, lambda: sum(inbound_progress(site)), point, rng, log))
        figures.faults += 1
    finish = site.run("poll", "--once", now=NOW, check=False)
    figures.crashes += int(finish.returncode != 0) + tracebacks(log) + finish.stderr.count(
        "Traceback")
    inbound_outcome(site, expected, figures)
    figures.detail["kills"] = hits
    figures.seconds = time.monotonic() - started
    return figures


def crash_outbox(site: Site, kills: int, rng: random.Random, work: Path) -> Figures:
    """`intake outbox` killed at seeded numbers of mails marked sent; each restart's clock
    is past the killed run's lease. The last run sends what is left."""
    figures = Figures("crash: outbox", site.db)
    started = time.monotonic()
    before = snapshot(site.stack)
    queued = open_round(site, NOW)
    figures.load = f"{queued} mails"
    log = work / "crash-outbox.log"
    clock = NOW
    hits = []
    for point in kill_points(rng, queued, kills):
        proc = site.spawn("outbox", log=log, now=clock)
        hits.append(kill_at(proc, lambda: sent_count(site), point, rng, log))
        figures.faults += 1
        clock += AFTER_LEASE
    finish = site.run("outbox", now=clock, check=False)
    figures.crashes += int(finish.returncode != 0) + tracebacks(log)
    outbound_outcome(site, before, figures)
    figures.detail["kills"] = hits
    figures.seconds = time.monotonic() - started
    return figures


def crash_daemon(site: Site, replies: int, kills: int, rng: random.Random,
                 work: Path) -> Figures:
    """`intake run` killed at seeded points of its combined progress (mails stored,
    processed and sent) while it sends a round and reads replies; each restart's clock is
    past the last lease. A last daemon finishes and is stopped with SIGTERM."""
    figures = Figures("crash: daemon", site.db)
    started = time.monotonic()
    before = snapshot(site.stack)
    queued = open_round(site, NOW)
    tag = f"daemon{rng.randrange(10**6)}"
    append(site.stack, [reply(tag, n) for n in range(replies)])
    expected = [f"<{tag}-{n}@musterhausen.test>" for n in range(replies)]
    figures.load = f"{replies} replies + {queued} mails"
    log = work / "crash-daemon.log"

    def progress() -> int:
        return sum(inbound_progress(site)) + sent_count(site)

    clock = NOW
    hits = []
    for point in kill_points(rng, 2 * replies + queued, kills):
        proc = site.spawn("run", log=log, now=clock)
        hits.append(kill_at(proc, progress, point, rng, log))
        figures.faults += 1
        clock += AFTER_LEASE

    def daemons_up() -> int:
        return log.read_text(errors="replace").count("scheduler started") if log.exists() else 0

    up_before = daemons_up()
    proc = site.spawn("run", log=log, now=clock)

    def finished() -> bool:
        # the killed daemons may have done everything: the last one must still be up (a
        # SIGTERM while it imports has the signal's default effect, and tests nothing)
        if daemons_up() == up_before:
            return False
        stored, done = inbound_progress(site)
        waiting = site.scalar("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'")
        return done == stored == replies and not waiting and not inbox_size(site.stack)
    try:
        wait_until(finished, 300, "the last daemon's work", proc, log, interval=0.2)
    finally:
        code = terminate(proc)
    figures.crashes += int(code != 0) + tracebacks(log)
    inbound_outcome(site, expected, figures)
    outbound_outcome(site, before, figures, kinds=("request", "digest"))
    figures.detail["kills"] = hits
    figures.seconds = time.monotonic() - started
    return figures


# --- part 2: servers going away ------------------------------------------------------------------

#: what a log line about each server's going away names
SERVER_WORDS = {"postfix": "SMTP 127.0.0.1", "dovecot": "IMAP 127.0.0.1",
                "postgresql": "database"}


def _problem_lines(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines()
            if " WARNING " in line or " ERROR " in line]


def servers_away(site: Site, proxy: TcpProxy, replies: int, outage: float, settle: float,
                 work: Path) -> Figures:
    """`intake run` on the real clock, its database behind `proxy`: Postfix stopped while
    the round goes out, Dovecot while replies are processed, PostgreSQL (the proxy) while a
    pass runs; each back after `outage` seconds. The daemon must live through all three and
    finish the work; what waits by design (a retry in a minute, a 10-minute lease) is given
    `settle` seconds, then one `intake outbox` with its clock 15 minutes ahead sends it."""
    figures = Figures("servers away", site.db)
    started = time.monotonic()
    stack = site.stack
    before = snapshot(stack)
    queued = open_round(site, datetime.now().astimezone(), month=None)
    tag = f"away{random.Random(replies).randrange(10**6)}"
    batches = [[reply(tag, n) for n in range(start, replies, 3)] for start in range(3)]
    expected = [f"<{tag}-{n}@musterhausen.test>" for n in range(replies)]
    figures.load = f"{replies} replies + {queued} mails"
    log = work / "servers.log"
    under_load: dict[str, bool] = {}
    daemon = site.spawn("run", log=log)
    try:
        # 1. Postfix, while the round goes out (the daemon sends it first thing): as soon as
        # the first mails are claimed for sending
        wait_until(lambda: bool(site.scalar("SELECT COUNT(*) FROM outbox WHERE status IN "
                                            "('sending', 'sent')")), 120,
                   "the first mail claimed", daemon, log, interval=0.002)
        stack.stop_postfix()
        under_load["postfix"] = sent_count(site) < queued
        time.sleep(outage)
        stack.start_postfix()
        figures.faults += 1

        # 2. Dovecot, while replies are processed
        append(stack, batches[0])
        wait_until(lambda: inbound_progress(site)[1] >= 1, 120, "the first reply processed",
                   daemon, log, interval=0.002)
        stack.stop_dovecot()
        under_load["dovecot"] = inbound_progress(site)[1] < len(batches[0])
        time.sleep(outage)
        stack.start_dovecot()
        append(stack, batches[1])
        figures.faults += 1
        wait_until(lambda: inbound_progress(site) == (len(batches[0]) + len(batches[1]),) * 2,
                   120, "the replies of the first two batches processed", daemon, log,
                   interval=0.1)

        # 3. PostgreSQL, as the next pass begins (IDLE announces the new mail at once)
        stored_before = inbound_progress(site)[0]
        append(stack, batches[2])
        proxy.stop()  # before IDLE announces the new mail (Dovecot looks once a second)
        under_load["postgresql"] = inbound_progress(site)[1] < replies
        time.sleep(outage)
        proxy.start()
        figures.faults += 1
        wait_until(lambda: inbound_progress(site) == (replies, replies), 180,
                   "every reply processed", daemon, log, interval=0.2)
        assert stored_before <= replies

        # what the daemon sends by itself within `settle` seconds
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and site.scalar(
                "SELECT COUNT(*) FROM outbox WHERE status <> 'sent'"):
            if daemon.poll() is not None:
                break
            time.sleep(0.5)
        by_daemon = sent_count(site)
        alive = daemon.poll() is None
    finally:
        code = terminate(daemon)
    left = site.scalar("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'")
    finish = site.run("outbox", now=datetime.now().astimezone() + timedelta(minutes=15),
                      check=False)
    flush_postfix(stack)
    figures.crashes += int(not alive) + int(code != 0) + tracebacks(log) + int(
        finish.returncode != 0)
    inbound_outcome(site, expected, figures)
    outbound_outcome(site, before, figures, kinds=("request", "digest"))
    problems = _problem_lines(log)
    for server, words in SERVER_WORDS.items():
        lines = [line for line in problems if words in line]
        figures.detail[f"log_{server}"] = lines
        first = lines[0].split(": ", 1)[-1] if lines else "(nothing logged)"
        figures.note(f"{server} away{'' if under_load[server] else ' (after its load)'}: "
                     f"{len(lines)} line(s), e.g. {first[:150]}")
    figures.note(f"sent by the daemon itself: {by_daemon}; left for a later run: {left} "
                 f"(retry or lease not over yet)")
    figures.detail.update(under_load=under_load, by_daemon=by_daemon, left=left,
                          alive=alive, exit_code=code, problems=problems)
    figures.seconds = time.monotonic() - started
    return figures


# --- part 3: hostile mail ---------------------------------------------------------------------

MB = 1024 * 1024
#: what one poller may take at its peak working through hostile mail: fetch batches are
#: capped at 40 MB, and the parser's budget keeps any one mail to about 250 MB
PEAK_RSS_BOUND_MB = 400
TEMPLATE_BODY = ("Guten Tag,\r\n\r\nWas: Sommerfest im Stadtpark\r\nWann: 03.07.2027, 15 Uhr\r\n"
                 "Wo: Stadtpark\r\nWer: Bauamt\r\nWie viele: 80\r\n\r\nViele Grüße\r\n")


@dataclass(frozen=True)
class HostileMail:
    kind: str
    raw: bytes


class Hostile:
    """Generates malformed and hostile mails, seeded. Every mail is unique (its own
    Message-ID, or for those without headers its own bytes)."""

    #: the heavy kinds, each this many times in a full run of 200 (at least once)
    HEAVY: ClassVar[dict[str, int]] = {
        "oversized": 1, "line_5mb": 3, "nested_10000": 2, "siblings_10000": 2, "html_bomb": 3,
        "header_flood": 2, "rfc822_nested": 2}

    #: the light kinds a short run has first
    FIRST = ("zip_as_eml", "nul_bytes", "rfc2047_garbage", "wrong_charset", "broken_boundary")

    def __init__(self, rng: random.Random, senders: Sequence[str], threads: Sequence[str],
                 oversized_mb: int) -> None:
        self.rng = rng
        self.senders = senders
        self.threads = threads
        self.oversized_mb = oversized_mb
        self.n = 0

    def mails(self, count: int) -> Iterator[HostileMail]:
        light = sorted((name[6:] for name in dir(self) if name.startswith("light_")),
                       key=lambda kind: (kind not in self.FIRST, kind))
        kinds: list[str] = []
        for kind, times in self.HEAVY.items():
            kinds += [kind] * max(1, round(times * count / 200))
        heavy = len(kinds)
        while len(kinds) < count:
            kinds.append(light[(len(kinds) - heavy) % len(light)])
        kinds = kinds[:count]
        self.rng.shuffle(kinds)
        for kind in kinds:
            self.n += 1
            prefix = "heavy_" if kind in self.HEAVY else "light_"
            yield HostileMail(kind, getattr(self, prefix + kind)())

    # -- pieces

    def head(self, extra: str = "", *, subject: str = "AW: Ihre Themen",
             content_type: str = "text/plain; charset=utf-8") -> bytes:
        sender = self.rng.choice(self.senders)
        thread = self.rng.choice(self.threads) if self.threads and self.rng.random() < 0.5 \
            else None
        lines = [f"From: {sender}", f"To: {BOT}", f"Subject: {subject}",
                 "Date: Tue, 5 Jan 2027 09:00:00 +0100",
                 f"Message-ID: <hostile-{self.n}-{self.rng.randrange(10**9)}@chaos.test>",
                 "MIME-Version: 1.0"]
        if thread:
            lines += [f"In-Reply-To: {thread}", f"References: {thread}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        head = "\r\n".join(lines) + "\r\n" + extra
        return head.encode("utf-8", "surrogateescape")

    def body(self) -> bytes:
        return TEMPLATE_BODY.encode("utf-8")

    # -- heavy

    def heavy_line_5mb(self) -> bytes:
        line = ("Was: " + "Sommerfest " * (5 * MB // 11)).encode()
        return self.head() + b"\r\n" + line

    def heavy_nested_10000(self) -> bytes:
        depth = 10_000
        opens = b"".join(b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n'
                         % (i, i + 1) for i in range(depth))
        closes = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth + 1)))
        inner = b"--b%d\r\nContent-Type: text/plain\r\n\r\n" % depth + self.body()
        return (self.head(content_type='multipart/mixed; boundary="b0"') + b"\r\n" + opens
                + inner + closes)

    def heavy_siblings_10000(self) -> bytes:
        part = b"--S\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWas: Teil\r\n"
        return (self.head(content_type='multipart/mixed; boundary="S"') + b"\r\n"
                + part * 10_000 + b"--S--\r\n")

    def heavy_html_bomb(self) -> bytes:
        style = self.rng.choice(["nest", "table", "attrs"])
        if style == "nest":
            html = "<html><body>" + "<div><span><b>" * 100_000 + "Was: Bombe" + "</b>" * 10
        elif style == "table":
            html = "<table>" + ("<tr>" + "<td>x</td>" * 200 + "</tr>") * 2_000 + "</table>"
        else:
            html = "<p " + " ".join(f"a{i}='{'x' * 20}'" for i in range(200_000)) + ">Was</p>"
        return (self.head(content_type="text/html; charset=utf-8") + b"\r\n"
                + html.encode())

    def heavy_header_flood(self) -> bytes:
        flood = "".join(f"X-Flood-{i}: {'y' * 30}\r\n" for i in range(50_000))
        return self.head(flood) + b"\r\n" + self.body()

    def heavy_rfc822_nested(self) -> bytes:
        inner = b"Content-Type: text/plain\r\n\r\nWas: ganz innen\r\n"
        for i in range(1_000):
            inner = b"Content-Type: message/rfc822\r\n\r\nSubject: %d\r\n" % i + inner
        return self.head(content_type="") + inner

    def heavy_oversized(self) -> bytes:
        size = self.oversized_mb * MB
        chunk = base64_lines(self.rng.randbytes(57 * 1000))
        attachment = chunk * (size // len(chunk) + 1)
        return (self.head(content_type='multipart/mixed; boundary="O"') + b"\r\n"
                + b"--O\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + self.body()
                + b"--O\r\nContent-Type: image/jpeg; name=\"riesig.jpg\"\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--O--\r\n")

    # -- light (each seeded, all different)

    def light_broken_boundary(self) -> bytes:
        variant = self.rng.randrange(3)
        if variant == 0:  # never closed
            return (self.head(content_type='multipart/mixed; boundary="X"') + b"\r\n"
                    + b"--X\r\nContent-Type: text/plain\r\n\r\n" + self.body())
        if variant == 1:  # no boundary parameter
            return self.head(content_type="multipart/alternative") + b"\r\n" + self.body()
        return (self.head(content_type='multipart/mixed; boundary="Y"') + b"\r\n"
                + b"--Z\r\nContent-Type: text/plain\r\n\r\n" + self.body() + b"--Y--")

    def light_wrong_charset(self) -> bytes:
        charset = self.rng.choice(["x-unknown-42", "utf-7", "utf-16", "utf-32", "ebcdic",
                                   "utf-8", "big5", "iso-2022-jp"])
        payload = TEMPLATE_BODY.encode(self.rng.choice(["latin-1", "cp1252", "utf-8"]),
                                       "replace")
        return self.head(content_type=f"text/plain; charset={charset}") + b"\r\n" + payload

    def light_nul_bytes(self) -> bytes:
        head = self.head("X-Nul: a\x00b\r\n", subject="Themen\x00\x00 Juli")
        return head + b"\r\nWas: Null\x00byte\r\nWann: 0\x00.07.2027\r\n" + b"\x00" * 1000

    def light_rfc2047_garbage(self) -> bytes:
        subject = self.rng.choice([
            "=?utf-8?B?!!!notbase64?=", "=?x-unknown?Q?Gr=FC=DFe?=", "=?utf-8?Q?=ZZ=?=",
            "=?utf-8?B?" + "QUFB" * 5000 + "?=", "=?=?=?utf-8?q??=?=", "=?utf-8*de?q?a?=",
            "=?utf-8?q?" + "=C3" * 3000 + "?="])
        name = self.rng.choice(['=?utf-8?b?PHNjcmlwdD4=?=', "=?utf-8?q?\r\n=0D=0ABcc:?="])
        head = self.head(f'Content-Disposition: attachment; filename="{name}"\r\n',
                         subject=subject)
        return head + b"\r\n" + self.body()

    def light_zip_as_eml(self) -> bytes:
        import zipfile

        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("anfrage.eml", self.rng.randbytes(2000))
            archive.writestr("bild.jpg", self.rng.randbytes(5000))
        return out.getvalue()

    def light_binary_junk(self) -> bytes:
        return self.rng.randbytes(self.rng.randrange(1, 200_000))

    def light_no_headers(self) -> bytes:
        return b"\r\n" + f"Was: ohne Kopf {self.n} {self.rng.random()}\r\n".encode()

    def light_bad_transfer_encoding(self) -> bytes:
        cte = self.rng.choice(["base64", "quoted-printable", "x-uuencode", "8bit", "binary",
                               "chunked"])
        body = self.rng.choice([b"!!!*** not base64 ***", b"=ZZ=\r\n=\r\nWas: =C3=",
                                b"\xff\xfe" * 500, b"begin 644 x.bin\r\nM86)C\r\nend\r\n"])
        return self.head(f"Content-Transfer-Encoding: {cte}\r\n") + b"\r\n" + body

    def light_huge_params(self) -> bytes:
        params = "; ".join(f"p{i}=\"{'v' * 20}\"" for i in range(20_000))
        return self.head(content_type=f"text/plain; {params}") + b"\r\n" + self.body()

    def light_odd_addresses(self) -> bytes:
        sender = self.rng.choice(["", "<>", "no-at-sign", '"a@b" <', "@@@",
                                  ", ".join(f"x{i}@example.org" for i in range(1000)),
                                  "=?utf-8?b?" + "A" * 400 + "?= <x@example.org>"])
        raw = self.head(f"Sender: {sender}\r\nReply-To: {sender}\r\n")
        raw = raw.replace(b"From: ", b"From: " + sender.encode() + b" ", 1)
        return raw + b"\r\n" + self.body()

    def light_line_endings(self) -> bytes:
        raw = self.head() + b"\r\n" + self.body()
        choice = self.rng.randrange(3)
        if choice == 0:
            return raw.replace(b"\r\n", b"\r")
        if choice == 1:
            return raw.replace(b"\r\n", b"\n\r")
        return raw.replace(b"\r\n", b"\n")

    def light_8bit_headers(self) -> bytes:
        subject = "AW: Grüße aus dem Rathaus – \u202eexe.jpg ".encode(
            self.rng.choice(["utf-8", "latin-1"]), "replace")
        raw = self.head()
        raw = re.sub(rb"Subject: [^\r\n]*", b"Subject: " + subject.replace(b"\\", b""), raw)
        return raw + b"\r\n" + self.body()

    def light_tnef(self) -> bytes:
        junk = base64_lines(b"\x78\x9f\x3e\x22" + self.rng.randbytes(3000))
        return (self.head(content_type='multipart/mixed; boundary="T"') + b"\r\n"
                + b"--T\r\nContent-Type: text/plain\r\n\r\n" + self.body()
                + b"--T\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\n" + junk + b"--T--\r\n")

    def light_long_message_id(self) -> bytes:
        raw = self.head()
        long_id = b"<" + b"x" * 20_000 + b"%d@chaos.test>" % self.rng.randrange(10**9)
        return re.sub(rb"Message-ID: [^\r\n]*", b"Message-ID: " + long_id, raw) + b"\r\n" \
            + self.body()

    def light_date_garbage(self) -> bytes:
        date = self.rng.choice(["Tue, 99 Foo 99999 99:99:99 +9999", "gestern", "", "\x01"])
        raw = re.sub(rb"Date: [^\r\n]*", b"Date: " + date.encode(), self.head())
        return raw + b"\r\n" + self.body()

    def light_unicode_tricks(self) -> bytes:
        body = ("Was: Sommer\u200bfest \u202eexe.tab\u202c\r\nWann: \u0661\u0662.07.2027\r\n"
                "Wo: \ufeffStadt\u00adpark\r\nWer: \U0001F600 " + "\u0301" * 5000 + "\r\n")
        return self.head() + b"\r\n" + body.encode()


def base64_lines(data: bytes) -> bytes:
    import base64

    encoded = base64.b64encode(data)
    return b"".join(encoded[i:i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


def hostile(site: Site, count: int, max_message_mb: int, rng: random.Random,
            work: Path, oversized_mb: int | None = None) -> Figures:
    """`count` hostile mails APPENDed, one `intake poll` (real clock) works through them:
    no crash, each stored or set aside with a reason, the poller's peak RSS, the slowest
    mail (from the rows' processing times)."""
    figures = Figures("hostile mail", site.db)
    started = time.monotonic()
    with site.engine().connect() as conn:
        threads = [str(m) for m in conn.scalars(select(Request.message_id))]
    generator = Hostile(rng, [e for _d, e in REPLIERS] + ["fremd@example.org"], threads,
                        oversized_mb=oversized_mb or max(4 * max_message_mb, 100))
    kinds: Counter[str] = Counter()
    client = site.stack.imap(BOT)
    try:
        for mail in generator.mails(count):
            client.append("INBOX", mail.raw)
            kinds[mail.kind] += 1
    finally:
        client.logout()
    figures.load = f"{count} mails ({len(kinds)} kinds)"
    figures.tried = count
    log = work / "hostile.log"
    proc = site.spawn("poll", log=log)
    peak: float | None = None
    try:
        def done() -> bool:
            stored, finished = inbound_progress(site)
            return stored == finished == count and not inbox_size(site.stack)
        wait_until(done, 900, "every hostile mail processed", proc, log, interval=0.5)
        peak = peak_rss_mb(proc.pid)
        alive = proc.poll() is None
    finally:
        code = terminate(proc)
    rows = site.rows(InboundMessage)
    statuses = Counter(row.status for row in rows)
    failed = [row for row in rows if row.status == "failed"]
    silent = [row.id for row in rows
              if row.status in ("quarantined", "oversized", "failed") and not row.error]
    listed = site.cli("inbound", "list").stdout
    unlisted = [row.id for row in rows if row.status in ("quarantined", "oversized", "failed",
                                                          "unrecognized", "bounce")
                and not re.search(rf"^\s*{row.id}\s", listed, re.M)]
    times = sorted(((row.processed_at - row.received_at).total_seconds(), row.id)
                   for row in rows if row.processed_at and row.received_at)
    steps = _processing_steps(rows)
    figures.crashes = len(failed) + int(not alive) + int(code != 0) + tracebacks(log)
    figures.lost = count - len(rows)
    figures.peak_rss_mb = peak
    figures.seconds = time.monotonic() - started
    slowest = max(steps, default=(0.0, 0))
    oversized = [row for row in rows if row.status == "oversized"]
    figures.note(f"statuses: {dict(sorted(statuses.items()))}")
    figures.note(f"slowest mail {slowest[0]:.1f} s (#{slowest[1]}); median "
                 f"{sorted(s for s, _ in steps)[len(steps) // 2] if steps else 0:.2f} s; "
                 f"oversized stored with {max((len(r.raw) for r in oversized), default=0)} "
                 f"bytes of headers")
    figures.detail.update(statuses=dict(statuses), failed=[(r.id, r.error) for r in failed],
                          silent=silent, unlisted=unlisted, kinds=dict(kinds),
                          slowest=slowest, alive=alive, exit_code=code,
                          oversized_bytes=[len(r.raw) for r in oversized], times=times[-3:])
    return figures


def _processing_steps(rows: Sequence[InboundMessage]) -> list[tuple[float, int]]:
    """Seconds each mail took: from the previous mail's end (or the store) to its own end,
    in the order they were processed (one poller processes one mail at a time)."""
    done = sorted((row.processed_at, row.id, row.received_at) for row in rows
                  if row.processed_at is not None and row.status != "oversized")
    steps = []
    previous: datetime | None = None
    for processed_at, row_id, received_at in done:
        begin = max(previous, received_at) if previous else received_at
        steps.append(((processed_at - begin).total_seconds(), row_id))
        previous = processed_at
    return steps


# --- part 4: loops --------------------------------------------------------------------------

@dataclass(frozen=True)
class Asked:
    """A request as the colleague received it: for automatic answers in its thread."""

    address: str
    message_id: str
    subject: str
    text: str


def asked(site: Site) -> list[Asked]:
    out = []
    for row in site.rows(OutboxMessage):
        if row.kind != "request":
            continue
        msg = email.message_from_bytes(row.raw, policy=policy.default)
        body = msg.get_body(("plain",))
        text_part = body.get_content() if body is not None else ""
        out.append(Asked(row.to_address, row.message_id, row.subject, text_part))
    return out


def _mail(headers: Sequence[tuple[str, str]], body: str,
          content_type: str = "text/plain; charset=utf-8") -> bytes:
    lines = [f"{name}: {value}" for name, value in headers]
    lines += ["MIME-Version: 1.0", f"Content-Type: {content_type}",
              "Content-Transfer-Encoding: 8bit"]
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\r\n", "\n").replace(
        "\n", "\r\n")).encode("utf-8")


def _quote_lines(text_: str) -> str:
    return "\n".join("> " + line for line in text_.splitlines())


class Automatic:
    """Automatic answers to a request, as real systems write them (each a method)."""

    KINDS = ("ooo_de_rfc3834", "ooo_de_plain", "ooo_en_rfc3834", "ooo_en_plain", "exchange",
             "vacation_quoting", "list_moderation", "list_bounce", "second_bot",
             "second_bot_html")

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.n = 0

    def make(self, kind: str, to: Asked) -> bytes:
        self.n += 1
        build: Callable[[Asked, str], bytes] = getattr(self, kind)
        return build(to, f"<auto-{kind}-{self.n}-{self.rng.randrange(10**9)}"
                                       f"@{to.address.split('@')[1]}>")

    def _thread(self, to: Asked, mid: str, subject: str, sender: str | None = None
                ) -> list[tuple[str, str]]:
        return [("From", f"Kollegin <{sender or to.address}>"), ("To", BOT),
                ("Subject", subject), ("Date", "Mon, 4 Jan 2027 08:01:00 +0100"),
                ("Message-ID", mid), ("In-Reply-To", to.message_id),
                ("References", to.message_id)]

    def ooo_de_rfc3834(self, to: Asked, mid: str) -> bytes:
        return _mail([*self._thread(to, mid, f"Automatische Antwort: {to.subject}"),
                      ("Auto-Submitted", "auto-replied")],
                     "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 15.01.2027 "
                     "nicht im Büro. Ihre Mail wird nicht weitergeleitet.\n")

    def ooo_de_plain(self, to: Asked, mid: str) -> bytes:
        subject = self.rng.choice([f"Abwesenheitsnotiz: {to.subject}", f"AW: {to.subject}",
                                   "Abwesend"])
        return _mail(self._thread(to, mid, subject),
                     "Guten Tag,\n\nich bin vom 04.01. bis 18.01.2027 im Urlaub und habe "
                     "keinen Zugriff auf meine E-Mails. In dringenden Fällen wenden Sie sich "
                     "bitte an das Sekretariat.\n\nMit freundlichen Grüßen\n")

    def ooo_en_rfc3834(self, to: Asked, mid: str) -> bytes:
        return _mail([*self._thread(to, mid, f"Out of Office: {to.subject}"),
                      ("Auto-Submitted", "auto-replied"), ("Precedence", "auto_reply")],
                     "Thank you for your email. I am out of the office until January 15, "
                     "2027 with no access to email.\n")

    def ooo_en_plain(self, to: Asked, mid: str) -> bytes:
        return _mail(self._thread(to, mid, f"Re: {to.subject}"),
                     "Hello,\n\nI'm currently away on annual leave and will be back on "
                     "Monday 18 January. I will reply to your message when I return.\n\n"
                     "Kind regards\n")

    def exchange(self, to: Asked, mid: str) -> bytes:
        headers = [
            *self._thread(to, mid, f"Automatische Antwort: {to.subject}"),
            ("Thread-Topic", to.subject), ("Thread-Index", "AQHZ4n1Lr5gk6V6mVkSq"),
            ("X-MS-Has-Attach", ""), ("X-MS-Exchange-Inbox-Rules-Loop", to.address),
            ("X-MS-TNEF-Correlator", ""), ("X-Auto-Response-Suppress", "All"),
            ("Content-Language", "de-DE")]
        boundary = "_000_OOF_"
        body = (f"--{boundary}\nContent-Type: text/plain; charset=\"utf-8\"\n\n"
                "Ich bin bis 15.01.2027 abwesend. Ihre Nachricht wird nicht weitergeleitet.\n"
                f"--{boundary}\nContent-Type: text/html; charset=\"utf-8\"\n\n"
                "<html><body><p>Ich bin bis 15.01.2027 abwesend.</p></body></html>\n"
                f"--{boundary}--\n")
        return _mail(headers, body, f'multipart/alternative; boundary="{boundary}"')

    def vacation_quoting(self, to: Asked, mid: str) -> bytes:
        quote = self.rng.choice([to.text, _quote_lines(to.text)])
        intro = self.rng.choice([
            "Ich bin im Urlaub und ab dem 18.01.2027 wieder im Haus.\n\n"
            "-----Ursprüngliche Nachricht-----\n"
            f"Von: Social-Media-Team <{BOT}>\nGesendet: Montag, 4. Januar 2027 08:00\n"
            f"An: {to.address}\nBetreff: {to.subject}\n\n",
            "I am on vacation until 18 January.\n\nYour message:\n\n"])
        extra = [("X-Autoreply", "yes")] if self.rng.random() < 0.5 else []
        return _mail(self._thread(to, mid, f"Re: {to.subject}") + extra, intro + quote + "\n")

    def list_moderation(self, to: Asked, mid: str) -> bytes:
        headers = [("From", "stadtrat-l-owner@lists.musterhausen.test"), ("To", BOT),
                   ("Subject", "Your message to Stadtrat-L awaits moderator approval"),
                   ("Date", "Mon, 4 Jan 2027 08:01:00 +0100"), ("Message-ID", mid),
                   ("List-Id", "<stadtrat-l.lists.musterhausen.test>"),
                   ("Precedence", "bulk"), ("X-BeenThere", "stadtrat-l@lists.musterhausen.test")]
        return _mail(headers, f"Your mail to 'Stadtrat-L' with the subject\n\n    {to.subject}\n\n"
                              "Is being held until the list moderator can review it for "
                              "approval.\n")

    def list_bounce(self, to: Asked, mid: str) -> bytes:
        headers = [("From", "mailman-bounces@lists.musterhausen.test"), ("To", BOT),
                   ("Subject", "Uncaught bounce notification"),
                   ("Date", "Mon, 4 Jan 2027 08:02:00 +0100"), ("Message-ID", mid),
                   ("List-Id", "<mailman.lists.musterhausen.test>"),
                   ("Precedence", "bulk"), ("Auto-Submitted", "auto-generated")]
        return _mail(headers, "The attached message was received as a bounce, but either the "
                              "bounce format was not recognized, or no member addresses "
                              f"could be extracted from it.\n\n{_quote_lines(to.text)}\n")

    def second_bot(self, to: Asked, mid: str) -> bytes:
        ticket = self.rng.randrange(10**8)
        return _mail(self._thread(to, mid, f"Re: {to.subject} [Ticket#{ticket}]"),
                     f"Sehr geehrte Damen und Herren,\n\nvielen Dank für Ihre Anfrage. Wir "
                     f"haben sie unter der Nummer {ticket} erfasst und melden uns "
                     f"schnellstmöglich.\n\nIhre Nachricht:\n\n{to.text}\n\n"
                     "Dies ist eine automatisch erzeugte Nachricht.\n")

    def second_bot_html(self, to: Asked, mid: str) -> bytes:
        html = ("<html><body><p>Ihre Anfrage ist eingegangen.</p><blockquote>"
                + "<br>".join(to.text.splitlines()) + "</blockquote></body></html>")
        return _mail(self._thread(to, mid, f"RE: {to.subject}"), html,
                     "text/html; charset=utf-8")


def echo_of(raw: bytes, sender: str, n: str) -> bytes:
    """What a ticket system writes back to any mail: a receipt with the whole mail in it."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    body = msg.get_body(("plain",))
    content = body.get_content() if body is not None else ""
    return _mail([("From", f"Servicedesk <{sender}>"), ("To", BOT),
                  ("Subject", f"Re: {msg['Subject']} [Ticket#{n}]"),
                  ("Date", "Wed, 6 Jan 2027 11:00:00 +0100"),
                  ("Message-ID", f"<ticket-{n}@musterhausen.test>"),
                  ("In-Reply-To", str(msg["Message-ID"])),
                  ("References", str(msg["Message-ID"]))],
                 f"Guten Tag,\n\nIhre Nachricht ist bei uns unter der Nummer {n} "
                 f"eingegangen.\n\n{content}\n")


def storm_mail(n: int, sender: str, to: Asked, oversized_bytes: int, kind: str) -> bytes:
    mid = f"<storm-{n}-{kind}@musterhausen.test>"
    head = [("From", f"Sturm <{sender}>"), ("To", BOT), ("Subject", f"AW: {to.subject}"),
            ("Date", "Wed, 6 Jan 2027 09:59:00 +0100"), ("Message-ID", mid),
            ("In-Reply-To", to.message_id), ("References", to.message_id)]
    if kind == "oversized":
        filler = base64_lines(bytes(range(256)) * (oversized_bytes // 340 + 1))
        body = ("--S\nContent-Type: text/plain; charset=utf-8\n\nWas: Großes Foto\n"
                "--S\nContent-Type: image/jpeg; name=\"gross.jpg\"\n"
                "Content-Transfer-Encoding: base64\n\n" + filler.decode() + "--S--\n")
        return _mail(head, body, 'multipart/mixed; boundary="S"')
    if kind == "auto":
        # no return date: an absence would pause the follow-ups whose cap this part checks
        return _mail([*head, ("Auto-Submitted", "auto-replied")],
                     "Ich bin derzeit nicht im Büro.\n")
    return _mail(head, f"--- Thema ---\nWas: Sturmthema Nummer {n}\nWann:\nWo: Rathaus\n"
                       f"Wer: Team {n}\nWie viele: 10\n--- Ende ---\n")


def loops(site: Site, automatic: int, storm: int, rng: random.Random, work: Path,
          days: int = 10, rounds: int = 4) -> Figures:
    """Automatic answers to the round's requests and a mail storm from one address, then
    `days` days of follow-ups: no answer to anything automatic, and no more mails to the
    storm's address than the caps allow (the oversized note once a day, follow-ups by the
    policy's bounds)."""
    figures = Figures("loops", site.db)
    started = time.monotonic()
    monday = NOW - timedelta(days=2)
    site.cli("send-requests", now=monday)
    requests = asked(site)
    stormer = next(r for r in requests if r.address.startswith("contact4@"))
    others = [r for r in requests if r is not stormer]
    maker = Automatic(rng)
    mails = []
    for n in range(automatic):
        kind = Automatic.KINDS[n % len(Automatic.KINDS)]
        mails.append((kind, maker.make(kind, others[n % len(others)])))
    append(site.stack, [raw for _kind, raw in mails])
    site.cli("poll", "--once", now=NOW)

    # a second bot that answers everything it gets, quoting it whole, for a few rounds
    echo_address = others[-1].address
    seen: set[Path] = set()
    echoes = 0
    for round_no in range(rounds):
        site.stack.wait_queue_empty(timeout=60)
        fresh = sorted(maildir_files(site.stack, echo_address) - seen)
        seen |= set(fresh)
        answers_ = [echo_of(path.read_bytes(), echo_address, f"{round_no}-{i}")
                    for i, path in enumerate(fresh)]
        if answers_:
            append(site.stack, answers_)
            echoes += len(answers_)
        later = NOW + timedelta(hours=2 * round_no + 1)
        site.cli("poll", "--once", now=later)
        site.cli("followups", now=later + timedelta(days=round_no))

    # the storm, over SMTP while a poller listens
    log = work / "storm.log"
    poller = site.spawn("poll", log=log, now=NOW)
    limit = 1024 * 1024  # [inbound] max_message_mb = 1 in this site
    kinds = ["oversized" if n % 20 == 7 else "auto" if n % 10 == 3 else "reply"
             for n in range(storm)]
    began = time.monotonic()
    try:
        wait_until(lambda: site.scalar("SELECT COUNT(*) FROM mailbox_state "
                                       "WHERE last_poll_at IS NOT NULL") > 0, 60,
                   "the storm poller's first pass", poller, log)
        from concurrent.futures import ThreadPoolExecutor

        def send_some(numbers: list[int]) -> None:
            with site.stack.smtp(timeout=60) as client:
                for n in numbers:
                    client.sendmail(stormer.address, [BOT],
                                    storm_mail(n, stormer.address, stormer,
                                               limit + limit // 2, kinds[n]))
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(send_some, [list(range(i, storm, 4)) for i in range(4)]))
        storm_seconds = time.monotonic() - began
        total = automatic + echoes + storm
        wait_until(lambda: inbound_progress(site) == (total, total)
                   and not inbox_size(site.stack), 600, "the storm processed",
                   poller, log, interval=0.5)
    finally:
        code = terminate(poller)
    figures.crashes += int(code != 0) + tracebacks(log)

    # ten days of follow-ups (the daemon's 15-minute job, once a day here)
    for day in range(days):
        site.cli("followups", now=NOW + timedelta(days=day))
    site.cli("outbox", now=NOW + timedelta(days=days), check=False)

    out = site.rows(OutboxMessage)
    automatic_senders = {r.address for r in others}
    answers = [m for m in out if m.kind not in ("request", "reminder")
               and m.to_address in automatic_senders]
    reminders = Counter(m.to_address for m in out if m.kind == "reminder")
    to_storm = [m for m in out if m.to_address == stormer.address and m.kind != "request"]
    per_day = Counter((m.created_at.astimezone(site.app().tz).date(), m.kind) for m in to_storm)
    rows = site.rows(InboundMessage)
    auto_rows = rows[:automatic]
    to_echo = Counter(m.kind for m in out if m.to_address == echo_address)
    figures.load = f"{automatic} automatic + {echoes} echoes + storm of {storm}"
    figures.tried = figures.faults = automatic + echoes + storm
    figures.lost = figures.tried - len(rows)
    figures.doubled = len(answers)  # every answer to automatic mail is one too many
    figures.note(f"answers to automatic mail: {len(answers)}; reminders to those addresses: "
                 f"{sum(reminders.values())} (at most 1 each, independent of the mails)")
    figures.note(f"a second bot echoing everything for {rounds} rounds ({echoes} echoes) got: "
                 f"{dict(to_echo)}")
    figures.note(f"storm of {storm} submitted in {storm_seconds:.0f} s; mails back to its "
                 f"address over {days} days: {dict(Counter(m.kind for m in to_storm))}, "
                 f"most in one day {max(per_day.values(), default=0)} per kind")
    figures.detail.update(
        answers=[(m.kind, m.to_address, m.subject) for m in answers],
        reminders=dict(reminders), to_storm=[(m.kind, m.created_at) for m in to_storm],
        per_day={f"{d} {k}": n for (d, k), n in per_day.items()},
        auto_statuses={kind: row.status for (kind, _raw), row in zip(mails, auto_rows,
                                                                     strict=False)},
        auto_kinds=Counter(row.kind for row in auto_rows),
        storm_seconds=storm_seconds, echoes=echoes, to_echo=dict(to_echo))
    figures.seconds = time.monotonic() - started
    return figures


# --- part 5: strangers ----------------------------------------------------------------------

FILLED = ("--- Thema ---\nWas: Tag der offenen Tür {n}\nWann: 12.03.2027, 10 Uhr\n"
          "Wo: Rathaus\nWer: Bürgermeisterin\nWie viele: 50\n--- Ende ---\n")


def stranger_mails(requests: Sequence[Asked], per_kind: int, rng: random.Random
                   ) -> list[tuple[str, bytes]]:
    """Mails that must never become topics: (kind, raw)."""
    out: list[tuple[str, bytes]] = []
    by_address = {r.address: r for r in requests}
    first, second = by_address[REPLIERS[0][1]], by_address[REPLIERS[1][1]]
    tag = re.search(r"\[Themen [^\]]+\]", first.subject)
    assert tag is not None
    n = 0

    def mail(kind: str, headers: list[tuple[str, str]], body: str) -> None:
        nonlocal n
        n += 1
        mid = f"<stranger-{kind}-{n}-{rng.randrange(10**9)}@example.org>"
        out.append((kind, _mail([*headers, ("To", BOT), ("Message-ID", mid),
                                 ("Date", "Tue, 5 Jan 2027 09:00:00 +0100")],
                                body + FILLED.format(n=n))))

    auth = "mx.musterhausen.test"
    for _ in range(per_kind):
        # a known contact's From, but our own server saw the check fail
        failure = rng.choice(["dmarc=fail (p=reject) header.from=musterhausen.test",
                              "spf=fail smtp.mailfrom=evil.example; dmarc=fail",
                              "dkim=fail header.d=musterhausen.test; dmarc=fail"])
        mail("spoofed", [("From", f"Erika Muster <{first.address}>"),
                         ("Subject", f"AW: {first.subject}"),
                         ("In-Reply-To", first.message_id),
                         ("Authentication-Results", f"{auth}; {failure}"),
                         # a second result from a server we do not trust says all is well
                         ("Authentication-Results", "evil.example; dmarc=pass; spf=pass")],
             "Hallo,\n\n")
        # a stranger using the valid subject tag (and, once, the thread)
        headers = [("From", f"Fremder <fremd{n}@example.org>"),
                   ("Subject", f"Themen {tag.group(0)}")]
        if rng.random() < 0.5:
            headers.append(("In-Reply-To", first.message_id))
        mail("stranger_tag", headers, "Hallo,\n\n")
        # a contact answering another department's request
        mail("other_department", [("From", f"Jörg Überall <{second.address}>"),
                                  ("Subject", f"AW: {first.subject}"),
                                  ("In-Reply-To", first.message_id)], "Hallo,\n\n")
        # the request forwarded, answered by someone else
        mail("forwarded", [("From", f"Kollege <kollege{n}@extern.example>"),
                           ("Subject", f"AW: WG: {first.subject}"),
                           ("In-Reply-To", f"<fwd-{n}@musterhausen.test>"),
                           ("References", f"{first.message_id} <fwd-{n}@musterhausen.test>")],
             f"Hallo,\n\nErika hat mir Ihre Anfrage weitergeleitet.\n\n"
             f"-----Ursprüngliche Nachricht-----\nVon: Erika Muster <{first.address}>\n"
             f"Betreff: WG: {first.subject}\n\n{_quote_lines(first.text)}\n\n")
        # a display name that looks like a contact's address; two addresses in From
        mail("display_name", [("From", f'"{first.address}" <evil{n}@example.org>'),
                              ("Subject", f"AW: {first.subject}"),
                              ("In-Reply-To", first.message_id)], "Hallo,\n\n")
        mail("two_froms", [("From", f"{first.address}, evil{n}@example.org"),
                           ("Subject", f"AW: {first.subject}"),
                           ("In-Reply-To", first.message_id)], "Hallo,\n\n")
    return out


def strangers(site: Site, per_kind: int, rng: random.Random) -> Figures:
    """Spoofs and strangers: no topic from any of them, each quarantined with a reason,
    listed by `intake inbound list --status quarantined` and in the digest's section."""
    figures = Figures("strangers", site.db)
    started = time.monotonic()
    site.cli("send-requests", now=NOW - timedelta(days=2))
    requests = asked(site)
    mails = stranger_mails(requests, per_kind, rng)
    append(site.stack, [raw for _kind, raw in mails])
    site.cli("poll", "--once", now=NOW)
    rows = site.rows(InboundMessage)
    topics = site.rows(Topic)
    listed = site.cli("inbound", "list", "--status", "quarantined").stdout
    digest = site.cli("digest", now=NOW + timedelta(days=5)).stdout
    section = digest.split("MAILS, DIE SIE ANSEHEN SOLLTEN", 1)[-1] if (
        "MAILS, DIE SIE ANSEHEN SOLLTEN" in digest) else ""
    shown_more = re.search(r"und (\d+) weitere", section)
    by_kind: dict[str, list[str]] = {}
    for (kind, _raw), row in zip(mails, rows, strict=True):
        by_kind.setdefault(kind, []).append(row.status)
    in_list = [row.id for row in rows if re.search(rf"^\s*{row.id}\s", listed, re.M)]
    in_digest = [row.id for row in rows if f"#{row.id} " in section]
    answers = [m for m in site.rows(OutboxMessage) if m.kind != "request"]
    figures.load = f"{len(mails)} mails, {len(by_kind)} kinds"
    figures.tried = figures.faults = len(mails)
    figures.doubled = len(topics)  # every topic here came from someone who may not answer
    figures.lost = len(mails) - len(rows)
    let_in = [(k, st) for k, sts in by_kind.items() for st in sts if st != "quarantined"]
    figures.note(f"topics made: {len(topics)}; not quarantined: {let_in or 'none'}; "
                 f"listed: {len(in_list)}/{len(rows)}; in the digest: {len(in_digest)} "
                 f"+ {shown_more.group(1) if shown_more else 0} counted")
    figures.detail.update(by_kind=by_kind, topics=[(t.what, t.contact_id) for t in topics],
                          in_list=in_list, in_digest=in_digest, rows=[r.id for r in rows],
                          more=int(shown_more.group(1)) if shown_more else 0,
                          reasons={row.id: row.error for row in rows}, answers=len(answers),
                          digest=section[:3000])
    figures.seconds = time.monotonic() - started
    return figures


# --- part 6: injection ----------------------------------------------------------------------

#: contacts whose names and departments carry markup, formulas and header tricks; valid
#: entries (no line breaks), so the bot must write them safely wherever they go
HOSTILE_CONTACTS = [
    {"department": "<script>alert('abteilung')</script> Bauamt",
     "email": "contact1@musterhausen.test",
     "name": "Erika <img src=x onerror=alert(1)> Muster",
     "salutation": "Frau \u202eretsuM"},
    {"department": '=HYPERLINK("http://evil.example";"Klick")',
     "email": "contact2@musterhausen.test",
     "name": '"Evil" <evil@example.org>, Bcc: evil@example.org',
     "salutation": "Herr =cmd|' /C calc'!A0"},
    {"department": "Kita ]]><!-- <svg onload=alert(3)>",
     "email": "contact3@musterhausen.test",
     "name": "=?utf-8?q?Bcc=3A_evil=40example=2Eorg?=",
     "salutation": "@SUM(1+1)*cmd|' /C calc'!A0"},
]

#: a contacts file that tries to put a header into a mail: refused as a whole
INJECTING_CONTACTS = """\
contacts:
  - department: Bauamt
    email: contact1@musterhausen.test
    name: "Erika Muster\\r\\nBcc: evil@example.org"
  - department: Stadtbibliothek
    email: contact2@musterhausen.test
    salutation: "Herr X\\nSubject: gekapert"
  - department: "Kita\\u2028Bcc: evil@example.org"
    email: contact3@musterhausen.test
    name: "Kita\\x85Bcc: evil@example.org"
"""

HOSTILE_FIELDS = {
    "what": "<script>alert('was')</script> Sommerfest",
    "when": "12.03.2027, 10 Uhr <b onmouseover=alert(1)>",
    "where": '=HYPERLINK("http://evil.example") Rathaus;\\nATTACH:http://evil.example/x',
    "who": "+cmd|' /C calc'!A0 <iframe src=javascript:alert(2)>",
    "how_many": "-2+3 <svg/onload=alert(4)>",
    "quote": "\"</p><script>alert('zitat')</script>\" END:VEVENT",
}

HOSTILE_NAMES = ["../../etc/passwd", "..\\..\\windows\\system32\\evil.dll", "/etc/shadow",
                 "CON", "con.txt", "LPT1.jpg", "a" * 300 + ".jpg", "rechnung\u202egpj.exe",
                 ".htaccess", "foto.jpg. ", "<script>alert(5)</script>.jpg", "a:b|c?*.jpg",
                 "=?utf-8?b?Li4vLi4vZXRjL3Bhc3N3ZA==?=", "nul\x00byte.jpg",
                 "zero\u200bwidth\u200e.jpg", "tab\tand\rcr.jpg"]
#: also as RFC 2231 (filename*=utf-8''...), which decodes %2F and %00
HOSTILE_2231 = ["..%2F..%2Fetc%2Fpasswd", "nul%00.jpg", "%E2%80%AEgpj.exe"]


def hostile_reply(to: Asked, n: int, fields: dict[str, str], incomplete: bool) -> bytes:
    boundary = f"H{n}"
    labels = {"what": "Was", "when": "Wann", "where": "Wo", "who": "Wer",
              "how_many": "Wie viele", "quote": "Zitat"}
    block = "\n".join(f"{labels[k]}: {'' if incomplete and k == 'how_many' else v}"
                      for k, v in fields.items())
    parts = [f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n"
             "Content-Transfer-Encoding: 8bit\n\n"
             f"Hallo,\n\n--- Thema ---\n{block}\nBilder: siehe Anhang\n--- Ende ---\n\n"
             "Viele Grüße\n"]
    for i, name in enumerate(HOSTILE_NAMES):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f"--{boundary}\nContent-Type: image/jpeg\n"
                     f"Content-Disposition: attachment; filename=\"{quoted}\"\n"
                     f"Content-Transfer-Encoding: base64\n\n"
                     + base64_lines(b"\xff\xd8\xff" + bytes([i, n]) * 64).decode())
    for i, name in enumerate(HOSTILE_2231):
        parts.append(f"--{boundary}\nContent-Type: image/jpeg\n"
                     f"Content-Disposition: attachment; filename*=utf-8''{name}\n"
                     f"Content-Transfer-Encoding: base64\n\n"
                     + base64_lines(b"\xff\xd8\xff\x01" + bytes([i, n]) * 64).decode())
    body = "".join(parts) + f"--{boundary}--\n"
    subject = ("=?utf-8?q?AW=3A_Themen=0D=0ABcc=3A_evil=40example=2Eorg?= "
               + (re.search(r"\[Themen [^\]]+\]", to.subject) or [""])[0])
    return _mail([("From", f"Kollegin <{to.address}>"), ("To", BOT), ("Subject", subject),
                  ("Date", "Tue, 5 Jan 2027 09:00:00 +0100"),
                  ("Message-ID", f"<inject-{n}@musterhausen.test>"),
                  ("In-Reply-To", to.message_id), ("References", to.message_id)],
                 body, f'multipart/mixed; boundary="{boundary}"')


#: the headers the bot's own mails may carry (anything else was injected)
OUR_HEADERS = {"from", "to", "subject", "date", "message-id", "in-reply-to", "references",
               "auto-submitted", "x-auto-response-suppress", "mime-version", "content-type",
               "content-transfer-encoding"}


def header_problems(raw: bytes, to_address: str) -> list[str]:
    from email.header import decode_header, make_header
    from email.utils import getaddresses

    msg = email.message_from_bytes(raw, policy=policy.compat32)
    problems = [f"header {name}" for name in msg if name.lower() not in OUR_HEADERS]

    def unfolded(name: str) -> list[str]:
        return [re.sub(r"\r?\n(?=[ \t])", "", v) for v in msg.get_all(name) or []]

    recipients = getaddresses(unfolded("To"))
    if [a.lower() for _n, a in recipients] != [to_address.lower()]:
        problems.append(f"To names {recipients}")
    for name in ("From", "To", "Subject"):
        for value in unfolded(name):
            decoded = str(make_header(decode_header(value)))
            if any(ch in decoded for ch in "\r\n\x00\x85\u2028\u2029"):
                problems.append(f"{name} decodes to a line break: {decoded!r}")
    return problems


#: elements and attributes user text must never become
DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "svg", "img", "frame", "base",
                  "form", "input"}


def html_problems(html: bytes | str, baseline_tags: Counter[str] | None = None) -> list[str]:
    import lxml.html

    tree = lxml.html.fromstring(html if isinstance(html, bytes) else html.encode("utf-8"))
    problems = []
    tags: Counter[str] = Counter()
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        tags[element.tag] += 1
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                problems.append(f"<{element.tag} {name}=...>")
            if value.strip().lower().startswith(("javascript:", "data:text/html")):
                problems.append(f"<{element.tag} {name}={value[:40]}>")
    for tag in DANGEROUS_TAGS:
        allowed = (baseline_tags or Counter())[tag]
        if tags[tag] > allowed:
            problems.append(f"{tags[tag] - allowed} <{tag}> element(s)")
    return problems


def csv_problems(data: bytes) -> list[str]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    return [f"row {i}: {cell[:40]!r}" for i, row in enumerate(rows[1:], 2) for cell in row
            if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]


ICS_PROPERTIES = {"BEGIN", "END", "VERSION", "PRODID", "CALSCALE", "METHOD", "X-WR-CALNAME",
                  "X-WR-TIMEZONE", "UID", "DTSTAMP", "LAST-MODIFIED", "SEQUENCE", "SUMMARY",
                  "DTSTART", "DTEND", "LOCATION", "DESCRIPTION", "CATEGORIES", "STATUS",
                  "TRANSP", "CLASS", "TZID", "TZOFFSETFROM", "TZOFFSETTO", "TZNAME",
                  "RRULE", "X-LIC-LOCATION", "CREATED", "URL"}


def ics_problems(data: bytes, dated: int) -> list[str]:
    text_ = data.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "")
    problems = []
    for line in text_.split("\r\n"):
        if not line:
            continue
        name = re.split(r"[;:]", line, maxsplit=1)[0].upper()
        if name not in ICS_PROPERTIES:
            problems.append(f"property {name[:40]}")
    lines = text_.split("\r\n")
    if lines.count("BEGIN:VEVENT") != dated or lines.count("END:VEVENT") != dated:
        problems.append(f"{lines.count('BEGIN:VEVENT')} events for {dated} dated topic(s)")
    return problems


def filename_problems(name: str) -> list[str]:
    problems = []
    if "/" in name or "\\" in name or name.startswith("."):
        problems.append("path")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        problems.append("control or format character")
    if len(name) > 255 or len(name.encode("utf-8")) > 255:
        problems.append("too long")
    if name.split(".")[0].strip().upper() in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}:
        problems.append("device name")
    if name.endswith((".", " ")) or any(ch in name for ch in ':*?"<>|'):
        problems.append("Windows-invalid")
    return [f"{name[:60]!r}: {p}" for p in problems]


def injection(site: Site, work: Path) -> Figures:
    """Hostile names, subjects, topic text and attachment names, and everything the bot
    writes from them: outgoing mails' headers, the digest, the exports, the intranet page
    and the agenda, the stored attachment names."""
    figures = Figures("injection", site.db)
    started = time.monotonic()
    problems: dict[str, list[str]] = {}

    # a contacts file that would inject headers is refused, naming each line
    refused = work / "injecting.yaml"
    refused.write_text(INJECTING_CONTACTS, encoding="utf-8")
    checked = site.cli("contacts", "check", str(refused), check=False)
    refused_lines = [line for line in checked.output.splitlines()
                     if line.startswith(f"{refused}:")]
    problems["contacts file with line breaks accepted"] = (
        [] if checked.exit_code == 1 and len(refused_lines) >= 4 else [checked.output])

    site.cli("send-requests", now=NOW - timedelta(days=2))
    requests = asked(site)
    replies = [hostile_reply(r, n, HOSTILE_FIELDS, incomplete=n == 1)
               for n, r in enumerate(requests)]
    # an oversized mail whose subject and Message-ID carry tricks: the note quotes them
    big = _mail([("From", requests[0].address), ("To", BOT),
                 ("Subject", "=?utf-8?q?Gro=C3=9F=0D=0ABcc=3A_evil=40example=2Eorg?="),
                 ("Message-ID", "<big@musterhausen.test> Bcc: evil@example.org"),
                 ("Date", "Tue, 5 Jan 2027 09:00:00 +0100")],
                "x" * (1024 * 1024 + 1000))
    append(site.stack, [*replies, big])
    site.cli("poll", "--once", now=NOW)
    # the follow-up about the incomplete topic, two working days later
    site.cli("followups", now=NOW + timedelta(days=2))
    site.cli("digest", "--send", now=NOW + timedelta(days=5))

    mails = site.rows(OutboxMessage)
    problems["outgoing headers"] = [f"{m.kind} to {m.to_address}: {p}" for m in mails
                                    for p in header_problems(m.raw, m.to_address)]
    kinds = Counter(m.kind for m in mails)

    preview = work / "digest.html"
    digest_text = site.cli("digest", "--preview", str(preview),
                           now=NOW + timedelta(days=5)).stdout
    digest_html = preview.read_bytes()
    problems["digest HTML"] = html_problems(digest_html)
    digest_mail = next((m for m in mails if m.kind == "digest"), None)
    if digest_mail is not None:
        msg = email.message_from_bytes(digest_mail.raw, policy=policy.default)
        part = msg.get_body(("html",))
        problems["digest mail HTML"] = html_problems(
            part.get_content() if part is not None else "")
    exports = {}
    for fmt in ("html", "csv", "ics"):
        target = work / f"plan.{fmt}"
        site.cli("topics", "export", "--format", fmt, "--year", "2027", str(target),
                 now=NOW + timedelta(days=5))
        exports[fmt] = target.read_bytes()
    problems["intranet page"] = html_problems(exports["html"])
    problems["CSV formula cells"] = csv_problems(exports["csv"])
    topics = site.rows(Topic)
    dated = sum(1 for t in topics if t.when_start is not None and t.status != "withdrawn")
    problems["ICS"] = ics_problems(exports["ics"], dated)
    agenda = site.cli("agenda", "--month", "2027-03", "--format", "html",
                      now=NOW + timedelta(days=5)).stdout
    problems["agenda HTML"] = html_problems(agenda)
    names = [a.filename for a in site.rows(Attachment)]
    problems["attachment names"] = [p for name in names for p in filename_problems(name)]

    # the hostile text did arrive (escaped) wherever it was meant to: the suite tests
    # something
    reached = {
        "digest text": "alert('was')" in digest_text,
        "digest HTML": b"alert(&#39;was&#39;)" in digest_html or b"alert('was')" in digest_html,
        "intranet page": b"alert(" in exports["html"],
        "CSV": b"HYPERLINK" in exports["csv"],
        "agenda": "alert(" in agenda,
        "attachments": len(names) >= len(HOSTILE_NAMES),
    }
    got_through = sum(len(v) for v in problems.values())
    figures.load = (f"{len(HOSTILE_CONTACTS)} contacts, {len(replies)} replies with "
                    f"{len(HOSTILE_NAMES) + len(HOSTILE_2231)} attachments each, 1 oversized")
    figures.tried = len(mails) + len(replies) + 1
    figures.faults = len(HOSTILE_CONTACTS) * 3 + len(HOSTILE_FIELDS) + len(HOSTILE_NAMES) + len(
        HOSTILE_2231)
    figures.lost = got_through  # the "lost" column: what got through
    figures.note(f"got through: {got_through} "
                 f"({', '.join(f'{k}: {len(v)}' for k, v in problems.items() if v) or 'nothing'});"
                 f" outgoing mails checked: {dict(kinds)}; attachment names: {len(names)}")
    missing = [k for k, ok in reached.items() if not ok]
    if missing:
        figures.note(f"hostile text did not reach: {', '.join(missing)}")
    figures.detail.update(problems=problems, reached=reached, kinds=dict(kinds),
                          names=names, got_through=got_through)
    figures.seconds = time.monotonic() - started
    return figures


# --- the run ---------------------------------------------------------------------------------

PARTS = ("crashes", "servers", "hostile", "loops", "strangers", "injection")


@dataclass(frozen=True)
class Sizes:
    replies: int = 500
    mails: int = 500
    kills: int = 20
    hostile: int = 200
    automatic: int = 50
    storm: int = 500
    strangers: int = 5
    #: [inbound] max_message_mb of the hostile part (its oversized mail is 4x that)
    max_message_mb: int = 25
    seed: int = 20270106


class Run:
    """One mail stack and a fresh site (directory + database) per part."""

    def __init__(self, stack: MailStack, work: Path, sizes: Sizes,
                 pg_admin: str = PG_DEFAULT) -> None:
        self.stack = stack
        self.work = work
        self.sizes = sizes
        self.pg_admin = pg_admin
        self._schemas = contextlib.ExitStack()
        self._count = 0

    def close(self) -> None:
        self._schemas.close()

    def url(self, db: str) -> str:
        self._count += 1
        if db == "sqlite":
            return f"sqlite:///{self.work / f'site{self._count}.db'}"
        return self._schemas.enter_context(pg_schema(self.pg_admin))

    def site(self, name: str, db: str, contacts: Sequence[dict[str, Any]], **kw: Any) -> Site:
        self.stack.reset()
        return write_site(self.work / f"{name}-{db}", self.stack, self.url(db), contacts,
                          **kw)

    def rng(self, part: str, db: str) -> random.Random:
        return random.Random(f"{self.sizes.seed}:{part}:{db}")

    def crashes(self, db: str) -> list[Figures]:
        s = self.sizes
        repliers = [{"department": d, "email": e} for d, e in REPLIERS]
        out = []
        site = self.site("crash-poll", db, repliers)
        try:
            out.append(crash_poller(site, s.replies, s.kills, self.rng("poll", db), site.root))
        finally:
            site.close()
        site = self.site("crash-outbox", db, mail_contacts(s.mails))
        try:
            out.append(crash_outbox(site, s.kills, self.rng("outbox", db), site.root))
        finally:
            site.close()
        site = self.site("crash-daemon", db, repliers + mail_contacts(s.mails - 3))
        try:
            out.append(crash_daemon(site, s.replies, s.kills, self.rng("daemon", db),
                                    site.root))
        finally:
            site.close()
        return out

    def servers(self, db: str) -> list[Figures]:
        s = self.sizes
        direct = self.url(db)
        proxy = TcpProxy(("127.0.0.1", make_url(direct).port or 5432))
        proxy.start()
        try:
            self.stack.reset()
            repliers = [{"department": d, "email": e} for d, e in REPLIERS]
            site = write_site(self.work / f"servers-{db}", self.stack,
                              via_proxy(direct, proxy.port),
                              repliers + mail_contacts(s.mails - 3), observe_url=direct)
            try:
                return [servers_away(site, proxy, s.replies, outage=3.0, settle=150.0,
                                     work=site.root)]
            finally:
                site.close()
        finally:
            proxy.stop()

    def loops(self, db: str) -> list[Figures]:
        s = self.sizes
        contacts = [{"department": d, "email": e} for d, e in REPLIERS] + [
            {"department": "Ordnungsamt", "email": "contact4@musterhausen.test"},
            {"department": "Standesamt", "email": "contact5@musterhausen.test"},
            {"department": "Kulturamt", "email": "contact6@musterhausen.test"}]
        # receipts on: they answer every accepted reply, so they must be capped too
        site = self.site("loops", db, contacts,
                         extra="[inbound]\nmax_message_mb = 1\n[schedule]\nreceipts = true\n")
        try:
            return [loops(site, s.automatic, s.storm, self.rng("loops", db), site.root)]
        finally:
            site.close()

    def strangers(self, db: str) -> list[Figures]:
        repliers = [{"department": d, "email": e} for d, e in REPLIERS]
        site = self.site("strangers", db, repliers,
                         extra='[inbound]\nauthserv_id = "mx.musterhausen.test"\n')
        try:
            return [strangers(site, self.sizes.strangers, self.rng("strangers", db))]
        finally:
            site.close()

    def injection(self, db: str) -> list[Figures]:
        site = self.site("injection", db, HOSTILE_CONTACTS,
                         extra="[inbound]\nmax_message_mb = 1\n[mail]\nmax_attachment_mb = 1\n")
        try:
            return [injection(site, site.root)]
        finally:
            site.close()

    def hostile(self, db: str) -> list[Figures]:
        s = self.sizes
        repliers = [{"department": d, "email": e} for d, e in REPLIERS]
        site = self.site("hostile", db, repliers,
                         extra=f"[inbound]\nmax_message_mb = {s.max_message_mb}\n"
                               f'authserv_id = "mx.musterhausen.test"\n')
        try:
            open_round(site, NOW)
            return [hostile(site, s.hostile, s.max_message_mb, self.rng("hostile", db),
                            site.root)]
        finally:
            site.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Sizes()
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--db", default="sqlite,postgresql",
                        help="sqlite, postgresql or both (comma-separated)")
    parser.add_argument("--pg", default=os.environ.get("INTAKE_TEST_PG_URL", PG_DEFAULT),
                        help="PostgreSQL URL (a schema is created and dropped)")
    for name in ("replies", "mails", "kills", "hostile", "automatic", "storm", "strangers",
                 "max_message_mb", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int,
                            default=getattr(defaults, name))
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    sizes = Sizes(**{name: getattr(args, name) for name in Sizes.__dataclass_fields__})
    work = Path(tempfile.mkdtemp(prefix="intake-chaos-"))
    work.chmod(0o755)
    print(f"work directory {work}; seed {sizes.seed}", flush=True)
    results: list[Figures] = []
    stack = MailStack.start(work / "stack")
    run = Run(stack, work, sizes, args.pg)
    try:
        for part in parts:
            for db in dbs:
                if part == "servers" and db != "postgresql":
                    continue  # the proxy stands between the bot and PostgreSQL
                began = time.monotonic()
                found = getattr(run, part)(db)
                for figures in found:
                    print(table([figures]).splitlines()[-1], flush=True)
                    for line in figures.notes:
                        print(f"    {line}", flush=True)
                results += found
                print(f"  ({part}, {db}: {time.monotonic() - began:.0f} s)", flush=True)
    finally:
        run.close()
        stack.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results))


if __name__ == "__main__":
    main()
